"""Check a finished store against its own recipe, independently of how it was built.

For each written row (or a random subset), :func:`verify_store` redraws the sample's
inputs from the seed and compares them with the stored ones bit for bit (after the
cast to the storage dtype), rebuilds the linear system, and recomputes the true
residual of the stored solution. A float32 solution cannot reach a residual of 1e-8,
so the allowance is rtol plus the residual that rounding the exact solution to the
storage dtype can cause, eps · || |A| |x| || / ||b||.

A trajectory stored every step is checked step by step the same way. One stored every
``save_every``-th step cannot be (a step's system needs the state before it): it is
integrated again, every solve by one sparse LU, and each stored state must match the
re-integration within (REINTEGRATION_SLACK x solves so far x rtol + 4 eps) of its largest
|value|: each solve of the build may miss by rtol, the stored value by its rounding.

A trajectory whose scheme solves no linear systems (navier_stokes, pseudo-spectral) has no
residual: it is integrated again with steps for half the Courant number, and each stored
state must match within FINER_INTEGRATION_TOLERANCE + 4 eps of its largest |value|.

A store of coarsened fields (``output.coarsen`` k > 1: block means or centre cells of the
solve's cells) holds no solution whose residual could be computed. Its inputs are compared
with the fresh draw coarsened the same way; a steady sample is solved again on the fine
grid by a sparse LU, and the stored values must lie within the error its rtol allows: the
build's solution x satisfied ||b - A x|| <= rtol ||b||, so ||x - x*|| <= rtol ||b|| ||A⁻¹||,
block means shrink a difference's 2-norm by k^(d/2) (centre cells by nothing), and rounding
to the storage dtype adds at most eps of the values' norm (||A⁻¹||₂ from 30 power steps
with the LU, doubled for safety). A trajectory is integrated again as above, its states
coarsened the same way before they are compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .build import draw_values, grid_of, rounding_floor
from .families.heat import SolveBySparseLU
from .grid import coarsen
from .store.layout import as_stored, coarsening, output_paths, stored_parameters
from .store.reader import open_dataset


# How far the build's solve errors may carry, in units of solves x rtol: a stable scheme does
# not amplify them (allen_cahn at 128², CG + multigrid to rtol 1e-6, float64: 3.6e-5 after
# 100 solves, 0.36 of solves x rtol; heat with rtol 1e-8: 7e-9 after 40). float32 stores sit at
# their rounding, 3-6e-8 on every trajectory recipe.
REINTEGRATION_SLACK = 10.0
# Pseudo-spectral states against half the Courant number's, relative to max |ω|: 1.1e-7 at
# 32², 1.5e-8 at 64² on recipes/navier_stokes.yaml's flow (ν = 1e-3, the first stored state,
# the roughest); at ν = 1e-4 the differences grow with time as the flow amplifies them, to
# 1.6e-6 at t = 30 on 64² and 1.8e-5 on an unresolved 24². A state of another recipe, or
# a corrupted one, is off by far more than this allowance.
FINER_INTEGRATION_TOLERANCE = 1e-3


@dataclass
class VerifyReport:
    path: str
    checked: int = 0
    reintegrated: int = 0  # trajectories stored with save_every > 1 or a graded start, integrated again
    worst_difference: float = 0.0  # their largest difference, relative to each state's max |u|
    finer: int = 0  # trajectories with no linear systems, integrated again with half the Courant number
    worst_finer: float = 0.0  # their largest difference, relative to each state's max |u|
    resolved: int = 0  # steady samples of a coarsened store, solved again on the fine grid
    worst_ratio: float = 0.0  # their largest difference over the one rtol allows
    residuals: int = 0  # samples whose residuals were recomputed
    worst_residual: float = 0.0
    rtol: float = 0.0
    dtype: str = "float64"
    rounding: float = 0.0  # the largest allowance for the stored solution's rounding (2 x floor)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        line = f"{self.path}: {self.checked} sample{'s' if self.checked != 1 else ''} checked"
        if self.residuals:
            line += f", worst residual {self.worst_residual:.2e}"
            if self.rounding > self.rtol:  # say why a residual above rtol can pass
                line += (f" (allowed: rtol {self.rtol:.1e} + {self.rounding:.1e} for the {self.dtype} rounding "
                         "of the stored solutions)")
        if self.reintegrated:
            line += (f"; {self.reintegrated} trajector{'ies' if self.reintegrated != 1 else 'y'} stored every "
                     f"save_every-th step or graded at the start integrated again, the stored states within "
                     f"{self.worst_difference:.1e} of their largest |value|")
        if self.finer:
            line += (f"; {self.finer} trajector{'ies' if self.finer != 1 else 'y'} integrated again with half the "
                     f"Courant number, the stored states within {self.worst_finer:.1e} of their largest |value|")
        if self.resolved:
            line += (f"; {self.resolved} coarsened solution{'s' if self.resolved != 1 else ''} solved again on the "
                     f"fine grid, within {self.worst_ratio:.2g} of the difference their rtol allows")
        return f"{line}, {len(self.problems)} problem(s)"

    @property
    def ok(self) -> bool:
        return not self.problems


def _residual(A, b, x, eps):
    bnorm = np.linalg.norm(b) or 1.0
    return float(np.linalg.norm(b - A @ x) / bnorm), rounding_floor(A, b, x, eps)


def _trajectory_residual(family, grid, values, data, states, eps):
    """Worst step residual of a stored trajectory: each stored state must solve the step
    system whose right-hand side comes from the state before it. Needs every step stored,
    all with the recipe's Δt (``fixed_time_step``, no graded start).
    A step of several solves (Rannacher's start, the IMEX predictor) stores only its last
    state: the ones before it are recomputed, far below rtol, from the state before it."""
    d = family.sample_recipe(grid, values, data)["discretization"]
    if d["save_every"] != 1 or d.get("start_refinement", 0) or not family.fixed_time_step:
        return None, None
    stored = iter(states.reshape(-1, family.state_size(grid)))
    previous = [family.initial_state(grid, values)]  # the stored state before the step
    worst = [0.0, 0.0]

    def solve(A, b, x0, last):
        if not last:
            return _solve_tightly(A, b, max(1e-3 * data["solver"]["rtol"], 1e-12), family.symmetric)
        state = next(stored)
        residual, floor = _residual(A, b, state, eps)
        # The stored previous state is rounded too and enters through rhs, whose linear
        # part I/Δt - (1-θ)L is bounded entrywise by 2|M| (θ >= 1/2).
        floor += 2 * eps * np.linalg.norm(abs(A) @ np.abs(previous[0])) / (np.linalg.norm(b) or 1.0)
        worst[:] = max(worst[0], residual), max(worst[1], floor)
        previous[0] = state
        return state

    for _ in family.trajectory(grid, values, data, solve):
        pass
    return worst[0], worst[1]


def _solved_again(family, grid, values, data, stored: np.ndarray, factor: int, by: str,
                  eps: float) -> tuple[float, float]:
    """A coarsened steady solution against the fine system solved again: (the 2-norm of
    the difference, coarsened ``by`` "mean" or "centre", the most the build's rtol and the
    storage rounding allow; module doc)."""
    import scipy.sparse.linalg as spla
    system = family.system(grid, values, data)
    lu = spla.splu(system.A.tocsc())
    exact = coarsen(lu.solve(system.b).reshape((-1, *grid.shape)), factor, grid.ndim, by).ravel()
    v = np.random.default_rng(0).standard_normal(system.b.size)
    for _ in range(30):  # power steps on A⁻¹A⁻ᵀ: its largest eigenvalue is ||A⁻¹||₂²
        w = lu.solve(lu.solve(v, trans="T"))
        square, v = np.linalg.norm(w), w / np.linalg.norm(w)
    inverse_norm = 2.0 * np.sqrt(square)
    shrink = factor ** (grid.ndim / 2) if by == "mean" else 1.0
    allowed = (data["solver"]["rtol"] * np.linalg.norm(system.b) * inverse_norm / shrink
               + 2 * eps * np.linalg.norm(exact))
    return float(np.linalg.norm(stored - exact)), float(allowed)


def _reintegration(family, grid, values, data, states, factor: int = 1, by: str = "mean"):
    """A trajectory's stored states against the same sample integrated again, every solve
    by a sparse LU of its step matrix (one per sample, or per Δt where a family halves it):
    for each state the largest difference and the solves before it (states stored
    coarsened ``factor`` times, ``by`` mean or centre, compared with the same of the fresh
    ones)."""
    solve, solves = SolveBySparseLU(), []

    def counted():
        for step in family.trajectory(grid, values, data, solve):
            if step[2]:
                solves.append(solve.solves)
            yield step
    return _differences(counted(), states, grid, factor, by, len(family.components)), np.array(solves)


def _differences(trajectory, states, grid, factor: int, by: str, components: int = 1) -> np.ndarray:
    """For each stored state, its largest difference from the kept states of
    ``trajectory`` (coarsened ``factor`` times, ``by`` mean or centre, as stored), relative
    to their largest |value| (over all ``components`` of the state)."""
    states = iter(states.reshape(-1, components * grid.size // factor ** grid.ndim))
    differences = []
    for _, u, kept in trajectory:
        if kept:
            u = coarsen(u.reshape((components, *grid.shape)), factor, grid.ndim, by).ravel()
            differences.append(np.abs(next(states) - u).max() / (np.abs(u).max() or 1.0))
    return np.array(differences)


def _solve_tightly(A, b, rtol, symmetric: bool = True):
    """x with ||b - A x|| <= rtol ||b||: for an SPD ``A`` CG with Jacobi (SciPy), a sparse
    LU if that stalls; a sparse LU for a nonsymmetric one."""
    import scipy.sparse.linalg as spla
    if not symmetric:
        return spla.spsolve(A.tocsc(), b)
    diagonal = A.diagonal()
    x, status = spla.cg(A, b, rtol=rtol, maxiter=20 * int(np.sqrt(b.size)) + 100,
                        M=spla.LinearOperator(A.shape, matvec=lambda v: v / diagonal))
    if status != 0:
        x = spla.spsolve(A.tocsc(), b)
    return x


def verify_store(path, samples: int | None = None, seed: int = 0, progress=None, comm=None) -> VerifyReport:
    """Verify every written row, or ``samples`` rows drawn at random (with ``seed``).

    With an MPI ``comm`` (collective), each rank checks a contiguous block of the rows and
    rank 0 gets the whole report (the others their own part). Rows are read a store chunk at
    a time: one row at a time, every row decoded its whole chunk again (6 of the 9 s that
    500 samples of recipes/darcy.yaml took)."""
    report = VerifyReport(str(path))
    with open_dataset(path) as ds:
        recipe = ds.recipe()
        data = recipe.data
        report.rtol, report.dtype = data["solver"]["rtol"], data["output"]["dtype"]
        done = ds["done"][:]
        rows = np.flatnonzero(done)
        if samples is not None and samples < rows.size:
            rows = np.sort(np.random.default_rng(seed).choice(rows, samples, replace=False))
        rank, size = (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)
        if rank == 0 and not done.all():  # one line, not one per row: an interrupted build leaves thousands
            missing = np.flatnonzero(~done)
            report.problems.append(f"{_row_ranges(missing)}: not written ({missing.size} of {done.size} rows; "
                                   "done is false): resume the build with pdegen build RECIPE --resume")
        mine = rows[rank * rows.size // size:(rank + 1) * rows.size // size]
        if progress is not None:
            progress.reset(total=int(mine.size))
        _check_rows(ds, recipe, mine, report, progress)
    if comm is not None and size > 1:
        parts = comm.gather(report, root=0)
        if rank == 0:
            report = _merge(parts)
    return report


def _check_rows(ds, recipe, rows: np.ndarray, report: VerifyReport, progress) -> None:
    """Check ``rows`` (sorted) into ``report``, reading each store chunk once."""
    data, family = recipe.data, recipe.family
    grid = grid_of(data)
    rtol = report.rtol
    stored = stored_parameters(data)
    outputs = output_paths(data)
    out = " and ".join(outputs)  # what the problems name
    eps = float(np.finfo(np.dtype(data["output"]["dtype"])).eps)
    factor, by = coarsening(data)
    converged, sample_ids = ds["stats/converged"][:], ds["sample_id"][:]
    chunk = int(data["output"]["chunk_samples"])
    no_systems = not family.solves_systems(data)  # pseudo-spectral
    for first in np.unique(rows // chunk) * chunk:
        inside = rows[(rows >= first) & (rows < first + chunk)]
        last = int(inside[-1]) + 1
        blocks = {name: np.asarray(ds[name][first:last]) for name in [*stored, *outputs]}
        for row in inside:
            row = int(row)
            sample_id = int(sample_ids[row])
            where = f"row {row} (sample {sample_id})"
            values = draw_values(data, family, sample_id)
            for path_name, name in stored.items():
                saved = blocks[path_name][row - first]
                fresh = np.asarray(as_stored(data, path_name, values[name], grid.ndim)).astype(saved.dtype)
                if not np.array_equal(saved, fresh):
                    report.problems.append(f"{where}: {path_name} differs from a fresh draw from the seed")
            # the state as solved: its components stacked ([u; v] per stored state)
            x = np.stack([blocks[out][row - first] for out in outputs], axis=1 if family.time_dependent else 0)
            x = x.astype(np.float64).ravel()
            report.checked += 1
            if progress is not None:
                progress.update(1)
            if not np.all(np.isfinite(x)):
                report.problems.append(f"{where}: {out} contains NaN or Inf")
                continue
            if factor > 1 and not family.time_dependent:
                difference, allowed = _solved_again(family, grid, values, data, x, factor, by, eps)
                report.resolved += 1
                report.worst_ratio = max(report.worst_ratio, difference / allowed)
                if not converged[row]:
                    report.problems.append(f"{where}: recorded as failed (stats/converged false)")
                elif difference > allowed:
                    report.problems.append(f"{where}: {out} differs from the fine system solved again (coarsened) "
                                           f"by {difference:.1e} (2-norm; its rtol allows {allowed:.1e})")
                continue
            if no_systems:
                differences = _differences(family.finer_trajectory(grid, values, data), x, grid, factor, by,
                                           len(outputs))
                report.finer += 1
                report.worst_finer = max(report.worst_finer, float(differences.max()))
                worst, allowed = int(np.argmax(differences)), FINER_INTEGRATION_TOLERANCE + 4 * eps
                if not converged[row]:
                    report.problems.append(f"{where}: recorded as failed (stats/converged false)")
                elif differences[worst] > allowed:
                    report.problems.append(f"{where}: stored state {worst + 1} of {len(differences)} differs from "
                                           f"the sample integrated again with half the Courant number by "
                                           f"{differences[worst]:.1e} of its largest |value| (allowed {allowed:.1e})")
                continue
            if family.time_dependent:
                residual, floor = (None, None) if factor > 1 else _trajectory_residual(family, grid, values, data, x,
                                                                                       eps)
                if residual is None:
                    differences, solves = _reintegration(family, grid, values, data, x, factor, by)
                    allowed = REINTEGRATION_SLACK * solves * rtol + 4 * eps
                    report.reintegrated += 1
                    report.worst_difference = max(report.worst_difference, float(differences.max()))
                    worst = int(np.argmax(differences / allowed))
                    if not converged[row]:
                        report.problems.append(f"{where}: recorded as failed (stats/converged false)")
                    elif differences[worst] > allowed[worst]:
                        report.problems.append(f"{where}: stored state {worst + 1} of {len(differences)} differs from "
                                               f"the sample integrated again by {differences[worst]:.1e} of its "
                                               f"largest |value| (allowed {allowed[worst]:.1e})")
                    continue
            else:
                system = family.system(grid, values, data)
                residual, floor = _residual(system.A, system.b, x, eps)
            report.residuals += 1
            report.worst_residual = max(report.worst_residual, residual)
            report.rounding = max(report.rounding, 2 * floor)
            if not converged[row]:
                report.problems.append(f"{where}: recorded as failed (stats/converged false), "
                                       f"residual {residual:.2e}")
            elif residual > rtol + 2 * floor:
                report.problems.append(f"{where}: residual {residual:.2e} exceeds rtol {rtol:.1e} "
                                       f"(+ {2 * floor:.1e} for {data['output']['dtype']} rounding)")


def _merge(parts: list[VerifyReport]) -> VerifyReport:
    """One report from the ranks' reports (rank 0's first: it holds the unwritten rows' line)."""
    whole = parts[0]
    for part in parts[1:]:
        whole.checked += part.checked
        whole.residuals += part.residuals
        whole.reintegrated += part.reintegrated
        whole.finer += part.finer
        whole.worst_finer = max(whole.worst_finer, part.worst_finer)
        whole.resolved += part.resolved
        whole.worst_ratio = max(whole.worst_ratio, part.worst_ratio)
        whole.worst_difference = max(whole.worst_difference, part.worst_difference)
        whole.worst_residual = max(whole.worst_residual, part.worst_residual)
        whole.rounding = max(whole.rounding, part.rounding)
        whole.problems += part.problems
    return whole


def _row_ranges(rows: np.ndarray) -> str:
    """``row 6`` or ``rows 704-2999, 3100-3199`` for sorted row indices (first 5 runs)."""
    breaks = np.flatnonzero(np.diff(rows) > 1)
    starts, stops = np.r_[rows[:1], rows[breaks + 1]], np.r_[rows[breaks], rows[-1:]]
    runs = [f"{a}" if a == b else f"{a}-{b}" for a, b in zip(starts, stops)]
    more = f" and {len(runs) - 5} more runs" if len(runs) > 5 else ""
    return ("row " if rows.size == 1 else "rows ") + ", ".join(runs[:5]) + more
