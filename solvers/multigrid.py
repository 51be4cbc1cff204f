"""Geometric multigrid for cell-centred structured grids, as a PETSc PCMG.

The hierarchy halves every axis while all stay at least ``2 * coarsest`` cells long,
pairing neighbouring cells; along an odd axis the last cell stays alone, so coarser
levels have cells of two sizes (the interpolation and the aggregation operators below
follow the actual cell centres and sizes, and CG needs the iterations it needs on even
grids: FNO's 421², 241² and 85² are all odd). Given the cell sizes (``spacing``), it
halves only the axes whose cells are the shortest (within a factor of 1.75) until the
cells are about square, then all of them: semi-coarsening, the textbook cure for
stretched cells. There the couplings along the short axis dominate, pointwise smoothing
leaves error that is smooth along that axis but oscillates along the long one, and only
a grid that keeps the long axis's resolution can correct it (docs/benchmarks.md,
planner_crossover_aspect). Where the short axes run out first (below ``2 * coarsest``),
a 3-D grid of more than 216 cells (512 with aggregation coarse operators) goes on along
the others (a large 3-D coarsest grid is costly to factorise), a 2-D one stops; where
every axis has run out and a 3-D grid is still above that limit (a 10³ level under a 40³
grid), its axes of at least ``coarsest`` cells are halved on (COARSEST_MAX_UNKNOWNS_3D,
``small_coarsest``).

Interpolation is the tensor product of 1-D cell-centred linear interpolation (each fine
cell takes 3/4 of its parent and 1/4 of the parent's neighbour on its side; at a boundary
only the 3/4, or the whole parent at a face named in ``neumann``, or across the wrap along
an axis named in ``periodic``; between cells of unequal size, linear between their centres)
along the halved axes, and of the identity along the others. On a Neumann face the
solution's normal derivative, not its value, vanishes: interpolating towards zero there
made CG's iterations grow with the grid (13 / 15 / 18 at 128² / 256² / 512² with two
Neumann faces, 18 / 25 / 31 with three; warm-started Darcy systems), extending the parent
keeps them at 4-6; on a periodic axis, interpolating across the wrap keeps them at 8-9
where decaying towards zero there took 15-27 (docs/benchmarks.md, boundary_multigrid).
Smoothing is one symmetric SOR sweep before and after (a symmetric V-cycle, so it
preconditions CG); the coarsest level is factorised. Everything stays overridable through PETSc options under the
solver's prefix (``mg_levels_pc_type``, ...).

Two options trade smoother strength for speed (docs/benchmarks.md, multigrid_variants;
the planner turns them on where they measured faster: 2-D grids, and 3-D ones with
aggregation coarse operators):

- ``ordering="red-black"`` numbers every level's cells by colour (cells whose index sum
  is even first). For (2d+1)-point stencils a cell then depends only on cells of the other
  colour, so PETSc's SOR sweep has no chain of dependent rows and runs faster, and a
  zero-guess symmetric sweep skips half its work. The smoother becomes red-black
  Gauss-Seidel, a little weaker: about one more CG iteration. The solver renumbers b
  and x; callers keep the grid's C order.
- ``start_cycles`` full-multigrid (nested iteration) cycles of Richardson iteration
  before CG, which get the smooth part of the solution in one go; with red-black
  smoothing, whose first CG step gains little, one cycle pays for itself.

Coarse operators, recomputed for every new fine matrix:

- ``"galerkin"``: P^T A P by PETSc. Works for any SPD operator on the grid.
- ``"aggregation"``: (1/2) P0^T A P0 with P0 the piecewise-constant prolongation
  (sums of 2^d fine cells), computed in SciPy. For a pure second-order operator
  (-div(a grad u), no zeroth-order term) this is the operator rediscretised on the
  coarse grid with face coefficients averaged, in the scaling of P^T A P (the 2^d
  that P^T's column sums carry); the 1/2 corrects aggregation's known overweighting of
  second differences. Its products are far cheaper than P^T A P
  (one nonzero per row of P0, 5-point coarse stencils instead of 9-point): measured
  1.3x faster per solve at 128² and 256² for one more CG iteration (docs/benchmarks.md).
  On a level that halves only some axes, or pairs cells of unequal size, each coupling
  is weighted by the ratio of the distances between the fine and between the coarse
  cell centres along its axis (1/2 along a halved axis of equal cells, 1 along a kept
  one) and the boundary terms on the diagonal (row sums) by that of the distances to the
  boundary, split in proportion to 1/h² at corners: exactly the operator rediscretised
  on the coarse cells for a constant coefficient (tests/test_multigrid.py).
- ``"aggregation"`` with ``shift=c`` for A = K + c I, K such an operator and c I a mass
  term (a time step's I/Δt): K's operators as above plus c times the number of fine cells
  in each coarse cell on the diagonal, i.e. P0^T (c I) P0: the step matrix rediscretised
  on the coarse cells. Aggregation's 1/2 corrects the second differences only (applied to
  A itself it would halve the mass term on levels of equal pairs), and Galerkin products,
  the alternative, cost more to form (docs/benchmarks.md, time_dependent_3d).

Unknowns are numbered in C order over the grid shape (the last axis fastest), as
``numpy.ravel`` numbers them. On a communicator of several ranks the hierarchy is spread as
the fine matrix must be: each rank the cells of its slab along axis 0 and, on every coarser
level, their parents (Galerkin coarse operators in C order only; :meth:`GeometricMG.setup`).

Example
-------
>>> import numpy as np, scipy.sparse as sp
>>> from solvers.ksp import KSPSolver
>>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(64, 64))
>>> A = (sp.kron(T, sp.eye(64)) + sp.kron(sp.eye(64), T)).tocsr()
>>> solver = KSPSolver("cg", "mg", rtol=1e-8, multigrid=GeometricMG((64, 64)))
>>> x, info = solver.solve(A, np.ones(64 * 64))
>>> info.converged and info.iterations < 15
True
"""

