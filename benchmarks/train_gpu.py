"""GPU check for pdegen.train: does the GPU wait on data at batch size 32?

Builds a Darcy 128x128 store (numpy backend, so no PETSc is needed on the GPU machine),
then measures, in one process on one GPU:

1. the DataLoader alone: training samples/s with 0, 2, 4 and 8 workers (pinned memory,
   chunk-aware shuffle, second pass timed);
2. the GPU alone: FNO training steps on batches already resident on the device
   (bfloat16 autocast eager, float32 eager, bfloat16 replayed as a CUDA graph), the
   ceiling a data feed has to reach, with the host and GPU time of one step from
   torch.profiler (host > GPU: the step is launch-bound);
3. the real thing: ``pdegen.train.loop.train`` fed by the DataLoader (0 and ``--workers``
   workers) or from splits held in GPU memory, with an eager or a CUDA-graph step
   (``TRAINING_RUNS``), GPU utilisation sampled by nvidia-smi every 0.2 s meanwhile.

The GPU waits on data when (3) falls short of (2) for the same step; the report gives the
ratios. Each measurement that fails is recorded and the rest go on.

Run on a machine with an NVIDIA GPU (one prepared script for a lent machine):
    python benchmarks/train_gpu.py --record
or, with the tests and train_darcy, and the packages such a machine lacks carried as
wheels: ``benchmarks/gpu/fetch_wheels.sh`` here, then ``benchmarks/gpu/run.sh`` there.
``--device cpu`` runs the same steps on the CPU, as a smoke test of the script only.
``--record`` writes its section of docs/benchmarks.md; ``--json PATH`` saves the numbers.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sample_utilisation(samples: list, stop: threading.Event, period: float = 0.2) -> None:
    """Append nvidia-smi's GPU utilisation (%) every ``period`` seconds until ``stop``."""
    if shutil.which("nvidia-smi") is None:
        return
    while not stop.is_set():
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            samples.append(float(out.stdout.split()[0]))
        stop.wait(period)


def loader_rate(dataset, batch_size: int, workers: int) -> float:
    """Samples/s of one shuffled pass over ``dataset`` after a warm-up pass."""
    from pdegen.train import make_loader
    loader = make_loader(dataset, batch_size, shuffle=True, num_workers=workers)
    for _ in loader:  # worker start-up, page cache
        pass
    start = time.perf_counter()
    count = sum(len(x) for x, _ in loader)
    rate = count / (time.perf_counter() - start)
    del loader  # stop its persistent workers before the next measurement
    gc.collect()
    return rate


def resident_rate(dataset, batch_size: int, device, use_amp: bool, steps: int, graph: bool = False
                  ) -> tuple[float, dict]:
    """Training samples/s with the batches already on the device (the GPU's ceiling for
    this step), eager or replayed as a CUDA graph, and the per-step profile of
    :func:`step_profile`."""
    import torch
    from pdegen.train import make_loader
    from pdegen.train.loop import make_model, make_train_step
    torch.manual_seed(0)
    batches = []
    for x, y in make_loader(dataset, batch_size, shuffle=True, num_workers=0):
        if len(x) == batch_size:
            batches.append((x.to(device), y.to(device)))
        if len(batches) == 8:
            break
    net = make_model("fno", dataset.in_channels, dataset.out_channels, len(dataset.grid_shape)).to(device)
    decode = copy.deepcopy(dataset.output_normalizer).to(device)
    # train()'s own step (AdamW, one-cycle schedule), over every step taken below.
    train_step, _, _ = make_train_step(net, decode, 1e-3, steps + 20, use_amp, graph)

    def run(n):
        for i in range(n):
            train_step(*batches[i % len(batches)])
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(10)  # warm-up: cuFFT plans, autocast caches, allocator, graph capture
    if graph and train_step.capture_error:
        raise RuntimeError(train_step.capture_error)
    start = time.perf_counter()
    run(steps)
    rate = steps * batch_size / (time.perf_counter() - start)
    return rate, step_profile(lambda: run(10), 10)


