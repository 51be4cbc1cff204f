"""The ``pdegen`` command line."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

# One process per core: OpenBLAS must not start threads of its own (solvers/__init__.py
# says why). Set before numpy loads its OpenBLAS; a value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click
import numpy as np
from click.core import ParameterSource

from .families.boundary import describe as describe_boundary
from .recipe import STORE_SUFFIXES, RecipeError, load_recipe


def _overrides(samples, seed, out, fmt, assignments) -> list[str]:
    overrides = list(assignments)
    if samples is not None:
        overrides.append(f"samples={samples}")
    if seed is not None:
        overrides.append(f"seed={seed}")
    if out is not None:
        overrides.append(f"output.path={json.dumps(str(out))}")
        if fmt is None:  # -o data/x.h5 asks for HDF5 whatever format the recipe names
            fmt = next((f for f, suffixes in STORE_SUFFIXES.items() if out.suffix.lower() in suffixes), None)
    if fmt is not None:
        overrides.append(f"output.format={fmt}")
    return overrides


def _load(recipe, overrides):
    try:
        return load_recipe(recipe, overrides)
    except RecipeError as error:
        if _rank() == 0:  # under mpiexec every rank finds the same errors: say them once
            click.echo(f"error: {recipe}: invalid recipe", err=True)
            for problem in error.problems:
                click.echo(f"  {problem}", err=True)
        sys.exit(2)


def _refuse_launch(message: str) -> None:
    """Exit with status 2, saying why once: from the launcher's rank 0, since the processes
    cannot rely on MPI to tell them apart here."""
    from .mpi import launcher_rank
    if launcher_rank() == 0:
        click.echo(f"error: {message}", err=True)
    sys.exit(2)


def _world_or_exit():
    """MPI's world communicator when launched by mpiexec (None otherwise); exit status 2 when
    the launcher and MPI disagree (see :func:`pdegen.mpi.launch_mismatch`)."""
    from .mpi import launch_mismatch, launched_under_mpi, world
    if not launched_under_mpi():
        return None
    comm = world()
    mismatch = launch_mismatch(comm)
    if mismatch:  # each process thinks it is rank 0 of 1
        _refuse_launch(mismatch)
    return comm


def _one_process_only(command: str) -> None:
    """Exit with status 2 when an MPI launcher started several copies of a command that
    runs in one process (each copy would do the whole job, and train's would overwrite
    each other's checkpoints)."""
    from .mpi import launcher_size
    started = launcher_size()
    if started and started > 1:
        _refuse_launch(f"pdegen {command} runs in one process, but mpiexec started {started}: each would do the "
                       "whole job; run it without mpiexec")


def _rank() -> int:
    from .mpi import launched_under_mpi, world
    return world().Get_rank() if launched_under_mpi() else 0


recipe_argument = click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
set_option = click.option("--set", "assignments", multiple=True, metavar="KEY.PATH=VALUE",
                          help="Override a recipe value (YAML syntax), e.g. --set grid.shape=[32,32]. Repeatable.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pdegen")
def main():
    """pdegen: synthetic PDE datasets for training neural operators.

    \b
    Typical use:
      pdegen families                             # what can be generated (pdegen families darcy: its knobs)
      pdegen validate recipes/darcy.yaml          # check a recipe, show all defaults
      pdegen plan recipes/darcy.yaml              # how it will be solved; the store's size
      pdegen build recipes/darcy.yaml             # write data/darcy.zarr
      pdegen info data/darcy.zarr                 # what is in a store
      pdegen verify data/darcy.zarr               # recheck every residual from the recipe
      pdegen bench recipes/darcy.yaml --samples 16  # compare solve strategies
      pdegen plot data/darcy.zarr --sample 0      # look at one sample
      pdegen export data/heat.zarr data/heat_well # as The Well's data set (steady: neuraloperator's .pt)
    Under MPI: mpiexec -n 8 pdegen build recipes/darcy.yaml (and verify)
    """


def _resume_command(ctx: click.Context, ranks: int = 1) -> str:
    """The command that resumes this one: its arguments and the options given on the
    command line, as the user could type them (a resume with other values would be
    refused, or would go to another store), plus --resume; under ``mpiexec -n ranks``
    when it ran on several (HDF5 part files need the same process groups)."""
    words = (["mpiexec", "-n", str(ranks)] if ranks > 1 else []) + ["pdegen", ctx.info_name]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            words.append(str(value))
            continue
        if param.name in ("resume", "overwrite", "extend") or \
                ctx.get_parameter_source(param.name) != ParameterSource.COMMANDLINE:
            continue
        name = max(param.opts, key=len)  # --quiet rather than -q
        if param.is_flag:
            words.append(name if value else max(param.secondary_opts, key=len))
        else:
            for item in value if param.multiple else (value,):
                words += [name, str(item)]
    return shlex.join(words + ["--resume"])


@main.command()
@recipe_argument
@click.option("--samples", type=int, help="Override the number of samples.")
@click.option("--seed", type=int, help="Override the seed.")
@click.option("-o", "--out", type=click.Path(path_type=Path),
              help="Override output.path; a path ending in .zarr, .h5 or .hdf5 also sets the format.")
@click.option("--format", "fmt", type=click.Choice(["zarr", "hdf5"]), help="Override output.format.")
@set_option
@click.option("--overwrite", is_flag=True, help="Replace an existing store at the output path.")
@click.option("--resume", is_flag=True, help="Continue an interrupted build (or extension) of the same recipe.")
@click.option("--extend", is_flag=True,
              help="Grow a finished store to --samples N: samples n..N-1 (n: the count it holds) are drawn from "
                   "the same seed and appended in their own solve order and splits; the rows there stay untouched.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar, and no summary unless samples failed.")
@click.pass_context
def build(ctx, recipe, samples, seed, out, fmt, assignments, overwrite, resume, extend, quiet):
    """Sample, solve and store the dataset RECIPE describes.

    The store goes to output.path (default data/<name>.zarr). An existing store is
    never replaced unless --overwrite is given; --resume continues an interrupted
    build from its done mask; --extend --samples N grows a finished store to N
    samples (the same seed: a store of N built at once holds the same draws, solved
    within rtol; the new samples' splits are their own). Exit status: 0 all samples
    converged, 1 some samples
    failed (recorded as failed in stats/converged), 2 bad input, 130 stopped by
    Ctrl-C, SIGTERM (a batch system's time limit) or SIGUSR1 (under Open MPI's mpirun,
    which kills the ranks right after it forwards a SIGTERM), after the current sample (time
    step: a time-dependent sample in progress is dropped and redone on resume): every
    finished sample is kept and the command that resumes the build is printed.

    Under `mpiexec -n P` the samples are shared by P / ranks_per_system process
    groups, each solving and writing its own chunks (docs/parallel.md).
    """
    from .build import BuildError, build as run_build
    from .mpi import world
    comm = _world_or_exit()
    comm = world() if comm is None else comm
    recipe_obj = _load(recipe, _overrides(samples, seed, out, fmt, assignments))
    if overwrite + resume + extend > 1:
        raise click.UsageError("--overwrite, --resume and --extend exclude each other")
    try:
        summary = run_build(recipe_obj, overwrite=overwrite, resume=resume, extend=extend, quiet=quiet, comm=comm)
    except BuildError as error:
        if comm.Get_rank() == 0:
            click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        if comm.Get_rank() == 0:  # mpiexec passes Ctrl-C to every rank: say it once
            again = _resume_command(ctx, comm.Get_size())
            click.echo(f"\ninterrupted: the finished samples are kept; continue with {again}", err=True)
        sys.exit(130)
    except Exception as error:  # one rank failing must not leave the others waiting
        from .mpi import abort_on_error
        abort_on_error(comm, error)
        raise
    if comm.Get_rank() == 0 and (not quiet or not summary.ok):  # failures are said even with -q
        click.echo(summary.line())
    sys.exit(0 if summary.ok else 1)


@main.command()
@recipe_argument
@set_option
def validate(recipe, assignments):
    """Check RECIPE and print it with every default filled in (or every error)."""
    recipe_obj = _load(recipe, list(assignments))
    click.echo(recipe_obj.dump(), nl=False)


@main.command()
@click.argument("name", required=False)
def families(name):
    """List the PDE families, or with NAME one family's parameters, boundary and
    discretization keys with their defaults, its outputs and the shipped recipes using it."""
    from .catalog import describe_family, list_families
    if name is None:
        click.echo(list_families())
        return
    try:
        click.echo(describe_family(name))
    except KeyError as error:
        click.echo(f"error: {error.args[0]}", err=True)
        sys.exit(2)


@main.command()
@recipe_argument
@set_option
def plan(recipe, assignments):
    """Show how RECIPE's systems would be solved, and why, and what the store will hold."""
    from .plan import make_plan
    from .store.layout import describe_footprint
    recipe_obj = _load(recipe, list(assignments))
    click.echo(make_plan(recipe_obj).describe())
    click.echo(describe_footprint(recipe_obj.data))


def _open(store):
    from .store import open_dataset
    try:
        return open_dataset(store)
    except (FileNotFoundError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="STORE") from None


@main.command()
@click.argument("store", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(store, as_json):
    """Summarise a store: shape, fields, solver statistics, failures."""
    from .store.layout import coarsening
    ds = _open(store)
    with ds:
        done = ds["done"][:]
        converged = ds["stats/converged"][:]
        its = ds["stats/iterations"][:][done]
        res = ds["stats/residual"][:][done]
        secs = ds["stats/seconds"][:][done]
        solvers = ds.solver_names()[done]
        split = ds["split"][:][done]
        report = {
            "path": str(store), "format": ds.format, "name": ds.attrs.get("name"),
            "status": ds.attrs.get("status"), "samples": ds.num_samples, "done": int(done.sum()),
            "failed": int((done & ~converged).sum()), "grid": list(ds.grid_shape),
            "solved_grid": list(ds.attrs["recipe"]["grid"]["shape"]),
            "coarsened_by": coarsening(ds.attrs["recipe"])[1],
            "fields": {p: list(ds[p].shape) for g in ("inputs", "params", "outputs") for p in ds.fields(g)},
            "split": {name: int((split == i).sum()) for i, name in enumerate(("train", "val", "test"))},
            "iterations": _percentiles(its), "residual": _percentiles(res), "seconds": _percentiles(secs),
            "solvers": {str(k): int(v) for k, v in zip(*np.unique(solvers, return_counts=True))},
            "plan": ds.attrs.get("plan", {}).get("method"),
            "preconditioner": ds.attrs.get("plan", {}).get("preconditioner"),
            "ordering": ds.attrs.get("ordering", {}).get("method"),
            "rtol": ds.attrs["recipe"]["solver"]["rtol"],
            "boundary": describe_boundary(ds.attrs["recipe"].get("boundary") or {}),
            "bytes": _store_bytes(ds, store, int(done.sum())),
            "times": [float(t) for t in ds["coords/t"][:]] if "coords/t" in ds else None,
            "batches": ds.attrs.get("batches", [ds.num_samples]),
        }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['path']} ({report['format']}, {report['name']}, {report['status']})")
    how_stored = "block means" if report["coarsened_by"] == "mean" else "the blocks' centre cells"
    click.echo(f"  samples    {report['done']}/{report['samples']} done, {report['failed']} failed; "
               f"grid {'x'.join(map(str, report['grid']))}"
               + (f" (solved on {'x'.join(map(str, report['solved_grid']))}, stored as "
                  f"{how_stored})"
                  if report["solved_grid"] != report["grid"] else "") + "; split " +
               ", ".join(f"{k} {v}" for k, v in report["split"].items()))
    if len(report["batches"]) > 1:
        click.echo(f"  grown      {' -> '.join(map(str, report['batches']))} samples (pdegen build --extend)")
    for p, shape in report["fields"].items():
        click.echo(f"  {p:<23}{tuple(shape)}")
    if report["times"]:
        times = report["times"]
        span = f"{times[0]:g}" + (f" to {times[-1]:g}" if len(times) > 1 else "")
        click.echo(f"  times      {len(times)} stored, t = {span}")
    solved = report["plan"] != "none"  # a pseudo-spectral store has no solves to report
    how = (f"{report['plan']} ({report['preconditioner']})" if report["plan"] == "direct"
           else f"{report['plan']} + {report['preconditioner']}")
    if solved:
        click.echo(f"  solver     {how}, ordering {report['ordering']}; used: " +
                   ", ".join(f"{k} x{v}" for k, v in report["solvers"].items()))
    else:
        click.echo("  solver     none (no linear systems)")
    for key, fmt in (("iterations", "{:.0f}"), ("residual", "{:.2e}"), ("seconds", "{:.4f}")):
        q = report[key]
        if q and (solved or key == "seconds"):
            click.echo(f"  {key:<11}" + "  ".join(f"{k} {fmt.format(v)}" for k, v in q.items()))
    click.echo(f"  boundary   {report['boundary']}")
    if solved:
        click.echo(f"  rtol       {report['rtol']:.1e}")
    size = report["bytes"]
    from .store.layout import format_bytes
    arrays = f"{format_bytes(size['data'])} of arrays"
    if size["written"] < size["data"]:  # a partial store: compare the disk with what is written
        arrays += f" when complete, {format_bytes(size['written'])} written"
    click.echo(f"  size       {arrays}, {format_bytes(size['on_disk'])} on disk "
               f"(compressed {size['written'] / max(size['on_disk'], 1):.2f}x)")


def _store_bytes(ds, store, done: int) -> dict:
    """The arrays' bytes before compression (``data``; ``written``: of the ``done`` rows
    written so far, with the arrays that are not per sample), and the files' bytes on
    disk (with an HDF5 store's part files)."""
    from .store.hdf5 import parts_dir
    from .store.layout import dataset_layout
    layout = dataset_layout(ds.recipe().data)
    written = sum(spec.nbytes * done // spec.shape[0] if spec.per_sample else spec.nbytes for spec in layout)
    files = [Path(store)] if Path(store).is_file() else []
    for folder in (Path(store), parts_dir(store)):
        if folder.is_dir():
            files += [f for f in folder.rglob("*") if f.is_file()]
    return {"data": sum(spec.nbytes for spec in layout), "written": written,
            "on_disk": sum(f.stat().st_size for f in files)}


def _percentiles(values) -> dict:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {}
    return {f"p{q}": float(np.percentile(values, q)) for q in (0, 50, 90, 100)}


@main.command()
@recipe_argument
@click.option("--samples", type=int, default=32, show_default=True, help="Systems to sample and solve.")
@set_option
@click.option("--strategy", "strategies", multiple=True, help="Run only these strategies (repeatable); "
              "default: auto, skr, gcrodr-unsorted, gmres, cg-gamg, direct, direct-reuse, cg-gamg-reuse.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Round-robin passes, each starting one strategy later; the median time counts.")
@click.option("--json", "as_json", type=click.Path(dir_okay=False, path_type=Path), help="Write the report as JSON.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a bar chart (PNG).")
def bench(recipe, samples, assignments, strategies, repeats, as_json, plot_path):
    """Time RECIPE's systems under several solve strategies, side by side.

    The same sampled systems are solved by every strategy in one process, round-robin,
    and every solution's true residual is checked. Prints ms/sample (assembly + solve),
    iterations and the speed-up against the best independent strategy and against the
    expert's script (one matrix updated in place, direct solve). Nothing is written
    except --json and --plot.
    """
    from tqdm import tqdm

    from .bench import STRATEGIES, available, dumps, format_table, nothing_to_compare, plot_report, run_bench
    _one_process_only("bench")
    recipe_obj = _load(recipe, [*assignments, f"samples={samples}"])
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}; choose from {', '.join(STRATEGIES)}", param_hint="--strategy")
    if (reason := nothing_to_compare(recipe_obj)) is not None:
        click.echo(f"error: {recipe}: {reason}", err=True)
        sys.exit(2)
    names = available(recipe_obj.data, recipe_obj.family, strategies or STRATEGIES)
    with tqdm(total=len(names) * repeats, unit="run", disable=not sys.stderr.isatty(), desc="bench") as bar:
        try:
            report = run_bench(recipe_obj, list(strategies) or None, repeats, progress=bar)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: no results (nothing is written before the end)", err=True)
            sys.exit(130)
    click.echo(format_table(report))
    if as_json:
        as_json.write_text(dumps(report))
    if plot_path:
        plot_report(report, plot_path)
        click.echo(f"wrote {plot_path}")


@main.command()
@click.argument("store", type=click.Path(exists=True, path_type=Path))
@click.option("--samples", "--sample", "samples", type=click.IntRange(min=1),
              help="Check this many randomly chosen samples instead of all.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for choosing --samples.")
@click.option("-q", "--quiet", is_flag=True, help="Only the exit status and problems.")
def verify(store, samples, seed, quiet):
    """Recompute every stored sample's true residual from the stored recipe.

    Redraws each sample's inputs from the seed (they must match bit for bit), rebuilds
    its linear system and checks ||b - Ax|| / ||b|| <= rtol (plus the rounding allowance
    of a float32 store). A trajectory stored every save_every-th step (save_every > 1) is
    integrated again by sparse direct solves and each stored state compared (within 10 x
    solves x rtol plus the rounding, of its largest value): as long as building it, so
    --samples K checks K random rows. Reports rows never written, NaN data and samples
    recorded as failed. Exit status 0 when everything checks out, 1 otherwise. Under
    `mpiexec -n P` the ranks share the rows and rank 0 reports.
    """
    from .progress import progress
    from .verify import verify_store
    _open(store).close()
    comm = _world_or_exit()
    rank = comm.Get_rank() if comm is not None else 0
    desc = "verifying" if comm is None else f"verifying (rank 0 of {comm.Get_size()})"
    bar = progress(None, desc, disable=quiet or rank > 0)
    try:
        report = verify_store(store, samples, seed, progress=bar, comm=comm)
    except KeyboardInterrupt:  # not exit status 1, which says the store has problems
        if rank == 0:
            click.echo(f"\ninterrupted after {bar.n} checked samples: no verdict", err=True)
        sys.exit(130)
    except Exception as error:  # one rank failing must not leave the others waiting in the gather
        if comm is not None:
            from .mpi import abort_on_error
            abort_on_error(comm, error)
        raise
    finally:
        bar.close()
    ok = report.ok
    if comm is not None:  # rank 0 holds the whole report: it speaks, and every rank exits with its status
        ok = comm.bcast(ok, root=0)
        if rank > 0:
            sys.exit(0 if ok else 1)
    for problem in report.problems[:50]:
        click.echo(f"  {problem}", err=True)
    if len(report.problems) > 50:
        click.echo(f"  ... and {len(report.problems) - 50} more", err=True)
    if not quiet or not ok:
        click.echo(report.summary())
    sys.exit(0 if ok else 1)


@main.command()
@click.argument("store", type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--to", "layout", type=click.Choice(["auto", "well", "neuraloperator"]), default="auto",
              show_default=True,
              help="well: The Well's HDF5 data sets (trajectories); neuraloperator: its .pt files of input/output "
                   "pairs (steady data); auto: well for trajectories, neuraloperator for steady stores.")
@click.option("--overwrite", is_flag=True,
              help="Replace an earlier export at OUT (a directory holding only that layout's files; nothing else "
                   "is ever deleted).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def export(store, out, layout, overwrite, quiet):
    """Write STORE as another tool's data set, in the directory OUT.

    Trajectories (--to well): The Well's layout, OUT/data/{train,valid,test}/NAME.hdf5
    (the store's splits) and OUT/stats.yaml (train-split statistics), for its WellDataset
    (and neuraloperator's TheWellDataset, from ROOT/datasets/NAME). Each trajectory starts
    at t = 0 (the state the build started from), then the stored states; other input
    fields are fields constant in time, scalar parameters go to `scalars`, each face's
    boundary kind to `boundary_conditions`, Navier-Stokes' velocity to `t1_fields`.

    \b
      pdegen export data/navier_stokes.zarr data/ns_well
      WellDataset(path="data/ns_well", well_split_name="train", n_steps_input=10, n_steps_output=1)

    Steady data (--to neuraloperator): OUT/NAME_{train,test,val}_RES.pt with x (the input
    fields, drawn scalars as constant channels) and y (the outputs), for its PTDataset;
    the summary prints the call that reads them.

    \b
      pdegen export data/darcy.zarr data/darcy_pt

    Samples recorded as failed are left out and counted; an unfinished store is refused
    with exit status 2, as is a store the layout cannot hold. Nothing is left half-written
    (docs/store-format.md).
    """
    from .export import ExportError
    from .export import export as export_store
    from .progress import progress
    _one_process_only("export")
    with _open(store) as ds:
        total = int(ds["done"].shape[0])
    bar = progress(total, "exporting", disable=quiet)
    try:
        summary = export_store(store, out, to=layout, overwrite=overwrite, progress=bar)
    except ExportError as error:
        bar.close()
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    bar.close()
    click.echo(f"wrote {summary.line()}")


@main.command()
@click.argument("store", type=click.Path(exists=True, path_type=Path))
@click.option("--sample", "sample_id", type=int, default=None,
              help="Sample id (draw index, as in the sample_id array) to show.  [default: 0 for a store; none "
                   "for a training run: its learning curves]")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where a training run's model predicts (with RUN --sample).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG file to write (default: <store>-sample<ID>.png, RUN/curves.png or RUN/sample<ID>.png).")
def plot(store, sample_id, device, out):
    """Plot one sample of STORE: its input field(s) beside its solution, with colour bars.

    Given a `pdegen train` output folder RUN instead (one holding metrics.json), plot its
    learning curves: train and validation relative L2 error per epoch, and the test error;
    with --sample ID (also for a run stopped part-way), its best checkpoint's prediction
    for that sample of its store beside the stored target and their difference, at up to
    four predicted times.
    """
    metrics = Path(store) / "metrics.json"
    if sample_id is not None and (Path(store) / "last.pt").is_file():  # a run, finished or not
        _plot_prediction(store, sample_id, device, out or Path(store) / f"sample{sample_id}.png")
        return
    sample_id = 0 if sample_id is None else sample_id
    if metrics.is_file():
        from .plot import plot_learning_curves
        out = out or Path(store) / "curves.png"
        try:
            plot_learning_curves(json.loads(metrics.read_text()), out)
        except (KeyError, ValueError) as error:
            raise click.ClickException(f"{metrics}: {error}") from None
        click.echo(f"wrote {out}")
        return
    from .plot import plot_sample
    ds = _open(store)
    with ds:
        out = out or Path(f"{Path(store).with_suffix('')}-sample{sample_id}.png")
        try:
            plot_sample(ds, sample_id, out)
        except (KeyError, ValueError) as error:
            raise click.BadParameter(str(error), param_hint="--sample") from None
    click.echo(f"wrote {out}")


def _plot_prediction(run: Path, sample_id: int, device: str, out: Path) -> None:
    try:
        from .train.predict import predict
    except ImportError as error:
        raise click.ClickException(f'plotting a prediction needs PyTorch and neuraloperator: pip install '
                                   f'"pdegen[train]" ({error})') from None
    from .plot import plot_prediction
    try:
        result = predict(run, sample_id, device)
    except (KeyError, ValueError) as error:
        raise click.BadParameter(str(error), param_hint="--sample") from None
    plot_prediction(result, out)
    click.echo(f"wrote {out} (sample {sample_id}, {result.split} split: relative L2 {result.rel_l2:.3g})")


@main.command()
@click.argument("store", type=click.Path(exists=True, path_type=Path))
@click.option("--model", type=click.Choice(["fno"]), default="fno", show_default=True)
@click.option("--epochs", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Peak learning rate (one-cycle schedule).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--data-on-device", type=click.Choice(["auto", "yes", "no"]), default="auto", show_default=True,
              help="Hold the splits in GPU memory and cut batches there (no DataLoader); auto: on CUDA when "
                   "they take at most a quarter of the free memory.")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="DataLoader workers when the data streams from the store.  "
                   "[default: 4 on CUDA (at most half the cores), 0 on the CPU]")
@click.option("--cuda-graph/--no-cuda-graph", default=None,
              help="Replay each training step as one CUDA graph.  [default: on with CUDA]")
@click.option("--modes", type=int, default=12, show_default=True, help="Fourier modes per axis.")
@click.option("--width", type=int, default=32, show_default=True, help="Hidden channels.")
@click.option("--subsample", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train on every k-th grid point.")
@click.option("--padding", type=click.FloatRange(min=0.0, max=1.0, max_open=True), default=0.0, show_default=True,
              help="Domain padding of the FNO, a fraction of each axis (FNO's remedy for data that is not "
                   "periodic, such as Dirichlet walls).")
@click.option("--normalization", type=click.Choice(["field", "pointwise"]), default="field", show_default=True,
              help="Normalise inputs and outputs by one mean and std per field (the store's), or per channel and "
                   "grid point of the train split (FNO's convention; one extra pass over it).")
@click.option("--history", type=click.IntRange(min=0), default=0, show_default=True,
              help="Take the first K stored states of each trajectory as inputs and predict the states after "
                   "them (FNO's Navier-Stokes task: --history 10 on 50 states predicts 40); 0: predict the whole "
                   "trajectory from the input fields.")
@click.option("--horizon", type=click.IntRange(min=1), default=None,
              help="With --history: predict this many states after the history.  [default: all the rest]")
@click.option("--scheme", type=click.Choice(["at-once", "rollout", "space-time"]), default="at-once",
              show_default=True,
              help="How a trajectory's states are predicted: all at once (a channel each); rollout: one at a "
                   "time from the last K (--history), each prediction fed back, trained through the whole "
                   "rollout (FNO-2D's scheme); space-time: an FNO with time as one more axis (FNO-3D's).")
@click.option("--include-failed", is_flag=True,
              help="Train on failed samples too (stats/converged false; left out by default: a solve that missed "
                   "its tolerance, or a flow that blew up and holds NaN).")
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/train"),
              show_default=True,
              help="Checkpoints (best.pt, last.pt) and metrics.json.")
@click.option("--no-amp", is_flag=True,
              help="Train in float32 on CUDA instead of with bfloat16 autocast: slower (0.77x the samples/s on "
                   "64² Darcy), but bfloat16 stops errors near 2e-3 (Burgers: 0.0023 against 0.0005; "
                   "docs/benchmarks.md, train_burgers).")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run from OUT/last.pt (saved after every epoch); the other options "
                   "must be the ones it was started with.")
