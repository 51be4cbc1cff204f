"""Cell-centred finite volumes on structured grids, shared by the families.

:func:`assemble` builds, on the fixed (2d+1)-point pattern of the grid, the matrix and
right-hand side of

    -∇·(a ∇u) + ∇·(w u) + c u = f

with rows divided by the cell volume:

- diffusion: face coefficient = harmonic mean of the two cells' ``a``, over h²;
- convection: ``w`` given as normal velocities on the faces (one array per axis, with
  n_axis + 1 entries along that axis), upwind or central flux; with face velocities from
  a stream function the discrete divergence is exactly zero;
- reaction: ``c`` (array or scalar) on the diagonal, e.g. -k² (Helmholtz) or 1/Δt (heat).

Boundary faces sit half a cell from the centre. :class:`Boundary` gives Dirichlet
(u = g), Robin (a ∂u/∂n + β u = g; Neumann when β = 0), or, with convection, inflow
(Danckwerts: the total flux w·n u - a ∂u/∂n equals w·n g where the fluid enters, so it
brings u = g in and diffusion adds nothing; where it leaves, a ∂u/∂n = 0 and it carries its
cell's u out) data, with g and β scalars or functions of the face centres, for the whole
boundary or face by face (a mapping from ``(axis, side)`` to :class:`Boundary`, side 0 the
low end), or makes an axis periodic (both its faces ``"periodic"``: the last cell's upper
face is the first cell's lower one, a face like any interior one, for diffusion and
convection alike; the face velocities' first and last entries along that axis are then the
same face's).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
import scipy.sparse as sp

from ..grid import Grid, stencil_pattern

FaceData = float | Callable[[int, int, tuple], np.ndarray]


@dataclass(frozen=True)
class Boundary:
    """kind: "dirichlet", "robin", "inflow" or "periodic". value g and (robin) beta: a number,
    or a function ``f(axis, side, centres)`` of the boundary face centres (side 0: low end, 1: high end;
    ``centres`` is the tuple of coordinate arrays of those faces)."""

    kind: str = "dirichlet"
    value: FaceData = 0.0
    beta: FaceData = 0.0


@lru_cache(maxsize=16)
def pattern_of(grid: Grid, periodic: tuple[int, ...] = ()):
    return stencil_pattern(grid, periodic)


def axis_slice(ndim: int, axis: int, piece) -> tuple:
    index = [slice(None)] * ndim
    index[axis] = piece
    return tuple(index)


def face_centres(grid: Grid, axis: int, side: int) -> tuple:
    """Coordinates of the boundary faces on ``side`` of ``axis`` (arrays shaped like the
    grid with that axis of length 1)."""
    mesh = list(grid.mesh())
    lo, hi = grid.extent[axis]
    index = axis_slice(grid.ndim, axis, slice(0, 1) if side == 0 else slice(-1, None))
    coords = [m[index] for m in mesh]
    coords[axis] = np.full_like(coords[axis], lo if side == 0 else hi)
    return tuple(coords)


def face_boundary(boundary, axis: int, side: int) -> Boundary:
    """The condition on face (axis, side) of a boundary given whole or face by face."""
    return boundary[axis, side] if isinstance(boundary, dict) else boundary


def periodic_axes(boundary, ndim: int) -> tuple[int, ...]:
    """The axes whose two faces are periodic (one alone is an error)."""
    axes = []
    for axis in range(ndim):
        kinds = [face_boundary(boundary, axis, side).kind == "periodic" for side in (0, 1)]
        if kinds[0] != kinds[1]:
            raise ValueError(f"axis {axis}: a periodic axis needs both its faces periodic")
        if kinds[0]:
            axes.append(axis)
    return tuple(axes)


def _face_data(data: FaceData, grid: Grid, axis: int, side: int):
    if callable(data):
        return np.asarray(data(axis, side, face_centres(grid, axis, side)), dtype=np.float64)
    return float(data)


def assemble(grid: Grid, forcing, diffusion=None, reaction=None, face_velocity=None,
             scheme: str = "upwind", boundary: Boundary | dict[tuple[int, int], Boundary] = Boundary()):
    """CSR matrix (on the grid's fixed pattern) and right-hand side; see the module doc."""
    periodic = periodic_axes(boundary, grid.ndim)
    pattern = pattern_of(grid, periodic)
    d, shape = grid.ndim, grid.shape
    slots = np.zeros((len(pattern.slots), *shape))  # slot-major: each slot a contiguous grid array
    diagonal = np.zeros(shape)
    rhs = np.array(np.broadcast_to(np.asarray(forcing, dtype=np.float64), shape))
    a = None if diffusion is None else np.broadcast_to(np.asarray(diffusion, dtype=np.float64), shape)

    def add_flux(plus, minus, lower, upper, out_lo, in_hi):
        """A flux out_lo u_lower + in_hi u_upper from each lower cell into its upper one."""
        diagonal[lower] += out_lo
        slots[plus][lower] += in_hi
        slots[minus][upper] -= out_lo
        diagonal[upper] -= in_hi

    for axis, h in enumerate(grid.spacing):
        plus, minus = pattern.slot(axis, +1), pattern.slot(axis, -1)
        # (lower cells, upper cells, their faces' entries in face_velocity): the interior faces
        # and, along a periodic axis, the face from the last cell to the first (the velocity's
        # last entry, the first's twin).
        faces = [(axis_slice(d, axis, slice(0, -1)), axis_slice(d, axis, slice(1, None)), slice(1, -1))]
        if axis in periodic:
            faces.append((axis_slice(d, axis, slice(-1, None)), axis_slice(d, axis, slice(0, 1)), slice(-1, None)))
        for lower, upper, entries in faces:
            if a is not None:
                face = 2.0 * a[lower] * a[upper] / (a[lower] + a[upper]) / h**2  # harmonic mean over h²
                add_flux(plus, minus, lower, upper, face, -face)
            if face_velocity is not None:
                w = np.asarray(face_velocity[axis], dtype=np.float64)[axis_slice(d, axis, entries)] / h
                if scheme == "upwind":
                    add_flux(plus, minus, lower, upper, np.maximum(w, 0.0), np.minimum(w, 0.0))
                else:
                    add_flux(plus, minus, lower, upper, 0.5 * w, 0.5 * w)
        for side, end in ((0, slice(0, 1)), (1, slice(-1, None))):
            if axis in periodic:
                continue
            cells = axis_slice(d, axis, end)
            condition = face_boundary(boundary, axis, side)
            g = _face_data(condition.value, grid, axis, side)
            if condition.kind == "inflow" and face_velocity is None:
                raise ValueError(f"axis {axis}: an inflow face needs a velocity (face_velocity)")
            if a is not None and condition.kind != "inflow":  # inflow: the whole flux is convective
                a_b = a[cells]
                if condition.kind == "dirichlet":
                    t = 2.0 * a_b / h**2
                    diagonal[cells] += t
                    rhs[cells] += t * g
                else:
                    beta = _face_data(condition.beta, grid, axis, side)
                    diagonal[cells] += 2.0 * a_b * beta / (h * (2.0 * a_b + beta * h))
                    rhs[cells] += 2.0 * a_b * g / (h * (2.0 * a_b + beta * h))
            if face_velocity is not None:
                w = np.asarray(face_velocity[axis], dtype=np.float64)[axis_slice(d, axis, end)] / h
                outward = -w if side == 0 else w  # velocity along the outward normal
                if condition.kind in ("dirichlet", "inflow"):
                    # The face value is u_P on outflow (upwind, and inflow faces under either
                    # scheme) and g otherwise; central uses g, which is exact on a Dirichlet face.
                    out = (np.maximum(outward, 0.0) if scheme == "upwind" or condition.kind == "inflow"
                           else np.zeros_like(outward))
                    inflow = outward - out  # multiplies the boundary value g
                    diagonal[cells] += out
                    rhs[cells] -= inflow * g
                else:  # outflow carries u_P; inflow through a Robin boundary brings nothing
                    diagonal[cells] += np.maximum(outward, 0.0)
    if reaction is not None:
        diagonal += np.broadcast_to(np.asarray(reaction, dtype=np.float64), shape)
    slots[pattern.slot(-1, 0)] += diagonal
    data = pattern.compress(slots)
    A = sp.csr_matrix((data, pattern.indices, pattern.indptr), shape=(grid.size, grid.size))
    return A, rhs.ravel()


def stream_face_velocities(grid: Grid, stream: np.ndarray, scale: float = 1.0,
                           periodic: tuple[int, ...] = ()) -> list[np.ndarray]:
    """Face normal velocities (u_x on x-faces, u_y on y-faces) of v = (∂ψ/∂y, -∂ψ/∂x), from
    ψ at cell centres interpolated to the nodes: the discrete divergence is exactly zero.
    Along a ``periodic`` axis ψ wraps around, so the first and last faces carry the same
    velocity (they are one face)."""
    if grid.ndim != 2:
        raise ValueError("stream functions describe 2-D velocity fields")
    padded = np.asarray(stream, dtype=np.float64)
    for axis in range(2):  # one ghost layer each side: the other end's (periodic) or a copy (np.pad's wrap / edge)
        first, last = padded[axis_slice(2, axis, slice(0, 1))], padded[axis_slice(2, axis, slice(-1, None))]
        padded = np.concatenate([last, padded, first] if axis in periodic else [first, padded, last], axis=axis)
    nodes = 0.25 * (padded[:-1, :-1] + padded[1:, :-1] + padded[:-1, 1:] + padded[1:, 1:])  # (nx+1, ny+1)
    hx, hy = grid.spacing
    wx = (nodes[:, 1:] - nodes[:, :-1]) / hy   # on x-faces: shape (nx+1, ny)
    wy = -(nodes[1:, :] - nodes[:-1, :]) / hx  # on y-faces: shape (nx, ny+1)
    return [scale * wx, scale * wy]


def rows_of(grid: Grid, build, first: int, last: int, wrap: bool = False):
    """Rows of cells in slab [first, last) of axis 0 from ``build(subgrid, piece)``, where
    ``piece(v)`` cuts a per-cell array to the slab plus one ghost layer each side (the
    ghosts' own rows, cut off from the rest of the grid, are discarded). With ``wrap``
    (axis 0 periodic) a ghost layer past either end is the other end's cells (``build``
    then assembles axis 0 as non-periodic: only the ghost rows see its faces); the slab and
    its two ghost layers must not overlap (at most n0 - 2 cells)."""
    n0 = grid.shape[0]
    if wrap and last - first + 2 > n0:
        raise ValueError(f"a wrapped slab of {last - first} cells and its ghost layers overlap on an axis of {n0}")
    lo, hi = (first - 1, last + 1) if wrap else (max(first - 1, 0), min(last + 1, n0))
    h0, (x0, _) = grid.spacing[0], grid.extent[0]
    sub = Grid((hi - lo, *grid.shape[1:]), ((x0 + lo * h0, x0 + hi * h0), *grid.extent[1:]))

    def piece(v):
        return np.take(v, np.arange(lo, hi), axis=0, mode="wrap") if np.ndim(v) else v

    A, b = build(sub, piece)
    stride = grid.size // n0
    rows = slice((first - lo) * stride, (last - lo) * stride)
    local = A[rows]
    columns = ((local.indices // stride + lo) % n0) * stride + local.indices % stride
    local = sp.csr_matrix((local.data, columns, local.indptr), shape=(local.shape[0], grid.size))
    local.sort_indices()  # (a wrapped ghost's columns sit at the other end)
    return local, b[rows]


def perimeter_coordinate(grid: Grid, axis: int, side: int, centres: tuple) -> np.ndarray:
    """Arc-length position s in [0, 1) of 2-D boundary face centres, counter-clockwise from
    the corner (x0, y0): bottom, right, top, left."""
    (x0, x1), (y0, y1) = grid.extent
    lx, ly = x1 - x0, y1 - y0
    x, y = centres
    if axis == 1 and side == 0:
        s = x - x0
    elif axis == 0 and side == 1:
        s = lx + (y - y0)
    elif axis == 1 and side == 1:
        s = lx + ly + (x1 - x)
    else:
        s = 2 * lx + ly + (y1 - y)
    return s / (2 * (lx + ly))
