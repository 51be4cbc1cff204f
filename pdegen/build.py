"""Build a dataset: sample -> order -> distribute -> solve -> write, resumable.

Every process group owns a contiguous, chunk-aligned segment of the solve order, solves
it in order (warm starts, reused matrix and preconditioner) and writes only its own
chunks; a chunk's ``done`` flags are written after its data, so an interrupted build
resumes (``resume=True``) from the ``done`` mask with nothing lost or duplicated.
Rank 0 writes the metadata before and after.
"""

from __future__ import annotations

import datetime
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__
from .fields import sample_parameter, sample_rng, split_rng
from .grid import Grid
from .mpi import world
from .ordering import greedy_order, segments, similarity_features, tour_length
from .plan import Plan, make_plan, make_solver
from .store.layout import (FORMAT_NAME, FORMAT_VERSION, OUTPUT_NAME, SOLVER_LABELS, assign_splits,
                           dataset_layout, stored_parameters)
from .store.normalization import RunningMoments


class BuildError(RuntimeError):
    """A build cannot start or continue; the message says what to do."""


@dataclass
class BuildSummary:
    path: str
    samples: int
    solved: int = 0
    resumed: int = 0
    failed: int = 0
    fallbacks: int = 0
    seconds: float = 0.0
    iterations: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def line(self) -> str:
        rate = self.solved / self.seconds if self.seconds > 0 else float("nan")
        its = (f", iterations median {int(np.median(self.iterations))}" if self.iterations else "")
        resumed = f" ({self.resumed} already done)" if self.resumed else ""
        failed = f", {self.failed} FAILED" if self.failed else ""
        fallbacks = f", {self.fallbacks} needed the fallback" if self.fallbacks else ""
        return (f"{self.path}: {self.solved} samples solved{resumed} in {self.seconds:.1f} s "
                f"({rate:.1f}/s){its}{fallbacks}{failed}")


def grid_of(recipe: dict) -> Grid:
    return Grid(tuple(recipe["grid"]["shape"]), tuple(tuple(e) for e in recipe["grid"]["extent"]))


def draw_values(recipe: dict, family, sample_id: int) -> dict:
    """Parameter values of one sample, from its own generator (rank and order independent)."""
    rng = sample_rng(recipe["seed"], sample_id)
    shape = tuple(recipe["grid"]["shape"])
    return {name: sample_parameter(recipe["parameters"][name], shape, rng) for name in family.parameters}


def solve_order(recipe: dict, family, plan: Plan) -> tuple[np.ndarray, dict]:
    """The order in which samples are solved (and stored), and a description of it."""
    n = recipe["samples"]
    if plan.ordering == "none" or n <= 2:
        return np.arange(n, dtype=np.int64), {"method": "none"}
    operator = [p for p in family.parameters if recipe["parameters"][p]["dist"] != "constant"]
    features = np.stack([similarity_features({k: v for k, v in draw_values(recipe, family, i).items()
                                              if k in operator}) for i in range(n)])
    order = greedy_order(features)
    random_length = tour_length(features, np.random.default_rng(0).permutation(n))
    return order, {"method": "greedy", "tour_length": tour_length(features, order),
                   "random_tour_length": random_length}


def software_versions() -> dict:
    import scipy
    import zarr
    versions = {"pdegen": __version__, "python": platform.python_version(), "numpy": np.__version__,
                "scipy": scipy.__version__, "zarr": zarr.__version__}
    try:
        import h5py
        versions["h5py"] = h5py.__version__
    except ImportError:
        pass
    try:
        import petsc4py
        from petsc4py import PETSc
        versions["petsc"] = ".".join(map(str, PETSc.Sys.getVersion()))
        versions["petsc4py"] = petsc4py.__version__
    except ImportError:
        pass
    try:
        import mpi4py
        from mpi4py import MPI
        versions["mpi4py"] = mpi4py.__version__
        versions["mpi"] = MPI.Get_library_version().splitlines()[0].strip()
    except ImportError:
        pass
    return versions