@click.pass_context
def train(ctx, store, model, epochs, batch_size, lr, device, data_on_device, workers, cuda_graph, modes, width,
          subsample, padding, normalization, history, horizon, scheme, include_failed, out, no_amp, resume):
    """Train a Fourier neural operator on STORE (needs pdegen[train]).

    Inputs are the store's input fields (plus scalar parameters as constant channels
    and the grid coordinates), targets its outputs, both normalised with the store's
    train-split statistics; splits come from the store. Reports train/validation
    relative L2 error per epoch and the test error of the best validation checkpoint.
    OUT gets best.pt, last.pt, metrics.json and curves.png (learning curves).

    \b
    Trajectories (heat, Burgers, Navier-Stokes): by default the model maps the input
    fields to every stored state at once; --history K moves the first K states to the
    inputs; --scheme rollout or space-time predict the states after them as FNO-2D
    and FNO-3D do, e.g. FNO's task (10 states in, 40 out):
      pdegen train data/navier_stokes.zarr --history 10 --scheme rollout

    \b
    On CUDA the splits are held in GPU memory when they fit and each step is replayed
    as one CUDA graph, so the GPU does not wait on data (docs/benchmarks.md, train_gpu).
    """
    _one_process_only("train")
    try:
        from .train.loop import train as run_train
    except ImportError as error:
        raise click.ClickException(f'pdegen train needs PyTorch and neuraloperator: pip install "pdegen[train]" '
                                   f"({error})") from None
    _open(store).close()  # not a store: a usage error, before OUT is made
    on_device = {"auto": "auto", "yes": True, "no": False}[data_on_device]
    try:
        metrics = run_train(store, model, epochs, batch_size, lr, device, workers, out, modes, width,
                            subsample=subsample, amp=not no_amp, data_on_device=on_device, cuda_graph=cuda_graph,
                            resume=resume, padding=padding, normalization=normalization, history=history,
                            horizon=horizon, scheme=scheme, include_failed=include_failed,
                            progress=sys.stderr.isatty(), log=click.echo)
    except ValueError as error:  # bad options or an empty split: no traceback
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        if (out / "last.pt").is_file():
            click.echo(f"\ninterrupted: {out / 'last.pt'} holds the last finished epoch; continue with "
                       f"{_resume_command(ctx)}", err=True)
        else:
            click.echo("\ninterrupted before the first epoch finished: nothing to resume", err=True)
        sys.exit(130)
    try:
        from .plot import plot_learning_curves
        plot_learning_curves(metrics, out / "curves.png")
        click.echo(f"wrote {out / 'curves.png'} (learning curves; again with: pdegen plot {out})")
    except ImportError:  # matplotlib is optional
        pass


if __name__ == "__main__":  # pragma: no cover
    main()
