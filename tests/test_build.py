"""Builds end to end: failures recorded as failed, resume after SIGKILL, multi-rank builds."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import zarr
from click.testing import CliRunner

from conftest import ROOT, mpi_env, mpiexec, needs_petsc, resumed_beside_uninterrupted, small_recipe, write_recipe
from pdegen.cli import main
from pdegen.store import open_dataset


def test_unsolvable_sample_is_recorded_as_failed(tmp_path):
    recipe = small_recipe(tmp_path, **{"solver.method": "gmres", "solver.maxiter": 1,
                                       "solver.fallback": False, "samples": 4})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe))])
    assert result.exit_code == 1 and "4 FAILED" in result.output
    ds = open_dataset(tmp_path / "tiny.zarr")
    assert ds["done"][:].all() and not ds["stats/converged"][:].any()
    assert np.all(ds["stats/residual"][:] > 1e-8) and ds.attrs["status"] == "complete-with-failures"
    quiet = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q", "--overwrite"])
    assert quiet.exit_code == 1 and "4 FAILED" in quiet.output  # -q hides the summary, not failures
    assert "rounding floor" not in quiet.output  # these are far above it


def test_an_rtol_below_the_rounding_floor_is_named_as_the_cause(tmp_path):
    """1-D Darcy on 32,768 cells: even the exact factorisation's residual (~2.6e-8) is above
    rtol 1e-8, because double precision cannot show less for these systems (eps ||A| |x||
    / ||b|| ~ 1e-7). The failures are stored as failed, and the summary says why and what
    rtol would do; that rtol then builds the same samples without failures."""
    recipe = ROOT / "recipes" / "darcy.yaml"
    args = ["build", str(recipe), "--samples", "3", "--set", "grid.shape=[32768]", "--set", "grid.extent=[[0,1]]"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "a.zarr")])
    assert result.exit_code == 1 and "3 FAILED; 3 of them stopped at the rounding floor" in result.output
    assert "solver.rtol 1.0e-08 is out of reach" in result.output, result.output
    ds = open_dataset(tmp_path / "a.zarr")
    assert ds.attrs["summary"]["at_rounding_floor"] == 3 and not ds["stats/converged"][:].any()
    suggested = result.output.split("--set solver.rtol=")[1].split(")")[0]
    again = CliRunner().invoke(main, [*args, "--set", f"solver.rtol={suggested}", "-o", str(tmp_path / "b.zarr")])
    assert again.exit_code == 0 and "FAILED" not in again.output, again.output


@needs_petsc
def test_stretched_cells_build_with_semi_coarsened_multigrid(tmp_path):
    """128² cells of aspect 16:1 ([0, 16] x [0, 1]): the plan keeps CG + multigrid, its
    hierarchy halves the short axis first, and the build converges in as few iterations as
    on square cells (halving every axis took 64 there: docs/benchmarks.md); verify agrees."""
    ds = _built_and_verified(tmp_path / "s.zarr", "grid.extent=[[0,16],[0,1]]")
    plan = ds.attrs["plan"]
    assert (plan["method"], plan["preconditioner"]) == ("cg", "mg") and plan["grid_spacing"] == [1 / 8, 1 / 128]
    assert "(128x128 > 128x64 > 128x32 > 128x16 > 128x8)" in plan["reasons"][0], plan["reasons"]
    assert ds["stats/converged"][:].all() and ds["stats/iterations"][:].max() <= 10
    assert np.all(ds["stats/residual"][:] <= 1e-8)


@needs_petsc
def test_time_steps_from_a_rough_state_need_no_fallback(tmp_path):
    """Heat at 256² with a 1000:1 coefficient, CG + multigrid: the first step's warm start
    (the rough initial state) leaves a residual 2.7e4 ||b||, past PETSc's default divergence
    test, which stopped every such solve before its first iteration and sent every sample to
    the fallback. Each step now converges with the planned solver."""
    out = tmp_path / "h.zarr"
    overrides = ["grid.shape=[256,256]", "discretization.steps=4", "solver.method=cg", "solver.preconditioner=mg",
                 "parameters.coefficient={dist: grf, alpha: 2.5, tau: 7.0, transform: threshold, high: 1000, low: 1}"]
    args = ["build", str(ROOT / "recipes" / "heat.yaml"), "-q", "--samples", "2", "-o", str(out)]
    result = CliRunner().invoke(main, args + [x for o in overrides for x in ("--set", o)])
    assert result.exit_code == 0, result.output
    with open_dataset(out) as ds:
        assert list(ds.solver_names()) == ["cg", "cg"]
        assert ds["stats/converged"][:].all() and ds["stats/iterations"][:].max() <= 100


def _built_and_verified(out, *overrides):
    """4 samples of recipes/darcy.yaml with ``overrides`` built to ``out``, which `pdegen
    verify` accepts; the opened dataset."""
    args = ["build", str(ROOT / "recipes" / "darcy.yaml"), "-q", "--samples", "4", "-o", str(out)]
    result = CliRunner().invoke(main, args + [x for o in overrides for x in ("--set", o)])
    assert result.exit_code == 0, result.output
    verified = CliRunner().invoke(main, ["verify", str(out)])
    assert verified.exit_code == 0, verified.output
    return open_dataset(out)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("petsc", marks=needs_petsc)])
def test_failed_solve_falls_back_to_fresh_krylov_then_direct(tmp_path, backend):
    # GMRES without preconditioner needs ~100 iterations here: with maxiter 30 it fails,
    # and the fresh GMRES(100) fallback (+ ILU on numpy, + GAMG on PETSc) converges.
    recipe = small_recipe(tmp_path, **{"solver.method": "gmres", "solver.preconditioner": "none",
                                       "solver.maxiter": 30, "samples": 4, "solver.backend": backend})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe))])
    assert result.exit_code == 0 and "4 needed the fallback" in result.output, result.output
    ds = open_dataset(tmp_path / "tiny.zarr")
    assert ds["stats/converged"][:].all() and set(ds.solver_names()) == {"fallback-krylov"}
    # With maxiter 1 every Krylov attempt fails and the direct solve takes over.
    recipe = small_recipe(tmp_path, **{"solver.method": "gmres", "solver.maxiter": 1, "samples": 4,
                                       "solver.backend": backend, "output.path": str(tmp_path / "direct.zarr")})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe, "d.yaml"))])
    assert result.exit_code == 0, result.output
    ds = open_dataset(tmp_path / "direct.zarr")
    assert ds["stats/converged"][:].all() and set(ds.solver_names()) == {"fallback-direct"}
    assert np.all(ds["stats/residual"][:] <= 1e-8)


@needs_petsc
def test_an_indefinite_systems_krylov_fallback_is_gcrodr(tmp_path):
    """Helmholtz at 64²: GCRO-DR + Jacobi stops at maxiter 2500; restarted GMRES(100) + ASM
    (the nonsymmetric fallback) reaches 10,000 iterations on these systems without
    converging, GCRO-DR + ASM needs 1,362 and 2,263, so the Krylov fallback solves them
    and the direct one is not needed."""
    overrides = ["samples=2", "grid.shape=[64,64]", "solver.preconditioner=jacobi", "solver.maxiter=2500",
                 f"output.path={tmp_path / 'h.zarr'}"]
    recipe = ROOT / "recipes" / "helmholtz.yaml"
    result = CliRunner().invoke(main, ["build", str(recipe), "-q", *[a for o in overrides for a in ("--set", o)]])
    assert result.exit_code == 0, result.output
    ds = open_dataset(tmp_path / "h.zarr")
    assert ds.attrs["plan"]["method"] == "gcrodr" and set(ds.solver_names()) == {"fallback-krylov"}
    assert np.all(ds["stats/residual"][:] <= 1e-8) and np.all(ds["stats/iterations"][:] < 2500)


@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_resume_after_sigkill_writes_every_sample_exactly_once(tmp_path, fmt):
    store = tmp_path / f"tiny.{fmt}"
    recipe = small_recipe(tmp_path, **{"samples": 240, "grid.shape": [48, 48], "output.chunk_samples": 8,
                                       "output.format": fmt, "output.path": str(store)})
    path = write_recipe(tmp_path, recipe)
    process = subprocess.Popen([sys.executable, "-m", "pdegen.cli", "build", str(path), "--quiet"])
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
        try:
            if fmt == "zarr":
                done = int(zarr.open_group(str(store), mode="r")["done"][:].sum())
            else:  # the writer holds HDF5's file lock; peek without it
                with h5py.File(store, "r", locking=False) as handle:
                    done = int(handle["done"][:].sum())
        except Exception:  # not created yet, or caught mid-write
            continue
        if done >= 40:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    with open_dataset(store) as ds:
        partial = ds["done"][:]
    assert 0 < partial.sum() < 240, "the build must be killed part-way"
    result = CliRunner().invoke(main, ["build", str(path), "--resume"])
    assert result.exit_code == 0, result.output
    assert f"({int(partial.sum())} already done)" in result.output

    reference = small_recipe(tmp_path, **{"samples": 240, "grid.shape": [48, 48], "output.chunk_samples": 8,
                                          "output.path": str(tmp_path / "ref.zarr")})
    from pdegen.verify import verify_store
    assert verify_store(store).ok
    CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, reference, "ref.yaml"))])
    a, b = open_dataset(store), open_dataset(tmp_path / "ref.zarr")
    assert a["done"][:].all()
    assert sorted(a["sample_id"][:]) == list(range(240))  # each sample exactly once
    for name in ("sample_id", "split", "done"):
        assert np.array_equal(a[name][:], b[name][:])
    assert np.array_equal(a["inputs/coefficient"][:], b["inputs/coefficient"][:])
    ua, ub = a["outputs/solution"][:].astype(float), b["outputs/solution"][:].astype(float)
    assert np.abs(ua - ub).max() <= 1e-6 * np.abs(ub).max()
    assert np.all(a["stats/residual"][:] <= 1e-8)
    na, nb = a.attrs["normalization"]["outputs/solution"], b.attrs["normalization"]["outputs/solution"]
    assert abs(na["mean"] / nb["mean"] - 1) < 1e-6 and na["count"] == nb["count"]


def slowed_build(recipe_path, setting: str = "") -> str:
    """Python source that runs ``pdegen build RECIPE -q`` with every sample 50 ms slower,
    after ``setting`` (a statement on the module ``b``, pdegen.build)."""
    return ("import time\n"
            "import pdegen.build as b\n"
            f"{setting}\n"
            "solve_row = b._Segment._solve_row\n"
            "b._Segment._solve_row = lambda self, *a: (time.sleep(0.05), solve_row(self, *a))[1]\n"
            "from pdegen.cli import main\n"
            f"main(['build', {str(recipe_path)!r}, '-q'])\n")


def test_a_kill_mid_chunk_loses_only_the_rows_since_the_last_write(tmp_path):
    """One chunk of 48 rows, its finished rows handed to the writer after every sample
    (WRITE_EVERY_SECONDS = 0; 60 s by default) and each sample slowed to 50 ms: SIGKILLed
    part-way, the store holds the rows finished by then (none had been kept before the
    chunk was complete), and --resume writes the others, each sample once."""
    store = tmp_path / "tiny.zarr"
    recipe = small_recipe(tmp_path, **{"samples": 48, "output.chunk_samples": 48})
    path = write_recipe(tmp_path, recipe)
    process = subprocess.Popen([sys.executable, "-c", slowed_build(path, "b.WRITE_EVERY_SECONDS = 0.0")])
    deadline, done = time.time() + 120, 0
    while time.time() < deadline and process.poll() is None and done < 5:
        time.sleep(0.05)
        try:
            done = int(zarr.open_group(str(store), mode="r")["done"][:].sum())
        except Exception:  # not created yet, or caught mid-write
            continue
    process.send_signal(signal.SIGKILL)
    process.wait()
    with open_dataset(store) as ds:
        kept = ds["done"][:]
    assert 5 <= kept.sum() < 48 and not kept[int(kept.sum()):].any(), kept  # the finished rows, in order
    result = CliRunner().invoke(main, ["build", str(path), "--resume"])
    assert result.exit_code == 0 and f"({int(kept.sum())} already done)" in result.output, result.output
    with open_dataset(store) as ds:
        assert ds["done"][:].all() and sorted(ds["sample_id"][:]) == list(range(48))


@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_sigterm_to_mpiexec_keeps_every_finished_sample_of_every_rank(tmp_path, signum):
    """Two process groups, rows 0-31 (one chunk) and 32-39, each sample slowed to 50 ms:
    SIGTERM to mpiexec once the second group is done and waits for the first. That waiting
    rank used to die of the signal, and the launcher then killed the other before it wrote
    its finished rows (8 rows kept); now every rank stops together and the first group's
    finished rows are written too, and the store resumes to each sample once. The same
    with SIGUSR1, the signal to stop a build under Open MPI's mpirun (which kills the ranks
    0.25 s after it forwards a SIGTERM, but forwards SIGUSR1 and lets them finish)."""
    store = tmp_path / "tiny.zarr"
    recipe = small_recipe(tmp_path, **{"samples": 40, "output.chunk_samples": 32})
    path = write_recipe(tmp_path, recipe)
    process = subprocess.Popen([mpiexec(), "-n", "2", sys.executable, "-c", slowed_build(path)], env=mpi_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, done = time.time() + 120, 0
    while time.time() < deadline and process.poll() is None and done < 8:
        time.sleep(0.05)
        try:
            done = int(zarr.open_group(str(store), mode="r")["done"][32:].sum())
        except Exception:  # not created yet, or caught mid-write
            continue
    process.send_signal(signum)
    output, _ = process.communicate(timeout=120)
    assert "interrupted: the finished samples are kept" in output and "BAD TERMINATION" not in output, output
    with open_dataset(store) as ds:
        kept = ds["done"][:]
    assert kept[32:].all() and 0 < kept[:32].sum() < 32, kept  # the first group's finished rows too
    result = CliRunner().invoke(main, ["build", str(path), "--resume"])
    assert result.exit_code == 0 and f"({int(kept.sum())} already done)" in result.output, result.output
    with open_dataset(store) as ds:
        assert ds["done"][:].all() and sorted(ds["sample_id"][:]) == list(range(40))


def test_resume_refuses_a_different_recipe(tmp_path):
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    assert CliRunner().invoke(main, ["build", str(path), "-q"]).exit_code == 0
    result = CliRunner().invoke(main, ["build", str(path), "-q", "--resume", "--seed", "8"])
    assert result.exit_code == 2 and "different recipe (differs in: seed: 7 in the store, 8 now)" in result.output
    result = CliRunner().invoke(main, ["build", str(path), "-q", "--resume", "--set", "solver.rtol=1e-6",
                                       "--set", "output.dtype=float64"])
    assert ("differs in: output.dtype: 'float32' in the store, 'float64' now; solver.rtol: 1e-08 in the store, "
            "1e-06 now)") in result.output, result.output


def test_a_store_from_before_boundary_faces_resumes_and_a_changed_face_is_named(tmp_path):
    """Stores started before ``boundary.faces`` existed have no such key in their recipe:
    an empty one now is the same recipe and the build resumes; a face set now is refused
    by name."""
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    assert CliRunner().invoke(main, ["build", str(path), "-q"]).exit_code == 0
    group = zarr.open_group(str(tmp_path / "tiny.zarr"), mode="r+")
    recipe = dict(group.attrs["recipe"])
    assert recipe["boundary"].pop("faces") == {}
    group.attrs["recipe"] = recipe
    group["done"][4:] = False
    result = CliRunner().invoke(main, ["build", str(path), "-q", "--resume", "--set", "boundary.faces.x_low.value=1"])
    assert result.exit_code == 2, result.output
    assert "boundary.faces: None in the store, {'x_low': {'kind': 'dirichlet', 'value': 1.0}} now" in result.output
    result = CliRunner().invoke(main, ["build", str(path), "--resume"])
    assert result.exit_code == 0 and "(4 already done)" in result.output, result.output
    assert group["done"][:].all()


def test_resume_refuses_a_store_whose_written_rows_are_in_another_order(tmp_path):
    """The same recipe, but the written rows hold other samples than this pdegen's order puts
    there (an older ordering): resuming would store some samples twice and others never."""
    path = write_recipe(tmp_path, small_recipe(tmp_path, **{"ordering.method": "greedy"}))
    assert CliRunner().invoke(main, ["build", str(path), "-q"]).exit_code == 0
    group = zarr.open_group(str(tmp_path / "tiny.zarr"), mode="r+")
    ids = group["sample_id"][:]
    group["sample_id"][:4] = ids[:4][::-1]  # the first chunk in another order
    group["done"][4:] = False  # the second chunk left to do
    result = CliRunner().invoke(main, ["build", str(path), "-q", "--resume"])
    assert result.exit_code == 2 and "cannot resume: the stored solve order differs" in result.output
    assert not group["done"][4:].any()  # nothing written


def test_resume_of_a_complete_store_does_nothing(tmp_path):
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    CliRunner().invoke(main, ["build", str(path), "-q"])
    before = zarr.open_group(str(tmp_path / "tiny.zarr"), mode="r")["outputs/solution"][:]
    result = CliRunner().invoke(main, ["build", str(path), "--resume"])
    assert result.exit_code == 0 and "0 samples solved (8 already done)" in result.output
    assert np.array_equal(zarr.open_group(str(tmp_path / "tiny.zarr"), mode="r")["outputs/solution"][:], before)


def mpi_build(tmp_path, name, ranks, **changes):
    recipe = small_recipe(tmp_path, **{"samples": 22, "output.chunk_samples": 4, "solver.backend": "petsc",
                                       "ordering.method": "greedy",
                                       "output.path": str(tmp_path / name), **changes})
    path = write_recipe(tmp_path, recipe, f"{name}.yaml")
    subprocess.run([mpiexec(), "-n", str(ranks), sys.executable, "-m", "pdegen.cli", "build", str(path), "-q"],
                   check=True, timeout=180, env=mpi_env())
    return open_dataset(tmp_path / name)


def assert_same_dataset(one, other, rtol=1e-8):
    for name in ("sample_id", "split", "done"):
        assert np.array_equal(one[name][:], other[name][:]), name
    assert np.array_equal(one["inputs/coefficient"][:], other["inputs/coefficient"][:])
    u1, u2 = one["outputs/solution"][:].astype(float), other["outputs/solution"][:].astype(float)
    # Both solves meet rtol on the residual; the 16x16 Darcy matrix has condition number
    # ~1e2, so solutions agree to ~1e-6 relative, well above float32 rounding.
    assert np.abs(u1 - u2).max() <= 1e-5 * np.abs(u1).max()
    assert other["stats/converged"][:].all() and np.all(other["stats/residual"][:] <= rtol)
    for field in ("inputs/coefficient", "outputs/solution"):
        m1, m2 = one.attrs["normalization"][field], other.attrs["normalization"][field]
        assert m1["count"] == m2["count"] and abs(m1["mean"] / m2["mean"] - 1) < 1e-6


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
@pytest.mark.parametrize("fmt", ["zarr", "hdf5"])
def test_multi_rank_builds_match_serial(tmp_path, fmt):
    """P = 1, 2, 3 with one rank per system (direct), and P = 2 with two ranks per system
    (distributed matrix, CG + GAMG): the same store, for Zarr and HDF5."""
    suffix = {"zarr": "zarr", "hdf5": "h5"}[fmt]
    direct = {"output.format": fmt, "solver.method": "direct"}
    one = mpi_build(tmp_path, f"p1.{suffix}", 1, **direct)
    for ranks in (2, 3):
        other = mpi_build(tmp_path, f"p{ranks}.{suffix}", ranks, **direct)
        assert_same_dataset(one, other)
        assert other.attrs["summary"]["processes"] == ranks
        if fmt == "hdf5":  # one part file per process group behind virtual datasets
            parts = list((tmp_path / f"p{ranks}.{suffix}.parts").glob("part-*.h5"))
            assert len(parts) == ranks
            info = json.loads(CliRunner().invoke(main, ["info", str(tmp_path / f"p{ranks}.{suffix}"), "--json"]).output)
            on_disk = sum(f.stat().st_size for f in [tmp_path / f"p{ranks}.{suffix}", *parts])
            assert info["bytes"]["on_disk"] == on_disk  # the part files count
    shared = mpi_build(tmp_path, f"shared.{suffix}", 2, **{"output.format": fmt, "ranks_per_system": 2,
                                                           "solver.method": "cg", "solver.preconditioner": "gamg"})
    assert_same_dataset(one, shared)
    assert shared.attrs["summary"]["ranks_per_system"] == 2


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_recycling_build_on_two_ranks_per_system(tmp_path):
    recipe = {"solver.method": "gcrodr", "solver.preconditioner": "ilu"}
    one = mpi_build(tmp_path, "g1.zarr", 1, **recipe)
    two = mpi_build(tmp_path, "g2.zarr", 2, ranks_per_system=2, **recipe)
    assert_same_dataset(one, two)
    assert "bjacobi" in two.attrs["plan"]["preconditioner"]


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_periodic_axis_0_on_two_ranks_per_system_matches_a_serial_direct_build(tmp_path):
    """Periodic along x (axis 0, the one the ranks split): each rank's rows are cut from
    the whole system, whose first and last slabs are neighbours, and at 128² the multigrid
    spread over the ranks interpolates across the wrap; the solutions match a serial
    direct solve's."""
    periodic = {"grid.shape": [128, 128], "samples": 6,
                "boundary.faces": {"x_low": {"kind": "periodic"}, "x_high": {"kind": "periodic"}}}
    direct = mpi_build(tmp_path, "direct.zarr", 1, **periodic, **{"solver.method": "direct"})
    two = mpi_build(tmp_path, "two.zarr", 2, **periodic, ranks_per_system=2)
    assert_same_dataset(direct, two)
    plan = two.attrs["plan"]
    assert (plan["method"], plan["preconditioner"], plan["multigrid_periodic"]) == ("cg", "mg", [0]), plan
    assert two["stats/iterations"][:].max() <= 10


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_red_black_multigrid_build_on_two_ranks_matches_serial(tmp_path):
    """CG + geometric multigrid in red-black numbering with a start cycle (the 2-D default
    plan): every rank renumbers its own systems, callers and the store see C order (the
    solutions match a direct solve's)."""
    direct = mpi_build(tmp_path, "direct.zarr", 1, **{"grid.shape": [32, 32], "solver.method": "direct"})
    mg = {"grid.shape": [32, 32], "solver.method": "cg", "solver.preconditioner": "mg"}
    one = mpi_build(tmp_path, "mg1.zarr", 1, **mg)
    two = mpi_build(tmp_path, "mg2.zarr", 2, **mg)
    assert_same_dataset(direct, one)
    assert_same_dataset(one, two)
    plan = one.attrs["plan"]
    assert (plan["multigrid_ordering"], plan["multigrid_start_cycles"]) == ("red-black", 1)
    assert one["stats/converged"][:].all() and np.all(one["stats/iterations"][:] >= 2)


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_a_failing_rank_aborts_the_job_instead_of_hanging(tmp_path):
    from pathlib import Path
    recipe = small_recipe(tmp_path, **{"samples": 16, "output.chunk_samples": 4})
    script = Path(__file__).parent / "mpi_scripts" / "failing_rank.py"
    result = subprocess.run([mpiexec(), "-n", "2", sys.executable, str(script), str(write_recipe(tmp_path, recipe))],
                            capture_output=True, text=True, timeout=120, env=mpi_env())
    assert result.returncode != 0
    assert "injected failure on rank 1" in result.stderr, (result.returncode, result.stdout, result.stderr)


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_sharded_zarr_build_on_three_ranks_matches_serial(tmp_path):
    """Segments are cut at shard boundaries, so no two ranks ever write the same shard."""
    direct = {"solver.method": "direct", "output.chunk_samples": 2}
    one = mpi_build(tmp_path, "plain.zarr", 1, **direct)
    sharded = mpi_build(tmp_path, "sharded.zarr", 3, **direct, **{"output.shard_samples": 6})
    assert_same_dataset(one, sharded)
    assert sharded["outputs/solution"].shards == (6, 16, 16) and sharded["outputs/solution"].chunks == (2, 16, 16)
    data_files = [f for f in (tmp_path / "sharded.zarr" / "outputs" / "solution" / "c").rglob("*") if f.is_file()]
    assert len(data_files) == 4  # ceil(22 / 6) shards, not 11 chunk files