from __future__ import annotations

from itertools import pairwise
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from .pattern import PatternMemo

# PCMG defaults for the hierarchy built here; recipe/user options override them.
DEFAULT_OPTIONS = {
    "mg_levels_ksp_type": "richardson",
    "mg_levels_pc_type": "sor",
    "mg_levels_ksp_max_it": 1,
    # In 3-D the coarsest level is a few thousand unknowns: order it for little fill.
    "mg_coarse_pc_factor_mat_ordering_type": "nd",
}


def interpolation_1d(coarse: int) -> sp.csr_matrix:
    """(2 coarse) x coarse linear interpolation between the centres of equal cells."""
    return linear_interpolation_1d(np.ones(2 * coarse))


def linear_interpolation_1d(sizes, neumann: tuple[bool, bool] = (False, False),
                            periodic: bool = False) -> sp.csr_matrix:
    """Interpolation onto a row of cells of the given ``sizes`` from the coarse row that
    pairs them (the last one alone when their number is odd): linear between the coarse
    centres nearest to each fine centre; beyond the first and last coarse centres, towards
    zero at a distance of one coarse cell (3/4 of the parent for equal cells), as for a
    homogeneous Dirichlet boundary, or, at an end where ``neumann`` (low, high) is set,
    flat: the parent's value, as for a zero normal derivative; on a ``periodic`` row, linear
    across the wrap between the last and the first coarse centres. A fine cell that is its
    own parent copies it."""
    sizes = np.asarray(sizes, dtype=float)
    parent = np.arange(sizes.size) // 2
    coarse_sizes = np.bincount(parent, weights=sizes)
    centre = np.cumsum(sizes) - sizes / 2
    coarse_centre = np.cumsum(coarse_sizes) - coarse_sizes / 2
    offset = centre - coarse_centre[parent]
    neighbour = parent + np.sign(offset).astype(int)
    wrapped = (neighbour < 0) | (neighbour >= coarse_sizes.size)
    if periodic:  # the neighbour across the wrap: the row's other end
        neighbour %= coarse_sizes.size
    inside = (offset != 0) & (periodic | ~wrapped) & (neighbour != parent)
    distance = np.abs(coarse_centre[np.clip(neighbour, 0, coarse_sizes.size - 1)] - coarse_centre[parent])
    distance = np.where(periodic & wrapped, sizes.sum() - distance, distance)  # across the wrap
    to_neighbour = np.zeros(sizes.size)
    to_neighbour[inside] = np.abs(offset[inside]) / distance[inside]
    to_parent = 1.0 - to_neighbour
    outside = (offset != 0) & ~inside  # on the boundary side of a boundary parent
    to_parent[outside] = 1.0 - np.abs(offset[outside]) / coarse_sizes[parent[outside]]
    flat = outside & np.where(offset < 0, neumann[0], neumann[1])
    to_parent[flat] = 1.0
    fine = np.arange(sizes.size)
    rows = np.concatenate([fine, fine[inside]])
    cols = np.concatenate([parent, neighbour[inside]])
    vals = np.concatenate([to_parent, to_neighbour[inside]])
    return sp.csr_matrix((vals, (rows, cols)), shape=(sizes.size, coarse_sizes.size))


