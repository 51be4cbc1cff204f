"""Structured cell-centred grids in 1-3 dimensions.

A :class:`Grid` is ``shape`` cells covering the box ``extent``; unknowns live at cell
centres and arrays are indexed ``[i0, i1, ...]`` along the axes in order (``ij``
indexing), flattened in C order. :func:`stencil_pattern` gives the fixed sparsity
pattern of a (2d+1)-point stencil on such a grid so that families can fill values
into it with vectorised numpy and backends can update one matrix in place.

Example
-------
>>> g = Grid(shape=(4, 2), extent=((0.0, 1.0), (0.0, 2.0)))
>>> g.spacing
(0.25, 1.0)
>>> g.centers[0]
array([0.125, 0.375, 0.625, 0.875])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

AXIS_NAMES = ("x", "y", "z")


@dataclass(frozen=True)
class Grid:
    shape: tuple[int, ...]
    extent: tuple[tuple[float, float], ...]

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        object.__setattr__(self, "extent", tuple((float(a), float(b)) for a, b in self.extent))
        if len(self.shape) != len(self.extent):
            raise ValueError(f"grid.shape has {len(self.shape)} axes but grid.extent has {len(self.extent)}")

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)  # (np.prod: 9 µs, asked once per solve)

    @property
    def axis_names(self) -> tuple[str, ...]:
        return AXIS_NAMES[: self.ndim]

    @property
    def spacing(self) -> tuple[float, ...]:
        return tuple((b - a) / n for (a, b), n in zip(self.extent, self.shape))

    @property
    def cell_volume(self) -> float:
        return float(np.prod(self.spacing))

    @cached_property
    def centers(self) -> tuple[np.ndarray, ...]:
        """Cell-centre coordinates along each axis (1-D arrays)."""
        return tuple(a + h * (np.arange(n) + 0.5) for (a, _), h, n in zip(self.extent, self.spacing, self.shape))

    def mesh(self) -> tuple[np.ndarray, ...]:
        """Cell-centre coordinates broadcast to the full grid (``ij`` indexing)."""
        return tuple(np.meshgrid(*self.centers, indexing="ij"))

    def coarsened(self, factor: int) -> "Grid":
        """The grid whose cells are blocks of ``factor`` cells along every axis (each side
        a multiple of ``factor``); its cell centres are the blocks' centres."""
        if any(n % factor for n in self.shape):
            raise ValueError(f"{factor} does not divide every side of the grid {self.shape}")
        return Grid(tuple(n // factor for n in self.shape), self.extent)


COARSEN_BY = ("mean", "centre")


def coarsen(values: np.ndarray, factor: int, ndim: int, by: str = "mean") -> np.ndarray:
    """``values`` on the grid ``factor`` times coarser along its last ``ndim`` axes: the
    blocks' means (:func:`block_means`), or their centre cells' values (``by="centre"``,
    an odd ``factor``: the solution at the coarse cell centres, as FNO kept every fifth
    node of its Darcy grid)."""
    if by == "mean":
        return block_means(values, factor, ndim)
    if factor % 2 == 0:
        raise ValueError(f"centre sampling needs an odd factor (a block's centre cell), got {factor}")
    centre = slice(factor // 2, None, factor)
    return values[(Ellipsis, *[centre] * ndim)]


def block_means(values: np.ndarray, factor: int, ndim: int) -> np.ndarray:
    """Means over blocks of ``factor`` cells along each of the last ``ndim`` axes (the
    finite-volume restriction: a coarse cell's average is its fine cells' mean); any axes
    before them (a trajectory's time) are kept.

    >>> block_means(np.arange(16.0).reshape(4, 4), 2, 2)
    array([[ 2.5,  4.5],
           [10.5, 12.5]])
    """
    if factor == 1:
        return values
    lead = values.shape[:values.ndim - ndim]
    split = [*lead]
    for n in values.shape[values.ndim - ndim:]:
        split += [n // factor, factor]
    return values.reshape(split).mean(axis=tuple(len(lead) + 2 * i + 1 for i in range(ndim)))


@dataclass(frozen=True)
class StencilPattern:
    """CSR pattern of a (2d+1)-point stencil, fixed for a grid.

    ``slots`` lists the stencil slots in sorted column order (for C-order
    flattening): axis 0 minus, axis 1 minus, ..., centre, ..., axis 1 plus, axis 0 plus.
    ``mask[c, s]`` says whether slot ``s`` of cell ``c`` is inside the grid (along a
    ``periodic`` axis every slot is: the last cell's plus neighbour is the first cell; the
    CSR columns of each row stay sorted);
    ``compress(values)`` turns a dense slot-major ``(2d+1, *grid.shape)`` array (one
    contiguous grid array per slot) into CSR data. Index arrays are int32 when they fit,
    as SciPy and PETSc would convert them to that on every matrix otherwise.
    """

    grid: Grid
    slots: tuple[tuple[int, int], ...]  # (axis, step) per slot; axis -1 = centre
    periodic: tuple[int, ...]  # the axes that wrap around
    mask: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    gather: np.ndarray  # position of each CSR entry in the flattened slot-major array

    def compress(self, slot_values: np.ndarray) -> np.ndarray:
        return slot_values.reshape(-1).take(self.gather)

    def slot(self, axis: int, step: int) -> int:
        return self.slots.index((axis, step))


def stencil_pattern(grid: Grid, periodic: tuple[int, ...] = ()) -> StencilPattern:
    """The (2d+1)-point pattern of ``grid``, wrapping around along the ``periodic`` axes
    (each at least 3 cells long, so that a cell's two neighbours differ)."""
    d, n = grid.ndim, grid.size
    periodic = tuple(sorted(set(int(a) for a in periodic)))
    if any(not 0 <= a < d or grid.shape[a] < 3 for a in periodic):
        raise ValueError(f"periodic axes must be axes of the grid {grid.shape} at least 3 cells long; got {periodic}")
    strides = [int(np.prod(grid.shape[a + 1 :])) for a in range(d)]
    slots = [(a, -1) for a in range(d)] + [(-1, 0)] + [(a, +1) for a in reversed(range(d))]
    index = np.arange(n).reshape(grid.shape)
    cols = np.empty((n, len(slots)), dtype=np.int64)
    mask = np.ones((n, len(slots)), dtype=bool)
    for s, (axis, step) in enumerate(slots):
        if axis < 0:
            cols[:, s] = index.ravel()
            continue
        position = np.indices(grid.shape)[axis].ravel()
        if axis in periodic:
            cols[:, s] = index.ravel() + ((position + step) % grid.shape[axis] - position) * strides[axis]
        else:
            cols[:, s] = index.ravel() + step * strides[axis]
            mask[:, s] = (position + step >= 0) & (position + step < grid.shape[axis])
    index_type = np.int32 if n * len(slots) < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n + 1, dtype=index_type)
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    cells, slot_of_entry = np.nonzero(mask)  # row-major; slot order is column order except where rows wrap
    columns = cols[cells, slot_of_entry]
    order = np.lexsort((columns, cells))
    arrays = (mask, indptr, columns[order].astype(index_type), (slot_of_entry * n + cells)[order])
    for array in arrays:  # shared by every matrix on this grid; read-only, so solvers may trust
        array.flags.writeable = False  # that the same index arrays mean the same pattern
    return StencilPattern(grid, tuple(slots), periodic, *arrays)