def test_resume_finishes_with_the_plan_the_store_was_started_with(tmp_path, monkeypatch):
    """A newer planner (here: a patched one with another order and GMRES) must not break
    resuming: the stored plan fixes the solve order and the method."""
    import pdegen.build
    from pdegen.plan import make_plan as real_make_plan
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    assert CliRunner().invoke(main, ["build", str(path), "-q"]).exit_code == 0
    store = zarr.open_group(str(tmp_path / "tiny.zarr"), mode="r+")
    stored_plan = dict(store.attrs["plan"])
    done = store["done"][:]
    done[-3:] = False  # as if killed before the last three samples were written
    store["done"][:] = done
    before = store["outputs/solution"][:]

    def newer_planner(recipe):
        plan = real_make_plan(recipe)
        return type(plan)(**{**plan.as_dict(), "method": "gmres", "preconditioner": "jacobi",
                             "ordering": "kdtree" if stored_plan["ordering"] != "kdtree" else "none"})
    monkeypatch.setattr(pdegen.build, "make_plan", newer_planner)
    result = CliRunner().invoke(main, ["build", str(path), "--resume"])
    assert result.exit_code == 0 and "(5 already done)" in result.output, result.output  # the done rows kept
    ds = open_dataset(tmp_path / "tiny.zarr")
    assert ds["done"][:].all() and ds.attrs["plan"]["method"] == stored_plan["method"]
    assert np.allclose(ds["outputs/solution"][:], before, rtol=1e-5, atol=1e-6 * np.abs(before).max())


