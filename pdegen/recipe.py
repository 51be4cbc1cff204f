"""Recipes: loading, command-line overrides and validation with precise messages.

A recipe is the whole description of a dataset. :func:`load_recipe` reads the YAML,
applies overrides (``--set solver.rtol=1e-6``), and validates everything *before*
anything is written: unknown keys, wrong types, out-of-range values and impossible
combinations are all reported at once, each naming the key path, the value and what
is allowed. The result has every default filled in (see docs/recipes.md).
"""

from __future__ import annotations

import copy
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .families import FAMILIES, get_family
from .families.boundary import check_periodic, validate_faces
from .fields import BOUNDARY_DISTRIBUTIONS, FIELD_DISTRIBUTIONS, SCALAR_DISTRIBUTIONS, check_distribution
from .grid import COARSEN_BY, Grid
from .schema import Key, RecipeError, did_you_mean, show, validate_mapping


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads ``1e-6`` as a string; recipes mean a number, as in YAML 1.2."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                  |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                  |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                  |[-+]?\.(?:inf|Inf|INF)
                  |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def load_yaml(text: str):
    return yaml.load(text, Loader=_Loader)


SOLVER_METHODS = ("auto", "direct", "cg", "gmres", "gcrodr")
BACKENDS = ("petsc", "numpy")
PRECONDITIONERS = ("auto", "none", "jacobi", "sor", "ilu", "icc", "bjacobi", "asm", "gamg", "hypre", "mg")
ORDERINGS = ("auto", "none", "greedy", "kdtree")
FORMATS = ("zarr", "hdf5")
STORE_SUFFIXES = {"zarr": (".zarr",), "hdf5": (".h5", ".hdf5")}  # what a store path of each format ends in


def _check_shape(shape: list) -> str | None:
    if not 1 <= len(shape) <= 3:
        return "must list 1 to 3 cell counts"
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 2 for n in shape):
        return "must be integers >= 2"
    return None


def _check_extent(extent: list) -> str | None:
    for pair in extent:
        if not (isinstance(pair, list) and len(pair) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)):
            return "must be a list of [low, high] pairs of numbers"
        if not pair[0] < pair[1]:
            return "needs low < high on every axis"
    return None


def _check_options(options: dict) -> str | None:
    for name, value in options.items():
        if not isinstance(name, str) or not isinstance(value, (str, int, float, bool, type(None))):
            return "must map option names (without the leading '-') to scalars"
    return None


def _check_rtol(rtol: float) -> str | None:
    # A residual computed in double precision carries rounding of order eps ||A|| ||x||,
    # so a relative tolerance below eps can never be verified as met.
    eps = sys.float_info.epsilon
    if rtol < eps:
        return (f"must be >= {eps:.1e}, double precision's machine epsilon (no residual computed in double "
                "reliably goes lower)")
    return None


TOP_KEYS = {
    "name": Key("str", None, nullable=True, doc="dataset name; default: the recipe file's stem"),
    "family": Key("str", choices=tuple(FAMILIES), doc="registered PDE family"),
    "description": Key("str", "", doc="free text"),
    "grid": Key("mapping", doc="grid shape and extent"),
    "samples": Key("int", low=1, doc="number of samples N"),
    "seed": Key("int", 0, low=0),
    "parameters": Key("mapping", dict),
    "boundary": Key("mapping", dict),
    "solver": Key("mapping", dict),
    "ordering": Key("mapping", dict),
    "output": Key("mapping", dict),
    "split": Key("mapping", dict),
    "ranks_per_system": Key("int", 1, low=1),
    "discretization": Key("mapping", dict, doc="family-specific discretisation settings"),
}
GRID_KEYS = {
    "shape": Key("list", check=_check_shape, doc="cells per axis, e.g. [128, 128]"),
    "extent": Key("list", None, nullable=True, check=_check_extent, doc="[[low, high], ...]; default unit box"),
}
SOLVER_KEYS = {
    "method": Key("str", "auto", choices=SOLVER_METHODS),
    "backend": Key("str", "petsc", choices=BACKENDS),
    "rtol": Key("number", 1e-8, low=0.0, high=1.0, low_open=True, high_open=True, check=_check_rtol,
                doc="relative tolerance on the true residual ||b - Ax|| / ||b||"),
    "maxiter": Key("int", 10000, low=1),
    "preconditioner": Key("str", "auto", choices=PRECONDITIONERS),
    "restart": Key("int", 40, low=1, doc="Krylov restart length m"),
    "recycle": Key("int", 20, low=0, doc="recycle space dimension k (gcrodr)"),
    "options": Key("mapping", dict, check=_check_options, doc="extra PETSc options"),
    "fallback": Key("bool", True, doc="retry a failed solve: fresh Krylov, then direct"),
}
ORDERING_KEYS = {"method": Key("str", "auto", choices=ORDERINGS)}
OUTPUT_KEYS = {
    "path": Key("str", None, nullable=True, doc="store path; default data/<name>.<format>"),
    "format": Key("str", "zarr", choices=FORMATS),
    "dtype": Key("str", "float32", choices=("float32", "float64")),
    "chunk_samples": Key("int", 32, low=1),
    "shard_samples": Key("int", 0, low=0, doc="Zarr v3 shard size in samples (0: no sharding); "
                                             "a multiple of chunk_samples"),
    "compression": Key("str", "lz4", choices=("lz4", "zstd", "none"),
                       doc="field arrays: lz4 = Blosc LZ4 + bit shuffle (zarr), gzip-1 + byte shuffle "
                           "(hdf5); zstd = Zstandard 3 (zarr), gzip-1 (hdf5)"),
    "coarsen": Key("int", 1, low=1, doc="store every field (inputs and solutions) as means over blocks of this many "
                                        "cells per axis: solve on grid.shape, store on grid.shape / coarsen "
                                        "(FNO solved finer than it stored); every side a multiple of it"),
    "coarsen_by": Key("str", "mean", choices=COARSEN_BY,
                      doc="with coarsen > 1: mean = each block's mean (the coarse cell's average); centre = each "
                          "block's centre cell (point values at the coarse centres; an odd coarsen)"),
}
SPLIT_KEYS = {name: Key("number", default, low=0.0, high=1.0)
              for name, default in (("train", 0.8), ("val", 0.1), ("test", 0.1))}


