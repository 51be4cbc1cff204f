"""Every shipped recipe validates, builds with 8 samples at reduced size, and verifies."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import needs_petsc
from pdegen.cli import main
from pdegen.recipe import load_recipe
from pdegen.store import open_dataset
from pdegen.verify import verify_store

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))


@needs_petsc
@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_builds_small_and_verifies(tmp_path, path):
    recipe = load_recipe(path)
    shape = {1: [32], 2: [24, 24], 3: [12, 12, 12]}[len(recipe["grid"]["shape"])]
    out = tmp_path / f"{path.stem}.zarr"
    result = CliRunner().invoke(main, ["build", str(path), "--samples", "8", "--set", f"grid.shape={shape}",
                                       "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    with open_dataset(out) as ds:
        assert ds["done"][:].all() and ds["stats/converged"][:].all()
        assert ds.fields("outputs")
        for path in ds.fields("outputs"):  # outputs/solution, or one per component (outputs/u, outputs/v)
            assert np.all(np.isfinite(ds[path][:]))
        assert ds.attrs["recipe"]["family"] == recipe["family"]
    report = verify_store(out)
    assert report.ok, report.problems
    assert report.checked == 8