def test_a_failed_chunk_write_leaves_its_rows_not_done_and_resume_completes(tmp_path, monkeypatch):
    """A write error stops the build; the chunks before it stay done, the failed one and
    the rest are not, and --resume completes the store as an uninterrupted build would."""
    from pdegen.store.zarr import ZarrWriter
    recipe = small_recipe(tmp_path, **{"output.chunk_samples": 2})
    path = write_recipe(tmp_path, recipe)
    reference = write_recipe(tmp_path, {**recipe, "output": {**recipe["output"], "path": str(tmp_path / "ref.zarr")}},
                             "ref.yaml")
    assert CliRunner().invoke(main, ["build", str(reference), "-q"]).exit_code == 0
    real_write_rows = ZarrWriter.write_rows

    def failing_write_rows(self, arrays, start):
        if start == 4:  # the third chunk: write part of it, then fail
            real_write_rows(self, {"outputs/solution": arrays["outputs/solution"]}, start)
            raise OSError("disk full (simulated)")
        real_write_rows(self, arrays, start)
    monkeypatch.setattr(ZarrWriter, "write_rows", failing_write_rows)
    result = CliRunner().invoke(main, ["build", str(path), "-q"])
    assert result.exit_code != 0 and isinstance(result.exception, OSError), result.output
    done = open_dataset(tmp_path / "tiny.zarr")["done"][:]
    assert done.tolist() == [True] * 4 + [False] * 4
    monkeypatch.setattr(ZarrWriter, "write_rows", real_write_rows)
    result = CliRunner().invoke(main, ["build", str(path), "--resume"])
    assert result.exit_code == 0 and "(4 already done)" in result.output, result.output
    assert_same_dataset(open_dataset(tmp_path / "ref.zarr"), open_dataset(tmp_path / "tiny.zarr"))


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_helmholtz_over_several_ranks_per_system_needs_mumps(tmp_path):
    """Krylov methods stall on Helmholtz, so `auto` plans a direct solve even across ranks;
    without MUMPS the build stops before writing anything, saying what to change."""
    from pathlib import Path

    import yaml

    from pdegen.build import _has_parallel_direct
    if _has_parallel_direct():
        pytest.skip("this PETSc has MUMPS: the direct solve across ranks is available")
    recipe = yaml.safe_load((Path(__file__).resolve().parents[1] / "recipes" / "helmholtz.yaml").read_text())
    recipe.update({"grid": {"shape": [16, 16]}, "samples": 4, "ranks_per_system": 2,
                   "output": {"path": str(tmp_path / "h.zarr")}})
    result = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "pdegen.cli", "build",
                             str(write_recipe(tmp_path, recipe)), "-q"], capture_output=True, text=True, timeout=120,
                            env=mpi_env())
    assert result.returncode == 2, result.stderr
    assert "helmholtz needs a direct solve" in result.stderr and "use ranks_per_system: 1" in result.stderr
    assert not (tmp_path / "h.zarr").exists()


