"""Several sequence solvers on the same systems, as `pdegen build` solves them: each system
once per solver (a repeat of the same matrix would skip the per-matrix work every sample
of a build pays), the solvers in a rotating order (none always first, on cold caches),
warm-started from that solver's previous solution (``warm_start=False``: from zero),
every true residual checked. The first system is left out of the timings (it sets up
hierarchies and symbolic factorisations)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from pdegen.bench import rotated
from pdegen.build import draw_values, grid_of


@dataclass
class Runs:
    """One solver's seconds, iterations and failures (no convergence to rtol), per system."""
    seconds: list = field(default_factory=list)
    iterations: list = field(default_factory=list)
    failed: list = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return 1e3 * float(np.median(self.seconds))

    @property
    def mean_iterations(self) -> float:
        return float(np.mean(self.iterations))

    def relative_to(self, reference: "Runs") -> np.ndarray:
        """This solver's time on each system over ``reference``'s on the same system."""
        return np.array(self.seconds) / np.array(reference.seconds)


def recipe_systems(recipe, count: int):
    """(A, b) of a loaded recipe's first ``count`` samples, in sample order, assembled as
    `pdegen build` assembles them."""
    grid = grid_of(recipe.data)
    for i in range(count):
        system = recipe.family.system(grid, draw_values(recipe.data, recipe.family, i), recipe.data)
        yield system.A, system.b


def solve_side_by_side(solvers: dict, systems, rtol: float, warm_start: bool = True,
                       allow_failures: bool = False) -> dict[str, Runs]:
    """{name: Runs} for ``solvers`` ({name: object with solve(A, b, x0)}) over ``systems``
    (an iterable of (A, b)). A failure raises unless ``allow_failures``; then it is
    counted, and the next system starts cold."""
    names = list(solvers)
    runs, previous = {name: Runs() for name in names}, dict.fromkeys(names)
    for i, (A, b) in enumerate(systems):
        for name in rotated(names, i):
            start = time.perf_counter()
            x, info = solvers[name].solve(A, b, previous[name] if warm_start else None)
            seconds = time.perf_counter() - start
            residual = np.linalg.norm(b - A @ x) / np.linalg.norm(b)
            ok = bool(info.converged and residual <= rtol * (1 + 1e-6))
            if not (ok or allow_failures):
                raise AssertionError(f"{name}: system {i} not solved to rtol {rtol:g}: {info}, residual {residual:.2e}")
            previous[name] = x if ok else None
            if i:
                runs[name].seconds.append(seconds)
                runs[name].iterations.append(info.iterations)
                runs[name].failed.append(not ok)
    return runs