@dataclass
class Recipe:
    """A validated recipe: ``data`` has every default filled in."""

    data: dict
    text: str = ""
    source: str | None = None
    overrides: list[str] = field(default_factory=list)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def family(self):
        return get_family(self.data["family"])

    def dump(self) -> str:
        return yaml.safe_dump(self.data, sort_keys=False, default_flow_style=None)


def _validate_parameter(path: str, spec: Any, parameter, ndim: int, problems: list[str]) -> dict:
    if not isinstance(spec, dict):
        problems.append(f"{path}: must be a mapping with a 'dist' key, got {show(spec)}")
        return {}
    dist = spec.get("dist")
    if parameter.kind == "field":
        allowed = {**FIELD_DISTRIBUTIONS, **SCALAR_DISTRIBUTIONS}
    elif parameter.kind == "boundary":
        allowed = {**BOUNDARY_DISTRIBUTIONS, "constant": SCALAR_DISTRIBUTIONS["constant"]}
    else:
        allowed = SCALAR_DISTRIBUTIONS
    if dist not in allowed:
        problems.append(f"{path}.dist: must be one of {', '.join(allowed)} for a {parameter.kind} "
                        f"parameter; got {show(dist)}")
        return {}
    if dist == "fourier" and ndim != 2:
        problems.append(f"{path}.dist: 'fourier' boundary data runs along the perimeter of a 2-D grid; "
                        f"this grid has {ndim} axes (use constant)")
        return {}
    keys = {"dist": Key("str")} | allowed[dist]
    before = len(problems)
    out = validate_mapping(path, spec, keys, problems)
    if len(problems) > before:
        return out
    message = check_distribution(out)
    if message:
        problems.append(f"{path}: {message}")
    if parameter.positive:
        low = {"constant": out.get("value"), "uniform": out.get("low"), "loguniform": 1.0}.get(dist)
        if dist == "grf":
            if out["transform"] == "none":
                problems.append(f"{path}.transform: this parameter must be positive; use 'exp' or "
                                f"'threshold' (a plain GRF takes negative values), got 'none'")
            elif out["transform"] == "threshold" and min(out["low"], out["high"]) <= 0:
                problems.append(f"{path}: threshold values must be > 0 for a positive parameter, "
                                f"got low={out['low']}, high={out['high']}")
        elif dist in ("normal", "white"):
            problems.append(f"{path}.dist: this parameter must be positive and '{dist}' can be negative; "
                            f"use constant, uniform, loguniform or grf")
        elif low is not None and low <= 0:
            problems.append(f"{path}: this parameter must be positive, got a lower value {low}")
    return out