def test_ctrl_c_is_taken_between_samples_and_a_second_one_at_once():
    """The first SIGINT is remembered, not raised where it lands (a weakref callback
    would swallow it); a second SIGINT raises at once; the previous
    handler comes back afterwards."""
    from pdegen.interrupt import StopRequest
    before, before_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopRequest(announce=False) as stop:
        assert not stop.requested
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler runs between bytecodes: no KeyboardInterrupt here
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1.0)  # interrupted well before this ends
    with StopRequest(announce=False) as stop:  # SIGTERM twice (the batch system's and mpiexec's): still a stop
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert stop.requested
    assert signal.getsignal(signal.SIGINT) is before and signal.getsignal(signal.SIGTERM) is before_term


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGUSR1])
def test_ctrl_c_or_sigterm_stops_a_build_that_resumes_to_completion(tmp_path, signum):
    """SIGTERM as a batch system sends it at a job's time limit, and SIGUSR1, taken like
    Ctrl-C."""
    store = tmp_path / "tiny.zarr"
    n = 600  # seconds of work: the build is still running when the signal arrives
    recipe = small_recipe(tmp_path, **{"samples": n, "grid.shape": [48, 48], "output.chunk_samples": 8})
    path = write_recipe(tmp_path, recipe)
    process = subprocess.Popen([sys.executable, "-m", "pdegen.cli", "build", str(path), "--quiet"],
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
        try:
            if zarr.open_group(str(store), mode="r")["done"][:].sum() >= 16:
                break
        except Exception:  # not created yet
            continue
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    said = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGUSR1: "SIGUSR1"}[signum]
    assert f"{said}: stopping after the current sample" in stderr
    assert f"continue with pdegen build {path} --quiet --resume" in stderr
    with open_dataset(store) as ds:
        done = ds["done"][:]
        assert 16 <= done.sum() < n and ds.attrs["status"] == "building"
    result = CliRunner().invoke(main, ["build", str(path), "--resume"])
    assert result.exit_code == 0 and f"({int(done.sum())} already done)" in result.output, result.output
    with open_dataset(store) as ds:
        assert ds["done"][:].all() and sorted(ds["sample_id"][:]) == list(range(n))


