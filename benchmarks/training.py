"""Shared by the FNO accuracy benchmarks (train_darcy, train_burgers, train_navier_stokes):
train on a store in one or both precisions and tabulate the relative L2 errors."""

from __future__ import annotations

import time
from pathlib import Path


def store_or_build(store, tmp: Path, recipe: str, overrides: list[str]) -> tuple[Path, str]:
    """``store`` when given, else recipes/``recipe``.yaml with ``overrides`` built under
    ``tmp``; with the text that says how long the build took ("" for a given store)."""
    if store is not None:
        return Path(store), ""
    from pdegen.build import build
    from pdegen.recipe import load_recipe
    store = Path(tmp) / f"{recipe}.zarr"
    root = Path(__file__).resolve().parents[1]
    start = time.perf_counter()
    build(load_recipe(root / "recipes" / f"{recipe}.yaml", [*overrides, f"output.path={store}"]), quiet=True)
    return store, f" (built in {time.perf_counter() - start:.0f} s)"


def trajectory_facts(store) -> tuple[tuple, list, dict]:
    """The shape of ``store``'s ``outputs/solution``, its stored times and its split sizes."""
    from pdegen.store import open_dataset
    with open_dataset(store) as ds:
        splits = {name: int((ds["split"][:] == code).sum()) for code, name in enumerate(("train", "val", "test"))}
        return ds["outputs/solution"].shape, ds["coords/t"][:], splits


HEADER = ("| precision | train (last epoch) | val (best) | test (best val checkpoint) | minutes | train samples/s |\n"
          "|---|---|---|---|---|---|\n")


def device_name(metrics: dict) -> str:
    """The metrics' device, with the GPU's name on CUDA."""
    import torch
    if not metrics["device"].startswith("cuda"):
        return metrics["device"]
    return f"{metrics['device']} ({torch.cuda.get_device_name()}, torch {torch.__version__})"


def train_row(store, out: Path, amp: bool, **options) -> tuple[str, dict]:
    """``pdegen.train.loop.train`` on ``store`` into ``out``, with bfloat16 autocast
    (``amp``, the CUDA default) or in float32: the cells of its row of :data:`HEADER`
    and its metrics."""
    from pdegen.train.loop import train
    start = time.perf_counter()
    metrics = train(store, amp=amp, out=out, progress=False, **options)
    minutes = (time.perf_counter() - start) / 60
    rate = sum(r["train"]["samples_per_s"] for r in metrics["history"]) / len(metrics["history"])
    precision = "bfloat16 autocast" if amp and metrics["device"].startswith("cuda") else "float32"
    last, test = metrics["history"][-1]["train"]["rel_l2"], metrics["test"]["rel_l2"]
    rate = f"{rate:,.0f}" if rate >= 10 else f"{rate:.2f}"  # a CPU rollout trains a few samples a second
    return (f"{precision} | {last:.4f} | {metrics['best_val_rel_l2']:.4f} | **{test:.4f}** | {minutes:.1f} "
            f"| {rate}"), metrics


def train_in_precisions(store, out: Path, amps: tuple[bool, ...], **options) -> tuple[str, dict]:
    """:func:`train_row` once per entry of ``amps``: the table and the last run's metrics."""
    rows = []
    for amp in amps:
        cells, metrics = train_row(store, out / f"run-{'amp' if amp else 'fp32'}", amp, **options)
        rows.append(f"| {cells} |")
    return HEADER + "\n".join(rows), metrics
