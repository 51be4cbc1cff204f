"""GPU check for pdegen.train: does the GPU wait on data at batch size 32?

Builds a Darcy 128x128 store (numpy backend, so no PETSc is needed on the GPU machine),
then measures, in one process on one GPU:

1. the DataLoader alone: training samples/s with 0, 2, 4 and 8 workers (pinned memory,
   chunk-aware shuffle, second pass timed);
2. the GPU alone: FNO training steps on batches already resident on the device
   (bfloat16 autocast and float32), the ceiling the loader has to feed, with the host and
   GPU time of one step from torch.profiler (host > GPU: the step is launch-bound);
3. the real thing: ``pdegen.train.loop.train`` with 0 and ``--workers`` workers, with
   GPU utilisation sampled by nvidia-smi every 0.2 s while it trains.

The GPU waits on data when (3) falls short of (2); the report gives the ratio.

Run on a machine with an NVIDIA GPU (one prepared script for a lent machine):
    python benchmarks/train_gpu.py --record
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


def resident_rate(dataset, batch_size: int, device, use_amp: bool, steps: int) -> tuple[float, dict]:
    """Training samples/s with the batches already on the device (the GPU's ceiling), and
    the per-step profile of :func:`step_profile`."""
    import torch
    from pdegen.train import make_loader
    from pdegen.train.loop import make_model, step
    torch.manual_seed(0)
    batches = []
    for x, y in make_loader(dataset, batch_size, shuffle=True, num_workers=0):
        if len(x) == batch_size:
            batches.append((x.to(device), y.to(device)))
        if len(batches) == 8:
            break
    net = make_model("fno", dataset.in_channels, dataset.out_channels, len(dataset.grid_shape)).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3)
    decode = copy.deepcopy(dataset.output_normalizer).to(device)

    def run(n):
        for i in range(n):
            x, y = batches[i % len(batches)]
            step(net, x, y, decode, use_amp, optimizer)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run(10)  # warm-up: cuFFT plans, autocast caches, allocator
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
    launches = sum(e.count for e in events if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cuLaunchKernelEx"))
    return {"host_ms": host, "gpu_ms": gpu, "launches": launches / steps}


def timed_training(store, args, workers: int, out: Path) -> dict:
    """``train`` for ``args.epochs`` epochs, GPU utilisation sampled meanwhile."""
    from pdegen.train.loop import train
    utilisation, stop = [], threading.Event()
    sampler = threading.Thread(target=sample_utilisation, args=(utilisation, stop), daemon=True)
    sampler.start()
    metrics = train(store, epochs=args.epochs, batch_size=args.batch_size, device=args.device,
                    num_workers=workers, out=out, progress=False, log=lambda *_: None)
    stop.set()
    sampler.join()
    rates = [row["train"]["samples_per_s"] for row in metrics["history"][1:]]  # the first epoch warms up
    busy = sorted(utilisation)
    return {"workers": workers, "samples_per_s": sorted(rates)[len(rates) // 2],
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
        result["resident"], result["step_profile"] = {}, {}
        for name, amp in (("bf16", device.type == "cuda"), ("fp32", False)):
            result["resident"][name], result["step_profile"][name] = resident_rate(data, args.batch_size, device, amp,
                                                                                   args.steps)
        print("device-resident training samples/s:", {k: round(v) for k, v in result["resident"].items()},
              "per-step profile:", result["step_profile"], flush=True)
        result["training"] = [timed_training(store, args, w, Path(tmp) / f"run{w}") for w in (0, args.workers)]
        for run in result["training"]:
            print("train():", run, flush=True)
        if device.type == "cuda":
            result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    ceiling = result["resident"]["bf16"]
    rows = [f"| DataLoader alone, {w} workers | {r:,.0f} | |" for w, r in result["loader"].items()]
    rows += [f"| FNO steps on device-resident batches, {label} | {result['resident'][name]:,.0f} | |"
             for name, label in (("bf16", "bf16 autocast"), ("fp32", "float32"))]
    rows += [f"| `train()`, {run['workers']} workers | {run['samples_per_s']:,.0f} | "
             f"{run['gpu_util_median'] if run['gpu_util_median'] is not None else 'n/a'} |"
             for run in result["training"]]
    best = max(run["samples_per_s"] for run in result["training"])
    body = (f"{result['device']}, torch {result['torch']}, Darcy 128x128 ({args.samples} samples built in "
            f"{result['build_s']:.0f} s, {result['train_samples']} in the train split; input: coefficient + 2 "
            f"coordinate channels), FNO 12 modes, width 32, 4 layers, batch {args.batch_size}, "
            f"{args.epochs} epochs per `train()` run (median epoch after the first).\n\n"
            "| what | training samples/s | GPU utilisation, median % |\n|---|---|---|\n" + "\n".join(rows) +
            f"\n\nThe real loop reaches **{best / ceiling:.2f}x** the rate of device-resident batches"
            + (f"; peak GPU memory {result['peak_memory_gib']:.2f} GiB." if "peak_memory_gib" in result else ".")
            + " Per device-resident step (torch.profiler, 10 steps): " + "; ".join(
                f"{name} {prof['host_ms']:.1f} ms host, {prof['gpu_ms']:.1f} ms GPU, {prof['launches']:.0f} kernel "
                "launches" for name, prof in result["step_profile"].items()) + ".")
    print(body)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.record:
        from benchmarks.report import write_section
        write_section("train_gpu", body)


if __name__ == "__main__":
    main()