@pytest.mark.parametrize("fmt, error", [("zarr", None), ("hdf5", None), ("zarr", MemoryError)])
def test_a_stop_mid_chunk_writes_its_finished_samples_and_resume_goes_on_from_there(tmp_path, monkeypatch, fmt,
                                                                                     error):
    """Stopped (or failed) before the 13th sample with 8 per chunk: rows 0-11 are written
    and done (the second chunk's first four included, which used to be dropped with it);
    --resume solves the 28 others, each row once, as an uninterrupted build would."""
    from pdegen import build as build_module
    from pdegen.recipe import load_recipe
    recipe = small_recipe(tmp_path, **{"samples": 40, "output.chunk_samples": 8, "output.format": fmt,
                                       "output.path": str(tmp_path / f"s.{fmt}")})
    path = write_recipe(tmp_path, recipe)
    solve_row, calls = build_module._Segment._solve_row, [0]

    def stop_before_the_13th(self, *args):
        calls[0] += 1
        if error and calls[0] == 13:
            raise error("simulated")
        self.stop.requested = calls[0] == 13  # as the first Ctrl-C or SIGTERM sets it
        return solve_row(self, *args)
    monkeypatch.setattr(build_module._Segment, "_solve_row", stop_before_the_13th)
    with pytest.raises(error or KeyboardInterrupt):
        build_module.build(load_recipe(path), quiet=True)
    monkeypatch.undo()
    with open_dataset(tmp_path / f"s.{fmt}") as ds:
        assert ds["done"][:].tolist() == [True] * 12 + [False] * 28 and ds.attrs["status"] == "building"
    result = CliRunner().invoke(main, ["build", str(path), "--resume"])
    assert result.exit_code == 0 and "(12 already done)" in result.output, result.output
    reference = write_recipe(tmp_path, {**recipe, "output": {**recipe["output"], "path": str(tmp_path / f"r.{fmt}")}},
                             "ref.yaml")
    assert CliRunner().invoke(main, ["build", str(reference), "-q"]).exit_code == 0
    with open_dataset(tmp_path / f"s.{fmt}") as a, open_dataset(tmp_path / f"r.{fmt}") as b:
        assert a["done"][:].all() and a["sample_id"][:].tolist() == b["sample_id"][:].tolist()
        assert np.array_equal(a["inputs/coefficient"][:], b["inputs/coefficient"][:])
        ua, ub = a["outputs/solution"][:].astype(float), b["outputs/solution"][:].astype(float)
        assert np.abs(ua - ub).max() <= 1e-6 * np.abs(ub).max()
        na, nb = a.attrs["normalization"]["outputs/solution"], b.attrs["normalization"]["outputs/solution"]
        assert na["count"] == nb["count"] and abs(na["mean"] / nb["mean"] - 1) < 1e-6