def step_profile(run_steps, steps: int) -> dict:
    """Host and GPU time per step (ms) and kernel launches per step, from torch.profiler:
    host time above GPU time means the step is launch-bound, whatever feeds it."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities) as prof:
        run_steps()
    events = prof.key_averages()
    host = sum(e.self_cpu_time_total for e in events) / 1e3 / steps
    gpu = sum(getattr(e, "self_device_time_total", 0) for e in events) / 1e3 / steps
    launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cuLaunchKernelEx",
                                                         "cudaGraphLaunch"))
    return {"host_ms": host, "gpu_ms": gpu, "launches": launches / steps}


# train() configurations measured: (name, data on the device, DataLoader workers, CUDA graph)
TRAINING_RUNS = [("stream-0-eager", False, 0, False), ("stream-W-eager", False, None, False),
                 ("stream-W-graph", False, None, True), ("device-eager", True, 0, False),
                 ("device-graph", True, 0, True)]


def timed_training(store, args, on_device: bool, workers: int, graph: bool, out: Path) -> dict:
    """``train`` for ``args.epochs`` epochs, GPU utilisation sampled meanwhile."""
    from pdegen.train.loop import train
    utilisation, stop = [], threading.Event()
    sampler = threading.Thread(target=sample_utilisation, args=(utilisation, stop), daemon=True)
    sampler.start()
    try:
        metrics = train(store, epochs=args.epochs, batch_size=args.batch_size, device=args.device,
                        num_workers=workers, out=out, progress=False, log=lambda *_: None,
                        data_on_device=on_device, cuda_graph=graph)
    finally:
        stop.set()
        sampler.join()
    rates = [row["train"]["samples_per_s"] for row in metrics["history"][1:]]  # the first epoch warms up
    busy = sorted(utilisation)
    return {"data_on_device": on_device, "workers": workers, "cuda_graph": metrics["cuda_graph"],
            "cuda_graph_error": metrics["cuda_graph_error"], "samples_per_s": sorted(rates)[len(rates) // 2],
            "gpu_util_median": busy[len(busy) // 2] if busy else None,
            "gpu_util_samples": len(busy), "test_rel_l2": metrics["test"]["rel_l2"]}


def main():
    import torch
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1280,
                        help="store size (40 chunks of 32: more than the loader's cache of 32 chunks)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4, help="DataLoader workers for the second training run")
    parser.add_argument("--steps", type=int, default=200, help="timed steps on device-resident batches")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: this script checks GPU training (--device cpu only smoke-tests it)")
    device = torch.device(args.device)
    from pdegen.build import build
    from pdegen.recipe import load_recipe
    from pdegen.train import PDEDataset
    result = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "samples": args.samples, "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "d.zarr"
        start = time.perf_counter()
        build(load_recipe(ROOT / "recipes" / "darcy.yaml", [f"samples={args.samples}", f"output.path={store}",
                                                             "solver.backend=numpy"]), quiet=True)
        result["build_s"] = time.perf_counter() - start
        print(f"built {args.samples} samples in {result['build_s']:.1f} s", flush=True)
        data = PDEDataset(store, "train", coordinates=True)
        result["train_samples"] = len(data)
        result["loader"] = {w: loader_rate(data, args.batch_size, w) for w in (0, 2, 4, 8)}
        print("loader samples/s by workers:", {w: round(r) for w, r in result["loader"].items()}, flush=True)
        cuda = device.type == "cuda"
        result["resident"], result["step_profile"], result["errors"] = {}, {}, {}
        for name, amp, graph in (("bf16", cuda, False), ("fp32", False, False), ("bf16-graph", cuda, True)):
            if graph and not cuda:
                continue
            try:
                result["resident"][name], result["step_profile"][name] = resident_rate(
                    data, args.batch_size, device, amp, args.steps, graph)
            except Exception as error:  # noqa: BLE001  (one prepared run: record and go on)
                result["errors"][f"resident {name}"] = f"{type(error).__name__}: {error}"
        print("device-resident training samples/s:", {k: round(v) for k, v in result["resident"].items()},
              "per-step profile:", result["step_profile"], "errors:", result["errors"], flush=True)
        result["training"] = {}
        for name, on_device, workers, graph in TRAINING_RUNS:
            if graph and not cuda:
                continue
            workers = args.workers if workers is None else workers
            try:
                result["training"][name] = timed_training(store, args, on_device, workers, graph, Path(tmp) / name)
                print(f"train() {name}:", result["training"][name], flush=True)
            except Exception as error:  # noqa: BLE001
                result["errors"][f"train {name}"] = f"{type(error).__name__}: {error}"
                print(f"train() {name} failed: {result['errors'][f'train {name}']}", flush=True)
        if cuda:
            result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    labels = {"bf16": "bf16 autocast, eager", "fp32": "float32, eager", "bf16-graph": "bf16 autocast, CUDA graph"}
    rows = [f"| DataLoader alone, {w} workers | {r:,.0f} | |" for w, r in result["loader"].items()]
    rows += [f"| FNO steps on device-resident batches, {labels[name]} | {rate:,.0f} | |"
             for name, rate in result["resident"].items()]
    for name, run in result["training"].items():
        feed = "splits in GPU memory" if run["data_on_device"] else f"DataLoader, {run['workers']} workers"
        step_kind = "CUDA graph" if run["cuda_graph"] else "eager"
        util = run["gpu_util_median"] if run["gpu_util_median"] is not None else "n/a"
        rows.append(f"| `train()`, {feed}, {step_kind} step | {run['samples_per_s']:,.0f} | {util} |")
    rows += [f"| {what}: failed | {' '.join(error.split())[:200]} | |" for what, error in result["errors"].items()]
    ratios = []
    for name, ceiling in (("device-eager", "bf16"), ("device-graph", "bf16-graph"), ("stream-W-graph", "bf16-graph"),
                          ("stream-W-eager", "bf16")):
        if name in result["training"] and ceiling in result["resident"]:
            ratios.append(f"{name} {result['training'][name]['samples_per_s'] / result['resident'][ceiling]:.2f}x")
    body = (f"{result['device']}, torch {result['torch']}, Darcy 128x128 ({args.samples} samples built in "
            f"{result['build_s']:.0f} s, {result['train_samples']} in the train split; input: coefficient + 2 "
            f"coordinate channels), FNO 12 modes, width 32, 4 layers, batch {args.batch_size}, "
            f"{args.epochs} epochs per `train()` run (median epoch after the first).\n\n"
            "| what | training samples/s | GPU utilisation, median % |\n|---|---|---|\n" + "\n".join(rows) +
            "\n\n`train()` against device-resident batches with the same step (1.00x: the GPU never waits on "
            "data): " + ", ".join(ratios)
            + (f"; peak GPU memory {result['peak_memory_gib']:.2f} GiB." if "peak_memory_gib" in result else ".")
            + " Per device-resident step (torch.profiler, 10 steps): " + "; ".join(
                f"{name} {prof['host_ms']:.1f} ms host, {prof['gpu_ms']:.1f} ms GPU, {prof['launches']:.0f} kernel "
                "or graph launches" for name, prof in result["step_profile"].items()) + ".")
    print(body)
    if args.record:
        from benchmarks.report import write_section
        write_section("train_gpu", body)


if __name__ == "__main__":
    main()