def validate(raw: Any, name_hint: str | None = None) -> dict:
    """Validate a raw recipe mapping and fill in defaults; raises :class:`RecipeError`."""
    problems: list[str] = []
    data = validate_mapping("", raw, TOP_KEYS, problems)
    if not data or "family" not in data or data.get("family") not in FAMILIES:
        raise RecipeError(problems or ["family: required key is missing"])
    family = get_family(data["family"])
    if data.get("name") is None:
        data["name"] = name_hint or data["family"]

    grid = validate_mapping("grid", data.get("grid", {}), GRID_KEYS, problems)
    ndim = len(grid["shape"]) if isinstance(grid.get("shape"), list) else 0
    if grid.get("extent") is None and ndim:
        grid["extent"] = [[0.0, 1.0] for _ in range(ndim)]
    elif isinstance(grid.get("extent"), list) and ndim and len(grid["extent"]) != ndim:
        unit = "[" + ",".join(["[0,1]"] * ndim) + "]"
        problems.append(f"grid.extent: needs one [low, high] pair per axis of grid.shape {grid['shape']} "
                        f"({ndim}), got {len(grid['extent'])}; with another number of axes, set the extent too "
                        f"(e.g. --set grid.extent={unit}) or remove it (the default is the unit interval, square "
                        "or cube)")
    data["grid"] = grid

    raw_params = data.get("parameters") or {}
    if isinstance(raw_params, dict):
        for pname in raw_params:
            if pname not in family.parameters:
                problems.append(f"parameters.{pname}: unknown parameter of family '{family.name}'"
                                f"{did_you_mean(pname, family.parameters)}; allowed: {', '.join(family.parameters)}")
        params = {}
        for pname, parameter in family.parameters.items():
            spec = raw_params.get(pname, copy.deepcopy(parameter.default))
            params[pname] = _validate_parameter(f"parameters.{pname}", spec, parameter, ndim, problems)
        data["parameters"] = params

    data["boundary"] = validate_mapping("boundary", data.get("boundary"), family.boundary, problems)
    if "faces" in family.boundary:
        validate_faces(data["boundary"], ndim, problems, family.boundary["kind"].choices)
        if isinstance(grid.get("shape"), list):
            check_periodic(data["boundary"], grid["shape"], problems)
    data["discretization"] = validate_mapping("discretization", data.get("discretization"),
                                              family.discretization, problems)
    solver = validate_mapping("solver", data.get("solver"), SOLVER_KEYS, problems)
    data["solver"] = solver
    data["ordering"] = validate_mapping("ordering", data.get("ordering"), ORDERING_KEYS, problems)
    output = validate_mapping("output", data.get("output"), OUTPUT_KEYS, problems)
    if output.get("path") is None and "format" in output:
        suffix = {"zarr": "zarr", "hdf5": "h5"}[output["format"]]
        output["path"] = f"data/{data['name']}.{suffix}"
    data["output"] = output
    split = validate_mapping("split", data.get("split"), SPLIT_KEYS, problems)
    data["split"] = split

    # Impossible combinations.
    coarsen, shape = output.get("coarsen"), grid.get("shape")
    if isinstance(coarsen, int) and coarsen > 1 and isinstance(shape, list) and all(isinstance(n, int) for n in shape) \
            and any(n % coarsen for n in shape):
        fitting = [max(coarsen, round(n / coarsen) * coarsen) for n in shape]
        problems.append(f"output.coarsen: {coarsen} must divide every side of grid.shape {shape}; e.g. grid.shape "
                        f"{fitting}, or a coarsen that divides {shape}")
    if isinstance(coarsen, int) and coarsen > 1 and coarsen % 2 == 0 and output.get("coarsen_by") == "centre":
        problems.append(f"output.coarsen_by: 'centre' needs an odd output.coarsen (a block's centre cell), got "
                        f"coarsen {coarsen}; use 'mean', or an odd coarsen")
    shard, chunk = output.get("shard_samples"), output.get("chunk_samples")
    if isinstance(shard, int) and isinstance(chunk, int) and shard:
        if shard % chunk:
            problems.append(f"output.shard_samples: must be a multiple of output.chunk_samples ({chunk}), got {shard}")
        if output.get("format") == "hdf5":
            problems.append(f"output.shard_samples: sharding is a Zarr v3 feature; use 0 with format hdf5, got {shard}")
    path, fmt = output.get("path"), output.get("format")
    if isinstance(path, str) and fmt in STORE_SUFFIXES:  # e.g. --format hdf5 on a recipe whose path ends in .zarr
        wrong = next((x for f, xs in STORE_SUFFIXES.items() if f != fmt for x in xs if path.lower().endswith(x)),
                     None)
        if wrong:
            fixed = path[: -len(wrong)] + STORE_SUFFIXES[fmt][0]
            problems.append(f"output.path: {path!r} ends in {wrong} but output.format is {fmt}; use a path "
                            f"ending in {STORE_SUFFIXES[fmt][0]} (e.g. --out {fixed})")
    if len(split) == 3 and all(isinstance(v, float) for v in split.values()):
        total = sum(split.values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            problems.append(f"split: train + val + test must be 1, got {total:g}")
    if isinstance(solver.get("recycle"), int) and isinstance(solver.get("restart"), int):
        if solver["recycle"] >= solver["restart"]:
            problems.append(f"solver.recycle: must be < solver.restart ({solver['restart']}), "
                            f"got {solver['recycle']}")
    if solver.get("method") == "cg" and not family.positive_definite:
        problems.append(f"solver.method: 'cg' needs a symmetric positive definite operator and "
                        f"family '{family.name}' is not; use gmres, gcrodr, direct or auto")
    if solver.get("method") == "direct" and solver.get("preconditioner") not in ("auto", "none", None):
        problems.append(f"solver.preconditioner: a direct solve takes no preconditioner, "
                        f"got {show(solver['preconditioner'])}; use auto or none")
    if solver.get("preconditioner") == "icc" and not family.symmetric:
        problems.append(f"solver.preconditioner: 'icc' needs a symmetric operator and family "
                        f"'{family.name}' is not; use ilu, asm, bjacobi, ...")
    if solver.get("backend") == "numpy" and solver.get("preconditioner") in ("sor", "icc", "bjacobi", "asm",
                                                                           "gamg", "hypre", "mg"):
        problems.append(f"solver.preconditioner: {show(solver['preconditioner'])} needs the petsc "
                        f"backend; the numpy backend offers auto, none, jacobi, ilu")
    if solver.get("preconditioner") == "mg" and solver.get("method") == "gcrodr":
        problems.append("solver.preconditioner: 'mg' is offered with method cg, gmres or auto (PETSc's KSP), "
                        "got 'gcrodr'")
    if solver.get("backend") == "numpy" and data.get("ranks_per_system", 1) > 1:
        problems.append("ranks_per_system: more than 1 rank per system needs solver.backend: petsc, "
                        f"got {data['ranks_per_system']}")
    if family.time_dependent and data.get("ranks_per_system", 1) > 1:
        problems.append(f"ranks_per_system: family '{family.name}' is time-dependent and runs one rank per "
                        f"system; got {data['ranks_per_system']}")
    if not problems and len(data["grid"]["shape"]) not in family.dimensions:
        problems.append(f"grid.shape: family '{family.name}' is {' or '.join(f'{d}-D' for d in family.dimensions)}, "
                        f"got {len(data['grid']['shape'])} axes")
    if not problems:
        problems.extend(family.check(data))
    if not problems and solver["preconditioner"] == "mg":  # the plan's hierarchy needs the whole recipe
        problems.extend(_multigrid_check(data, family))
    if problems:  # once each: a section that is not a mapping is reported by its key and by its keys' check
        raise RecipeError(list(dict.fromkeys(problems)))
    return data


def _multigrid_check(data: dict, family) -> list[str]:
    """A named ``mg`` needs a grid that coarsens at least twice, with the coarse operators
    the plan will choose (3-D Galerkin hierarchies coarsen further than aggregation)."""
    from solvers.multigrid import level_shapes

    from .plan import multigrid_coarse_operators
    shape, coarse = data["grid"]["shape"], multigrid_coarse_operators(family, data)
    if len(level_shapes(shape, spacing=Grid(shape, data["grid"]["extent"]).spacing, coarse=coarse)) >= 3:
        return []
    smallest = next(n for n in range(2, 64) if len(level_shapes([n] * len(shape), coarse=coarse)) >= 3)
    return [f"solver.preconditioner: 'mg' (geometric multigrid) needs a grid it can coarsen at least twice (with "
            f"square cells and {coarse} coarse operators, as this recipe's plan would use: every axis >= {smallest} "
            f"cells; the axes with the shortest cells are halved first), got grid.shape {shape}; use gamg"]


def set_override(raw: dict, assignment: str) -> None:
    """Apply ``key.path=value`` (value parsed as YAML) to a raw recipe mapping."""
    if "=" not in assignment:
        raise RecipeError([f"--set {assignment}: expected KEY.PATH=VALUE, e.g. solver.rtol=1e-6"])
    path, text = assignment.split("=", 1)
    keys = [k for k in path.strip().split(".") if k]
    if not keys:
        raise RecipeError([f"--set {assignment}: empty key path"])
    node = raw
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {} if node.get(key) is None else node[key]
        if not isinstance(node[key], dict):
            raise RecipeError([f"--set {assignment}: {key} is not a mapping"])
        node = node[key]
    node[keys[-1]] = load_yaml(text)


def parse_recipe(text: str, name_hint: str | None = None, overrides: list[str] = (),
                 source: str | None = None) -> Recipe:
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as error:
        raise RecipeError([f"{source or 'recipe'}: not valid YAML: {error}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RecipeError([f"{source or 'recipe'}: must be a YAML mapping at the top level"])
    for assignment in overrides:
        set_override(raw, assignment)
    return Recipe(validate(raw, name_hint), text=text, source=source, overrides=list(overrides))


def load_recipe(path: str | Path, overrides: list[str] = ()) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise RecipeError([f"{path}: no such recipe file"])
    return parse_recipe(path.read_text(), name_hint=path.stem, overrides=overrides, source=str(path))