def test_a_stop_drops_a_time_dependent_sample_at_its_next_step_and_resume_redoes_it(tmp_path, monkeypatch):
    """A sample of many time steps takes minutes on a fine grid, longer than a batch system
    waits between its SIGTERM and its kill: a stop asked for during the 6th sample's 8th
    step ends the build at that step (it used to finish the sample), rows 0-4 are kept,
    and --resume solves the 6th again with the others, as an uninterrupted build would."""
    from pdegen import build as build_module
    from pdegen.recipe import load_recipe
    steps = 20  # 20 steps, every one stored: 20 solves per sample
    recipe = small_recipe(tmp_path, **{"family": "heat", "samples": 8, "output.chunk_samples": 8,
                                       "parameters": {"coefficient": {"dist": "grf", "alpha": 2.5, "tau": 7.0,
                                                                      "transform": "exp"},
                                                      "initial": {"dist": "grf", "alpha": 2.5, "tau": 7.0}},
                                       "discretization": {"scheme": "crank-nicolson", "t_end": 0.05, "steps": steps}})
    path = write_recipe(tmp_path, recipe)
    solve, calls = build_module._Segment.solve, [0]

    def stop_in_the_sixth_sample(self, *args):
        calls[0] += 1
        self.stop.requested = self.stop.requested or calls[0] == 5 * steps + 8
        return solve(self, *args)
    monkeypatch.setattr(build_module._Segment, "solve", stop_in_the_sixth_sample)
    with pytest.raises(KeyboardInterrupt):
        build_module.build(load_recipe(path), quiet=True)
    monkeypatch.undo()
    assert calls[0] == 5 * steps + 8  # not one step solved after the stop
    with open_dataset(tmp_path / "tiny.zarr") as ds:
        assert ds["done"][:].tolist() == [True] * 5 + [False] * 3
    with resumed_beside_uninterrupted(tmp_path, path, recipe, already_done=5) as (a, b):
        assert a["done"][:].all() and a["sample_id"][:].tolist() == b["sample_id"][:].tolist()
        ua, ub = a["outputs/solution"][:].astype(float), b["outputs/solution"][:].astype(float)
        assert ua.shape == (8, steps, 16, 16) and np.abs(ua - ub).max() <= 1e-6 * np.abs(ub).max()


def test_an_output_path_that_cannot_be_created_is_bad_input(tmp_path, monkeypatch):
    """Exit status 2 with the path and what to do, before any work, and nothing left
    behind (it was a traceback with exit status 1, the status of failed samples)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    recipe = small_recipe(tmp_path, **{"output.path": str(blocker / "s.zarr")})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q"])
    assert result.exit_code == 2 and f"{blocker} is not a folder this process can write" in result.output

    # Inside another store (here two levels down), it would become a group of that store.
    outer = tmp_path / "outer.zarr"
    zarr.open_group(str(outer), mode="w")
    before = sorted(p.relative_to(outer) for p in outer.rglob("*"))
    recipe = small_recipe(tmp_path, **{"output.path": str(outer / "more" / "s.zarr")})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q"])
    assert result.exit_code == 2 and f"inside the Zarr store {outer};" in result.output, result.output
    assert sorted(p.relative_to(outer) for p in outer.rglob("*")) == before

    import pdegen.build

    def refused(path, *args, **kwargs):  # e.g. a full disk, after the store's folder was made
        path.mkdir()
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(pdegen.build, "create_store", refused)
    store = tmp_path / "s.zarr"
    recipe = small_recipe(tmp_path, **{"output.path": str(store)})
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q"])
    assert result.exit_code == 2, result.output
    assert f"{store}: cannot create the store: No space left on device" in result.output
    assert not store.exists()


@pytest.mark.filterwarnings("ignore:suspicious MPI execution environment")  # mpi4py's own, when it loads here
def test_build_from_python_refuses_a_launcher_whose_processes_each_see_one_rank(tmp_path, monkeypatch):
    """The Python API checks what the CLI checks: with no comm given, a launcher that started
    two processes which each see an MPI world of one stops the build before anything is written."""
    from pdegen.build import BuildError, build
    from pdegen.recipe import load_recipe
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    recipe = load_recipe(write_recipe(tmp_path, small_recipe(tmp_path)))
    with pytest.raises(BuildError, match="started 2 processes, but each one sees an MPI world of 1"):
        build(recipe, quiet=True)
    assert not (tmp_path / "tiny.zarr").exists()
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    assert build(recipe, quiet=True).ok  # and without the launcher's word, the same build runs


def test_progress_without_a_terminal_is_a_line_every_so_often(tmp_path, monkeypatch):
    """Batch jobs and every rank under mpiexec have no terminal for a bar: rank 0 of a build
    or a verify prints a progress line every PROGRESS_LINE_SECONDS instead (here every
    sample, but the last)."""
    import pdegen.progress
    monkeypatch.setattr(pdegen.progress, "PROGRESS_LINE_SECONDS", 0.0)
    path = write_recipe(tmp_path, small_recipe(tmp_path, samples=4))
    result = CliRunner().invoke(main, ["build", str(path)])
    lines = [line for line in result.output.splitlines() if line.startswith("solving:")]
    assert [line.split(" samples")[0] for line in lines] == ["solving: 1/4", "solving: 2/4", "solving: 3/4"]
    assert "(50%)" in lines[1] and " left" in lines[1]
    quiet = CliRunner().invoke(main, ["build", str(path), "-q", "--overwrite"])
    assert "solving" not in quiet.output
    verify = CliRunner().invoke(main, ["verify", str(tmp_path / "tiny.zarr")])
    lines = [line for line in verify.output.splitlines() if line.startswith("verifying:")]
    assert [line.split(" samples")[0] for line in lines] == ["verifying: 1/4", "verifying: 2/4", "verifying: 3/4"]


def test_the_recorded_mpi_library_is_one_clean_line():
    """Open MPI's version string ends in a NUL and runs over several lines: the store records
    (and the launcher check names) its first line without them."""
    from pdegen.mpi import mpi_library

    class OpenMPI:
        @staticmethod
        def Get_library_version():
            return "Open MPI v4.1.6, package: Debian OpenMPI, ident: 4.1.6\nrepo rev: v4.1.6\x00"

    class MPICH:
        @staticmethod
        def Get_library_version():
            return "MPICH Version:\t4.0.2\nMPICH Release date:\tThu Mar 31 11:39:20 CDT 2022\n"

    assert mpi_library(OpenMPI) == "Open MPI v4.1.6, package: Debian OpenMPI, ident: 4.1.6"
    assert mpi_library(MPICH) == "MPICH Version: 4.0.2"


@needs_petsc
def test_odd_grid_builds_with_multigrid(tmp_path):
    """97 x 99 cells (FNO-style odd sizes): the plan keeps CG + geometric multigrid, whose
    hierarchy pairs cells and leaves the last of an odd row alone; every sample converges
    in as few iterations as on even grids, and verify agrees."""
    ds = _built_and_verified(tmp_path / "odd.zarr", "grid.shape=[97,99]")
    plan = ds.attrs["plan"]
    assert (plan["method"], plan["preconditioner"], plan["multigrid_odd"]) == ("cg", "mg", True)
    assert "(97x99 > 49x50 > 25x25 > 13x13)" in plan["reasons"][0], plan["reasons"]
    assert ds["stats/converged"][:].all() and ds["stats/iterations"][:].max() <= 9
    assert np.all(ds["stats/residual"][:] <= 1e-8)


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_nonsymmetric_build_on_two_ranks_per_system_uses_algebraic_multigrid(tmp_path):
    """Advection-diffusion spread over two ranks per system: the planner's GMRES + GAMG with
    block Jacobi + ILU(0) smoothing (no sequential LU, no geometric multigrid there)
    converges in a few iterations per sample, and its solutions match a serial LU's."""
    recipe = {"family": "advection_diffusion", "parameters": None, "grid.shape": [48, 48], "samples": 8}
    direct = mpi_build(tmp_path, "lu.zarr", 1, **recipe, **{"solver.method": "direct"})
    amg = mpi_build(tmp_path, "amg.zarr", 2, **recipe, ranks_per_system=2)
    plan = amg.attrs["plan"]
    assert (plan["method"], plan["preconditioner"]) == ("gmres", "gamg"), plan
    assert plan["options"]["mg_levels_pc_type"] == "bjacobi"
    assert amg["stats/converged"][:].all() and np.all(amg["stats/residual"][:] <= 1e-8)
    assert amg["stats/iterations"][:].max() <= 20, amg["stats/iterations"][:]
    u1, u2 = direct["outputs/solution"][:].astype(float), amg["outputs/solution"][:].astype(float)
    # The direct plan stores samples in draw order, the Krylov plan in greedy order: compare by sample_id.
    by_id = np.argsort(direct["sample_id"][:]), np.argsort(amg["sample_id"][:])
    assert np.array_equal(direct["sample_id"][:][by_id[0]], amg["sample_id"][:][by_id[1]])
    assert np.abs(u1[by_id[0]] - u2[by_id[1]]).max() <= 1e-5 * np.abs(u1).max()


