"""The store format, version 1 (see docs/store-format.md).

One group per dataset, the same names in Zarr and HDF5. Per-sample arrays have the
sample axis first, are chunked along it with ``output.chunk_samples`` samples per chunk,
and hold samples in *solve order*; ``sample_id`` maps each row back to its draw index.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..fields import is_field, is_random, vector_length
from ..grid import coarsen

FORMAT_NAME = "pdegen"
FORMAT_VERSION = 1
SPLIT_LABELS = ("train", "val", "test")
# stats/solver holds an index into this list (stable across versions: append only).
SOLVER_LABELS = ("none", "direct", "cg", "gmres", "gcrodr", "ksp", "fallback-direct", "fallback-krylov")
OUTPUT_NAME = "solution"


@dataclass(frozen=True)
class ArraySpec:
    path: str
    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[int, ...]
    fill_value: object
    attrs: dict = field(default_factory=dict)
    shards: tuple[int, ...] | None = None

    @property
    def per_sample(self) -> bool:
        return not self.path.startswith("coords/")

    @property
    def nbytes(self) -> int:
        """Bytes of the whole array before compression."""
        return int(np.prod(self.shape)) * np.dtype(self.dtype).itemsize


def stored_parameters(recipe: dict) -> dict[str, str]:
    """Map store paths to the recipe parameters they hold (random parameters only:
    constants live in the recipe). Fields go to ``inputs/``, scalars to ``params/``."""
    out = {}
    for name, spec in recipe["parameters"].items():
        if is_field(spec):
            out[f"inputs/{name}"] = name
        elif is_random(spec):
            out[f"params/{name}"] = name
    return out


# What a store written before output.coarsen and output.coarsen_by existed did.
COARSENING_BEFORE = {"coarsen": 1, "coarsen_by": "mean"}


def coarsening(recipe: dict) -> tuple[int, str]:
    """(``output.coarsen``, ``output.coarsen_by``): how the store's fields derive from the
    solve's grid."""
    output = {**COARSENING_BEFORE, **recipe["output"]}
    return int(output["coarsen"]), output["coarsen_by"]


