"""Recipe validation: every bad input is named precisely and nothing is written."""

import pytest
import yaml
from click.testing import CliRunner

from conftest import small_recipe, write_recipe
from pdegen.cli import main
from pdegen.recipe import RecipeError, load_recipe, parse_recipe

# (changes to the small recipe, text the error must contain)
INVALID = [
    ({"samples": 0}, "samples: must be >= 1"),
    ({"samples": "many"}, "samples: must be an integer"),
    ({"samples": 4.0}, None),  # a whole float is taken as the integer
    ({"samples": 4.5}, "samples: must be an integer, got 4.5 (number)"),
    ({"name": 7}, "name: must be a string, got 7 (integer)"),
    ({"split": "random"}, "split: must be a mapping, got 'random' (string)"),
    ({"grid.shape": 128}, "grid.shape: must be a list, got 128 (integer)"),
    ({"solver.fallback": "yes"}, "solver.fallback: must be true or false, got 'yes' (string)"),
    ({"solver.rtol": float("nan")}, "solver.rtol: must be a finite number"),
    ({"family": "navier"}, "family: must be one of"),
    ({"family": None}, "family: required key is missing"),
    ({"grid.shape": [16]}, None),  # valid 1-D: sanity check of the harness (see below)
    ({"grid.shape": [16, 1]}, "grid.shape: must be integers >= 2"),
    ({"grid.shape": [4, 4, 4, 4]}, "grid.shape: must list 1 to 3 cell counts"),
    ({"grid.extent": [[0, 1]]}, "grid.extent: needs one [low, high] pair per axis of grid.shape [16, 16] (2), got 1; "
                           "with another number of axes, set the extent too (e.g. --set grid.extent=[[0,1],[0,1]])"),
    ({"grid.extent": [[1, 0], [0, 1]]}, "grid.extent: needs low < high"),
    ({"grid.spacing": 0.1}, "grid.spacing: unknown key; allowed keys are shape, extent"),
    ({"solver.rtl": 1e-6}, "solver.rtl: unknown key (did you mean 'rtol'?); allowed keys are method"),
    ({"solver.method": "gmress"}, "got 'gmress' (did you mean 'gmres'?)"),
    ({"parameters.coeficient": {"dist": "constant", "value": 1}},
     "parameters.coeficient: unknown parameter of family 'darcy' (did you mean 'coefficient'?); allowed: coefficient"),
    ({"solver.rtol": -1}, "solver.rtol: must be > 0.0, got -1"),
    ({"solver.rtol": "tight"}, "solver.rtol: must be a number, got 'tight'"),
    ({"solver.rtol": 1e-20}, "solver.rtol: must be >= 2.2e-16, double precision's machine epsilon"),
    ({"solver.method": "bicg"}, "solver.method: must be one of 'auto', 'direct'"),
    ({"solver.recycle": 40, "solver.restart": 30}, "solver.recycle: must be < solver.restart (30), got 40"),
    ({"solver.method": "direct", "solver.preconditioner": "ilu"}, "solver.preconditioner: a direct solve"),
    ({"solver.backend": "numpy", "solver.preconditioner": "gamg"}, "solver.preconditioner: 'gamg' needs the petsc"),
    ({"solver.maxiter": 0}, "solver.maxiter: must be >= 1, got 0"),
    ({"solver.options": {"ksp_monitor": [1, 2]}}, "solver.options: must map option names"),
    ({"parameters.coefficient": {"dist": "grf", "transform": "none"}}, "parameters.coefficient.transform: this parameter must be positive"),
    ({"parameters.coefficient": {"dist": "normal"}}, "parameters.coefficient.dist: this parameter must be positive"),
    ({"parameters.coefficient": {"dist": "uniform", "low": 2.0, "high": 1.0}}, "parameters.coefficient: needs low < high"),
    ({"parameters.coefficient": {"dist": "grf", "alpha": -1}}, "parameters.coefficient.alpha: must be > 0.0, got -1"),
    ({"parameters.coefficient": {"dist": "grf", "smoothness": 2}}, "parameters.coefficient.smoothness: unknown key"),
    ({"parameters.coefficient": {"dist": "beta"}}, "parameters.coefficient.dist: must be one of grf, white, constant"),
    ({"parameters.viscosity": {"dist": "constant", "value": 1}}, "parameters.viscosity: unknown parameter of family 'darcy'"),
    ({"boundary.kind": "robin"}, "boundary.kind: must be one of 'dirichlet', 'neumann', 'periodic'; got 'robin'"),
    ({"boundary.kind": "neumann"}, "boundary: every face is neumann or periodic, so u is fixed only up to a constant"),
    ({"boundary.kind": "periodic"}, "boundary: every face is neumann or periodic, so u is fixed only up to a constant"),
    ({"family": "advection_diffusion", "parameters": None, "boundary.kind": "periodic"},
     "boundary: no face is dirichlet or inflow, so u may be fixed only up to a constant"),
    ({"family": "advection_diffusion", "parameters": None, "boundary.kind": "neumann"},
     "boundary: no face is dirichlet or inflow, so u may be fixed only up to a constant"),
    ({"family": "advection_diffusion", "parameters": None, "boundary.faces": {"x_high": {"kind": "neumann"}}}, None),
    ({"family": "transport", "parameters": None, "boundary.kind": "neumann"}, None),
    ({"boundary.faces": {"x_low": {"kind": "periodic"}}},
     "boundary.faces.x_low: a periodic face needs the other face of its axis periodic too; make x_high periodic as "
     "well, or x_low dirichlet or neumann"),
    ({"boundary.faces": {"x_low": {"kind": "periodic"}, "x_high": {"kind": "periodic"}}}, None),
    ({"solver.backend": "petsc", "solver.preconditioner": "mg", "grid.shape": [64, 64],
      "boundary.faces": {"y_low": {"kind": "periodic"}, "y_high": {"kind": "periodic"}}}, None),
    ({"family": "heat", "parameters": None, "boundary.kind": "periodic", "grid.shape": [16, 2]},
     "grid.shape: the periodic axis y needs at least 3 cells, got 2"),
    ({"boundary.kind": "neumann", "boundary.faces": {"y_high": {"kind": "dirichlet"}}}, None),  # one Dirichlet face
    ({"family": "heat", "parameters": None, "boundary.kind": "neumann"}, None),  # an insulated box
    ({"boundary.faces": {"z_low": {"kind": "dirichlet"}}},
     "boundary.faces.z_low: unknown face; a grid with 2 axes has faces x_low, x_high, y_low, y_high"),
    ({"boundary.faces": {"x_lo": {"value": 1.0}}}, "boundary.faces.x_lo: unknown face (did you mean 'x_low'?)"),
    ({"boundary.faces": {"top": {"value": 1.0}}}, "boundary.faces.top: unknown face (did you mean 'y_high'?)"),
    ({"boundary.faces": {"x_low": {"kind": "sideways"}}},
     "boundary.faces.x_low.kind: must be one of 'dirichlet', 'neumann', 'periodic'; got 'sideways'"),
    ({"boundary.faces": {"x_low": {"value": "one"}}}, "boundary.faces.x_low.value: must be a number, got 'one'"),
    ({"boundary.faces": {"x_low": 1.0}}, "boundary.faces.x_low: must be a mapping, got 1.0 (number)"),
    ({"boundary.faces": [1, 2]}, "boundary.faces: must be a mapping, got [1, 2] (list)"),
    ({"output.format": "netcdf"}, "output.format: must be one of 'zarr', 'hdf5'"),
    ({"output.dtype": "float16"}, "output.dtype: must be one of 'float32', 'float64'"),
    ({"output.chunk_samples": 0}, "output.chunk_samples: must be >= 1, got 0"),
    ({"split.train": 0.9}, "split: train + val + test must be 1, got 1.1"),
    ({"split.holdout": 0.1}, "split.holdout: unknown key"),
    ({"seed": -3}, "seed: must be >= 0, got -3"),
    ({"ordering.method": "random"}, "ordering.method: must be one of"),
    ({"colour": "blue"}, "colour: unknown key; allowed keys are name, family"),
    ({"output.shard_samples": 10}, "output.shard_samples: must be a multiple of output.chunk_samples (4), got 10"),
    ({"output.shard_samples": 8, "output.format": "hdf5"}, "output.shard_samples: sharding is a Zarr v3 feature"),
    ({"family": "heat", "ranks_per_system": 2, "parameters": None}, "ranks_per_system: family 'heat' is time-dependent"),
    ({"family": "advection_diffusion", "grid.shape": [8, 8, 8], "parameters": None}, "grid.shape: family 'advection_diffusion' is 2-D"),
    ({"family": "poisson", "grid.shape": [16], "parameters": {"boundary_data": {"dist": "fourier"}}}, "'fourier' boundary data runs along the perimeter of a 2-D grid"),
    ({"family": "heat", "parameters": None, "discretization": {"steps": 10, "save_every": 3}}, "discretization.save_every: must divide discretization.steps (10), got 3"),
    ({"discretization": {"scheme": "rk4"}}, "discretization.scheme: unknown key; allowed keys are (none)"),
    ({"parameters.coefficient": 2.0}, "parameters.coefficient: must be a mapping with a 'dist' key, got 2.0"),
    ({"parameters.coefficient": {"dist": "grf", "transform": "threshold", "low": -1.0, "high": 2.0}},
     "parameters.coefficient: threshold values must be > 0 for a positive parameter, got low=-1.0, high=2.0"),
    ({"parameters.coefficient": {"dist": "uniform", "low": 0.0, "high": 1.0}},
     "parameters.coefficient: this parameter must be positive, got a lower value 0.0"),
    ({"family": "advection_diffusion", "parameters": None, "solver.method": "cg"},
     "solver.method: 'cg' needs a symmetric positive definite operator and family 'advection_diffusion' is not"),
    ({"family": "advection_diffusion", "parameters": None, "solver.backend": "petsc", "solver.preconditioner": "icc"},
     "solver.preconditioner: 'icc' needs a symmetric operator and family 'advection_diffusion' is not"),
    ({"solver.backend": "petsc", "solver.preconditioner": "mg"},
     "solver.preconditioner: 'mg' (geometric multigrid) needs a grid it can coarsen at least twice"),
    ({"solver.backend": "petsc", "solver.preconditioner": "mg", "grid.shape": [32, 32], "solver.method": "gcrodr"},
     "solver.preconditioner: 'mg' is offered with method cg, gmres or auto (PETSc's KSP), got 'gcrodr'"),
    ({"ranks_per_system": 2}, "ranks_per_system: more than 1 rank per system needs solver.backend: petsc, got 2"),
]