@needs_petsc
def test_time_stepping_with_few_steps_plans_multigrid_and_matches_the_factorisation(tmp_path):
    """Heat with one solve per sample at 128² (one Crank-Nicolson step), fewer than the 1.4
    over which a reused factorisation pays for itself at that size (plan.factorisation_break_even,
    fitted in docs/benchmarks.md, time_dependent_crossover), is planned as CG + geometric
    multigrid; its solutions match the reused Cholesky's and every step meets rtol."""
    common = {"family": "heat", "parameters": None, "grid.shape": [128, 128], "samples": 3,
              "solver.backend": "petsc",
              "discretization": {"scheme": "crank-nicolson", "steps": 1, "save_every": 1}}
    stores = {}
    for name, extra in (("mg", {}), ("direct", {"solver.method": "direct"})):
        recipe = small_recipe(tmp_path, **common, **extra, **{"output.path": str(tmp_path / f"{name}.zarr")})
        result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe, f"{name}.yaml")), "-q"])
        assert result.exit_code == 0, result.output
        stores[name] = open_dataset(tmp_path / f"{name}.zarr")
    plan = stores["mg"].attrs["plan"]
    assert (plan["method"], plan["preconditioner"], plan["multigrid_coarse"]) == ("cg", "mg", "galerkin"), plan
    assert stores["mg"]["stats/converged"][:].all() and np.all(stores["mg"]["stats/residual"][:] <= 1e-8)
    assert stores["mg"]["stats/iterations"][:].min() > 0  # an iterative solve, not the factorisation
    u_mg = stores["mg"]["outputs/solution"][:].astype(float)
    u_direct = stores["direct"]["outputs/solution"][:].astype(float)
    assert np.array_equal(stores["mg"]["sample_id"][:], stores["direct"]["sample_id"][:])
    assert np.abs(u_mg - u_direct).max() <= 1e-5 * np.abs(u_direct).max()


@needs_petsc
def test_3d_time_steps_with_multigrid_aggregate_the_diffusion_and_sum_the_mass(tmp_path):
    """Heat on 24³ with a recipe's own ``mg``: the plan's coarse operators are aggregation
    with the mass term 1/Δt summed (shift = steps / t_end, C order); every step meets rtol
    and the trajectories match the Cholesky's."""
    common = {"family": "heat", "parameters": None, "grid.shape": [24, 24, 24], "samples": 2,
              "solver.backend": "petsc", "discretization": {"steps": 4, "save_every": 2}}
    stores = {}
    for name, extra in (("mg", {"solver.method": "cg", "solver.preconditioner": "mg"}),
                        ("direct", {"solver.method": "direct"})):
        recipe = small_recipe(tmp_path, **common, **extra, **{"output.path": str(tmp_path / f"{name}.zarr")})
        result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe, f"{name}.yaml")), "-q"])
        assert result.exit_code == 0, result.output
        stores[name] = open_dataset(tmp_path / f"{name}.zarr")
    plan = stores["mg"].attrs["plan"]
    assert (plan["multigrid_coarse"], plan["multigrid_shift"], plan["multigrid_ordering"]) == (
        "aggregation", 4 / 0.05, "natural"), plan
    assert stores["mg"]["stats/converged"][:].all() and np.all(stores["mg"]["stats/residual"][:] <= 1e-8)
    # 5 solves (Rannacher's start takes two), 6-7 CG iterations each (aggregation halving the mass term too: 9)
    assert 0 < stores["mg"]["stats/iterations"][:].max() <= 5 * 7, stores["mg"]["stats/iterations"][:]
    u_mg = stores["mg"]["outputs/solution"][:].astype(float)
    u_direct = stores["direct"]["outputs/solution"][:].astype(float)
    assert u_mg.shape == (2, 2, 24, 24, 24)
    assert np.abs(u_mg - u_direct).max() <= 1e-5 * np.abs(u_direct).max()