# Axes whose cells are at most this much longer than the shortest are halved with it;
# longer ones wait. Time per solve against halving every axis, 2-D 128² / 256², each
# system solved once (docs/benchmarks.md, semi_coarsening): 1.02x / 0.99x at aspect 1.5
# (every axis halved anyway; ratio sqrt(2) halves the short one alone there: 1.12x /
# 1.09x), 0.94x at 1.8, 0.87x / 0.83x at 2, 0.33x-0.73x from 3 to 8; ratio 2 waits too
# long at 4 (0.67x / 0.69x against 0.61x / 0.58x). In 3-D (32³) 0.39-0.88x from 3 to 16
# (0.29-0.75x in red-black numbering with a start cycle, the planner's 3-D variant).
SEMI_COARSENING_RATIO = 1.75


# When the axes due to be halved cannot be (below 2 coarsest cells), a 3-D coarsest grid
# larger than this keeps coarsening along the axes that still can: it is factorised anew
# for every matrix, and a 3-D one of 8 x 32 x 32 cells made the solve 2.1-4.6x slower than
# halving every axis. A 2-D grid stops there whatever its size: its factorisation stays
# cheap, while halving the long axis of still stretched cells cost 3-4x the iterations
# (1000 x 32 and 1000 x 40 cells on the unit square, measured when odd axes were not
# halved: 6 iterations stopping at 125 x 32 / 125 x 40, 24 / 20 halving the long axis of
# the stretched cells on, 2.2-2.7x the time). docs/benchmarks.md, semi_coarsening.
# And when no axis can be halved any more but a 3-D grid is still larger than this, the
# axes of at least `coarsest` cells are halved on (``small_coarsest``). The limit had been
# 1,024 cells without that step: cubes stopped at 8³-15³ cells, whose Galerkin (27-point,
# nearly dense once factorised) operator, factorised for every sample (redundantly on
# every rank of a system), took 34 ms of a 40³ sample's 67 (10³ cells) and 91 ms of a 48³
# sample's 146 (12³) in -log_view profiles on 2 ranks. Down to 216 cells or less the CG
# iterations stayed the same (6-7), and distributed multigrid went from 2.6x the time of
# block Jacobi + ICC at 48³ to 0.98x (all samples of a build counted; 0.81x over the
# samples after the first), ahead of it from 40³ (docs/benchmarks.md,
# distributed_multigrid_3d). Aggregation's coarse operators are 7-point and cheap to
# factorise: 12³ -> 6³ gained a little at 48³ (multigrid_variants: 0.89x against 0.97-1.02x
# C order's time), but 8³ -> 4³ under 32³ cost 7-14% on thresholded coefficients (one more
# CG iteration in ten, a scratch A/B): for them the limit is 512 cells.
COARSEST_MAX_UNKNOWNS_3D = {"galerkin": 216, "aggregation": 512}
# What plans stored before then resume with (small_coarsest=False), with either.
COARSEST_MAX_UNKNOWNS_3D_BEFORE = 1024


def coarsest_limit(ndim: int, coarse: str = "galerkin", small_coarsest: bool = True) -> float:
    """The most cells a coarsest grid may keep (see above): unbounded in 1-D and 2-D."""
    if ndim < 3:
        return np.inf
    return COARSEST_MAX_UNKNOWNS_3D[coarse] if small_coarsest else COARSEST_MAX_UNKNOWNS_3D_BEFORE


