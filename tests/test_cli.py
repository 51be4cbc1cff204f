"""The command line: build, info, plot, plan; exit codes; streaming memory."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import needs_petsc, run_cli, small_recipe, write_recipe
from pdegen.cli import main
from pdegen.recipe import load_recipe
from pdegen.store import open_dataset


def interrupt(*args, **kwargs):
    """Stands in for a function that Ctrl-C stops."""
    raise KeyboardInterrupt


def test_build_info_plot(tmp_path):
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    result = CliRunner().invoke(main, ["build", str(path)])
    assert result.exit_code == 0, result.output
    assert "8 samples solved" in result.output and "iterations" not in result.output  # direct: none to count
    info = CliRunner().invoke(main, ["info", str(tmp_path / "tiny.zarr"), "--json"])
    report = json.loads(info.output)
    assert report["done"] == 8 and report["failed"] == 0 and report["grid"] == [16, 16]
    assert report["residual"]["p100"] <= 1e-8
    text = CliRunner().invoke(main, ["info", str(tmp_path / "tiny.zarr")])
    assert "8/8 done, 0 failed" in text.output and "inputs/coefficient" in text.output
    assert report["times"] is None and "times" not in text.output  # steady: no stored times
    assert "  boundary   dirichlet 0\n" in text.output and report["boundary"] == "dirichlet 0"
    faces = CliRunner().invoke(main, ["build", str(path), "-q", "--samples", "2", "-o", str(tmp_path / "f.zarr"),
                                      "--set", "boundary.faces.y_high={kind: neumann, value: 2}"])
    assert faces.exit_code == 0, faces.output
    described = CliRunner().invoke(main, ["info", str(tmp_path / "f.zarr")]).output
    assert "  boundary   dirichlet 0; y_high neumann 2\n" in described, described
    from pdegen.plan import make_plan
    plan = make_plan(load_recipe(path))
    assert (report["plan"], report["preconditioner"]) == (plan.method, plan.preconditioner) == ("direct", "superlu")
    assert "solver     direct (superlu), ordering none" in text.output
    pytest.importorskip("matplotlib")
    png = tmp_path / "s.png"
    result = CliRunner().invoke(main, ["plot", str(tmp_path / "tiny.zarr"), "--sample", "3", "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    missing = CliRunner().invoke(main, ["plot", str(tmp_path / "tiny.zarr"), "--sample", "99"])
    assert missing.exit_code == 2 and "sample 99 is not in the store (its ids are 0..7)" in missing.output
    import zarr
    handle = zarr.open_group(str(tmp_path / "tiny.zarr"), mode="r+")
    done = handle["done"][:]
    done[list(handle["sample_id"][:]).index(3)] = False  # as if the build had stopped before sample 3
    handle["done"][:] = done
    unwritten = CliRunner().invoke(main, ["plot", str(tmp_path / "tiny.zarr"), "--sample", "3"])
    assert unwritten.exit_code == 2 and "sample 3 is not written yet (7 of 8 samples are" in unwritten.output
    elsewhere = CliRunner().invoke(main, ["build", str(path), "-q", "--samples", "4", "-o", str(tmp_path / "o.zarr")])
    assert elsewhere.exit_code == 0 and open_dataset(tmp_path / "o.zarr")["done"][:].sum() == 4
    krylov = CliRunner().invoke(main, ["build", str(path), "--samples", "4", "-o", str(tmp_path / "k.zarr"),
                                       "--set", "solver.method=gmres"])
    its = open_dataset(tmp_path / "k.zarr")["stats/iterations"][:]
    assert f"iterations median {int(np.median(its))}" in krylov.output and its.min() > 0


def test_plan_explains_itself(tmp_path):
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    result = CliRunner().invoke(main, ["plan", str(path)])
    assert result.exit_code == 0 and result.output.startswith("direct")
    const = small_recipe(tmp_path, **{"parameters.coefficient": {"dist": "constant", "value": 2.0},
                                      "parameters.forcing": {"dist": "grf", "transform": "none"}})
    result = CliRunner().invoke(main, ["plan", str(write_recipe(tmp_path, const, "c.yaml"))])
    assert "same for every sample" in result.output


@pytest.mark.parametrize("sharded", [False, True])
def test_plan_says_what_the_store_will_hold(tmp_path, sharded):
    """The size before compression is the stored arrays' bytes, and the Zarr file bound is
    one file per chunk (or shard) of every array: checked against a built store."""
    import zarr

    from pdegen.store.layout import dataset_layout, footprint, format_bytes
    changes = {"samples": 10, "output.chunk_samples": 2, "output.shard_samples": 4 if sharded else 0,
               "solver.method": "gmres"}
    path = write_recipe(tmp_path, small_recipe(tmp_path, **changes))
    sizes, files = footprint(load_recipe(path).data)
    plan = CliRunner().invoke(main, ["plan", str(path)])
    unit = "shard" if sharded else "chunk"
    assert f"store: {tmp_path / 'tiny.zarr'} (zarr), " in plan.output and f"up to {files} {unit} files" in plan.output
    assert CliRunner().invoke(main, ["build", str(path), "-q"]).exit_code == 0
    group = zarr.open_group(str(tmp_path / "tiny.zarr"), mode="r")
    stored = {name: array.nbytes for name, array in group.arrays()}
    for name, sub in group.groups():
        stored.update({f"{name}/{inner}": array.nbytes for inner, array in sub.arrays()})
    assert stored == sizes
    per_file = 4 if sharded else 2
    units = written = 0
    for spec in dataset_layout(load_recipe(path).data):  # zarr skips units holding only the fill value
        values = group[spec.path][:]
        for start in range(0, len(values), per_file if spec.per_sample else len(values)):
            block = values[start:start + per_file] if spec.per_sample else values
            fill = spec.fill_value
            empty = np.all(block == fill) or (isinstance(fill, float) and np.isnan(fill) and np.isnan(block).all())
            units, written = units + 1, written + (not empty)
    data_files = [f for f in (tmp_path / "tiny.zarr").rglob("*") if f.is_file() and f.name != "zarr.json"]
    assert files == units == 13 * (3 if sharded else 5) + 2 and len(data_files) == written < units
    info = json.loads(CliRunner().invoke(main, ["info", str(tmp_path / "tiny.zarr"), "--json"]).output)
    all_files = [f for f in (tmp_path / "tiny.zarr").rglob("*") if f.is_file()]
    total = sum(sizes.values())
    assert info["bytes"] == {"data": total, "written": total, "on_disk": sum(f.stat().st_size for f in all_files)}
    # A partial store (as if stopped after its first 4 rows): the bytes of what is written.
    group = zarr.open_group(str(tmp_path / "tiny.zarr"), mode="r+")
    group["done"][4:] = False
    info = json.loads(CliRunner().invoke(main, ["info", str(tmp_path / "tiny.zarr"), "--json"]).output)
    layout = dataset_layout(load_recipe(path).data)
    per_row = sum(sizes[spec.path] // spec.shape[0] for spec in layout if spec.per_sample)
    assert info["bytes"]["written"] == total - 6 * per_row and info["bytes"]["data"] == total
    text = CliRunner().invoke(main, ["info", str(tmp_path / "tiny.zarr")]).output
    assert f"of arrays when complete, {format_bytes(total - 6 * per_row)} written" in text, text


def test_info_rejects_non_store(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    result = CliRunner().invoke(main, ["info", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "not a pdegen store" in result.output


def test_cli_help_answers_the_obvious_questions():
    result = CliRunner().invoke(main, ["build", "--help"])
    for phrase in ("--overwrite", "--resume", "--set", "Exit status", "--samples"):
        assert phrase in result.output


def test_families_lists_every_family_and_each_ones_defaults_as_a_recipe_gets_them():
    import yaml

    from pdegen.families import FAMILIES
    from pdegen.recipe import validate
    listing = CliRunner().invoke(main, ["families"])
    assert listing.exit_code == 0
    assert [line.split(":")[0] for line in listing.output.splitlines() if not line.startswith((" ", "`"))] == \
        list(FAMILIES)
    assert "outputs/u, outputs/v; recipes: recipes/diffusion_reaction.yaml" in listing.output
    for name, family in FAMILIES.items():
        result = CliRunner().invoke(main, ["families", name])
        assert result.exit_code == 0, result.output
        shape = [8, 8] if 2 in family.dimensions else [8] * family.dimensions[0]
        filled = validate({"family": name, "grid": {"shape": shape}, "samples": 1})
        lines = result.output.splitlines()
        section = None
        for line in lines:
            if not line.startswith("  "):
                section = line.split(" ")[0]
                continue
            key, _, rest = line.strip().partition(" ")
            if section == "parameters":  # "name (kind): {flow}  # doc"
                shown = yaml.safe_load(rest.split("): ", 1)[1].split("  # ")[0])
                written = validate({"family": name, "grid": {"shape": shape}, "samples": 1,
                                    "parameters": {key: shown}})  # the listed default, written in a recipe
                assert written["parameters"][key] == filled["parameters"][key], (name, key)
            elif section in ("boundary", "discretization"):  # "key: default ..."
                shown = yaml.safe_load(line.strip().split(": ", 1)[1].split("  # ")[0].split(" (one of")[0])
                assert shown == filled[section][key.rstrip(":")], (name, section, key)
    unknown = CliRunner().invoke(main, ["families", "darcyy"])
    assert unknown.exit_code == 2 and "unknown family 'darcyy'; registered families: darcy" in unknown.output


PEAK_RSS = """
import resource, sys
from pdegen.recipe import load_recipe
from pdegen.build import build
recipe = load_recipe(sys.argv[1], [f"samples={sys.argv[2]}", f"output.path={sys.argv[3]}"])
build(recipe, quiet=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_samples(tmp_path):
    recipe = small_recipe(tmp_path, **{"grid.shape": [64, 64], "output.chunk_samples": 32})
    path = write_recipe(tmp_path, recipe)
    import subprocess
    peaks = []
    for n in (64, 2048):
        out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(path), str(n), str(tmp_path / f"m{n}.zarr")],
                             capture_output=True, text=True, check=True)
        peaks.append(int(out.stdout.strip().splitlines()[-1]))
    # 2048 samples hold 64 MiB of float64 data: streaming keeps the peak within 20%.
    assert peaks[1] <= 1.2 * peaks[0], peaks