def _is_store(path: Path) -> bool:
    from .store.reader import detect_format, open_dataset
    try:
        detect_format(path)
        open_dataset(path).close()
        return True
    except (FileNotFoundError, ValueError, OSError, KeyError):
        return False


def _check_output(recipe, overwrite: bool, resume: bool) -> str:
    """Returns "create" or "resume"; raises BuildError when the path is unusable."""
    path = Path(recipe["output"]["path"])
    if not path.exists():
        return "create"
    if resume:
        if not _is_store(path):
            raise BuildError(f"{path}: exists but is not a pdegen store; cannot resume into it")
        return "resume"
    if not overwrite:
        raise BuildError(f"{path}: already exists; pass --overwrite to replace it or --resume to continue it")
    if not _is_store(path) and not (path.is_dir() and not any(path.iterdir())):
        raise BuildError(f"{path}: exists and is not a pdegen store; refusing to delete it with --overwrite")
    return "overwrite"


def _open_writer(recipe: dict, path: Path):
    if recipe["output"]["format"] == "zarr":
        from .store.zarr import ZarrWriter
        return ZarrWriter.open(path)
    raise BuildError("output.format: hdf5 is not available yet; use zarr")


def _create_store(recipe_obj, plan: Plan, ordering: dict, path: Path):
    recipe = recipe_obj.data
    attrs = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": recipe["name"],
        "recipe": recipe, "recipe_text": recipe_obj.text, "overrides": recipe_obj.overrides,
        "seed": recipe["seed"], "versions": software_versions(), "ordering": ordering,
        "plan": plan.as_dict(), "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "status": "building",
    }
    if recipe["output"]["format"] != "zarr":
        raise BuildError("output.format: hdf5 is not available yet; use zarr")
    from .store.zarr import ZarrWriter
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = ZarrWriter.create(path, dataset_layout(recipe), attrs, recipe["output"]["compression"])
    grid = grid_of(recipe)
    for name, centres in zip(grid.axis_names, grid.centers):
        writer.write(f"coords/{name}", centres)
    return writer


def _same_dataset(stored: dict, recipe: dict) -> str | None:
    """Why a store cannot be resumed with this recipe (None when it can)."""
    old = dict(stored.get("recipe") or {})
    new = dict(recipe)
    for r in (old, new):
        r.pop("output", None)
    old_out, new_out = stored.get("recipe", {}).get("output", {}), recipe["output"]
    if old != new or {k: old_out.get(k) for k in ("dtype", "chunk_samples", "format")} != \
            {k: new_out.get(k) for k in ("dtype", "chunk_samples", "format")}:
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return f"the store was built from a different recipe (differs in: {', '.join(keys) or 'output'})"
    return None


class _Fallback:
    """Direct solve used when the planned solver does not converge."""

    def __init__(self, plan: Plan, rtol: float, comm):
        self.plan, self.rtol, self.comm, self.solver = plan, rtol, comm, None

    def solve(self, A, b):
        if self.solver is None:
            if self.plan.backend == "numpy":
                from solvers.direct import ScipyDirect
                self.solver = ScipyDirect(self.rtol)
            else:
                from solvers.ksp import KSPSolver
                self.solver = KSPSolver("preonly", "lu", rtol=self.rtol, comm=self.comm,
                                        prefix="pdegen_fallback_")
        return self.solver.solve(A, b)