def level_shapes(shape, coarsest: int = 8, spacing=None, ratio: float = SEMI_COARSENING_RATIO,
                 max_coarsest: float | None = None, odd: bool = True, small_coarsest: bool = True,
                 coarse: str = "galerkin") -> list[tuple[int, ...]]:
    """Grid shapes from the finest down. Each step halves the axes whose cells are at most
    ``ratio`` times as long as the shortest (every axis when ``spacing`` is None), as long
    as each of those is >= 2 coarsest (and even, with ``odd=False``; an odd axis of n cells
    becomes (n + 1) / 2, its last cell alone); if one is not, it stops, unless the grid
    still has more than ``max_coarsest`` cells (default: :func:`coarsest_limit` for its
    dimension and ``coarse`` operators): then it halves every axis that can be, and, with
    ``small_coarsest``, while none can, the axes of at least ``coarsest`` cells.
    ``small_coarsest=False`` is the rule of plans stored before (no such step, 1,024 cells)."""
    shapes = [tuple(int(n) for n in shape)]
    h = np.ones(len(shape)) if spacing is None else np.asarray(spacing, dtype=float)
    if h.shape != (len(shape),) or not np.all(h > 0):
        raise ValueError(f"spacing must give one positive cell size per axis of {tuple(shape)}; got {spacing!r}")
    if not ratio >= 1.0:  # below 1 not even the shortest axis would qualify
        raise ValueError(f"ratio must be >= 1 (how much longer than the shortest a halved cell may be); got {ratio!r}")
    if max_coarsest is None:
        max_coarsest = coarsest_limit(len(shape), coarse, small_coarsest)
    while True:
        can = np.array([(odd or n % 2 == 0) and n >= 2 * coarsest for n in shapes[-1]])
        halved = h <= ratio * h.min()
        if not can[halved].all():
            if np.prod(shapes[-1]) <= max_coarsest:
                return shapes
            if not can.any() and small_coarsest:
                can = np.array([(odd or n % 2 == 0) and n >= coarsest for n in shapes[-1]])
            if not can.any():
                return shapes
            halved = can
        shapes.append(tuple((n + 1) // 2 if a else n for n, a in zip(shapes[-1], halved)))
        h = np.where(halved, 2.0 * h, h)


def cell_sizes(shapes) -> list[list[np.ndarray]]:
    """Per level (finest first) and axis, the sizes of the cells in units of the finest
    cells: a halved axis pairs consecutive cells, the last one alone when odd."""
    sizes = [[np.ones(n) for n in shapes[0]]]
    for fine, coarse in pairwise(shapes):
        sizes.append([s if nf == nc else np.bincount(np.arange(nf) // 2, weights=s)
                      for s, nf, nc in zip(sizes[-1], fine, coarse)])
    return sizes


def _tensor(fine_sizes, shape_coarse, one_d) -> sp.csr_matrix:
    """Kronecker product over the axes: ``one_d(axis, sizes)`` of the fine cells where an
    axis is halved, the identity where it is kept."""
    P = sp.identity(1, format="csr")
    for axis, (sizes, nc) in enumerate(zip(fine_sizes, shape_coarse)):
        P = sp.kron(P, one_d(axis, sizes) if sizes.size != nc else sp.identity(nc, format="csr"), format="csr")
    return P.tocsr()


def prolongations(shape, coarsest: int = 8, spacing=None, ratio: float = SEMI_COARSENING_RATIO,
                  max_coarsest: float | None = None, odd: bool = True, small_coarsest: bool = True,
                  coarse: str = "galerkin", neumann=(), periodic=()) -> list[sp.csr_matrix]:
    """Interpolation matrices, coarsest level first (PCMG's level order): entry l maps
    level l to level l + 1. Empty when the grid cannot be coarsened even once. ``neumann``:
    the (axis, side) faces (side 0 the low end) with a Neumann boundary; ``periodic``: the
    axes that wrap around."""
    shapes = level_shapes(shape, coarsest, spacing, ratio, max_coarsest, odd, small_coarsest, coarse)
    return interpolations_for(shapes, neumann, periodic)


def interpolations_for(shapes, neumann=(), periodic=()) -> list[sp.csr_matrix]:
    """:func:`prolongations` for a hierarchy already computed (``shapes`` finest first)."""
    faces = {tuple(face) for face in neumann}
    sizes = cell_sizes(shapes)

    def one_d(axis, cell_sizes_along):
        return linear_interpolation_1d(cell_sizes_along, ((axis, 0) in faces, (axis, 1) in faces),
                                       periodic=axis in periodic)

    return [_tensor(sizes[i], shapes[i + 1], one_d) for i in range(len(shapes) - 1)][::-1]


def red_black_order(shape) -> np.ndarray:
    """C-order indices of the cells of ``shape``: those with an even index sum, then the rest."""
    parity = np.indices(shape).sum(axis=0).ravel() % 2
    return np.concatenate([np.flatnonzero(parity == 0), np.flatnonzero(parity == 1)])


def aggregation_1d(coarse: int, fine: int | None = None) -> sp.csr_matrix:
    """fine x coarse piecewise-constant prolongation (``fine`` = 2 coarse or 2 coarse - 1):
    each fine cell copies its parent."""
    cells = np.arange(2 * coarse if fine is None else fine)
    return sp.csr_matrix((np.ones(cells.size), (cells, cells // 2)), shape=(cells.size, coarse))


class GeometricMG:
    """A PCMG hierarchy for a structured grid of ``shape`` (see the module docstring);
    ``spacing`` the cell size along each axis (None: square cells), ``ratio``,
    ``max_coarsest``, ``odd`` and ``small_coarsest`` as in :func:`level_shapes` (whose
    default limit also depends on ``coarse``), ``coarse``
    "galerkin" or "aggregation", ``ordering`` "red-black" or "natural",
    ``start_cycles`` the full-multigrid cycles run before the Krylov method;
    ``explicit_restriction=False`` leaves PCMG to restrict with P's transpose product;
    ``shift`` the mass term c of fine matrices A = K + c I (aggregation only); ``neumann``
    the (axis, side) faces (side 0 the low end) with a Neumann boundary and ``periodic`` the
    axes that wrap around (the fine matrix couples their first and last cells), every other
    face Dirichlet (for the interpolation and the aggregation weights)."""

    def __init__(self, shape, coarse: str = "galerkin", coarsest: int = 8, ordering: str = "natural",
                 start_cycles: int = 0, explicit_restriction: bool = True, spacing=None,
                 ratio: float = SEMI_COARSENING_RATIO, max_coarsest: float | None = None, odd: bool = True,
                 small_coarsest: bool = True, shift: float = 0.0, neumann=(), periodic=()):
        if coarse not in ("galerkin", "aggregation"):
            raise ValueError(f"coarse must be 'galerkin' or 'aggregation'; got {coarse!r}")
        if not (np.isfinite(shift) and shift >= 0.0):
            raise ValueError(f"shift (the mass term c in A = K + c I) must be finite and >= 0; got {shift!r}")
        if shift and coarse != "aggregation":
            raise ValueError("shift is for coarse='aggregation': Galerkin products carry the mass term themselves")
        if ordering not in ("red-black", "natural"):
            raise ValueError(f"ordering must be 'red-black' or 'natural'; got {ordering!r}")
        if int(start_cycles) != start_cycles or start_cycles < 0:
            raise ValueError(f"start_cycles must be an integer >= 0; got {start_cycles!r}")
        self.shapes = level_shapes(shape, coarsest, spacing, ratio, max_coarsest, odd, small_coarsest, coarse)
        if len(self.shapes) < 2:
            rule = f">= {2 * coarsest}" if odd else f"even and >= {2 * coarsest}"
            raise ValueError(f"grid {tuple(shape)} cannot be halved (the axes to halve must be {rule} cells long)")
        self.spacing = None if spacing is None else tuple(float(h) for h in spacing)
        self.coarse, self.ordering, self.start_cycles = coarse, ordering, int(start_cycles)
        self.shift = float(shift)
        self.neumann = tuple(sorted({(int(axis), int(side)) for axis, side in neumann}))
        if any(not (0 <= axis < len(shape) and side in (0, 1)) for axis, side in self.neumann):
            raise ValueError(f"neumann faces must be (axis, side) pairs with axis < {len(shape)} and side 0 or 1; "
                             f"got {neumann!r}")
        self.periodic = tuple(sorted({int(axis) for axis in periodic}))
        if any(not 0 <= axis < len(shape) for axis in self.periodic):
            raise ValueError(f"periodic axes must be < {len(shape)}; got {periodic!r}")
        # P^T stored as a matrix of its own: PETSc's transpose product is the slower kernel
        # (4-5% of a 128² solve in earlier runs, within noise in the latest; with Galerkin
        # coarse operators 1.21x against 0.96x: docs/benchmarks.md, multigrid_variants).
        self.explicit_restriction = explicit_restriction
        # In C order; setup() renumbers them.
        self.interpolations = interpolations_for(self.shapes, self.neumann, self.periodic)
        # Per level (finest first): the C-order cell at each position of the solver's
        # numbering (None: C order itself), and the inverse map.
        self.orders = [red_black_order(s) if ordering == "red-black" else None for s in self.shapes]
        self._positions = [None if o is None else np.argsort(o) for o in self.orders]
        self._plan, self._memo = None, PatternMemo()
        self._diagonals = []  # per pattern, for a shift (_coarse_values)
        # How many finest cells each coarse cell holds: P0^T c I P0 is c times that, on the diagonal.
        self._cells = [np.prod(np.meshgrid(*sizes, indexing="ij"), axis=0).ravel()
                       for sizes in cell_sizes(self.shapes)[1:]] if self.shift else []
        self._holders = None  # one MatrixHolder per coarse level

    @property
    def options(self) -> dict:
        return {**DEFAULT_OPTIONS, "pc_mg_galerkin": "both" if self.coarse == "galerkin" else "none"}

    @property
    def position(self) -> np.ndarray | None:
        """Where each fine cell (C order) sits in the solver's numbering; None for C order."""
        return self._positions[0]

    def setup(self, pc, comm=None) -> None:
        """Make ``pc`` a PCMG over this hierarchy.

        On a communicator of p > 1 ranks the hierarchy is distributed as the fine matrix must
        be: rank r owns the cells of its slab along axis 0, ``n0 * r // p`` to
        ``n0 * (r + 1) // p`` (C order makes those consecutive rows), and on each coarser
        level the parents of its cells. That needs C order and Galerkin coarse operators
        (PETSc forms P^T A P in parallel; the aggregation plan is computed in SciPy from the
        whole matrix)."""
        pc.setType("mg")
        levels = len(self.interpolations) + 1
        pc.setMGLevels(levels)
        ranks = 1 if comm is None else comm.getSize()
        if ranks > 1 and (self.coarse != "galerkin" or self.ordering != "natural"):
            raise ValueError(f"geometric multigrid over {ranks} ranks needs coarse='galerkin' and ordering='natural'; "
                             f"got coarse={self.coarse!r}, ordering={self.ordering!r}")
        slabs = [axis0_slab(self.shapes[0][0], 0 if comm is None else comm.getRank(), ranks)]  # finest first
        for fine_shape, coarse_shape in pairwise(self.shapes):
            a, b = slabs[-1]
            slabs.append((a, b) if coarse_shape[0] == fine_shape[0] else ((a + 1) // 2, (b + 1) // 2))
        for level, P in enumerate(self.interpolations, start=1):
            fine, coarse = self.orders[levels - 1 - level], self.orders[levels - level]
            if fine is not None:
                P = P[fine][:, coarse].tocsr()
            f, c = levels - 1 - level, levels - level  # PCMG numbers the coarsest level 0; shapes run finest first
            pc.setMGInterpolation(level, _aij(P, self.shapes[f], self.shapes[c], slabs[f], slabs[c], comm))
            if self.explicit_restriction:
                pc.setMGRestriction(level, _aij(P.T.tocsr(), self.shapes[c], self.shapes[f], slabs[c], slabs[f], comm))

    def coarse_operators(self, A) -> list[sp.csr_matrix]:
        """The "aggregation" operators level by level, finest first: (1/2) P0^T A P0 where a
        level pairs equal cells along every axis, the weighted sum of the module docstring
        where not."""
        values = self._coarse_values(A)  # (re)plans first
        return [sp.csr_matrix((data, level.indices, level.indptr), shape=level.shape)
                for data, level in zip(values, self._plan)]

    def _coarse_values(self, A) -> list[np.ndarray]:
        """The coarse operators' CSR values, in the patterns of ``self._plan``.

        The sparsity patterns and, for every stored entry, the coarse entries it adds to
        (with their weights) are computed once per fine pattern, as one sparse matrix per
        level; after that a level costs one sparse matrix-vector product (0.43x the time
        of the bincounts it replaced at 128²; the same sums, in the same order where a
        level pairs equal cells)."""
        A = A.tocsr()
        if self._plan is None or not self._memo.same(A.indptr, A.indices):
            # (P0 itself is aggregation_1d's tensor product.)
            termless = self.neumann + tuple((axis, side) for axis in self.periodic for side in (0, 1))
            self._plan = _aggregation_plan(A, self.shapes, self.spacing, termless)
            self._memo.remember(A.indptr, A.indices)
            if self.shift:  # where the diagonals sit, finest level first
                self._diagonals = [_diagonal_positions(A.indptr, A.indices)]
                self._diagonals += [_diagonal_positions(level.indptr, level.indices) for level in self._plan]
        values, data = [], A.data
        if self.shift:  # aggregate K = A - c I, then add c I's aggregate level by level
            data = data.copy()
            data[self._diagonals[0]] -= self.shift
        for i, level in enumerate(self._plan):
            data = level.summation @ data
            if self.shift:
                shifted = data.copy()
                shifted[self._diagonals[i + 1]] += self.shift * self._cells[i]
                values.append(shifted)
            else:
                values.append(data)
        return values

    def update(self, pc, A) -> None:
        """Give the coarse levels their operators for the fine matrix ``A`` (CSR); PETSc
        forms Galerkin products itself."""
        if self.coarse == "galerkin":
            return
        if not sp.issparse(A):
            raise TypeError("aggregation coarse operators need the fine matrix as a SciPy sparse matrix")
        from .backends.petsc import MatrixHolder
        plan = self._plan
        values = self._coarse_values(A)
        levels = len(values)  # PCMG numbers levels from the coarsest (0) to the finest
        if self._holders is not None and self._plan is plan:
            for holder, data in zip(self._holders, values):
                holder.set_values(data)  # same coarse patterns: values rewritten in place
            return
        self._holders = [MatrixHolder(position=position) for position in self._positions[1:]]
        for i, (holder, data, level) in enumerate(zip(self._holders, values, self._plan)):
            mat = holder.update(sp.csr_matrix((data, level.indices, level.indptr), shape=level.shape))
            level = levels - 1 - i
            (pc.getMGCoarseSolve() if level == 0 else pc.getMGSmoother(level)).setOperators(mat, mat)

    def start(self, pc, mat, b, x, zero_guess: bool) -> tuple[int, bool]:
        """Run ``start_cycles`` full-multigrid cycles of Richardson iteration on
        ``mat x = b`` (PETSc Vecs; ``x`` updated in place) with the set-up PCMG ``pc``;
        returns the number of cycles and whether they lowered the residual ||b - A x|| (a
        stationary iteration can diverge where CG on the same V-cycle converges: the caller
        then starts again from its own guess)."""
        if not self.start_cycles:
            return 0, True
        from petsc4py import PETSc
        kind = pc.getMGType()
        pc.setMGType(PETSc.PC.MGType.FULL)
        r, e = b.duplicate(), x.duplicate()
        before = b.norm() if zero_guess else None
        try:
            for cycle in range(self.start_cycles):
                if cycle == 0 and zero_guess:
                    pc.apply(b, x)
                    continue
                mat.mult(x, r)
                r.aypx(-1.0, b)  # r = b - A x
                if before is None:
                    before = r.norm()
                pc.apply(r, e)
                x.axpy(1.0, e)
            mat.mult(x, r)
            r.aypx(-1.0, b)
            after = r.norm()
        finally:
            pc.setMGType(kind)
            r.destroy()
            e.destroy()
        return self.start_cycles, bool(after <= before)


def axis0_slab(n0: int, rank: int, ranks: int) -> tuple[int, int]:
    """The cells along axis 0 (of ``n0``) that ``rank`` of ``ranks`` owns: the layout of a
    distributed fine matrix that :meth:`GeometricMG.setup` assumes, and pdegen's build makes."""
    return n0 * rank // ranks, n0 * (rank + 1) // ranks


def _aij(M: sp.csr_matrix, row_shape, column_shape, row_slab, column_slab, comm=None):
    """This rank's rows of ``M`` (levels of ``row_shape`` by ``column_shape`` cells, each rank
    owning the slabs given along axis 0; on one process, all of them) as an assembled PETSc
    AIJ matrix."""
    from petsc4py import PETSc
    row_stride, column_stride = int(np.prod(row_shape[1:])), int(np.prod(column_shape[1:]))
    rows = M[row_slab[0] * row_stride: row_slab[1] * row_stride].tocsr()
    local_columns = (column_slab[1] - column_slab[0]) * column_stride
    mat = PETSc.Mat().createAIJ(size=((rows.shape[0], M.shape[0]), (local_columns, M.shape[1])),
                                comm=comm or PETSc.COMM_SELF,
                                csr=(rows.indptr.astype(PETSc.IntType), rows.indices.astype(PETSc.IntType), rows.data))
    mat.assemble()
    return mat


class _CoarseLevel(NamedTuple):
    """One coarse level of the aggregation plan: its CSR pattern and shape, and the
    ``summation`` matrix that maps the finer level's CSR values to this level's (row:
    coarse entry, column: fine entry; 1/2 on the coarse entry of each fine one where the
    level pairs equal cells along every axis, the weights of :func:`_level_weights`
    otherwise)."""
    indptr: np.ndarray
    indices: np.ndarray
    shape: tuple
    summation: sp.csr_matrix


def _aggregation_plan(A: sp.csr_matrix, shapes, spacing=None, termless=()) -> list[_CoarseLevel]:
    """The plan of :meth:`GeometricMG._coarse_values`, level by level; ``termless`` the
    (axis, side) faces that put no boundary term on the diagonal (Neumann faces, and both
    faces of a periodic axis)."""
    plan = []
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    cols = A.indices
    h = np.ones(len(shapes[0])) if spacing is None else np.asarray(spacing, dtype=float)
    sizes = cell_sizes(shapes)
    for level, (fine, coarse) in enumerate(pairwise(shapes)):
        parent = _parents(fine, coarse)
        n = int(np.prod(coarse))
        keys = parent[rows].astype(np.int64) * n + parent[cols]
        unique, targets = np.unique(keys, return_inverse=True)
        targets, sources = targets.ravel(), np.arange(rows.size)
        weights = np.full(rows.size, 0.5)
        uniform_pairs = all(nf == 2 * nc and np.all(s == s[0]) for s, nf, nc in zip(sizes[level], fine, coarse))
        if not uniform_pairs:
            weights, diagonal_targets, diagonal_sources, diagonal_weights = _level_weights(
                rows, cols, fine, sizes[level], sizes[level + 1], h, parent, unique, n, termless)
            targets = np.concatenate([targets, diagonal_targets])
            sources = np.concatenate([sources, diagonal_sources])
            weights = np.concatenate([weights, diagonal_weights])
        # (csr_matrix sums duplicate entries: a fine entry that adds to its coarse entry
        # and to that row's coarse diagonal, the same entry, gets one summed weight.)
        summation = sp.csr_matrix((weights, (targets, sources)), shape=(unique.size, rows.size))
        new_rows, new_cols = unique // n, unique % n
        indptr = np.concatenate([[0], np.cumsum(np.bincount(new_rows, minlength=n))])
        plan.append(_CoarseLevel(indptr, new_cols.copy(), (n, n), summation))
        rows, cols = new_rows, new_cols
    return plan


def _level_weights(rows, cols, fine, fine_sizes, coarse_sizes, h, parent, unique, n, termless=()) -> tuple:
    """Weights for a level that does not pair equal cells along every axis (module
    docstring): write the matrix as the sum over axes of its couplings along that axis
    (each with minus their row sum on the diagonal) plus the diagonal of its row sums
    (boundary terms). A coupling along axis k adds f to its coarse entry and g_i - f to
    the coarse diagonal of its row i; a diagonal entry adds g_i. f is the ratio of the
    distances between the fine and between the coarse cell centres, (s_i + s_j) /
    (S_I + S_J) with s and S the cells' sizes along k (1/2 on a halved axis of equal
    cells, 1 on a kept one), and g_i of a boundary cell s_i / S_I along the boundary's
    axis (the ratio of the distances to the boundary; weighted by 1/(s_i h_k)², the size
    of a Dirichlet term, where it lies on several; a face in ``termless`` adds none), 1/2
    inside."""
    ndim = len(fine)
    r_index, c_index = np.unravel_index(rows, fine), np.unravel_index(cols, fine)
    differs = np.array([ri != ci for ri, ci in zip(r_index, c_index)])  # (ndim, nnz)
    if np.any(differs.sum(axis=0) > 1):
        raise ValueError("aggregation on a semi-coarsened or odd-sized level needs a (2d+1)-point stencil "
                         "(couplings along one axis each); use coarse='galerkin'")
    halved = [s.size != S.size for s, S in zip(fine_sizes, coarse_sizes)]
    off = differs.any(axis=0)
    f_entry = np.zeros(rows.size)
    for k in range(ndim):
        along = differs[k]
        i, j = r_index[k][along], c_index[k][along]
        I, J = (i // 2, j // 2) if halved[k] else (i, j)
        f_entry[along] = (fine_sizes[k][i] + fine_sizes[k][j]) / (coarse_sizes[k][I] + coarse_sizes[k][J])
    cell = np.indices(fine).reshape(ndim, -1)
    on_boundary = np.array([((c == 0) & ((k, 0) not in termless)) | ((c == nf - 1) & ((k, 1) not in termless))
                            for k, (c, nf) in enumerate(zip(cell, fine))], dtype=float)  # (ndim, cells): Dirichlet
    size = np.array([fine_sizes[k][cell[k]] for k in range(ndim)])  # (ndim, cells), in finest cells
    ratio = np.array([size[k] / coarse_sizes[k][cell[k] // 2 if halved[k] else cell[k]] for k in range(ndim)])
    w = on_boundary / (size * h[:, None]) ** 2
    total = w.sum(axis=0)
    g_cell = np.where(total > 0, (ratio * w).sum(axis=0) / np.where(total > 0, total, 1.0), 0.5)
    g = g_cell[rows]
    weight = np.where(off, f_entry, g)
    diagonal_weight = np.where(off, g - f_entry, 0.0)
    keep = np.flatnonzero(diagonal_weight != 0.0)
    diagonal_keys = parent[rows[keep]].astype(np.int64) * (n + 1)  # the coarse diagonal of the row
    diagonal_targets = np.searchsorted(unique, diagonal_keys)
    return weight, diagonal_targets, keep, diagonal_weight[keep]


def _diagonal_positions(indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Where each row's diagonal entry sits in a CSR pattern (every row must have one)."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    positions = np.flatnonzero(rows == indices)
    if positions.size != indptr.size - 1:
        raise ValueError("a shifted aggregation needs every row of the matrix to store its diagonal entry")
    return positions


def _parents(fine, coarse) -> np.ndarray:
    """Coarse cell (C-order index) of every fine cell; an axis of the same length is kept."""
    index = np.indices(fine).reshape(len(fine), -1)
    index = np.stack([i // 2 if nf != nc else i for i, nf, nc in zip(index, fine, coarse)])
    return np.ravel_multi_index(tuple(index), coarse)
