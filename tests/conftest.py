import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# The MPI tests launch mpiexec in subprocesses. Open MPI refuses to run as root (containers,
# CI) and to start more ranks than cores without these; MPICH ignores them.
for name, value in {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                    "OMPI_MCA_rmaps_base_oversubscribe": "1"}.items():
    os.environ.setdefault(name, value)


def small_recipe(tmp_path, **changes) -> dict:
    """A tiny Darcy recipe (16x16, 8 samples) writing under tmp_path; ``changes`` use
    dotted keys, e.g. small_recipe(tmp, **{"solver.backend": "numpy"})."""
    recipe = {
        "name": "tiny", "family": "darcy", "grid": {"shape": [16, 16]}, "samples": 8, "seed": 7,
        "parameters": {"coefficient": {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "exp"}},
        "solver": {"backend": "numpy"},
        "output": {"path": str(tmp_path / "tiny.zarr"), "chunk_samples": 4},
    }
    for dotted, value in changes.items():
        node = recipe
        keys = dotted.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return recipe


def write_recipe(tmp_path, recipe: dict, name="recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(recipe))
    return path


def built_store(tmp_path, recipe: dict) -> str:
    """Build ``recipe`` with `pdegen build -q` (asserting it succeeds); its store's path."""
    from click.testing import CliRunner

    from pdegen.cli import main
    result = CliRunner().invoke(main, ["build", str(write_recipe(tmp_path, recipe)), "-q"])
    assert result.exit_code == 0, result.output
    return recipe["output"]["path"]


@contextmanager
def resumed_beside_uninterrupted(tmp_path, path: Path, recipe: dict, already_done: int):
    """After a stopped build of ``path`` (``recipe``): `--resume` it, asserting that it kept
    ``already_done`` samples, and build ``recipe`` again uninterrupted into r.zarr; yields
    the two stores, open (resumed, uninterrupted)."""
    from click.testing import CliRunner

    from pdegen.cli import main
    from pdegen.store import open_dataset
    result = CliRunner().invoke(main, ["build", str(path), "--resume"])
    assert result.exit_code == 0 and f"({already_done} already done)" in result.output, result.output
    reference = write_recipe(tmp_path, {**recipe, "output": {**recipe["output"], "path": str(tmp_path / "r.zarr")}},
                             "ref.yaml")
    assert CliRunner().invoke(main, ["build", str(reference), "-q"]).exit_code == 0
    with open_dataset(recipe["output"]["path"]) as a, open_dataset(tmp_path / "r.zarr") as b:
        yield a, b


def run_cli(*args, cwd=None, check=False, env=None):
    """Run ``python -m pdegen.cli ...`` in a subprocess (so exit codes are real)."""
    result = subprocess.run([sys.executable, "-m", "pdegen.cli", *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"pdegen {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def have_petsc() -> bool:
    try:
        import petsc4py  # noqa: F401
        return True
    except ImportError:
        return False


def mpi_env(**extra) -> dict:
    """The environment to start mpiexec with: this interpreter's ``os.environ``, passed
    explicitly. Without ``env=`` a child inherits the C-level environment, to which an MPI
    initialised in this process (any in-process build imports mpi4py) may have added its
    own variables; Open MPI's singleton initialisation does, and an mpiexec started with
    them exited with status 1 and no output (the GPU machine's Open MPI, after any test
    that built a store in-process)."""
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", **extra}


def mpiexec() -> str | None:
    """The mpiexec to launch MPI tests with; None without one or without mpi4py (a GPU machine's
    Open MPI without mpi4py would start processes that each see a world of one)."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    return shutil.which("mpiexec")


# CI sets PDEGEN_REQUIRE_PETSC=1 so that a broken PETSc install fails instead of skipping.
needs_petsc = pytest.mark.skipif(not have_petsc() and not os.environ.get("PDEGEN_REQUIRE_PETSC"),
                                 reason="petsc4py is not installed")