@pytest.mark.parametrize("changes,message", INVALID, ids=[next(iter(c)) for c, _ in INVALID])
def test_invalid_recipe_is_rejected_before_anything_is_written(tmp_path, changes, message):
    recipe = small_recipe(tmp_path, **changes)
    out = tmp_path / "out" / "never.zarr"
    recipe["output"]["path"] = str(out)
    path = write_recipe(tmp_path, recipe)
    result = CliRunner().invoke(main, ["build", str(path), "--quiet"])
    if message is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert not out.exists() and not out.parent.exists()


def test_a_store_path_whose_suffix_names_the_other_format_is_refused(tmp_path):
    """--format hdf5 on a recipe whose output.path ends in .zarr made an HDF5 file named .zarr."""
    store = tmp_path / "d.zarr"
    path = write_recipe(tmp_path, small_recipe(tmp_path, **{"output.path": str(store)}))
    result = CliRunner().invoke(main, ["build", str(path), "-q", "--format", "hdf5"])
    assert result.exit_code == 2 and not store.exists()
    assert (f"output.path: '{store}' ends in .zarr but output.format is hdf5; use a path ending in .h5 "
            f"(e.g. --out {tmp_path / 'd.h5'})") in result.output
    assert CliRunner().invoke(main, ["build", str(path), "-q", "--format", "hdf5", "-o", str(tmp_path / "d.h5")]
                              ).exit_code == 0
    with pytest.raises(RecipeError, match="'d.HDF5' ends in .hdf5 but output.format is zarr"):
        parse_recipe(yaml.safe_dump(small_recipe(tmp_path, **{"output.path": "d.HDF5", "output.format": "zarr"})))
    parse_recipe(yaml.safe_dump(small_recipe(tmp_path, **{"output.path": "d.store", "output.format": "hdf5"})))