def build(recipe_obj, *, overwrite: bool = False, resume: bool = False, quiet: bool = False,
          comm=None) -> BuildSummary:
    """Build the dataset a validated recipe describes; returns a summary (rank 0: global)."""
    comm = comm or world()
    _initialize_petsc()  # collective: every rank, before any rank-0-only work touches PETSc
    rank, size = comm.Get_rank(), comm.Get_size()
    recipe = recipe_obj.data
    family = recipe_obj.family
    path = Path(recipe["output"]["path"])
    n, chunk = recipe["samples"], min(recipe["output"]["chunk_samples"], recipe["samples"])
    if recipe["ranks_per_system"] != 1:
        raise BuildError("ranks_per_system > 1 is not available yet; use 1")
    plan = make_plan(recipe_obj)

    mode = None
    if rank == 0:
        try:
            mode = _check_output(recipe, overwrite, resume)
            if mode == "resume":
                from .store.reader import open_dataset
                with open_dataset(path) as ds:
                    reason = _same_dataset(ds.attrs, recipe)
                if reason:
                    raise BuildError(f"{path}: cannot resume: {reason}; build to a new path or use --overwrite")
        except BuildError as error:
            mode = error
    mode = comm.bcast(mode, root=0)
    if isinstance(mode, BuildError):
        raise mode

    if mode == "resume":
        order, ordering = None, None
        if rank == 0:
            from .store.reader import open_dataset
            with open_dataset(path) as ds:
                order = ds["sample_id"][:]
                if (order < 0).any():  # rows never written: recompute the same order
                    order, _ = solve_order(recipe, family, plan)
        order = comm.bcast(order, root=0)
    else:
        order, ordering = (solve_order(recipe, family, plan) if rank == 0 else (None, None))
        order = comm.bcast(order, root=0)
        if rank == 0:
            if mode == "overwrite":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
            _create_store(recipe_obj, plan, ordering, path)
    comm.barrier()

    writer = _open_writer(recipe, path)
    splits = assign_splits(n, recipe["split"], split_rng(recipe["seed"]))
    start, stop = segments(n, size, chunk)[rank]
    summary = BuildSummary(str(path), n)
    moments = {p: RunningMoments() for p in [*stored_parameters(recipe), f"outputs/{OUTPUT_NAME}"]}
    todo = stop - start
    done = writer.read("done", start, stop) if mode == "resume" else np.zeros(todo, dtype=bool)
    progress = _progress(todo - int(done.sum()) if mode == "resume" else todo, quiet or rank != 0)
    t0 = time.perf_counter()
    try:
        _solve_segment(recipe, family, plan, writer, order, splits, start, stop, chunk, done,
                       summary, moments, progress, comm)
    finally:
        progress.close()
    summary.seconds = time.perf_counter() - t0

    # Reductions, not gathers of data: counts and moments only.
    totals = comm.allreduce(np.array([summary.solved, summary.resumed, summary.failed, summary.fallbacks]))
    all_moments = comm.gather({k: m.as_dict() for k, m in moments.items()}, root=0)
    summary.solved, summary.resumed, summary.failed, summary.fallbacks = (int(v) for v in totals)
    summary.seconds = comm.allreduce(summary.seconds, op=_max_op())
    comm.barrier()
    if rank == 0:
        merged = {}
        for path_name in moments:
            total = RunningMoments()
            for part in all_moments:
                total.merge(RunningMoments.from_dict(part[path_name]))
            merged[path_name] = total.as_dict()
        iterations = writer.read("stats/iterations", 0, n)
        summary.iterations = [int(i) for i in iterations[iterations >= 0]]
        writer.update_attrs({
            "normalization": merged, "normalization_split": "train",
            "status": "complete" if summary.failed == 0 else "complete-with-failures",
            "completed": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "summary": {"failed": summary.failed, "fallbacks": summary.fallbacks,
                        "seconds": summary.seconds, "processes": size},
        })
    writer.close()
    return summary


def _max_op():
    try:
        from mpi4py import MPI
        return MPI.MAX
    except ImportError:  # pragma: no cover
        return None


def _progress(total: int, disable: bool):
    from tqdm import tqdm
    return tqdm(total=total, unit="sample", disable=disable or not sys.stderr.isatty(),
                dynamic_ncols=True, desc="solving")


