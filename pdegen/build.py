"""Build a dataset: sample -> order -> distribute -> solve -> write, resumable.

Every process group owns a contiguous segment of the solve order, aligned to chunks (or
shards), solves it in order (warm starts, reused matrix and preconditioner) and writes
only its own chunks; a chunk's ``done`` flags are written after its data, so an interrupted build
resumes (``resume=True``) from the ``done`` mask with nothing lost or duplicated.
Rank 0 writes the metadata before and after.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from solvers.info import SolveInfo
from solvers.multigrid import axis0_slab

from . import __version__
from .families import get_family
from .families.base import LinearSystem
from .fields import parameter_features, sample_parameter, sample_rng, split_rng
from .grid import Grid
from .interrupt import StopRequest
from .mpi import SerialComm, launch_mismatch, mpi_library, world
from .ordering import greedy_order, kdtree_order, segments, tour_length
from .plan import NONSYMMETRIC_AMG_OPTIONS, Plan, make_plan, make_solver
from .progress import progress
from .store.layout import (COARSENING_BEFORE, FORMAT_NAME, FORMAT_VERSION, SOLVER_LABELS, as_stored,
                           assign_splits, coarsening, dataset_layout, output_paths, stored_parameters, write_unit)
from .store.normalization import RunningMoments
from .store.writers import BackgroundChunks, create_store, open_part, open_whole, remove_store


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
    rtol: float = 0.0
    at_floor: int = 0  # failed samples whose residual is at double precision's rounding floor
    floor: float = 0.0  # the largest such floor
    unread_options: list[str] = field(default_factory=list)  # solver.options PETSc never read (rank 0's solver)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def line(self) -> str:
        rate = self.solved / self.seconds if self.seconds > 0 else float("nan")
        iterative = self.iterations and max(self.iterations) > 0  # direct solves count none
        its = f", iterations median {int(np.median(self.iterations))}" if iterative else ""
        resumed = f" ({self.resumed} already done)" if self.resumed else ""
        failed = f", {self.failed} FAILED" if self.failed else ""
        fallbacks = f", {self.fallbacks} needed the fallback" if self.fallbacks else ""
        samples = "1 sample" if self.solved == 1 else f"{self.solved} samples"
        line = f"{self.path}: {samples} solved{resumed} in {self.seconds:.1f} s ({rate:.1f}/s){its}{fallbacks}{failed}"
        if self.at_floor:
            line += (f"; {self.at_floor} of them stopped at the rounding floor of double precision "
                     f"(eps ||A| |x|| / ||b|| up to {self.floor:.1e}): solver.rtol {self.rtol:.1e} is out of "
                     f"reach for these systems, loosen it (e.g. --set solver.rtol={_loosened(self.floor):.0e})")
        return line


def unread_options(solver, plan: Plan, options: dict) -> list[str]:
    """The names among a recipe's ``solver.options`` that ``solver`` has not read (all of
    them on the numpy backend, which takes no PETSc options)."""
    names = sorted(name.lstrip("-") for name in options)
    if plan.backend != "petsc":
        return names
    return sorted(set(names) & set(getattr(solver, "unread_options", [])))


def _loosened(floor: float) -> float:
    """The power of ten at or above a rounding floor (solves land at about a quarter of it)."""
    return 10.0 ** np.ceil(np.log10(floor))


def rounding_floor(A, b: np.ndarray, x: np.ndarray, eps: float = float(np.finfo(np.float64).eps)) -> float:
    """eps ||A| |x|| / ||b||: about the smallest relative residual ||b - A x|| / ||b|| that
    arithmetic with unit roundoff ``eps`` can show for ``x`` (a direct solve of a 1-D
    Darcy system lands at 0.25 of it). Solves are judged against rtol, so an rtol below
    this cannot be met."""
    bnorm = float(np.linalg.norm(b)) or 1.0
    return float(eps * np.linalg.norm(abs(A) @ np.abs(x)) / bnorm)


def grid_of(recipe: dict) -> Grid:
    return Grid(tuple(recipe["grid"]["shape"]), tuple(tuple(e) for e in recipe["grid"]["extent"]))


def draw_values(recipe: dict, family, sample_id: int) -> dict:
    """Parameter values of one sample, from its own generator (rank and order independent)."""
    rng = sample_rng(recipe["seed"], sample_id)
    shape = tuple(recipe["grid"]["shape"])
    return {name: sample_parameter(recipe["parameters"][name], shape, rng) for name in family.parameters}


def sample_features(recipe: dict, family, sample_id: int) -> np.ndarray:
    """Similarity features of one sample (low GRF modes and scalar values of its random
    parameters), from the same generator stream as :func:`draw_values` but without
    building the fields: about 0.5 ms per sample at 128², mostly drawing the normal
    variates that the sample's fields would consume."""
    rng = sample_rng(recipe["seed"], sample_id)
    shape = tuple(recipe["grid"]["shape"])
    parts = [parameter_features(recipe["parameters"][name], shape, rng) for name in family.parameters]
    return np.concatenate([p for p, name in zip(parts, family.parameters)
                           if recipe["parameters"][name]["dist"] != "constant"] or [np.zeros(1)])


