"""Ordering cost and quality.

1. 100,000 Darcy samples on 64x64 (a = exp(GRF)): similarity features (low GRF modes,
   from each sample's own generator) and the KD-tree nearest-neighbour order, with its
   default approximate tree queries and with exact ones; tour length against a random
   order.
2. N = 10,000 on recipes/darcy.yaml (128x128): ordering time (features + order) as a
   fraction of the build time, estimated from the measured ms/sample of a 64-sample build
   with the same plan but ordering none; for a CG + GAMG plan and for the default plan
   (CG + geometric multigrid).
3. What the order buys under the default plan: mean CG iterations of a 1,000-sample
   build of recipes/darcy.yaml solved in KD-tree order against the draw order (both warm
   started from the previous sample).

Usage: python benchmarks/ordering.py [--n 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.report import table, write_section  # noqa: E402
from pdegen.build import build, sample_features  # noqa: E402
from pdegen.ordering import greedy_order, kdtree_order, tour_length  # noqa: E402
from pdegen.recipe import load_recipe  # noqa: E402


def features_for(recipe, n):
    start = time.perf_counter()
    features = np.stack([sample_features(recipe.data, recipe.family, i) for i in range(n)])
    return features, time.perf_counter() - start


def build_ms_per_sample(changes: list[str], samples: int) -> float:
    """ms per sample of a build of recipes/darcy.yaml with ``changes`` and no ordering."""
    with tempfile.TemporaryDirectory() as tmp:
        recipe = load_recipe(ROOT / "recipes" / "darcy.yaml",
                             [f"samples={samples}", "ordering.method=none", f"output.path={tmp}/p.zarr", *changes])
        start = time.perf_counter()
        build(recipe, quiet=True)
        return 1e3 * (time.perf_counter() - start) / samples


def build_iterations(changes: list[str]) -> float:
    """Mean solver iterations of a build of recipes/darcy.yaml with ``changes``."""
    from pdegen.store import open_dataset
    with tempfile.TemporaryDirectory() as tmp:
        build(load_recipe(ROOT / "recipes" / "darcy.yaml", [f"output.path={tmp}/p.zarr", *changes]), quiet=True)
        with open_dataset(f"{tmp}/p.zarr") as ds:
            return float(ds["stats/iterations"][:].mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    rows = []
    recipe = load_recipe(ROOT / "recipes" / "darcy.yaml", [f"samples={args.n}", "grid.shape=[64,64]"])
    features, t_features = features_for(recipe, args.n)
    start = time.perf_counter()
    order = kdtree_order(features)
    t_order = time.perf_counter() - start
    random = tour_length(features, np.random.default_rng(0).permutation(args.n))
    rows.append([f"{args.n:,} x 64x64, kdtree", f"{t_features:.1f}", f"{t_order:.1f}",
                 f"{tour_length(features, order) / random:.3f}"])
    start = time.perf_counter()
    order = kdtree_order(features, eps=0.0)
    rows.append([f"{args.n:,} x 64x64, kdtree with exact queries (eps 0)", "-",
                 f"{time.perf_counter() - start:.1f}", f"{tour_length(features, order) / random:.3f}"])
    small = features[:2000]
    start = time.perf_counter()
    exact = greedy_order(small)
    t_exact = time.perf_counter() - start
    start = time.perf_counter()
    fast = kdtree_order(small)
    t_fast = time.perf_counter() - start
    r2 = tour_length(small, np.random.default_rng(0).permutation(2000))
    rows.append(["2,000 x 64x64, greedy (exact)", "-", f"{t_exact:.2f}", f"{tour_length(small, exact) / r2:.2f}"])
    rows.append(["2,000 x 64x64, kdtree", "-", f"{t_fast:.2f}", f"{tour_length(small, fast) / r2:.2f}"])

    # Overhead at N = 10,000 on the default recipe (128x128) with Krylov plans.
    n = 10_000
    f10, t_feat10 = features_for(load_recipe(ROOT / "recipes" / "darcy.yaml", [f"samples={n}"]), n)
    start = time.perf_counter()
    kdtree_order(f10)
    t_order10 = time.perf_counter() - start
    lines = []
    plans = (("CG + GAMG", ["solver.method=cg"]), ("default plan, CG + geometric MG (which skips ordering)", []))
    for label, changes in plans:
        per_sample = build_ms_per_sample(changes, 64) / 1e3
        overhead = (t_feat10 + t_order10) / (per_sample * n)
        lines.append(f"- {label}: features {t_feat10:.1f} s + order {t_order10:.1f} s against an estimated build "
                     f"of {per_sample * n:.0f} s ({1e3 * per_sample:.1f} ms/sample): ordering overhead "
                     f"**{100 * overhead:.1f}%**.")
    iterations = {method: build_iterations(["samples=1000", f"ordering.method={method}"])
                  for method in ("kdtree", "none")}
    body = (table(["case", "features s", "order s", "tour / random tour"], rows)
            + "\n\nN = 10,000 at 128x128:\n\n" + "\n".join(lines)
            + f"\n\nWhat the order buys under the default plan (1,000 samples, 128x128, warm starts): "
            f"{iterations['kdtree']:.3f} mean CG iterations in KD-tree order, {iterations['none']:.3f} in draw order.")
    print(body)
    write_section("ordering", body)


if __name__ == "__main__":
    main()