def _solve_segment(recipe, family, plan, writer, order, splits, start, stop, chunk, done,
                   summary, moments, progress, comm):
    from .store.layout import OUTPUT_NAME as OUT
    grid = grid_of(recipe)
    dtype = np.dtype(recipe["output"]["dtype"])
    solver = make_solver(plan, recipe["solver"], comm=_petsc_self())
    fallback = _Fallback(plan, recipe["solver"]["rtol"], _petsc_self()) if recipe["solver"]["fallback"] else None
    stored = stored_parameters(recipe)
    label = SOLVER_LABELS.index(plan.method if plan.method in SOLVER_LABELS else "ksp")
    previous = None
    for c0 in range(start, stop, chunk):
        c1 = min(c0 + chunk, stop)
        if done[c0 - start:c1 - start].all():
            _account_resumed(writer, moments, c0, c1, splits, order, summary)
            previous = None
            continue
        rows = c1 - c0
        buffers = {p: np.empty((rows, *grid.shape), dtype) if p.startswith("inputs/") else np.empty(rows)
                   for p in stored}
        buffers[f"outputs/{OUT}"] = np.empty((rows, *grid.shape), dtype)
        stats = {"stats/iterations": np.empty(rows, np.int32), "stats/residual": np.empty(rows),
                 "stats/seconds": np.empty(rows), "stats/converged": np.empty(rows, bool),
                 "stats/solver": np.empty(rows, np.int8), "stats/rebuilt": np.zeros(rows, bool)}
        for row, position in enumerate(range(c0, c1)):
            sample_id = int(order[position])
            values = draw_values(recipe, family, sample_id)
            system = family.assemble(grid, values, recipe["boundary"])
            x0 = previous if plan.warm_start else None
            x, info = solver.solve(system.A, system.b, x0=x0)
            used = label
            if not info.converged and fallback is not None and plan.method != "direct":
                seconds = info.seconds
                x, info = fallback.solve(system.A, system.b)
                info.seconds += seconds
                used = SOLVER_LABELS.index("fallback-direct")
                summary.fallbacks += 1
            if not info.converged:
                summary.failed += 1
            previous = x if info.converged else None
            for p, name in stored.items():
                buffers[p][row] = values[name]
            buffers[f"outputs/{OUT}"][row] = x.reshape(grid.shape)
            stats["stats/iterations"][row] = info.iterations
            stats["stats/residual"][row] = info.residual
            stats["stats/seconds"][row] = info.seconds
            stats["stats/converged"][row] = info.converged
            stats["stats/solver"][row] = used
            stats["stats/rebuilt"][row] = bool(info.extra.get("rebuilt", row == 0 or plan.method == "direct"))
            summary.solved += 1
            progress.update(1)
        ids = np.asarray(order[c0:c1], dtype=np.int64)
        for p, array in {**buffers, **stats}.items():
            writer.write(p, array, c0)
        writer.write("sample_id", ids, c0)
        writer.write("split", splits[ids], c0)
        writer.write("done", np.ones(rows, bool), c0)  # only after the data is written
        _accumulate(moments, buffers, splits[ids] == 0)


def _account_resumed(writer, moments, c0, c1, splits, order, summary):
    ids = writer.read("sample_id", c0, c1)
    train = splits[ids] == 0
    _accumulate(moments, {p: writer.read(p, c0, c1) for p in moments}, train)
    summary.resumed += c1 - c0
    summary.failed += int((~writer.read("stats/converged", c0, c1)).sum())


def _accumulate(moments, buffers, train_rows):
    for p, m in moments.items():
        if train_rows.any():
            m.add(np.asarray(buffers[p])[train_rows])


def _initialize_petsc() -> None:
    try:
        from petsc4py import PETSc  # noqa: F401  (PetscInitialize runs on import)
    except ImportError:  # pragma: no cover - the numpy backend works without PETSc
        pass


def _petsc_self():
    try:
        from petsc4py import PETSc
        return PETSc.COMM_SELF
    except ImportError:  # pragma: no cover
        return None


__all__ = ["BuildError", "BuildSummary", "build", "draw_values", "solve_order"]