def test_exit_status_is_nonzero_for_bad_recipe(tmp_path):
    result = run_cli("build", tmp_path / "missing.yaml")
    assert result.returncode == 2 and "no such recipe file" in result.stderr


@pytest.mark.parametrize("launcher_env", [
    {"OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "{rank}"},
    {"PMI_SIZE": "2", "PMI_RANK": "{rank}"},
    {"PMIX_RANK": "{rank}", "SLURM_STEP_NUM_TASKS": "2", "SLURM_PROCID": "{rank}"},  # srun --mpi=pmix
])
def test_a_launcher_whose_processes_each_see_one_rank_is_refused(tmp_path, launcher_env):
    """mpiexec of one MPI with mpi4py built for another: each process sees a world of one and
    would build the whole dataset into the same store. The launcher's environment gives it away
    (a real launch of this machine's mpiexec is covered by the MPI tests)."""
    recipe = write_recipe(tmp_path, small_recipe(tmp_path))
    for rank in (0, 1):
        env = {name: value.format(rank=rank) for name, value in launcher_env.items()}
        result = run_cli("build", recipe, env=env)
        assert result.returncode == 2, result.stderr
        assert not (tmp_path / "tiny.zarr").exists()
        said = "started 2 processes, but each one sees an MPI world of 1 process" in result.stderr
        assert said == (rank == 0), result.stderr  # said once, by the launcher's rank 0


def test_a_batch_scripts_own_slurm_counts_are_not_a_launch(tmp_path):
    """Inside an sbatch script (no srun) Slurm exports the allocation's task counts too; a
    plain pdegen build there is one process and must run."""
    recipe = write_recipe(tmp_path, small_recipe(tmp_path, samples=2))
    result = run_cli("build", recipe, "-q", env={"SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "4", "SLURM_PROCID": "0"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", ["bench", "train"])
def test_one_process_commands_refuse_several_copies_under_mpiexec(tmp_path, command):
    """bench and train run in one process: under mpiexec -n 2 each copy would do the whole
    job (and train's copies would overwrite each other's checkpoints)."""
    recipe = write_recipe(tmp_path, small_recipe(tmp_path))  # train stops before reading it as a store
    args = {"bench": [recipe, "--samples", 2], "train": [recipe, "-o", tmp_path / "run"]}[command]
    for rank in (0, 1):
        result = run_cli(command, *args, env={"PMI_SIZE": "2", "PMI_RANK": str(rank)})
        assert result.returncode == 2 and not (tmp_path / "run").exists()
        said = f"pdegen {command} runs in one process, but mpiexec started 2" in result.stderr
        assert said == (rank == 0), result.stderr


def test_bench_compares_strategies_and_checks_residuals(tmp_path):
    pytest.importorskip("petsc4py")
    path = write_recipe(tmp_path, small_recipe(tmp_path, **{"solver.backend": "petsc"}))
    out_json, out_png = tmp_path / "b.json", tmp_path / "b.png"
    result = CliRunner().invoke(main, ["bench", str(path), "--samples", "6", "--repeats", "1", "--json", str(out_json),
                                       "--plot", str(out_png), "--strategy", "auto", "--strategy", "gmres",
                                       "--strategy", "direct-reuse"])
    assert result.exit_code == 0, result.output
    report = json.loads(out_json.read_text())
    names = [r["name"] for r in report["results"]]
    assert names == ["auto", "gmres", "direct-reuse"]
    for r in report["results"]:
        assert r["failures"] == 0 and r["worst_residual"] <= 1e-8 and r["ms_per_sample"] > 0
        # one round: the mean over all 6 samples is the first sample and the 5 others, exactly
        assert r["first_ms"] > 0 and r["later_ms_per_sample"] > 0
        assert abs(6 * r["ms_per_sample"] - r["first_ms"] - 5 * r["later_ms_per_sample"]) < 1e-9 * r["first_ms"] * 6
    assert next(r for r in report["results"] if r["name"] == "gmres")["iterations"] > 0
    assert "Fastest:" in result.output and out_png.read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(main, ["bench", str(path), "--strategy", "magic"])
    assert bad.exit_code == 2 and "choose from" in bad.output


def test_bench_rounds_rotate_so_every_strategy_runs_first_once(tmp_path, monkeypatch):
    from pdegen import bench
    calls = []

    def fake_run_once(name, *args):
        calls.append(name)
        return np.array([1e-3 * len(calls)]), np.array([0]), np.array([0.0])  # call k takes k ms
    monkeypatch.setattr(bench, "_run_once", fake_run_once)
    recipe = load_recipe(write_recipe(tmp_path, small_recipe(tmp_path)))
    names = ["auto", "gmres", "direct-reuse"]
    finished = []
    report = bench.run_bench(recipe, names=names, repeats=3, after_round=lambda r: finished.append((r, len(calls))))
    rounds = [calls[i:i + 3] for i in range(0, 9, 3)]
    assert [r[0] for r in rounds] == names                 # each strategy leads one round
    assert all(sorted(r) == sorted(names) for r in rounds)  # and every round runs each once
    assert finished == [(0, 3), (1, 6), (2, 9)]             # the hook runs after each whole round
    for r in report["results"]:  # per-round times in round order, from the call that ran it
        expected = [1.0 + rounds[k].index(r["name"]) + 3 * k for k in range(3)]
        assert r["round_ms"] == pytest.approx(expected) and r["ms_per_sample"] == pytest.approx(expected[1])
    assert [r["name"] for r in report["results"]] == names  # the report keeps the asked order
    calls.clear()
    bench.run_bench(recipe, names=names, repeats=1, first_round=2)  # one round at a time, third round
    assert calls == ["direct-reuse", "auto", "gmres"]


def test_bench_counts_a_failure_in_any_round_and_a_nan_residual(tmp_path, monkeypatch):
    """Failures are per sample over all rounds: a residual above rtol in one round only, or
    a NaN (a solve that blew up), is a failure; the worst residual shows it."""
    from pdegen import bench
    rounds = {"auto": iter([[1e-9, 1e-6], [1e-9, 1e-9]]), "gmres": iter([[1e-9, 1e-9], [np.nan, 1e-9]])}

    def fake_run_once(name, *args):
        return np.array([1e-3, 1e-3]), np.array([3, 5]), np.array(next(rounds[name]))
    monkeypatch.setattr(bench, "_run_once", fake_run_once)
    recipe = load_recipe(write_recipe(tmp_path, small_recipe(tmp_path)))
    report = bench.run_bench(recipe, names=["auto", "gmres"], repeats=2)
    auto, gmres = report["results"]
    assert auto["failures"] == 1 and auto["worst_residual"] == pytest.approx(1e-6) and auto["iterations"] == 4.0
    assert gmres["failures"] == 1 and np.isnan(gmres["worst_residual"])


def test_plot_stacks_the_panels_of_a_wide_domain(tmp_path):
    """Side by side, the panels of a 16:1 strip shrank to slivers: they are stacked one per
    row, each as wide as the figure (and the picture is written)."""
    from pdegen.plot import _layout
    assert _layout(2, [[0, 1], [0, 1]])[:2] == (1, 2)
    assert _layout(3, [[0, 16], [0, 1]])[:2] == (3, 1)
    assert _layout(2, None)[:2] == (1, 2)  # 1-D curves
    pytest.importorskip("matplotlib")
    recipe = small_recipe(tmp_path, **{"grid.shape": [64, 8], "grid.extent": [[0, 16], [0, 1]], "samples": 2})
    assert CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q"]).exit_code == 0
    png = tmp_path / "wide.png"
    result = CliRunner().invoke(main, ["plot", str(tmp_path / "tiny.zarr"), "--sample", "1", "-o", str(png)])
    assert result.exit_code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", result.output


@pytest.mark.parametrize("recipe,shape,changes,expected", [
    ("darcy", [64, 64], [], ("direct", "cholesky", "none")),   # below the measured MG crossover (96²)
    ("darcy", [100000], ["grid.extent=[[0,1]]"], ("direct", "cholesky", "none")),  # 1-D: tridiagonal, O(n) factor
    ("darcy", [128, 128], [], ("cg", "mg", "none")),           # halves 4 times; MG gains nothing from an order
    ("darcy", [128, 128], ["grid.extent=[[0,4],[0,1]]"], ("cg", "mg", "none")),  # 4:1 cells: MG still ahead
    ("darcy", [128, 128], ["grid.extent=[[0,8],[0,1]]"], ("cg", "mg", "none")),  # 8:1: semi-coarsening
    ("darcy", [256, 48], [], ("cg", "mg", "none")),  # halving both axes stops at 12; the short one first: 3 times
    ("darcy", [250, 250], [], ("cg", "mg", "none")),           # odd levels (125, 63) pair all but the last cell
    # A coefficient jumping 100:1 across sharp interfaces: direct up to the direct limit, multigrid above;
    # from 1000:1 the factorisation stays ahead (or ties) up to 384²
    ("darcy_threshold", [128, 128], ["parameters.coefficient.high=100", "parameters.coefficient.low=1"],
     ("direct", "cholesky", "none")),
    ("darcy_threshold", [256, 256], ["parameters.coefficient.high=100", "parameters.coefficient.low=1"],
     ("cg", "mg", "none")),
    ("darcy_threshold", [256, 256], ["parameters.coefficient.high=1000", "parameters.coefficient.low=1"],
     ("direct", "cholesky", "none")),
    ("darcy_threshold", [384, 384], ["parameters.coefficient.high=1000", "parameters.coefficient.low=1"],
     ("direct", "cholesky", "none")),
    ("darcy_threshold", [448, 448], ["parameters.coefficient.high=1000", "parameters.coefficient.low=1"],
     ("cg", "mg", "none")),
    ("darcy_threshold", [128, 128], [], ("cg", "mg", "none")),  # FNO's 12/3 jump: multigrid as for smooth fields
    ("darcy3d", [32, 32, 32], ["parameters.coefficient.transform=threshold", "parameters.coefficient.high=1000",
                               "parameters.coefficient.low=1"], ("cg", "icc", "greedy")),  # 3-D, 1000:1: no MG
    ("darcy3d", [48, 48, 48], ["parameters.coefficient.transform=threshold", "parameters.coefficient.high=1000",
                               "parameters.coefficient.low=1"], ("cg", "mg", "none")),  # ... until 48³
    ("darcy3d", [32, 32, 32], ["parameters.coefficient.transform=threshold", "parameters.coefficient.high=100",
                               "parameters.coefficient.low=1"], ("cg", "mg", "none")),
    ("darcy", [250, 250], ["solver.preconditioner=gamg"], ("cg", "gamg", "greedy")),  # the recipe's choice stands
    ("heat", [128, 128], [], ("direct", "cholesky", "none")),  # one factorisation serves every time step
    # A matrix that never changes: factor once, except in 3-D where multigrid applies (the factor fills in)
    ("poisson", [1024, 1024], [], ("direct", "cholesky", "none")),
    ("poisson", [48, 48, 48], ["parameters.boundary_data={dist: constant, value: 0}"], ("cg", "mg", "none")),
    ("poisson", [24, 24, 24], ["parameters.boundary_data={dist: constant, value: 0}"], ("direct", "cholesky", "none")),
    ("poisson", [32, 32, 32], ["parameters.boundary_data={dist: constant, value: 0}", "samples=2000"],
     ("direct", "cholesky", "none")),  # enough samples to pay back a 32³ factorisation (~1,000)
    ("heat", [512, 512], [], ("direct", "cholesky", "none")),  # 20 steps: above the 5.5 where it pays at 512²
    ("heat", [512, 512], ["discretization.steps=4"], ("cg", "mg", "none")),  # too few steps to pay
    ("heat", [1100, 1100], [], ("cg", "mg", "none")),  # above the time-stepping direct limit (1024²)
    # 3-D time-stepping: ICC while the mass term dominates; multigrid (shifted aggregation) from 80³ with
    # Δt/h² >= 16 and from 64³ with Δt/h² >= 40
    ("heat", [64, 64, 64], [], ("cg", "icc", "greedy")),  # Δt/h² 10.2
    ("heat", [64, 64, 64], ["discretization.steps=5"], ("cg", "mg", "none")),  # 41
    ("heat", [80, 80, 80], [], ("cg", "mg", "none")),  # 16
    ("heat", [80, 80, 80], ["discretization.steps=21"], ("cg", "icc", "greedy")),  # 15.2
    ("heat", [96, 96, 96], ["discretization.steps=100"], ("cg", "icc", "greedy")),  # 4.6
    ("heat", [80, 80, 80], ["parameters.coefficient.mean=-2"], ("cg", "icc", "greedy")),  # a ~ e^-2: 2.2
    ("heat", [80, 80, 80], ["parameters.coefficient={dist: constant, value: 2}", "discretization.steps=30"],
     ("cg", "mg", "none")),  # Δt a/h² 21
    ("darcy3d", [24, 24, 24], [], ("cg", "icc", "greedy")),    # below 32³: incomplete Cholesky
    ("darcy3d", [32, 32, 32], [], ("cg", "mg", "none")),       # 3-D, halves twice: aggregation multigrid
    ("darcy3d", [64, 64, 16], [], ("cg", "mg", "none")),       # 4:1 cells: halving all stopped at 8, semi goes on
    # Nonsymmetric: GMRES + ILU-smoothed geometric multigrid from 96² while the Péclet number stays <= 1000
    # and the matrix an M-matrix; otherwise the LU up to its memory limit (GAMG and GCRO-DR below)
    ("advection_diffusion", [64, 64], [], ("direct", "lu", "none")),  # below the measured MG crossover
    ("advection_diffusion", [128, 128], [], ("gmres", "mg", "none")),
    ("advection_diffusion", [1100, 1100], [], ("gmres", "mg", "none")),
    ("advection_diffusion", [128, 128], ["parameters.peclet={dist: uniform, low: 10, high: 5000}"],
     ("direct", "lu", "none")),
    ("advection_diffusion", [128, 128], ["parameters.peclet={dist: constant, value: 1000}"], ("gmres", "mg", "none")),
    ("advection_diffusion", [128, 128], ["discretization.convection=central",  # cell Péclet 400/128 > 2
                                         "parameters.peclet={dist: constant, value: 400}"], ("direct", "lu", "none")),
    ("advection_diffusion", [256, 256], ["discretization.convection=central",  # cell Péclet 400/256 <= 2
                                         "parameters.peclet={dist: constant, value: 400}"], ("gmres", "mg", "none")),
    # Péclet above 1000: GMRES + GAMG from 384² (the LU below), recycling only beyond 10,000 above the LU's limit
    ("advection_diffusion", [512, 512], ["parameters.peclet={dist: loguniform, low: 10, high: 5000}"],
     ("gmres", "gamg", "greedy")),
    ("advection_diffusion", [256, 256], ["parameters.peclet={dist: loguniform, low: 10, high: 5000}"],
     ("direct", "lu", "none")),
    ("advection_diffusion", [1100, 1100], ["parameters.peclet={dist: loguniform, low: 10, high: 50000}"],
     ("gcrodr", "ilu", "greedy")),
    # Over ranks (no LU, no geometric MG): GMRES + GAMG up to Péclet 10,000 (M-matrix); recycling beyond
    ("advection_diffusion", [256, 256], ["ranks_per_system=2"], ("gmres", "mg", "none")),  # distributed geometric MG
    ("advection_diffusion", [128, 128], ["ranks_per_system=2"], ("gmres", "gamg", "greedy")),  # a tie with MG there
    ("advection_diffusion", [256, 256], ["ranks_per_system=2", "parameters.peclet={dist: constant, value: 5000}"],
     ("gmres", "gamg", "greedy")),  # beyond geometric MG's Péclet range
    ("advection_diffusion", [256, 256], ["ranks_per_system=2", "parameters.peclet={dist: constant, value: 20000}"],
     ("gcrodr", "bjacobi", "greedy")),
    ("advection_diffusion", [128, 128], ["ranks_per_system=2", "parameters.peclet={dist: constant, value: 20000}"],
     ("gmres", "bjacobi", "greedy")),  # too small to recycle
    ("advection_diffusion", [256, 256], ["ranks_per_system=2", "discretization.convection=central",
                                         "parameters.peclet={dist: constant, value: 3000}"],
     ("gcrodr", "bjacobi", "greedy")),  # cell Péclet 11.7: not an M-matrix
    ("darcy", [128, 128], ["ranks_per_system=2"], ("cg", "mg", "none")),  # distributed geometric MG from 128²
    ("darcy", [96, 96], ["ranks_per_system=2"], ("cg", "gamg", "greedy")),
    ("darcy", [256, 256], ["ranks_per_system=2", "solver.preconditioner=gamg"], ("cg", "gamg", "greedy")),  # named
    ("advection_diffusion", [256, 256], ["ranks_per_system=2", "solver.preconditioner=asm"],
     ("gcrodr", "asm", "greedy")),  # a named preconditioner stands
    ("darcy3d", [40, 40, 40], ["ranks_per_system=2"], ("cg", "mg", "none")),  # 3-D: distributed MG from 40³
    ("darcy3d", [32, 32, 32], ["ranks_per_system=2"], ("cg", "bjacobi", "greedy")),  # ICC per rank below
    ("helmholtz", [256, 256], ["ranks_per_system=2"], ("direct", "lu", "none")),  # Krylov stalls: MUMPS or nothing
    # Indefinite with a preconditioner asked for: GMRES stalled with every one, GCRO-DR converged (ablation)
    ("helmholtz", [64, 64], ["solver.preconditioner=ilu"], ("gcrodr", "ilu", "greedy")),
    ("helmholtz", [256, 256], ["ranks_per_system=2", "solver.preconditioner=asm"], ("gcrodr", "asm", "greedy")),
])
def test_planner_rules(recipe, shape, changes, expected):
    from pdegen.plan import make_plan
    from pdegen.recipe import load_recipe
    root = Path(__file__).resolve().parents[1]
    plan = make_plan(load_recipe(root / "recipes" / f"{recipe}.yaml", [f"grid.shape={shape}", *changes]))
    assert (plan.method, plan.preconditioner, plan.ordering) == expected, plan.describe()


@pytest.mark.parametrize("changes,threshold", [
    (["grid.shape=[64,64]"], "the 9216 from which CG + geometric multigrid"),
    # 700 x 15 cells, each 20 times longer along axis 0: the short axis (15) cannot be halved
    (["grid.shape=[700,15]", "grid.extent=[[0,1],[0,0.001]]"], "the measured direct/iterative crossover (57600)")])
def test_direct_plans_name_the_threshold_that_applies(changes, threshold):
    """Below multigrid's measured threshold the reason names that threshold, not the
    direct limit (a grid that does not coarsen twice keeps the direct limit's reason)."""
    from pdegen.plan import make_plan
    from pdegen.recipe import load_recipe
    root = Path(__file__).resolve().parents[1]
    plan = make_plan(load_recipe(root / "recipes" / "darcy.yaml", changes))
    assert plan.method == "direct" and threshold in plan.reasons[0], plan.describe()


def test_distributed_multigrid_plans_show_their_hierarchy():
    """Over ranks too the reason names the levels, down to the small 3-D coarsest grid."""
    from pdegen.plan import make_plan
    from pdegen.recipe import load_recipe
    root = Path(__file__).resolve().parents[1]
    plan = make_plan(load_recipe(root / "recipes" / "darcy3d.yaml", ["grid.shape=[40,40,40]", "ranks_per_system=2"]))
    assert plan.preconditioner == "mg" and "(40x40x40 > 20x20x20 > 10x10x10 > 5x5x5; Galerkin" in plan.describe()


def test_time_stepping_in_3d_says_why_it_keeps_incomplete_cholesky():
    from pdegen.plan import TIME_DEPENDENT_3D_ICC, make_plan
    from pdegen.recipe import load_recipe
    root = Path(__file__).resolve().parents[1]
    plan = make_plan(load_recipe(root / "recipes" / "heat.yaml", ["grid.shape=[48,48,48]"]))
    assert any(TIME_DEPENDENT_3D_ICC in reason for reason in plan.reasons), plan.describe()
    steady = make_plan(load_recipe(root / "recipes" / "darcy3d.yaml", ["grid.shape=[24,24,24]"]))
    assert steady.preconditioner == "icc" and not any(TIME_DEPENDENT_3D_ICC in r for r in steady.reasons)


def test_sharp_coefficient_jumps_get_galerkin_coarse_operators():
    """From a 100:1 jump across sharp interfaces aggregation's iterations grow fastest
    (docs/benchmarks.md, contrast): the plan takes Galerkin products, in 2-D; a smooth
    exp(GRF) coefficient of any contrast keeps aggregation."""
    from pdegen.plan import make_plan
    from pdegen.recipe import load_recipe
    root = Path(__file__).resolve().parents[1]

    def plan(name, *changes):
        return make_plan(load_recipe(root / "recipes" / f"{name}.yaml", ["grid.shape=[256,256]", *changes]))
    sharp = plan("darcy_threshold", "parameters.coefficient.high=100", "parameters.coefficient.low=1")
    assert (sharp.preconditioner, sharp.multigrid_coarse) == ("mg", "galerkin"), sharp.describe()
    assert "jumps 100:1" in sharp.describe()
    assert plan("darcy_threshold").multigrid_coarse == "aggregation"  # 12/3
    assert plan("darcy", "parameters.coefficient.sigma=150").multigrid_coarse == "aggregation"
    assert plan("darcy_threshold", "parameters.coefficient.high=1000", "parameters.coefficient.low=1",
                "solver.preconditioner=mg").multigrid_coarse == "galerkin"  # named, not planned: still Galerkin
    # 3-D from 1000:1 and 48³: Galerkin multigrid smoothed by ICC(0); at 100:1 aggregation as before
    thresholded = ["parameters.coefficient.transform=threshold", "parameters.coefficient.low=1"]
    cube = make_plan(load_recipe(root / "recipes" / "darcy3d.yaml", [
        "grid.shape=[48,48,48]", "parameters.coefficient.high=1000", *thresholded]))
    assert (cube.preconditioner, cube.multigrid_coarse, cube.multigrid_ordering) == ("mg", "galerkin", "natural")
    assert cube.options["mg_levels_pc_type"] == "icc" and cube.options["mg_levels_pc_factor_levels"] == 0
    assert "sharp_jumps_3d" in cube.describe()
    assert make_plan(load_recipe(root / "recipes" / "darcy3d.yaml", [
        "grid.shape=[48,48,48]", "parameters.coefficient.high=100", *thresholded])).multigrid_coarse == "aggregation"


@pytest.mark.parametrize("recipe,shape,changes,expected", [
    ("darcy", [128, 128], [], ("red-black", 1)),                      # 2-D aggregation: the fastest variant
    ("darcy3d", [32, 32, 32], [], ("red-black", 1)),                  # 3-D aggregation: the same (-O3 PETSc)
    ("darcy", [128, 128], ["solver.preconditioner=gamg"], ("natural", 0)),  # no geometric MG: nothing to choose
])
def test_planner_picks_the_measured_multigrid_variant(recipe, shape, changes, expected):
    from pdegen.plan import make_plan
    from pdegen.recipe import load_recipe
    root = Path(__file__).resolve().parents[1]
    plan = make_plan(load_recipe(root / "recipes" / f"{recipe}.yaml", [f"grid.shape={shape}", *changes]))
    assert (plan.multigrid_ordering, plan.multigrid_start_cycles) == expected, plan.describe()


def test_an_interrupted_build_says_how_to_resume_it_with_the_same_overrides(tmp_path, monkeypatch):
    """Ctrl-C: exit status 130 and the command that resumes this very build, overrides
    included (without them --resume would be refused, or would look for another store)."""
    import shlex

    import pdegen.build
    monkeypatch.setattr(pdegen.build, "build", interrupt)
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    out = tmp_path / "my store.zarr"
    result = CliRunner().invoke(main, ["build", str(path), "--samples", "5", "--out", str(out),
                                       "--set", "solver.rtol=1e-6", "-q"])
    assert result.exit_code == 130
    command = result.output.split("continue with ", 1)[1].strip()
    assert shlex.split(command) == ["pdegen", "build", str(path), "--samples", "5", "--out", str(out),
                                    "--set", "solver.rtol=1e-6", "--quiet", "--resume"]


@needs_petsc
def test_petsc_options_from_the_environment_reach_the_solver(tmp_path):
    """docs/recipes.md: PETSC_OPTIONS with the pdegen_ prefix, winning over the recipe's options."""
    recipe = small_recipe(tmp_path, **{"samples": 3, "solver.backend": "petsc", "solver.method": "cg",
                                       "solver.preconditioner": "jacobi", "solver.options": {"ksp_max_it": 5000}})
    env = {"PETSC_OPTIONS": "-pdegen_ksp_converged_reason -pdegen_ksp_max_it 1"}
    result = run_cli("build", write_recipe(tmp_path, recipe), "-q", "--set", "solver.fallback=false", env=env)
    # ksp_max_it 1 from the environment beats the recipe's 5000: every solve stops after one iteration
    assert result.stdout.count("Linear pdegen_ solve did not converge due to DIVERGED_ITS iterations 1") == 3
    assert result.returncode == 1 and "3 FAILED" in result.stdout


@needs_petsc
def test_build_warns_once_about_solver_options_petsc_never_read(tmp_path):
    """A misspelt PETSc option, or one for a preconditioner the plan does not use, has no
    effect: the build says so after its first solve (on stderr, with -q too), and only once."""
    recipe = small_recipe(tmp_path, **{"samples": 3, "solver.backend": "petsc", "solver.method": "cg",
                                       "solver.preconditioner": "jacobi",
                                       "solver.options": {"ksp_max_it": 5000, "pc_jacobi_typo": "abs"}})
    result = run_cli("build", write_recipe(tmp_path, recipe), "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: solver.options: PETSc did not read pc_jacobi_typo with this plan "
                               "(cg + jacobi on petsc)") == 1
    assert "ksp_max_it" not in result.stderr
    recipe["solver"]["options"] = {"ksp_max_it": 5000}
    quiet = run_cli("build", write_recipe(tmp_path, recipe), "-q", "--overwrite")
    assert quiet.returncode == 0 and "warning" not in quiet.stderr


def test_numpy_backend_reads_no_petsc_options():
    from pdegen.build import unread_options
    from pdegen.plan import Plan
    plan = Plan(method="gmres", backend="numpy", preconditioner="ilu", ordering="greedy", warm_start=True)
    assert unread_options(object(), plan, {"pc_factor_levels": 1, "-ksp_max_it": 5}) == ["ksp_max_it",
                                                                                        "pc_factor_levels"]


def test_interrupted_verify_and_bench_exit_130_not_1(tmp_path, monkeypatch):
    """Ctrl-C in verify must not read as "the store has problems" (exit status 1)."""
    import pdegen.bench
    import pdegen.verify
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    assert CliRunner().invoke(main, ["build", str(path), "-q"]).exit_code == 0
    monkeypatch.setattr(pdegen.verify, "verify_store", interrupt)
    monkeypatch.setattr(pdegen.bench, "run_bench", interrupt)
    verify = CliRunner().invoke(main, ["verify", str(tmp_path / "tiny.zarr")])
    assert verify.exit_code == 130 and "interrupted after 0 checked samples: no verdict" in verify.output
    bench = CliRunner().invoke(main, ["bench", str(path), "--samples", "2"])
    assert bench.exit_code == 130 and "interrupted: no results" in bench.output


def test_an_interrupted_training_run_says_how_to_resume_it(tmp_path, monkeypatch):
    """The options given on the command line (not the defaults) come back in the command."""
    import shlex

    pytest.importorskip("torch")
    import pdegen.train.loop
    monkeypatch.setattr(pdegen.train.loop, "train", interrupt)
    assert CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, small_recipe(tmp_path))), "-q"]).exit_code == 0
    store = tmp_path / "tiny.zarr"
    out = tmp_path / "run"
    args = ["train", str(store), "--epochs", "3", "--lr", "0.001", "--out", str(out), "--no-cuda-graph",
            "--batch-size", "32"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 130 and "before the first epoch finished: nothing to resume" in result.output
    out.mkdir()
    (out / "last.pt").write_bytes(b"")  # an epoch had finished
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 130
    assert f"{out / 'last.pt'} holds the last finished epoch" in result.output
    command = result.output.split("continue with ", 1)[1].strip()
    assert shlex.split(command) == ["pdegen", "train", str(store), "--epochs", "3", "--batch-size", "32",
                                    "--lr", "0.001", "--no-cuda-graph", "--out", str(out), "--resume"]