# (family, grid shape, ranks per system, coefficient jump or None) for the named-mg check
MULTIGRID_CASES = [("darcy", shape, ranks, None) for shape in ([14] * 3, [15] * 3, [16] * 3, [17] * 3, [30, 30],
                                                             [31, 31], [64, 8]) for ranks in (1, 2)]
MULTIGRID_CASES += [("darcy", [30, 30], 1, 1000.0), ("darcy", [31, 31], 1, 1000.0),
                    ("poisson", [16] * 3, 1, None), ("heat", [16] * 3, 1, None), ("heat", [17] * 3, 1, None),
                    ("heat", [30, 30], 1, None), ("advection_diffusion", [30, 30], 1, None),
                    ("advection_diffusion", [31, 31], 2, None)]


@pytest.mark.parametrize("family,shape,ranks,jump", MULTIGRID_CASES)
def test_named_multigrid_is_refused_exactly_when_the_plans_hierarchy_is_too_short(tmp_path, family, shape, ranks,
                                                                                   jump):
    """The recipe check and the plan use one rule for the coarse operators, so ``mg`` is
    accepted exactly when the plan's hierarchy has at least 3 levels. It had guessed
    aggregation for every pure-diffusion family and refused 16³ Darcy with 2 ranks per
    system, whose (distributed, Galerkin) hierarchy is 16³ > 8³ > 4³."""
    from solvers.multigrid import level_shapes

    from pdegen.plan import make_plan
    changes = {"family": family, "grid.shape": shape, "ranks_per_system": ranks, "solver.backend": "petsc"}
    if family != "darcy":
        changes["parameters"] = None
    if jump is not None:
        changes["parameters.coefficient"] = {"dist": "grf", "transform": "threshold", "low": 1.0, "high": jump}
    method = "cg" if family != "advection_diffusion" else "gmres"
    reference = make_plan(parse_recipe(yaml.safe_dump(small_recipe(tmp_path, **changes, **{
        "solver.method": method, "solver.preconditioner": "bjacobi"}))))
    levels = level_shapes(reference.grid_shape, spacing=reference.grid_spacing, coarse=reference.multigrid_coarse)
    text = yaml.safe_dump(small_recipe(tmp_path, **changes, **{"solver.method": method,
                                                               "solver.preconditioner": "mg"}))
    if len(levels) >= 3:
        plan = make_plan(parse_recipe(text))
        assert (plan.preconditioner, plan.multigrid_coarse) == ("mg", reference.multigrid_coarse)
        hierarchy = " > ".join("x".join(map(str, level)) for level in levels)
        assert f"mg: geometric multigrid on {hierarchy}, {plan.multigrid_coarse} coarse operators" in plan.describe()
    else:
        with pytest.raises(RecipeError, match=f"{reference.multigrid_coarse} coarse operators"):
            parse_recipe(text)