@needs_petsc
def test_a_nonsymmetric_systems_krylov_fallback_is_gamg_with_ilu_smoothing(tmp_path):
    """Advection-diffusion with an unpreconditioned GMRES capped at 20 iterations fails on
    every sample; the Krylov fallback, GMRES(100) + GAMG smoothed by block Jacobi + ILU(0)
    (12-21 iterations where ASM took 226-948: docs/benchmarks.md, nonsymmetric_fallback),
    solves them all to rtol within the same 20 iterations, without the direct solve
    (GMRES(100) + ASM needs 76-83 iterations on these samples)."""
    overrides = ["samples=3", "grid.shape=[64,64]", "solver.method=gmres", "solver.preconditioner=none",
                 "solver.maxiter=20", f"output.path={tmp_path / 'a.zarr'}"]
    recipe = ROOT / "recipes" / "advection_diffusion.yaml"
    result = CliRunner().invoke(main, ["build", str(recipe), *[a for o in overrides for a in ("--set", o)]])
    assert result.exit_code == 0 and "3 needed the fallback" in result.output, result.output
    ds = open_dataset(tmp_path / "a.zarr")
    assert set(ds.solver_names()) == {"fallback-krylov"}
    assert ds["stats/converged"][:].all() and np.all(ds["stats/residual"][:] <= 1e-8)
    from pdegen.build import _Fallbacks
    from pdegen.families import get_family
    from pdegen.plan import make_plan
    from pdegen.recipe import load_recipe
    planned = load_recipe(recipe, ["grid.shape=[64,64]", "solver.method=gmres", "solver.preconditioner=none"])
    krylov = _Fallbacks(make_plan(planned), get_family("advection_diffusion"), 1e-8, 100, None, False)._make("krylov")
    assert krylov.pc_type == "gamg" and krylov.options["mg_levels_pc_type"] == "bjacobi"


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_geometric_multigrid_distributed_over_three_ranks_matches_serial(tmp_path):
    """CG + geometric multigrid with the hierarchy spread over 3 ranks per system (slabs of
    16 / 17 / 17 cells on the 50² grid, so coarse slabs of unequal halves): the same store
    as a serial direct build, in a handful of iterations."""
    grid = {"grid.shape": [50, 50]}
    direct = mpi_build(tmp_path, "direct.zarr", 1, **grid, **{"solver.method": "direct"})
    spread = mpi_build(tmp_path, "mg3.zarr", 3, **grid, ranks_per_system=3,
                       **{"solver.method": "cg", "solver.preconditioner": "mg"})
    plan = spread.attrs["plan"]
    assert (plan["preconditioner"], plan["multigrid_coarse"], plan["multigrid_ordering"]) == ("mg", "galerkin",
                                                                                              "natural")
    assert_same_dataset(direct, spread)
    assert spread["stats/iterations"][:].max() <= 12, spread["stats/iterations"][:]


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_geometric_multigrid_distributed_in_3d_matches_serial(tmp_path):
    """A 3-D hierarchy (33 x 32 x 32 cells: an odd first axis, slabs of 16 and 17 cells)
    spread over 2 ranks per system gives the serial multigrid build's store."""
    mg = {"grid.shape": [33, 32, 32], "samples": 8, "solver.method": "cg", "solver.preconditioner": "mg"}
    serial = mpi_build(tmp_path, "serial.zarr", 1, **mg)
    spread = mpi_build(tmp_path, "spread.zarr", 2, ranks_per_system=2, **mg)
    assert spread.attrs["plan"]["multigrid_coarse"] == "galerkin"
    assert_same_dataset(serial, spread)
    assert spread["stats/iterations"][:].max() <= 12, spread["stats/iterations"][:]


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_sharp_jumps_distributed_smooth_with_block_jacobi_icc(tmp_path):
    """A 1000:1 thresholded coefficient on 64² spread over 2 ranks per system: the plan
    smooths with block Jacobi + ICC(1) (Chebyshev on the coarse levels), every sample
    converges without a fallback and matches the serial direct solve's store."""
    sharp = {"grid.shape": [64, 64], "samples": 8, "parameters.coefficient": {
        "dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "threshold", "high": 1000.0, "low": 1.0}}
    direct = mpi_build(tmp_path, "direct.zarr", 1, **sharp, **{"solver.method": "direct"})
    spread = mpi_build(tmp_path, "icc.zarr", 2, **sharp, ranks_per_system=2,
                       **{"solver.method": "cg", "solver.preconditioner": "mg"})
    plan = spread.attrs["plan"]
    assert (plan["options"]["mg_levels_pc_type"], plan["options"]["mg_levels_sub_pc_type"]) == ("bjacobi", "icc")
    assert set(spread.solver_names()) == {"cg"}
    u1, u2 = direct["outputs/solution"][:].astype(float), spread["outputs/solution"][:].astype(float)
    assert np.abs(u1 - u2).max() <= 1e-4 * np.abs(u1).max()
    assert spread["stats/converged"][:].all() and spread["stats/iterations"][:].max() <= 30


@needs_petsc
@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
def test_named_multigrid_on_a_grid_only_the_distributed_hierarchy_coarsens_twice(tmp_path):
    """16³ with 2 ranks per system: the Galerkin hierarchy goes on to 4³ (aggregation, on
    one rank, stops at 8³ and the recipe is refused there); the recipe check had guessed
    aggregation and refused this one. It builds the serial direct solve's store."""
    grid = {"grid.shape": [16, 16, 16], "samples": 8}
    direct = mpi_build(tmp_path, "direct.zarr", 1, **grid, **{"solver.method": "direct"})
    spread = mpi_build(tmp_path, "mg.zarr", 2, **grid, ranks_per_system=2,
                       **{"solver.method": "cg", "solver.preconditioner": "mg"})
    assert (spread.attrs["plan"]["preconditioner"], spread.attrs["plan"]["multigrid_coarse"]) == ("mg", "galerkin")
    assert_same_dataset(direct, spread)
    assert spread["stats/iterations"][:].max() <= 12, spread["stats/iterations"][:]