def ordered(recipe: dict, plan: Plan) -> bool:
    """Whether the samples are solved in a sorted order (else in draw order)."""
    return plan.ordering != "none" and recipe["samples"] > 2


def gather_features(recipe: dict, family, comm, first: int = 0) -> np.ndarray | None:
    """The similarity features of samples ``first``, ..., N - 1 on rank 0 (None elsewhere),
    each rank computing a contiguous block: at 0.5 ms per sample, one rank alone would keep
    512 others waiting 50 s for N = 100,000. Collective over ``comm``."""
    n, rank, size = recipe["samples"] - first, comm.Get_rank(), comm.Get_size()
    block = range(first + rank * n // size, first + (rank + 1) * n // size)
    mine = [sample_features(recipe, family, i) for i in block]
    blocks = comm.gather(mine, root=0)
    return np.stack([f for part in blocks for f in part]) if rank == 0 else None


def solve_order(recipe: dict, family, plan: Plan, features: np.ndarray | None = None,
                first: int = 0) -> tuple[np.ndarray, dict]:
    """The order in which samples ``first``, ..., N - 1 are solved (and stored), and a
    description of it; ``features`` (from :func:`gather_features`) are computed here when
    not given. ``first`` > 0: the samples a store is extended with, ordered among themselves."""
    n = recipe["samples"] - first
    if not ordered(recipe, plan) or n <= 2:
        return np.arange(first, first + n, dtype=np.int64), {"method": "none"}
    if features is None:
        features = gather_features(recipe, family, SerialComm(), first)
    order = greedy_order(features) if plan.ordering == "greedy" else kdtree_order(features)
    random_length = tour_length(features, np.random.default_rng(0).permutation(n))
    description = {"method": plan.ordering, "tour_length": tour_length(features, order),
                   "random_tour_length": random_length}
    return first + np.asarray(order, dtype=np.int64), description


def split_codes(recipe: dict, batches: list[int]) -> np.ndarray:
    """Each sample id's split code: exact counts from the recipe's fractions in each batch
    of a store (``batches``: the sample counts it grew through, the last the recipe's), the
    first batch's as a build of that many samples draws them, each later one from its own
    generator."""
    codes, first = [], 0
    for last in batches:
        codes.append(assign_splits(last - first, recipe["split"], split_rng(recipe["seed"], first)))
        first = last
    return np.concatenate(codes)


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
        versions["mpi"] = mpi_library(MPI)
    except (ImportError, RuntimeError):  # mpi4py without an MPI library to load
        pass
    return versions


def _store_problem(path: Path) -> str | None:
    """Why ``path`` cannot be opened as a pdegen store (None when it can): not a store,
    or an HDF5 store another process is writing."""
    from .store.reader import open_dataset
    try:
        open_dataset(path).close()
        return None
    except (FileNotFoundError, ValueError, OSError, KeyError) as error:
        return str(error)


def _check_output(recipe, overwrite: bool, resume: bool, extend: bool = False) -> str:
    """Returns "create", "resume", "extend" or "overwrite"; raises BuildError when the
    path is unusable."""
    path = Path(recipe["output"]["path"])
    if extend:
        problem = _store_problem(path) if path.exists() else f"{path}: no store there"
        if problem:
            raise BuildError(f"cannot extend: {problem}; build it first (without --extend)")
        return "extend"
    if not path.exists():
        _check_writable(path)
        return "create"
    if resume:
        if problem := _store_problem(path):
            raise BuildError(f"cannot resume: {problem}")
        return "resume"
    if not overwrite:
        raise BuildError(f"{path}: already exists; pass --overwrite to replace it or --resume to continue it")
    if (problem := _store_problem(path)) and not (path.is_dir() and not any(path.iterdir())):
        raise BuildError(f"{problem}; refusing to delete it with --overwrite")
    return "overwrite"


def _check_writable(path: Path) -> None:
    """Fail before any work when the store could not be created: the nearest existing
    folder above it must be a folder this process can write, and no folder above it a
    Zarr store (the new store would become a group inside that one)."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise BuildError(f"{path}: cannot create the store: {parent} is not a folder this process can write; "
                         "choose another output.path (or --out)")
    for folder in (parent, *parent.parents):
        if (folder / "zarr.json").is_file() or (folder / ".zgroup").is_file():
            raise BuildError(f"{path}: cannot create the store inside the Zarr store {folder}; "
                             "choose an output.path (or --out) outside it")


def _store_attrs(recipe_obj, plan: Plan, ordering: dict, groups: int) -> dict:
    recipe = recipe_obj.data
    return {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": recipe["name"],
        "recipe": recipe, "recipe_text": recipe_obj.text, "overrides": recipe_obj.overrides,
        "seed": recipe["seed"], "versions": software_versions(), "ordering": ordering,
        "plan": plan.as_dict(), "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "status": "building", "groups": groups,
    }


def _coords(recipe: dict) -> dict:
    grid = grid_of(recipe).coarsened(coarsening(recipe)[0])
    coords = {f"coords/{name}": centres for name, centres in zip(grid.axis_names, grid.centers)}
    times = get_family(recipe["family"]).output_times(recipe)
    if times is not None:
        coords["coords/t"] = np.asarray(times)
    return coords


def _same_dataset(stored: dict, recipe: dict, any_samples: bool = False) -> str | None:
    """Why a store cannot be resumed (``any_samples``: extended) with this recipe (None
    when it can)."""
    old, new = dict(stored.get("recipe") or {}), dict(recipe)
    if any_samples:
        old["samples"] = new.get("samples")
    fixed = ("dtype", "chunk_samples", "shard_samples", "format", *COARSENING_BEFORE)  # kept by a resume
    for r in (old, new):
        r["output"] = {k: (r.get("output") or {}).get(k, COARSENING_BEFORE.get(k)) for k in fixed}
    differences = _differences(old, new)
    if differences:
        shown = "; ".join(f"{key}: {old_value!r} in the store, {new_value!r} now"
                          for key, old_value, new_value in differences[:5])
        more = f"; and {len(differences) - 5} more" if len(differences) > 5 else ""
        return f"the store was built from a different recipe (differs in: {shown}{more})"
    return None


def _differences(old, new, prefix: str = "") -> list[tuple[str, object, object]]:
    """(dotted key, old value, new value) for every leaf where two parsed recipes differ.
    A mapping missing from the store and empty now (a key added since, such as
    ``boundary.faces``, at its default) is no difference."""
    if old is None and new == {}:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new else [(prefix.rstrip("."), old, new)]


def _check_extension(ds, recipe: dict, path: Path, groups: int) -> None:
    """Raises BuildError unless the store ``ds`` can grow to the recipe's sample count with
    ``groups`` process groups."""
    n_old, n = int(ds["done"].shape[0]), recipe["samples"]
    if ds.format == "hdf5":
        fixed = [spec.path for spec in dataset_layout({**recipe, "samples": n_old})
                 if spec.per_sample and (ds[spec.path].is_virtual or ds[spec.path].maxshape[0] is not None)]
        if fixed:
            raise BuildError(f"{path}: cannot extend this HDF5 store: {fixed[0]} has a fixed size (written in part "
                             "files by several process groups, or before pdegen could extend HDF5 stores); build "
                             "the new samples to another path, or build to Zarr to extend")
        if groups > 1:
            raise BuildError(f"{path}: an HDF5 store grows in one file, which one process group writes; extend it "
                             f"without mpiexec (or with ranks_per_system equal to the ranks; got {groups} groups)")
    if not ds["done"][:].all() or not str(ds.attrs.get("status", "")).startswith("complete"):
        raise BuildError(f"{path}: cannot extend an unfinished store; finish it first with --resume (and the "
                         "sample count it was started with)")
    if n <= n_old:
        raise BuildError(f"samples: {n} is not more than the {n_old} the store holds; --extend adds samples "
                         f"(e.g. --samples {2 * n_old})")


def _extend_store(path: Path, fmt: str, recipe_obj, batches: list[int], ordering: dict, before: dict) -> None:
    """Grow every per-sample array of the store to the recipe's sample count (the new rows
    read as their fill values: not done) and record the extension in its attributes, with
    ``before``, the statistics of the rows there (a resumed extension starts from them)."""
    recipe = recipe_obj.data
    whole = open_whole(path, fmt)
    try:
        for spec in dataset_layout(recipe):
            if spec.per_sample:
                whole.resize(spec.path, spec.shape)
        history = list(whole.attrs().get("extended", []))
        history.append({"from": batches[-2], "to": batches[-1], "overrides": recipe_obj.overrides,
                        "ordering": ordering, "started": datetime.datetime.now(datetime.timezone.utc).isoformat()})
        whole.update_attrs({"recipe": recipe, "batches": batches, "extended": history, "status": "building",
                            "normalization_before": before})
    finally:
        whole.close()


class _Fallbacks:
    """What a failed solve is retried with: a fresh Krylov solve with a stronger
    preconditioner (no warm start; GMRES(100), or GCRO-DR for symmetric indefinite
    systems), then a direct solve (one rank per system only: PETSc's own LU is sequential)."""

    def __init__(self, plan: Plan, family, rtol: float, maxiter: int, comm, distributed: bool):
        self.plan, self.family, self.rtol, self.comm, self.distributed = plan, family, rtol, comm, distributed
        self.maxiter = maxiter
        self._solvers: dict = {}

    def _make(self, stage: str):
        if self.plan.backend == "numpy":
            if stage == "krylov":
                from solvers import GMRES
                return GMRES(m=100, rtol=self.rtol, maxiter=self.maxiter, preconditioner="ilu", rebuild="always")
            from solvers.direct import ScipyDirect
            return ScipyDirect(self.rtol)
        from solvers.ksp import KSPSolver
        if stage == "krylov" and self.family.symmetric and not self.family.positive_definite:
            # Helmholtz-like: restarted GMRES stalls with every preconditioner (GMRES(100) + ASM
            # too), GCRO-DR + ASM converges (docs/benchmarks.md, ablation)
            from solvers import GCRODR
            return GCRODR(m=40, k=20, rtol=self.rtol, maxiter=self.maxiter, backend="petsc", preconditioner="asm",
                          comm=self.comm, rebuild="always")
        if stage == "krylov":
            options = {"ksp_gmres_restart": 100}
            if self.family.positive_definite:
                pc = "gamg"
            elif self.plan.preconditioner != "gamg":
                # Nonsymmetric: GAMG smoothed by block Jacobi + ILU(0) took 12-21 iterations where ASM
                # took 226-948 (docs/benchmarks.md, nonsymmetric_fallback); ASM where GAMG just failed.
                pc = "gamg"
                options.update(NONSYMMETRIC_AMG_OPTIONS)
            else:
                pc = "asm"
            return KSPSolver("gmres", pc, rtol=self.rtol, maxiter=self.maxiter, comm=self.comm,
                             options=options, prefix="pdegen_fallback_krylov_")
        return KSPSolver("preonly", "lu", rtol=self.rtol, comm=self.comm, prefix="pdegen_fallback_direct_")

    def stages(self):
        stages = [] if self.plan.method == "direct" else ["krylov"]
        if not self.distributed:
            stages.append("direct")
        return stages

    def solve(self, stage: str, A, b, global_size=None):
        if stage not in self._solvers:
            self._solvers[stage] = self._make(stage)
        return self._solvers[stage].solve(A, b, global_size=global_size)


def build(recipe_obj, *, overwrite: bool = False, resume: bool = False, extend: bool = False, quiet: bool = False,
          comm=None) -> BuildSummary:
    """Build the dataset a validated recipe describes; returns a summary (global on rank 0).
    ``extend``: grow a finished store to the recipe's sample count, the samples it
    holds untouched, the new ones (ids from its old count on) in their own solve order and
    splits; an extension stopped part-way is finished with ``resume``."""
    if comm is None:
        comm = world()
        mismatch = launch_mismatch(comm)
        if mismatch:
            raise BuildError(mismatch)
    _initialize_petsc()  # collective: every rank, before any rank-0-only work touches PETSc
    rank, size = comm.Get_rank(), comm.Get_size()
    recipe = recipe_obj.data
    family = recipe_obj.family
    path = Path(recipe["output"]["path"])
    fmt = recipe["output"]["format"]
    n, chunk = recipe["samples"], min(recipe["output"]["chunk_samples"], recipe["samples"])
    per_system = recipe["ranks_per_system"]
    if size % per_system:
        raise BuildError(f"ranks_per_system: {per_system} does not divide the {size} MPI ranks")
    if per_system > 1 and recipe["grid"]["shape"][0] < per_system:
        raise BuildError(f"ranks_per_system: {per_system} ranks cannot share {recipe['grid']['shape'][0]} "
                         "grid slabs along the first axis")
    group_count, group = size // per_system, rank // per_system
    group_comm = comm.Split(group, rank) if per_system > 1 else None
    leader = rank % per_system == 0
    plan = make_plan(recipe_obj)
    if per_system > 1 and plan.method == "direct" and not _has_parallel_direct():
        if recipe["solver"]["method"] == "auto":  # the planner's choice: Krylov methods stall on this family
            raise BuildError(f"ranks_per_system: {per_system}: {recipe['family']} needs a direct solve (Krylov "
                             "methods stall on it), and one system over several ranks needs a parallel direct "
                             "solver (MUMPS) that this PETSc lacks; use ranks_per_system: 1 (one system per "
                             "rank, as many systems at once as ranks)")
        raise BuildError("solver.method: direct with ranks_per_system > 1 needs a parallel direct solver "
                         "(MUMPS) that this PETSc lacks; use cg, gcrodr or auto")
    mode = stored_plan = None
    batches, before, old_failed = [n], {}, 0  # a grown store: its sizes, the statistics and failures before
    if rank == 0:
        try:
            mode = _check_output(recipe, overwrite, resume, extend)
            if mode in ("resume", "extend"):
                from .store.reader import open_dataset
                with open_dataset(path) as ds:
                    reason = _same_dataset(ds.attrs, recipe, any_samples=mode == "extend")
                    groups_before = ds.attrs.get("groups", 1)
                    stored_plan = ds.attrs.get("plan")
                    batches = list(ds.attrs.get("batches", [int(ds["done"].shape[0])]))
                    if mode == "extend" and not reason:
                        _check_extension(ds, recipe, path, group_count)
                        before = ds.attrs["normalization"]  # of every row there (a finished store's)
                        batches.append(n)
                    elif len(batches) > 1 and not reason:  # a resumed extension
                        before = ds.attrs["normalization_before"]
                    if len(batches) > 1 and not reason:  # the rows before the last batch are done and stay
                        old_failed = int((~ds["stats/converged"][:batches[-2]]).sum())
                if reason:
                    raise BuildError(f"{path}: cannot {mode}: {reason}; build to a new path or use --overwrite")
                if fmt == "hdf5" and groups_before != group_count:
                    raise BuildError(f"{path}: this HDF5 store was written by {groups_before} process group(s) "
                                     f"into part files; resume it with the same number (got {group_count})")
        except BuildError as error:
            mode = error
    mode, stored_plan, batches = comm.bcast((mode, stored_plan, batches), root=0)
    if isinstance(mode, BuildError):
        raise mode
    first = batches[-2] if len(batches) > 1 else 0  # the rows from here on are this build's
    parts = segments(n, group_count, write_unit(recipe), first)
    if mode in ("resume", "extend") and stored_plan:
        # Finish with the plan the store was started with (same order, same method), even
        # if this pdegen's planner would now choose differently.
        plan = Plan(**{k: v for k, v in stored_plan.items() if k in Plan.__dataclass_fields__})

    features = gather_features(recipe, family, comm, first) if ordered(recipe, plan) else None
    order = None
    if rank == 0:
        if mode in ("resume", "extend"):
            order, ordering = solve_order(recipe, family, plan, features, first)  # deterministic: the same again
            from .store.reader import open_dataset
            with open_dataset(path) as ds:
                order = np.concatenate([ds["sample_id"][:first], order])  # rows before the last batch: as stored
                written = ds["done"][:]
                if mode == "resume" and not np.array_equal(ds["sample_id"][:][written], order[written]):
                    order = BuildError(f"{path}: cannot resume: the stored solve order differs from this "
                                       "recipe's (was the store built by another pdegen version?)")
            if mode == "extend":
                try:
                    _extend_store(path, fmt, recipe_obj, batches, ordering, before)
                except OSError as error:
                    order = BuildError(f"{path}: cannot extend the store: {error.strerror or error}")
        else:
            order, ordering = solve_order(recipe, family, plan, features)
            if mode == "overwrite":
                remove_store(path)  # with an HDF5 store's part files, which a new build may not all rewrite
            try:
                create_store(path, fmt, dataset_layout(recipe), _store_attrs(recipe_obj, plan, ordering, group_count),
                             recipe["output"]["compression"], parts, _coords(recipe))
            except OSError as error:  # e.g. a full disk or a file system that refuses it
                remove_store(path)  # nothing half-written
                order = BuildError(f"{path}: cannot create the store: {error.strerror or error}; "
                                   "choose another output.path (or --out)")
    order = comm.bcast(order, root=0)
    if isinstance(order, BuildError):
        raise order
    comm.barrier()

    start, stop = parts[group]
    writer = BackgroundChunks(open_part(path, fmt, group, start, len(parts))) if leader else None
    if mode == "resume":
        done = writer.read("done", start, stop) if leader else None
        done = group_comm.bcast(done, root=0) if group_comm is not None else done
    else:
        done = np.zeros(stop - start, dtype=bool)
    splits = split_codes(recipe, batches)
    summary = BuildSummary(str(path), n, rtol=recipe["solver"]["rtol"])
    moments = {p: RunningMoments() for p in [*stored_parameters(recipe), *output_paths(recipe)]}
    progress = _progress(int((~done).sum()), quiet or rank != 0, group_count)
    t0 = time.perf_counter()
    stopped = False
    after = ("the current time step (the sample in progress is redone on resume)" if family.time_dependent
             else "the current sample")
    with StopRequest(announce=rank == 0, after=after) as stop_request:
        try:
            segment = _Segment(recipe, family, plan, writer, order, splits, group_comm, summary, moments, progress,
                               stop_request, announce=rank == 0)
            segment.run(start, stop, chunk, done)
        except KeyboardInterrupt:
            stopped = True  # its finished samples are written; the other ranks learn of it below
        finally:
            progress.close()
            if writer is not None:
                writer.close()
        # Every rank stops if one did, and learns it here, with the signal still taken: a rank
        # done with its rows that waited here was killed by it, and the launcher then killed
        # the ranks still finishing their samples, before they were written.
        if comm.allreduce(int(stopped)):
            raise KeyboardInterrupt
    summary.seconds = time.perf_counter() - t0

    # Reductions, not gathers of data: counts and moments only (leaders hold them).
    totals = comm.allreduce(np.array([summary.solved, summary.resumed, summary.failed, summary.fallbacks,
                                      summary.at_floor]))
    all_moments = comm.gather({k: m.as_dict() for k, m in moments.items()}, root=0)
    summary.solved, summary.resumed, summary.failed, summary.fallbacks, summary.at_floor = (int(v) for v in totals)
    summary.failed += old_failed  # (rank 0's: the failed samples of the rows before the last batch)
    summary.seconds = comm.allreduce(summary.seconds, op=_max_op())
    summary.floor = comm.allreduce(summary.floor, op=_max_op())
    comm.barrier()
    if rank == 0:
        merged = {}
        for name in moments:
            total = RunningMoments.from_dict(before[name]) if name in before else RunningMoments()
            for part in all_moments:
                total.merge(RunningMoments.from_dict(part[name]))
            merged[name] = total.as_dict()
        whole = open_whole(path, fmt)
        iterations = whole.read("stats/iterations", 0, n)
        summary.iterations = [int(i) for i in iterations[iterations >= 0]]
        whole.update_attrs({
            "normalization": merged, "normalization_split": "train",
            "status": "complete" if summary.failed == 0 else "complete-with-failures",
            "completed": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "summary": {"failed": summary.failed, "fallbacks": summary.fallbacks, "at_rounding_floor": summary.at_floor,
                        "seconds": summary.seconds, "processes": size, "ranks_per_system": per_system},
        })
        whole.close()
    comm.barrier()
    return summary


def _solver_errors() -> tuple:
    errors = [np.linalg.LinAlgError, ArithmeticError]
    try:
        from petsc4py import PETSc
        errors.append(PETSc.Error)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


_SOLVER_ERRORS = _solver_errors()
# A chunk still being solved hands its finished rows to the writer this often, so that a kill
# (SIGKILL, a lost node) loses at most this much work per process group, not a whole chunk.
WRITE_EVERY_SECONDS = 60.0


def _has_parallel_direct() -> bool:
    try:
        from petsc4py import PETSc
        return bool(PETSc.Sys.hasExternalPackage("mumps"))
    except (ImportError, AttributeError):
        return False


def _max_op():
    try:
        from mpi4py import MPI
        return MPI.MAX
    except ImportError:  # pragma: no cover
        return None


def _progress(total: int, disable: bool, groups: int = 1):
    """Rank 0's progress; under MPI it counts group 0's segment, which the others match to
    within a chunk (the segments are balanced)."""
    return progress(total, "solving" if groups == 1 else f"solving (group 0 of {groups})", disable)


class _Segment:
    """Solves one group's contiguous range of rows, chunk by chunk, and writes them.

    With several ranks per system, each rank assembles the rows of its slab of the grid
    (first axis), the solve is distributed over the group, and the group's leader
    gathers each solution and writes.
    """

    def __init__(self, recipe, family, plan, writer, order, splits, group_comm, summary, moments, progress,
                 stop: StopRequest, announce: bool = False):
        self.recipe, self.family, self.plan, self.writer = recipe, family, plan, writer
        self.order, self.splits, self.group_comm = order, splits, group_comm
        self.summary, self.moments, self.progress = summary, moments, progress
        self.stop, self.announce = stop, announce
        self.options_checked = False
        self.grid = grid_of(recipe)
        self.layout = dataset_layout(recipe)
        self.outputs = output_paths(recipe)
        self.state_size = family.state_size(self.grid)
        self.leader = group_comm is None or group_comm.Get_rank() == 0
        petsc_comm = _petsc_comm(group_comm)
        self.solver = make_solver(plan, recipe["solver"], comm=petsc_comm)
        self.fallbacks = _Fallbacks(plan, family, recipe["solver"]["rtol"], recipe["solver"]["maxiter"], petsc_comm,
                                    group_comm is not None) if recipe["solver"]["fallback"] else None
        self.label = SOLVER_LABELS.index(plan.method if plan.method in SOLVER_LABELS else "ksp")
        if group_comm is None:
            self.slab = (0, self.grid.shape[0])
        else:
            r, p, n0 = group_comm.Get_rank(), group_comm.Get_size(), self.grid.shape[0]
            self.slab = axis0_slab(n0, r, p)  # the layout the distributed multigrid assumes too
            stride = self.grid.size // n0
            self.counts = [(last - first) * stride for first, last in (axis0_slab(n0, q, p) for q in range(p))]

    def assemble(self, values):
        if self.group_comm is None:
            return self.family.system(self.grid, values, self.recipe)
        return self.family.system_rows(self.grid, values, self.recipe, *self.slab)

    def gather(self, x_local):
        if self.group_comm is None:
            return x_local
        from mpi4py import MPI
        full = np.empty(self.state_size) if self.leader else None
        self.group_comm.Gatherv(np.ascontiguousarray(x_local), [full, self.counts, MPI.DOUBLE] if self.leader
                                else None, root=0)
        return full

    def solve(self, system, x0):
        size = self.state_size
        try:
            x, info = self.solver.solve(system.A, system.b, x0=x0, global_size=size)
        except _SOLVER_ERRORS as error:  # e.g. a preconditioner that cannot be built
            x, info = np.zeros_like(system.b), SolveInfo(converged=False, reason=f"error: {error}")
        else:
            if not self.options_checked:
                self.check_options()
        used = self.label
        if not info.converged and self.fallbacks is not None:
            seconds = info.seconds
            for stage in self.fallbacks.stages():
                try:
                    x, info = self.fallbacks.solve(stage, system.A, system.b, global_size=size)
                except _SOLVER_ERRORS as error:
                    info = SolveInfo(converged=False, reason=f"error: {error}")
                seconds += info.seconds
                used = SOLVER_LABELS.index(f"fallback-{stage}")
                if info.converged:
                    break
            info.seconds = seconds
            self.summary.fallbacks += self.leader
        return x, info, used

    def check_options(self):
        """After the first solve (PETSc has read what it reads): say once which of the
        recipe's solver.options had no effect. PETSc's own report (-options_left) cannot,
        as the solvers take their options out of the database again."""
        self.options_checked = True
        unread = unread_options(self.solver, self.plan, self.recipe["solver"]["options"])
        self.summary.unread_options = unread
        if unread and self.announce:
            plan = f"{self.plan.method} + {self.plan.preconditioner} on {self.plan.backend}"
            effect = "They have" if len(unread) > 1 else "It has"
            self.progress.write(f"warning: solver.options: PETSc did not read {', '.join(unread)} with this plan "
                                f"({plan}): misspelt, or meant for another method or preconditioner? {effect} no "
                                "effect (`pdegen plan` shows the plan).", file=sys.stderr)

    def integrate(self, values):
        """Time-stepping of one sample (one rank per system): the step matrix is fixed, so
        its factorisation or preconditioner is reused; each step warm-starts from the last.
        Returns the saved states, a combined SolveInfo (iterations and seconds summed, the
        worst residual, converged only if every step converged) and the solver label. A
        trajectory the family gives up on (FloatingPointError) is stored as NaN, failed."""
        family = self.family
        total, used = SolveInfo(converged=True, residual=0.0), self.label
        started = time.perf_counter()

        def solve(A, b, x0, last):
            nonlocal used
            self.stop_if_asked()  # a sample of many steps is dropped, not finished: resume redoes it
            x, info, step_used = self.solve(LinearSystem(A, b, family.symmetric, family.positive_definite), x0)
            total.iterations += info.iterations
            total.seconds += info.seconds
            total.residual = max(total.residual, info.residual)
            total.converged &= info.converged
            total.extra["rebuilt"] = total.extra.get("rebuilt", False) or info.extra.get("rebuilt", False)
            if step_used != self.label:  # a step needed a fallback: record it for the sample
                used = step_used
            return x

        try:
            states = []
            for _, u, stored in family.trajectory(self.grid, values, self.recipe, solve):
                self.stop_if_asked()  # also between the states of a scheme that never calls solve
                if stored:
                    states.append(u)
        except FloatingPointError as error:  # a family's own guard (navier_stokes: a flow that blew up)
            total.converged, total.residual, total.reason = False, float("nan"), f"error: {error}"
            states = [np.full(self.state_size, np.nan)] * len(family.output_times(self.recipe))
        if self.solver is None:  # nothing solved (pseudo-spectral): the sample's seconds are its integration's
            total.seconds = time.perf_counter() - started
        return np.stack(states), total, used

    def run(self, start, stop, chunk, done):
        """Solve and write rows ``start:stop`` chunk by chunk; a chunk's rows already done
        (an interrupted build writes the finished rows of its last chunk) are taken from
        the store, and the chunk goes on from its first row not done."""
        previous = None
        c0 = start
        while c0 < stop:
            c1 = min((c0 // chunk + 1) * chunk, stop)  # chunk-aligned (an extension may start mid-chunk)
            written = done[c0 - start:c1 - start]
            first = c1 if written.all() else c0 + int(np.argmin(written))
            if first > c0:
                if self.leader:
                    _account_resumed(self.writer, self.moments, c0, first, self.splits, self.summary)
                previous = None  # the rest starts cold
            if first < c1:
                previous = self.run_chunk(first, c1, previous)
            c0 = c1

    def stop_if_asked(self):
        """KeyboardInterrupt once Ctrl-C was pressed (:mod:`pdegen.interrupt`); the ranks of
        a group decide together, or one would wait for the others' next solve forever."""
        asked = self.stop.requested
        if self.group_comm is not None:
            from mpi4py import MPI
            asked = self.group_comm.allreduce(asked, op=MPI.LOR)
        if asked:
            raise KeyboardInterrupt

    def run_chunk(self, c0, c1, previous):
        rows = c1 - c0
        stored = stored_parameters(self.recipe)
        layout = {spec.path: spec for spec in self.layout}
        buffers = {p: np.empty((rows, *layout[p].shape[1:]), layout[p].dtype)
                   for p in [*stored, *self.outputs]}
        stats = {p: np.zeros((rows,), layout[p].dtype) for p in layout if p.startswith("stats/")}
        finished = written = 0
        written_at = time.perf_counter()
        try:
            for row, position in enumerate(range(c0, c1)):
                previous = self._solve_row(row, position, buffers, stats, stored, previous)
                finished = row + 1
                if self.leader and finished < rows and time.perf_counter() - written_at >= WRITE_EVERY_SECONDS:
                    self._write(c0, written, finished, buffers, stats)
                    written, written_at = finished, time.perf_counter()
        except BaseException:  # a stop or an error: the finished rows are written first, so none is lost
            if self.leader and finished > written:
                self._write(c0, written, finished, buffers, stats)
            raise
        if self.leader:
            self._write(c0, written, rows, buffers, stats)
            _accumulate(self.moments, buffers,
                        (self.splits[np.asarray(self.order[c0:c1])] == 0) & stats["stats/converged"])
        return previous

    def _write(self, c0, lo, hi, buffers, stats):
        """Hand rows ``lo:hi`` of the chunk starting at ``c0`` to the writer (then marked done)."""
        ids = np.asarray(self.order[c0 + lo:c0 + hi], dtype=np.int64)
        arrays = {p: a[lo:hi] for p, a in {**buffers, **stats}.items()}
        self.writer.write_chunk({**arrays, "sample_id": ids, "split": self.splits[ids]}, c0 + lo, hi - lo)

    def _solve_row(self, row, position, buffers, stats, stored, previous):
        """Solve one sample and put it in row ``row`` of the buffers (on the leader); the
        solution for the next warm start."""
        self.stop_if_asked()
        values = draw_values(self.recipe, self.family, int(self.order[position]))
        warm = self.plan.warm_start and (self.family.time_dependent or previous is not None)
        if self.family.time_dependent:
            full, info, used = self.integrate(values)
        else:
            system = self.assemble(values)
            x, info, used = self.solve(system, previous if self.plan.warm_start else None)
            previous = x if info.converged else None
            full = self.gather(x)
        if not info.converged:
            self.summary.failed += self.leader
            if self.group_comm is None and not self.family.time_dependent:  # (one rank holds A)
                floor = rounding_floor(system.A, system.b, x)
                if info.residual <= 2.0 * floor:
                    self.summary.at_floor += 1
                    self.summary.floor = max(self.summary.floor, floor)
        self.summary.solved += self.leader
        self.progress.update(1)
        if not self.leader:
            return previous
        for p, name in stored.items():
            buffers[p][row] = as_stored(self.recipe, p, values[name], self.grid.ndim)
        # (states, components, *grid) or (components, *grid): the state stacks its components
        solved = full.reshape((-1, len(self.outputs), *self.grid.shape) if self.family.time_dependent
                              else (len(self.outputs), *self.grid.shape))
        for k, out in enumerate(self.outputs):
            buffers[out][row] = as_stored(self.recipe, out, solved[:, k] if self.family.time_dependent else solved[k],
                                          self.grid.ndim)
        stats["stats/iterations"][row] = info.iterations
        stats["stats/residual"][row] = info.residual
        stats["stats/seconds"][row] = info.seconds
        stats["stats/converged"][row] = info.converged
        stats["stats/solver"][row] = used
        stats["stats/rebuilt"][row] = bool(info.extra.get("rebuilt", self.plan.method == "direct" or row == 0))
        stats["stats/warm_start"][row] = warm
        stats["stats/recycled"][row] = int(info.extra.get("recycle", 0))
        return previous


def _account_resumed(writer, moments, c0, c1, splits, summary):
    converged = writer.read("stats/converged", c0, c1)
    train = splits[writer.read("sample_id", c0, c1)] == 0
    _accumulate(moments, {p: writer.read(p, c0, c1) for p in moments}, train & converged)
    summary.resumed += c1 - c0
    summary.failed += int((~converged).sum())


def _accumulate(moments, buffers, train_rows):
    """Add the rows ``train_rows`` (a mask: the train split's converged samples; a failed
    one may hold NaN, as a Navier–Stokes flow that blew up does) to the moments."""
    for p, m in moments.items():
        if train_rows.any():
            m.add(np.asarray(buffers[p])[train_rows])


def _initialize_petsc() -> None:
    try:
        from petsc4py import PETSc  # noqa: F401  (PetscInitialize runs on import)
    except ImportError:  # pragma: no cover - the numpy backend works without PETSc
        pass


def _petsc_comm(group_comm):
    try:
        from petsc4py import PETSc
    except ImportError:  # pragma: no cover
        return None
    return PETSc.COMM_SELF if group_comm is None else PETSc.Comm(group_comm)


__all__ = ["BuildError", "BuildSummary", "build", "draw_values", "solve_order"]