def test_out_with_a_store_suffix_sets_the_format_unless_format_is_given(tmp_path):
    """``-o x.h5`` on a recipe that writes Zarr builds an HDF5 store (the user named it);
    ``-o x.zarr`` on an HDF5 recipe a Zarr one; an explicit --format that disagrees with
    the suffix is still refused."""
    import h5py
    import zarr
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    result = CliRunner().invoke(main, ["build", str(path), "-q", "-o", str(tmp_path / "a.H5")])
    assert result.exit_code == 0, result.output
    assert h5py.is_hdf5(tmp_path / "a.H5")
    hdf5_recipe = write_recipe(tmp_path, small_recipe(tmp_path, **{"output.format": "hdf5",
                                                                   "output.path": str(tmp_path / "b.h5")}), "h.yaml")
    result = CliRunner().invoke(main, ["build", str(hdf5_recipe), "-q", "-o", str(tmp_path / "b.zarr")])
    assert result.exit_code == 0, result.output
    assert zarr.open_group(tmp_path / "b.zarr", mode="r")["outputs/solution"].shape[0] == 8
    result = CliRunner().invoke(main, ["build", str(path), "-q", "-o", str(tmp_path / "c.zarr"), "--format", "hdf5"])
    assert result.exit_code == 2 and "ends in .zarr but output.format is hdf5" in result.output
    assert not (tmp_path / "c.zarr").exists()