def stored_shape(recipe: dict) -> tuple[int, ...]:
    """The grid the store holds fields on: the recipe's, or with ``output.coarsen`` > 1 one
    that many times coarser."""
    factor, _ = coarsening(recipe)
    return tuple(int(n) // factor for n in recipe["grid"]["shape"])


def as_stored(recipe: dict, path: str, value, ndim: int):
    """A parameter or solution value as the store holds it at ``path``: fields (``inputs/*``,
    ``outputs/*``, any leading time axis kept) coarsened as the recipe says, the rest as
    they are. The build writes it, verify compares with it."""
    if not (path.startswith(("inputs/", "outputs/")) and np.ndim(value)):
        return value
    factor, by = coarsening(recipe)
    return coarsen(value, factor, ndim, by)


def dataset_layout(recipe: dict) -> list[ArraySpec]:
    n = recipe["samples"]
    shape = stored_shape(recipe)
    c = min(recipe["output"]["chunk_samples"], n)
    dtype = recipe["output"]["dtype"]
    specs = []
    for path, name in stored_parameters(recipe).items():
        spec = recipe["parameters"][name]
        if path.startswith("inputs/"):
            specs.append(ArraySpec(path, (n, *shape), dtype, (c, *shape), np.nan, {"parameter": name}))
        elif vector_length(spec):
            length = vector_length(spec)
            specs.append(ArraySpec(path, (n, length), "float64", (c, length), np.nan,
                                   {"parameter": name, "description": "Fourier coefficients [c_0, a_1..a_K, b_1..b_K]"}))
        else:
            specs.append(ArraySpec(path, (n,), "float64", (c,), np.nan, {"parameter": name}))
    times = output_times(recipe)
    for path in output_paths(recipe):
        what = "solution u" if path == f"outputs/{OUTPUT_NAME}" else path.removeprefix("outputs/")
        if times is None:
            specs.append(ArraySpec(path, (n, *shape), dtype, (c, *shape), np.nan,
                                   {"description": f"{what} at cell centres"}))
        else:
            t = len(times)
            specs.append(ArraySpec(path, (n, t, *shape), dtype, (c, t, *shape), np.nan,
                                   {"description": f"{what} at cell centres at the times coords/t"}))
    if times is not None:
        specs.append(ArraySpec("coords/t", (len(times),), "float64", (len(times),), 0.0,
                               {"units": "1", "description": "output times"}))
    for axis, (name, (lo, hi)) in enumerate(zip("xyz", recipe["grid"]["extent"])):
        specs.append(ArraySpec(f"coords/{name}", (shape[axis],), "float64", (shape[axis],), 0.0,
                               {"units": "1", "axis": axis, "location": "cell centres",
                                "extent": [lo, hi]}))
    specs += [
        ArraySpec("stats/iterations", (n,), "int32", (c,), -1, {"description": "Krylov iterations (0: direct)"}),
        ArraySpec("stats/residual", (n,), "float64", (c,), np.nan, {"description": "true ||b-Ax||/||b||"}),
        ArraySpec("stats/seconds", (n,), "float64", (c,), np.nan, {"description": "solve wall time"}),
        ArraySpec("stats/converged", (n,), "bool", (c,), False, {"description": "residual <= rtol"}),
        ArraySpec("stats/solver", (n,), "int8", (c,), 0, {"labels": list(SOLVER_LABELS)}),
        ArraySpec("stats/rebuilt", (n,), "bool", (c,), False,
                  {"description": "preconditioner or factorisation (re)built for this sample"}),
        ArraySpec("stats/warm_start", (n,), "bool", (c,), False,
                  {"description": "initial guess was the previous sample's solution"}),
        ArraySpec("stats/recycled", (n,), "int16", (c,), 0,
                  {"description": "GCRO-DR recycle space dimension carried out of this solve (0: none)"}),
        ArraySpec("sample_id", (n,), "int64", (c,), -1, {"description": "draw index of each stored row"}),
        ArraySpec("split", (n,), "int8", (c,), -1, {"labels": list(SPLIT_LABELS)}),
        ArraySpec("done", (n,), "bool", (c,), False, {"description": "row fully written"}),
    ]
    shard = write_unit(recipe)
    if recipe["output"].get("shard_samples"):
        specs = [replace(spec, shards=(shard, *spec.chunks[1:])) if spec.per_sample else spec for spec in specs]
    return specs


def footprint(recipe: dict) -> tuple[dict[str, int], int]:
    """What a build of ``recipe`` stores: bytes per array before compression, and the most
    Zarr data files it can write (one per chunk, or per shard when sharding, of every
    array; zarr skips chunks that hold only the fill value)."""
    layout = dataset_layout(recipe)
    sizes = {spec.path: spec.nbytes for spec in layout}
    per_file = write_unit(recipe)
    files = sum(-(-spec.shape[0] // per_file) if spec.per_sample else 1 for spec in layout)
    return sizes, files


def describe_footprint(recipe: dict) -> str:
    """One line for ``pdegen plan``: the store's size and, for Zarr, its file count."""
    sizes, files = footprint(recipe)
    output = recipe["output"]
    fields = sorted((path for path in sizes if path.startswith(("inputs/", "outputs/"))), key=sizes.get, reverse=True)
    rest = sum(sizes.values()) - sum(sizes[p] for p in fields)
    parts = ", ".join([f"{p} {format_bytes(sizes[p])}" for p in fields] + [f"the rest {format_bytes(rest)}"])
    total = format_bytes(sum(sizes.values()))
    line = f"store: {output['path']} ({output['format']}), {total} before compression ({parts})"
    if output["format"] == "zarr":
        unit = "shard" if output.get("shard_samples") else "chunk"
        line += f"; up to {files:,} {unit} files"
    else:
        line += "; one file, plus one part file per process group when several write it"
    return line


def format_bytes(n: int) -> str:
    """1536 -> "1.5 KiB"."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def write_unit(recipe: dict) -> int:
    """Rows that one process owns and writes together: a shard when sharding, else a chunk.
    Segments between process groups are cut at multiples of this."""
    n = recipe["samples"]
    shard = recipe["output"].get("shard_samples") or 0
    return min(shard or recipe["output"]["chunk_samples"], n)


def output_paths(recipe: dict) -> list[str]:
    """The store paths of the recipe's solution fields: ``outputs/solution``, or one per
    component of a family whose state has several (``outputs/u``, ``outputs/v``)."""
    from ..families import get_family
    return [f"outputs/{name}" for name in get_family(recipe["family"]).components]


def output_times(recipe: dict):
    """Output times of a time-dependent recipe (None for a steady one)."""
    from ..families import get_family
    return get_family(recipe["family"]).output_times(recipe)


def assign_splits(n: int, fractions: dict, rng: np.random.Generator) -> np.ndarray:
    """Split code per *sample id*: exact counts from the fractions, random membership."""
    n_train = int(round(fractions["train"] * n))
    n_val = min(int(round(fractions["val"] * n)), n - n_train)
    codes = np.full(n, 2, dtype=np.int8)
    codes[:n_train] = 0
    codes[n_train:n_train + n_val] = 1
    return codes[rng.permutation(n)]
