"""GPU check for pdegen.train: build a Darcy 128x128 store, train an FNO on CUDA with
bfloat16 autocast for a few epochs, and report training samples/s, data-loader
samples/s, and GPU utilisation sampled by nvidia-smi while training.

Run on a machine with an NVIDIA GPU (one prepared script for a lent machine):
    python benchmarks/train_gpu.py --epochs 5 --workers 4
Writes its section of docs/benchmarks.md when run with --record.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def utilisation_sampler(samples: list, stop: threading.Event):
    if shutil.which("nvidia-smi") is None:
        return
    while not stop.is_set():
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            samples.append(float(out.stdout.split()[0]))
        time.sleep(0.5)


def main():
    import torch
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("no CUDA device: this script checks GPU training")
    from pdegen.build import build
    from pdegen.recipe import load_recipe
    from pdegen.train.loop import train
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "d.zarr"
        start = time.perf_counter()
        build(load_recipe(ROOT / "recipes" / "darcy.yaml", [f"samples={args.samples}", f"output.path={store}",
                                                             "solver.backend=numpy"]), quiet=True)
        print(f"built {args.samples} samples in {time.perf_counter() - start:.1f} s", flush=True)
        utilisation, stop = [], threading.Event()
        sampler = threading.Thread(target=utilisation_sampler, args=(utilisation, stop), daemon=True)
        sampler.start()
        metrics = train(store, epochs=args.epochs, batch_size=args.batch_size, device="cuda",
                        num_workers=args.workers, out=Path(tmp) / "run", progress=False)
        stop.set()
        sampler.join()
    rates = [row["train"]["samples_per_s"] for row in metrics["history"][1:]] or \
        [metrics["history"][0]["train"]["samples_per_s"]]
    mean_util = sum(utilisation) / len(utilisation) if utilisation else float("nan")
    body = (f"{torch.cuda.get_device_name(0)}, Darcy 128x128, {args.samples} samples, FNO 12 modes width 32, "
            f"bf16 autocast, batch {args.batch_size}, {args.workers} workers, {args.epochs} epochs: "
            f"**{sum(rates) / len(rates):.0f} training samples/s** (epochs after the first), GPU utilisation "
            f"mean {mean_util:.0f}% (nvidia-smi every 0.5 s), test rel L2 {metrics['test']['rel_l2']:.3f}.")
    print(body)
    if args.record:
        from benchmarks.report import write_section
        write_section("train_gpu", body)


if __name__ == "__main__":
    main()