def test_all_problems_reported_together(tmp_path):
    recipe = small_recipe(tmp_path, **{"samples": 0, "solver.rtol": 2.0, "output.dtype": "int8"})
    with pytest.raises(RecipeError) as info:
        parse_recipe(yaml.safe_dump(recipe))
    text = str(info.value)
    assert "samples:" in text and "solver.rtol: must be < 1.0, got 2.0" in text and "output.dtype" in text
    assert len(info.value.problems) == 3
    with pytest.raises(RecipeError) as info:  # a section given as a scalar: said once
        parse_recipe(yaml.safe_dump(small_recipe(tmp_path, grid=5)))
    assert info.value.problems.count("grid: must be a mapping, got 5 (integer)") == 1


def test_defaults_are_filled_and_overrides_apply(tmp_path):
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    recipe = load_recipe(path, ["grid.shape=[32,24]", "solver.rtol=1e-6", "output.path=x.zarr"])
    assert recipe["grid"]["shape"] == [32, 24]
    assert recipe["grid"]["extent"] == [[0.0, 1.0], [0.0, 1.0]]
    assert recipe["solver"]["rtol"] == 1e-6
    assert recipe["parameters"]["forcing"] == {"dist": "constant", "value": 1.0}
    assert recipe["split"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert recipe["output"]["path"] == "x.zarr"
    with pytest.raises(RecipeError, match="expected KEY.PATH=VALUE"):
        load_recipe(path, ["solver.rtol"])
    with pytest.raises(RecipeError, match="--set =3: empty key path"):
        load_recipe(path, ["=3"])
    with pytest.raises(RecipeError, match="--set samples.count=3: samples is not a mapping"):
        load_recipe(path, ["samples.count=3"])


@pytest.mark.parametrize("text,message", [
    ("family: darcy\ngrid: {shape: [16, 16]", "recipe.yaml: not valid YAML"),
    ("- darcy\n- 16", "recipe.yaml: must be a YAML mapping at the top level"),
])
def test_unreadable_recipe_text_is_named(tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert message in str(info.value)
    with pytest.raises(RecipeError, match="no such recipe file"):
        load_recipe(tmp_path / "missing.yaml")


def test_validate_command_prints_resolved_recipe(tmp_path):
    path = write_recipe(tmp_path, small_recipe(tmp_path))
    result = CliRunner().invoke(main, ["validate", str(path), "--set", "samples=3"])
    assert result.exit_code == 0
    resolved = yaml.safe_load(result.output)
    assert resolved["samples"] == 3 and resolved["solver"]["maxiter"] == 10000
    bad = CliRunner().invoke(main, ["validate", str(path), "--set", "samples=-1"])
    assert bad.exit_code == 2 and "samples: must be >= 1, got -1" in bad.output


def test_shipped_recipes_validate():
    from pathlib import Path
    recipes = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))
    assert recipes
    for path in recipes:
        load_recipe(path)
