"""Geometric multigrid (solvers.multigrid): the interpolation is exact where it should
be, the hierarchy follows the grid's C order, and CG + MG converges in a number of
iterations that does not grow with the grid (the point of multigrid)."""

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, needs_petsc
from problems import darcy_sequence

from pdegen.recipe import RecipeError, load_recipe
from solvers.multigrid import GeometricMG, interpolation_1d, level_shapes, prolongations


def centres(n):
    return (np.arange(n) + 0.5) / n


def test_interpolation_1d_is_exact_for_linear_functions_away_from_the_boundary():
    coarse, P = 16, interpolation_1d(16)
    f = 3.0 * centres(2 * coarse) - 1.0
    g = P @ (3.0 * centres(coarse) - 1.0)
    assert np.allclose(g[1:-1], f[1:-1], atol=1e-14)
    assert np.allclose(P.sum(axis=1).A1[1:-1], 1.0)
    assert np.allclose(P.sum(axis=1).A1[[0, -1]], 0.75)  # the boundary cells: parent only


def test_hierarchy_shapes_and_c_order():
    assert level_shapes((64, 32)) == [(64, 32), (32, 16), (16, 8)]
    assert level_shapes((30, 30)) == [(30, 30), (15, 15)]  # 15 < 2 * 8: stop
    assert level_shapes((33, 32)) == [(33, 32), (17, 16), (9, 8)]  # odd: the last cell alone
    assert level_shapes((34, 30), odd=False) == [(34, 30), (17, 15)]  # the old rule: even axes only
    Ps = prolongations((64, 32))
    assert [P.shape for P in Ps] == [(32 * 16, 16 * 8), (64 * 32, 32 * 16)]
    # f(x, y) = x + 2 y, x along axis 0, y along axis 1, raveled in C order.
    X, Y = np.meshgrid(centres(32), centres(16), indexing="ij")
    Xf, Yf = np.meshgrid(centres(64), centres(32), indexing="ij")
    fine = (Ps[-1] @ (X + 2 * Y).ravel()).reshape(64, 32)
    assert np.allclose(fine[1:-1, 1:-1], (Xf + 2 * Yf)[1:-1, 1:-1], atol=1e-14)


def test_aggregation_coarse_operator_is_the_rediscretised_laplacian():
    """(1/2) P0^T A P0 of the 2-D FV Laplacian on 32² is the Laplacian rediscretised on
    16², times the 2^d = 4 that the restriction P^T (columns summing to 4) carries, as the
    Galerkin product does."""
    from pdegen.families.darcy import assemble_diffusion
    from pdegen.grid import Grid
    fine, _ = assemble_diffusion(Grid((32, 32), ((0, 1), (0, 1))), np.ones((32, 32)), 1.0)
    coarse, _ = assemble_diffusion(Grid((16, 16), ((0, 1), (0, 1))), np.ones((16, 16)), 1.0)
    ops = GeometricMG((32, 32), coarse="aggregation").coarse_operators(fine)
    interior = np.ones((16, 16), bool)
    interior[[0, -1], :] = interior[:, [0, -1]] = False  # Dirichlet cells: the boundary half-cell differs
    rows = np.flatnonzero(interior.ravel())
    assert abs(ops[0][rows] - 4 * coarse[rows]).max() <= 1e-12 * abs(coarse).max()


@needs_petsc
@pytest.mark.parametrize("coarse,ordering,cycles", [("galerkin", "natural", 0), ("aggregation", "natural", 0),
                                                    ("galerkin", "red-black", 0), ("aggregation", "red-black", 1)])
def test_cg_with_geometric_multigrid_converges_independently_of_the_grid(coarse, ordering, cycles):
    from solvers.ksp import KSPSolver
    iterations = {}
    for n in (32, 64, 128):
        A, b = darcy_sequence(n=n, count=1)[0]
        mg = GeometricMG((n, n), coarse=coarse, ordering=ordering, start_cycles=cycles)
        x, info = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mgtest{coarse}{ordering}{n}_", multigrid=mg).solve(A, b)
        assert info.converged and np.linalg.norm(b - A @ x) / np.linalg.norm(b) <= 1e-8
        iterations[n] = info.iterations
    assert max(iterations.values()) <= 12, iterations
    assert iterations[128] <= iterations[32] + 3, iterations


@needs_petsc
def test_mg_needs_a_hierarchy():
    from solvers.ksp import KSPSolver
    with pytest.raises(ValueError, match="GeometricMG"):
        KSPSolver("cg", "mg")
    with pytest.raises(ValueError, match="cannot be halved"):
        GeometricMG((30, 31), odd=False)
    with pytest.raises(ValueError, match="cannot be halved"):
        GeometricMG((15, 40))


def test_recipe_rejects_mg_on_a_grid_it_cannot_coarsen():
    with pytest.raises(RecipeError, match=r"grid.shape \[30, 30\]"):
        load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "darcy.yaml", ["solver.preconditioner=mg", "grid.shape=[30,30]"])
    # 128 x 24 on the unit square: halving both axes stops after one level (12 cells); its
    # cells are 5.3:1, so the short axis is halved first and the grid coarsens 3 times.
    recipe = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "darcy.yaml",
                         ["solver.preconditioner=mg", "grid.shape=[128,24]"])
    assert len(level_shapes((128, 24))) == 2 and recipe.data["solver"]["preconditioner"] == "mg"


def test_aggregation_operators_match_the_explicit_products():
    """The precomputed scatter plan gives exactly (1/2) P0^T A P0 at every level, also
    after the matrix values change on the same pattern."""
    import scipy.sparse as sp

    from solvers.multigrid import aggregation_1d
    mg = GeometricMG((64, 32), coarse="aggregation")
    for seed in (1, 2):
        A, _ = darcy_sequence(n=64, count=1, seed=seed)[0]
        A = A[: 64 * 32, : 64 * 32].tocsr()  # any matrix on the (64, 32) pattern works
        expected = A
        for got, shape in zip(mg.coarse_operators(A), mg.shapes[1:]):
            P0 = sp.kron(aggregation_1d(shape[0]), aggregation_1d(shape[1]), format="csr")
            expected = (0.5 * (P0.T @ expected @ P0)).tocsr()
            assert abs(got - expected).max() <= 1e-12 * abs(expected).max()


@needs_petsc
@pytest.mark.parametrize("ordering", ["natural", "red-black"])
def test_cg_with_aggregation_multigrid_in_3d(ordering):
    from pdegen.families.darcy import assemble_diffusion
    from pdegen.fields import gaussian_random_field, sample_rng
    from pdegen.grid import Grid
    from solvers.ksp import KSPSolver
    n = 32
    a = np.exp(gaussian_random_field((n, n, n), 2.5, 7.0, sample_rng(3, 0)))
    A, b = assemble_diffusion(Grid((n, n, n), ((0, 1),) * 3), a, 1.0)
    x, info = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mg3d{ordering}_",
                        multigrid=GeometricMG((n, n, n), coarse="aggregation", ordering=ordering)).solve(A, b)
    assert info.converged and np.linalg.norm(b - A @ x) / np.linalg.norm(b) <= 1e-8
    assert info.iterations <= 12, info.iterations


@needs_petsc
@pytest.mark.parametrize("ordering", ["natural", "red-black"])
def test_pcmg_levels_hold_the_current_coarse_operators_across_pattern_changes(ordering):
    """Coarse values are written into the level Mats in place while the fine pattern
    holds, and the hierarchy is re-planned and re-wired when it changes (here a 9-point
    matrix between 5-point ones): PCMG's level operators must equal the explicit products
    of the matrix just solved (renumbered as the level is), and every solve converge."""
    import scipy.sparse as sp

    from solvers.ksp import KSPSolver
    n = 32
    (A1, b), (A2, _), (A3, _) = darcy_sequence(n=n, count=3)
    T = sp.diags([1.0, 2.0, 1.0], [-1, 0, 1], shape=(n, n))
    nine_point = (A2 + 1e-3 * A2.diagonal().mean() * sp.kron(T, T)).tocsr()  # SPD, diagonal couplings
    mg = GeometricMG((n, n), coarse="aggregation", ordering=ordering)
    solver = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mgpattern{ordering}_", multigrid=mg)
    pc = solver.ksp.getPC()
    levels = len(mg.shapes)
    for A in (A1, A2, nine_point, A3):
        x, info = solver.solve(A, b)
        assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
        for i, expected in enumerate(mg.coarse_operators(A)):
            level = levels - 2 - i
            order = mg.orders[i + 1]
            if order is not None:
                expected = expected[order][:, order]
            ksp = pc.getMGCoarseSolve() if level == 0 else pc.getMGSmoother(level)
            indptr, indices, values = ksp.getOperators()[0].getValuesCSR()
            got = sp.csr_matrix((values, indices, indptr), shape=expected.shape)
            assert abs(got - expected).max() <= 1e-12 * abs(expected).max()


@pytest.mark.parametrize("shape", [(8, 6), (4, 6, 8)])
def test_red_black_order_decouples_each_colour(shape):
    """In red-black order the 5-point (7-point in 3-D) operator couples no two cells of
    one colour: both diagonal blocks are diagonal, so an SOR sweep has no dependent rows."""
    import scipy.sparse as sp

    from pdegen.families.darcy import assemble_diffusion
    from pdegen.grid import Grid
    from solvers.multigrid import red_black_order
    A, _ = assemble_diffusion(Grid(shape, ((0, 1),) * len(shape)), np.ones(shape), 1.0)
    order = red_black_order(shape)
    assert np.array_equal(np.sort(order), np.arange(A.shape[0]))
    reds = int(np.ceil(A.shape[0] / 2))
    B = A[order][:, order].tocsr()
    for block in (B[:reds, :reds], B[reds:, reds:]):
        assert sp.triu(block, 1).nnz == 0 and sp.tril(block, -1).nnz == 0
    assert B[:reds, reds:].nnz > 0


@needs_petsc
def test_full_multigrid_start_cycles_save_cg_iterations_and_are_counted():
    """Start cycles run before CG: fewer CG iterations afterwards, each cycle counted in
    info.iterations, and in red-black numbering the caller still gets x in C order."""
    from solvers.ksp import KSPSolver
    n = 64
    A, b = darcy_sequence(n=n, count=1)[0]
    cg_iterations = {}
    for ordering, cycles in [("natural", 0), ("natural", 2), ("red-black", 2)]:
        mg = GeometricMG((n, n), coarse="aggregation", ordering=ordering, start_cycles=cycles)
        solver = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mgstart{ordering}{cycles}_", multigrid=mg)
        x, info = solver.solve(A, b)
        assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b), info
        assert info.iterations == solver.ksp.getIterationNumber() + cycles
        cg_iterations[ordering, cycles] = solver.ksp.getIterationNumber()
    assert cg_iterations["natural", 2] <= cg_iterations["natural", 0] - 2, cg_iterations


@needs_petsc
def test_red_black_multigrid_refuses_a_petsc_mat_and_bad_options():
    from petsc4py import PETSc

    from solvers.ksp import KSPSolver
    A, b = darcy_sequence(n=32, count=1)[0]
    mat = PETSc.Mat().createAIJ(size=A.shape, csr=(A.indptr, A.indices, A.data), comm=PETSc.COMM_SELF)
    solver = KSPSolver("cg", "mg", prefix="mgrbmat_", multigrid=GeometricMG((32, 32), ordering="red-black"))
    with pytest.raises(TypeError, match="ordering='natural'"):
        solver.solve(mat, b)
    with pytest.raises(ValueError, match="ordering must be"):
        GeometricMG((32, 32), ordering="zebra")
    with pytest.raises(ValueError, match="start_cycles must be"):
        GeometricMG((32, 32), start_cycles=-1)


@needs_petsc
def test_explicit_restriction_is_the_transpose_of_the_interpolation():
    """The stored restriction is P^T entry for entry (in the solver's numbering), so it
    changes the speed, not the arithmetic: same iterations, same solution to rounding."""
    import scipy.sparse as sp

    from solvers.ksp import KSPSolver
    n = 64
    A, b = darcy_sequence(n=n, count=1)[0]
    results = {}
    for explicit in (True, False):
        mg = GeometricMG((n, n), coarse="aggregation", ordering="red-black", start_cycles=1,
                         explicit_restriction=explicit)
        solver = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mgrestrict{explicit}_", multigrid=mg)
        results[explicit] = solver.solve(A, b)
        pc = solver.ksp.getPC()
        for level in range(1, pc.getMGLevels()):
            P, R = pc.getMGInterpolation(level), pc.getMGRestriction(level)
            if not explicit:
                assert R.handle == P.handle  # PCMG falls back to P's transpose product
                continue
            (pi, pj, pv), (ri, rj, rv) = P.getValuesCSR(), R.getValuesCSR()
            Ps = sp.csr_matrix((pv, pj, pi), shape=P.getSize())
            Rs = sp.csr_matrix((rv, rj, ri), shape=R.getSize())
            assert abs(Rs - Ps.T).max() == 0.0
    (x1, i1), (x2, i2) = results[True], results[False]
    assert i1.iterations == i2.iterations and i1.converged
    assert np.linalg.norm(x1 - x2) <= 1e-10 * np.linalg.norm(x1)


def test_semi_coarsening_halves_the_short_axis_until_the_cells_are_square():
    """Cells 8 times longer along axis 0: axis 1 is halved alone three times (8:1 -> 1:1),
    then both; the interpolation is linear along the halved axis, the identity along the
    kept one. Square cells (or no spacing) give the old hierarchy."""
    assert level_shapes((128, 128), spacing=(8 / 128, 1 / 128)) == [
        (128, 128), (128, 64), (128, 32), (128, 16), (64, 8)]
    assert level_shapes((64, 32), spacing=(1 / 64, 1 / 32)) == [(64, 32), (32, 32), (16, 16), (8, 8)]
    assert level_shapes((64, 32), spacing=(0.5, 0.5)) == level_shapes((64, 32))
    assert level_shapes((48, 48), spacing=(1.0, 1.6)) == [(48, 48), (24, 24), (12, 12)]  # within 1.75: together
    assert level_shapes((48, 48), spacing=(1.8, 1.0)) == [(48, 48), (48, 24), (24, 12)]  # beyond: the short one
    # The short axis stops at 8 cells with 8 x 32 x 32 left: too large a coarsest grid to
    # refactorise per sample, so the axes that can still halve go on (square cells again),
    # and then every axis of at least 8 cells, down to at most 216 cells.
    assert level_shapes((32, 32, 32), spacing=(1 / 32, 1 / 4, 1 / 4)) == [
        (32, 32, 32), (16, 32, 32), (8, 32, 32), (8, 16, 16), (8, 8, 8), (4, 4, 4)]
    # Odd axes are halved too, so a strip goes on until its cells are square.
    assert level_shapes((1000, 32), spacing=(1 / 1000, 1 / 32)) == [
        (1000, 32), (500, 32), (250, 32), (125, 32), (63, 32), (32, 32), (16, 16), (8, 8)]
    # With even axes only, a 2-D grid stops when its short axes run out (its coarsest grid
    # is factorised whatever its size).
    assert level_shapes((1000, 32), spacing=(1 / 1000, 1 / 32), odd=False) == [
        (1000, 32), (500, 32), (250, 32), (125, 32)]
    assert level_shapes((512, 24), max_coarsest=1024) == [(512, 24), (256, 12), (128, 12), (64, 12)]
    with pytest.raises(ValueError, match="spacing"):
        level_shapes((32, 32), spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="ratio must be >= 1"):  # no axis would qualify: no progress
        level_shapes((32, 32), spacing=(1.0, 2.0), ratio=0.9)
    P = prolongations((32, 32), spacing=(4 / 32, 1 / 32))[-1]  # (32, 16) -> (32, 32)
    assert P.shape == (32 * 32, 32 * 16)
    X, Y = np.meshgrid(centres(32), centres(16), indexing="ij")
    Xf, Yf = np.meshgrid(centres(32), centres(32), indexing="ij")
    fine = (P @ (X + 2 * Y).ravel()).reshape(32, 32)
    assert np.allclose(fine[:, 1:-1], (Xf + 2 * Yf)[:, 1:-1], atol=1e-14)  # exact on every row of axis 0


@pytest.mark.parametrize("shape,extent", [((32, 32), ((0, 4), (0, 1))), ((32, 32, 16), ((0, 1), (0, 1), (0, 2)))])
def test_semi_coarsened_aggregation_is_the_rediscretised_operator(shape, extent):
    """On semi-coarsened levels, the aggregation operator of the constant-coefficient FV
    Laplacian is that Laplacian assembled on the coarse grid, boundary rows included,
    times the column sums of P (2 per halving of an axis)."""
    from pdegen.families.darcy import assemble_diffusion
    from pdegen.grid import Grid
    grid = Grid(shape, extent)
    fine, _ = assemble_diffusion(grid, np.ones(shape), 1.0)
    mg = GeometricMG(shape, coarse="aggregation", spacing=grid.spacing)
    semi = [any(nf == nc for nf, nc in zip(a, b)) for a, b in zip(mg.shapes, mg.shapes[1:])]
    assert semi[0] and sum(semi) >= 1, mg.shapes  # semi-coarsened first (then, in 3-D, halved on to its limit)
    for op, coarse_shape in zip(mg.coarse_operators(fine), mg.shapes[1:]):
        coarse, _ = assemble_diffusion(Grid(coarse_shape, extent), np.ones(coarse_shape), 1.0)
        scale = np.prod(shape) / np.prod(coarse_shape)
        assert abs(op - scale * coarse).max() <= 1e-12 * abs(coarse).max(), coarse_shape


def test_semi_coarsened_aggregation_matches_the_split_products():
    """With a variable coefficient: the coarse operator is the sum over axes of f_k P0^T L_k P0
    (L_k: the couplings along axis k minus their row sums; f_k 1/2 on halved axes, 1 on kept
    ones) plus P0^T diag(g r) P0 (r: the row sums, the Dirichlet terms; g the f of the
    boundary's axis), built here with SciPy products instead of the plan's bincounts."""
    import scipy.sparse as sp

    from pdegen.families.darcy import assemble_diffusion
    from pdegen.fields import gaussian_random_field, sample_rng
    from pdegen.grid import Grid
    from solvers.multigrid import aggregation_1d
    shape, extent = (32, 16), ((0, 1), (0, 2))  # cells 4:1 along axis 1: axis 0 is halved alone
    grid = Grid(shape, extent)
    A, _ = assemble_diffusion(grid, np.exp(gaussian_random_field(shape, 2.5, 7.0, sample_rng(5, 0))), 1.0)
    mg = GeometricMG(shape, coarse="aggregation", spacing=grid.spacing)
    coarse_shape = mg.shapes[1]
    assert coarse_shape == (16, 16)
    P0 = sp.kron(aggregation_1d(16), sp.identity(16), format="csr")
    A = A.tocoo()
    i0, j0 = np.unravel_index(A.row, shape)[0], np.unravel_index(A.col, shape)[0]
    expected = sp.csr_matrix((P0.shape[1], P0.shape[1]))
    for axis, factor in ((0, 0.5), (1, 1.0)):
        along = (A.row != A.col) & ((i0 != j0) == (axis == 0))
        C = sp.csr_matrix((A.data[along], (A.row[along], A.col[along])), shape=A.shape)
        L = C - sp.diags(C.sum(axis=1).A1)
        expected = expected + factor * (P0.T @ L @ P0)
    row_sums = np.asarray(A.tocsr().sum(axis=1)).ravel().reshape(shape)
    # Boundary cells of axis 0 only: 1/2; of axis 1 only: 1; corners: weighted by 1/h².
    h0, h1 = grid.spacing
    g = np.full(shape, 0.5)
    g[:, [0, -1]] = 1.0
    g[[0, 0, -1, -1], [0, -1, 0, -1]] = (0.5 / h0**2 + 1.0 / h1**2) / (1 / h0**2 + 1 / h1**2)
    expected = expected + P0.T @ sp.diags((g * row_sums).ravel()) @ P0
    got = mg.coarse_operators(A.tocsr())[0]
    assert abs(got - expected).max() <= 1e-12 * abs(expected).max()


@needs_petsc
@pytest.mark.parametrize("coarse,ordering,cycles", [("aggregation", "red-black", 1), ("galerkin", "red-black", 0)])
def test_semi_coarsening_keeps_cg_iterations_flat_on_stretched_cells(coarse, ordering, cycles):
    """Cells of aspect 8:1 and 32:1: CG + MG halving every axis needs many times the
    iterations it needs on square cells; with the cell sizes given (semi-coarsening) it
    stays within a few of the square-cell count, and every solution meets rtol; with
    either kind of coarse operator (Galerkin products take P as it comes)."""
    from pdegen.families.darcy import assemble_diffusion
    from pdegen.fields import gaussian_random_field, sample_rng
    from pdegen.grid import Grid
    from solvers.ksp import KSPSolver
    n = 64
    a = np.exp(gaussian_random_field((n, n), 2.5, 7.0, sample_rng(11, 0)))
    iterations = {}
    for aspect in (1, 8, 32):
        grid = Grid((n, n), ((0, aspect), (0, 1)))
        A, b = assemble_diffusion(grid, a, 1.0)
        for spacing in (None, grid.spacing):
            mg = GeometricMG((n, n), coarse=coarse, ordering=ordering, start_cycles=cycles, spacing=spacing)
            solver = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mgsemi{coarse}{aspect}{spacing is None}_",
                               multigrid=mg)
            x, info = solver.solve(A, b)
            assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b), (aspect, info)
            iterations[aspect, "semi" if spacing else "full"] = info.iterations
    assert iterations[1, "semi"] == iterations[1, "full"], iterations  # square cells: the same hierarchy
    for aspect in (8, 32):
        assert iterations[aspect, "semi"] <= iterations[1, "semi"] + 3, iterations
        assert iterations[aspect, "full"] >= 3 * iterations[aspect, "semi"], iterations


@needs_petsc
@pytest.mark.parametrize("ordering,cycles", [("natural", 0), ("red-black", 1)])  # the planner's 3-D choice
def test_semi_coarsening_in_3d_keeps_iterations_and_a_small_coarsest_grid(ordering, cycles):
    """A 32³ plate of 1:8:8 cells: halving every axis needs 23 iterations; the semi-coarsened
    hierarchy needs at most 10, and ends on a coarsest grid of at most 512 cells (it does
    not stop at 8 x 32 x 32 when the short axis runs out)."""
    from pdegen.families.darcy import assemble_diffusion
    from pdegen.fields import gaussian_random_field, sample_rng
    from pdegen.grid import Grid
    from solvers.ksp import KSPSolver
    from solvers.multigrid import coarsest_limit
    shape = (32, 32, 32)
    grid = Grid(shape, ((0, 1), (0, 8), (0, 8)))
    A, b = assemble_diffusion(grid, np.exp(gaussian_random_field(shape, 2.5, 7.0, sample_rng(4, 0))), 1.0)
    iterations = {}
    for spacing in (None, grid.spacing):
        mg = GeometricMG(shape, coarse="aggregation", spacing=spacing, ordering=ordering, start_cycles=cycles)
        solver = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mgsemi3d{spacing is None}{cycles}_", multigrid=mg)
        x, info = solver.solve(A, b)
        assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b), info
        assert np.prod(mg.shapes[-1]) <= coarsest_limit(3, "aggregation")
        iterations["semi" if spacing else "full"] = info.iterations
    assert iterations["semi"] <= 10 and iterations["full"] >= 2 * iterations["semi"], iterations


def test_interpolation_on_unequal_cells_is_linear_between_coarse_centres():
    """An odd row of cells pairs all but the last, which stays alone; the level below then
    has unequal cells. Interpolation is exact for linear functions wherever a fine centre
    lies between two coarse centres, and a cell that is its own parent copies it."""
    from solvers.multigrid import cell_sizes, linear_interpolation_1d
    sizes = cell_sizes([(13,), (7,), (4,)])
    assert [list(s[0]) for s in sizes] == [[1] * 13, [2] * 6 + [1], [4, 4, 4, 1]]
    for fine, coarse in ((sizes[0][0], sizes[1][0]), (sizes[1][0], sizes[2][0])):
        P = linear_interpolation_1d(fine).toarray()
        assert P.shape == (fine.size, coarse.size)
        x, X = np.cumsum(fine) - fine / 2, np.cumsum(coarse) - coarse / 2
        between = (x > X[0]) & (x < X[-1])
        assert np.allclose((P @ (3 * X - 1))[between], (3 * x - 1)[between], atol=1e-13)
        assert P[-1, -1] == 1.0 and P[-1].sum() == 1.0  # the lone last cell sits on its parent's centre
    assert np.array_equal(linear_interpolation_1d(np.ones(8)).toarray(), interpolation_1d(4).toarray())


def _fv_laplacian(sizes, h, neumann=(), periodic=()):
    """-Laplacian by finite volumes on a tensor grid of cells sizes[k] * h[k] along axis k
    (homogeneous Dirichlet, or Neumann on the (axis, side) faces in ``neumann``, or a face
    between the last and first cells along the axes in ``periodic``), as fluxes divided by
    the volume of one finest cell: the scaling in which the aggregation operators come out
    (built here independently)."""
    import scipy.sparse as sp
    lengths = [np.asarray(s, float) * hk for s, hk in zip(sizes, h)]
    A = 0
    for k, length in enumerate(lengths):
        distance = (length[:-1] + length[1:]) / 2
        wrap = 2 / (length[0] + length[-1])  # the conductance across the wrap
        ends = [wrap if k in periodic else 0.0 if (k, side) in neumann else 2 / length[-side] for side in (0, 1)]
        conductance = np.concatenate([[ends[0]], 1 / distance, [ends[1]]])
        stiffness = sp.diags([conductance[:-1] + conductance[1:], -conductance[1:-1], -conductance[1:-1]],
                             [0, -1, 1]).tolil()
        if k in periodic:
            stiffness[0, -1] = stiffness[-1, 0] = -wrap
        factor = sp.identity(1)
        for j, other in enumerate(lengths):
            factor = sp.kron(factor, stiffness if j == k else sp.diags(other))
        A = A + factor
    return (A / np.prod(h)).tocsr()


@pytest.mark.parametrize("shape,extent,coarsest", [((21, 13), ((0, 2), (0, 1)), 3), ((27, 27), ((0, 1), (0, 1)), 4),
                                                   ((11, 9, 14), ((0, 1), (0, 1), (0, 2)), 2)])
def test_aggregation_on_odd_grids_is_the_rediscretised_operator(shape, extent, coarsest):
    """Odd axes (cells of two sizes on every coarser level) and stretched cells: each
    aggregation operator of the constant-coefficient FV Laplacian is that Laplacian
    rediscretised on the coarse level's cells, boundary rows included."""
    from pdegen.families.darcy import assemble_diffusion
    from pdegen.grid import Grid
    from solvers.multigrid import cell_sizes
    grid = Grid(shape, extent)
    fine, _ = assemble_diffusion(grid, np.ones(shape), 1.0)
    assert abs(fine - _fv_laplacian(cell_sizes([shape])[0], grid.spacing)).max() <= 1e-12 * abs(fine).max()
    mg = GeometricMG(shape, coarse="aggregation", spacing=grid.spacing, coarsest=coarsest)
    assert len(mg.shapes) >= 3 and any(np.ptp(s) > 0 for s in cell_sizes(mg.shapes)[1])  # unequal cells
    for op, sizes in zip(mg.coarse_operators(fine), cell_sizes(mg.shapes)[1:]):
        expected = _fv_laplacian(sizes, grid.spacing)
        assert abs(op - expected).max() <= 1e-12 * abs(expected).max(), [s.size for s in sizes]


@pytest.mark.parametrize("shape,extent,coarsest", [((21, 13), ((0, 2), (0, 1)), 3),
                                                   ((11, 9, 14), ((0, 1), (0, 1), (0, 2)), 2)])
def test_shifted_aggregation_is_the_rediscretised_time_step_matrix(shape, extent, coarsest):
    """A = K + c I (a time step's matrix, K the FV Laplacian): with ``shift=c`` every
    coarse operator is the step matrix rediscretised on the coarse cells, K's part as
    without a shift and the mass term c times each coarse cell's volume (in finest cells),
    on odd and stretched grids too."""
    import scipy.sparse as sp

    from pdegen.families.darcy import assemble_diffusion
    from pdegen.grid import Grid
    from solvers.multigrid import cell_sizes
    grid, c = Grid(shape, extent), 123.0
    K, _ = assemble_diffusion(grid, np.ones(shape), 1.0)
    A = (K + c * sp.identity(K.shape[0])).tocsr()
    shifted = GeometricMG(shape, coarse="aggregation", spacing=grid.spacing, coarsest=coarsest, shift=c)
    assert len(shifted.shapes) >= 3
    for op, sizes in zip(shifted.coarse_operators(A), cell_sizes(shifted.shapes)[1:]):
        volume = np.prod(np.meshgrid(*sizes, indexing="ij"), axis=0).ravel()
        expected = _fv_laplacian(sizes, grid.spacing) + sp.diags(c * volume)
        assert abs(op - expected).max() <= 1e-12 * abs(expected).max(), [s.size for s in sizes]
    with pytest.raises(ValueError, match="shift is for coarse='aggregation'"):
        GeometricMG(shape, coarse="galerkin", shift=c)
    with pytest.raises(ValueError, match="must be finite and >= 0; got -1.0"):
        GeometricMG(shape, coarse="aggregation", shift=-1.0)


@needs_petsc
def test_shifted_aggregation_multigrid_on_a_3d_time_step():
    """CG + multigrid on I/Δt + θK in 3-D (Δt/h² = 10): aggregation with the mass term
    summed (shift = 1/Δt) needs fewer iterations than aggregation halving it, and meets
    rtol on the true residual."""
    import scipy.sparse as sp

    from pdegen.families.darcy import assemble_diffusion
    from pdegen.fields import gaussian_random_field
    from pdegen.grid import Grid
    from solvers.ksp import KSPSolver
    n, dt = 32, 0.01
    a = np.exp(gaussian_random_field((n,) * 3, 2.5, 7.0, np.random.default_rng(1)))
    K, _ = assemble_diffusion(Grid((n,) * 3, ((0, 1),) * 3), a, 1.0)
    A = (0.5 * K + sp.identity(K.shape[0]) / dt).tocsr()
    b = np.random.default_rng(2).standard_normal(A.shape[0])
    iterations = {}
    for shift in (0.0, 1 / dt):
        solver = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"shift{bool(shift):d}_",
                           multigrid=GeometricMG((n,) * 3, coarse="aggregation", shift=shift))
        x, info = solver.solve(A, b)
        assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
        iterations[shift] = info.iterations
    assert iterations[1 / dt] < iterations[0.0] - 2, iterations


@needs_petsc
@pytest.mark.parametrize("coarse", ["aggregation", "galerkin"])
def test_cg_with_multigrid_on_odd_grids_needs_the_iterations_of_even_ones(coarse):
    from solvers.ksp import KSPSolver
    iterations = {}
    for n in (64, 63, 65, 127):
        A, b = darcy_sequence(n=n, count=1)[0]
        mg = GeometricMG((n, n), coarse=coarse, ordering="red-black", start_cycles=1)
        assert mg.shapes[-1][0] <= 16  # coarsened all the way
        x, info = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mgodd{coarse}{n}_", multigrid=mg).solve(A, b)
        assert info.converged and np.linalg.norm(b - A @ x) / np.linalg.norm(b) <= 1e-8
        iterations[n] = info.iterations
    assert max(iterations.values()) <= iterations[64] + 1, iterations


@needs_petsc
def test_plans_stored_before_odd_axes_were_halved_keep_their_hierarchy():
    """A store started by an earlier pdegen resumes with the hierarchy it was started with:
    its plan has no multigrid_odd, and 200² then stops at 25² (odd) as it did."""
    from pdegen.plan import Plan, make_plan, make_solver
    recipe = load_recipe(ROOT / "recipes" / "darcy.yaml", ["grid.shape=[200,200]"])
    plan = make_plan(recipe)
    assert plan.preconditioner == "mg" and plan.multigrid_odd
    stored = {k: v for k, v in plan.as_dict().items() if k != "multigrid_odd"}
    now, before = (make_solver(p, recipe.data["solver"]).multigrid for p in (plan, Plan(**stored)))
    assert now.shapes[-1] == (13, 13) and before.shapes[-1] == (25, 25)


def test_a_large_3d_coarsest_grid_is_halved_on():
    """Cubes used to stop at 8³-15³ cells (no axis left of 16 cells, or 1,024 cells at
    most), levels costly to factorise; they now go on to at most 216 cells with Galerkin
    coarse operators (27-point, nearly dense once factorised), 512 with aggregation
    (7-point), or until no axis has 8 cells. 2-D grids keep their hierarchy;
    small_coarsest=False is the old rule."""
    assert level_shapes((48, 48, 48))[-2:] == [(12, 12, 12), (6, 6, 6)]
    assert level_shapes((48, 48, 48), small_coarsest=False)[-1] == (12, 12, 12)
    assert level_shapes((40, 40, 40))[-1] == (5, 5, 5) and level_shapes((64, 64, 64))[-1] == (4, 4, 4)
    assert level_shapes((64, 64, 64), coarse="aggregation")[-1] == (8, 8, 8)
    assert level_shapes((40, 40, 40), coarse="aggregation")[-1] == (5, 5, 5)
    assert level_shapes((40, 40, 40), small_coarsest=False)[-1] == (10, 10, 10)
    assert level_shapes((56, 56, 56))[-1] == (7, 7, 7) and level_shapes((24, 24, 24))[-1] == (6, 6, 6)
    assert level_shapes((24, 24))[-1] == (12, 12) and level_shapes((200, 200))[-1] == (13, 13)
    for coarse, limit in (("galerkin", 216), ("aggregation", 512)):
        for n in range(16, 130):  # every cube ends within the limit or with axes too short to halve
            coarsest = level_shapes((n, n, n), coarse=coarse)[-1]
            assert np.prod(coarsest) <= limit or coarsest[0] < 8, (coarse, n, coarsest)


def test_plans_stored_before_the_coarsest_3d_grid_was_halved_keep_their_hierarchy():
    from pdegen.plan import Plan, make_plan, make_solver
    recipe = load_recipe(ROOT / "recipes" / "darcy3d.yaml", ["grid.shape=[48,48,48]"])
    plan = make_plan(recipe)
    assert plan.preconditioner == "mg" and plan.multigrid_small_coarsest
    stored = {k: v for k, v in plan.as_dict().items() if k != "multigrid_small_coarsest"}
    now, before = (make_solver(p, recipe.data["solver"]).multigrid for p in (plan, Plan(**stored)))
    assert now.shapes[-1] == (6, 6, 6) and before.shapes[-1] == (12, 12, 12)


@needs_petsc
@pytest.mark.parametrize("coarse", ["galerkin", "aggregation"])
def test_the_extra_3d_level_keeps_cg_iterations(coarse):
    """48³ Darcy: CG + multigrid down to 6³ needs the iterations it needed down to 12³
    (the level only makes the coarsest solve cheap)."""
    from pdegen.build import draw_values, grid_of
    from solvers.ksp import KSPSolver
    recipe = load_recipe(ROOT / "recipes" / "darcy3d.yaml", ["grid.shape=[48,48,48]"])
    system = recipe.family.system(grid_of(recipe.data), draw_values(recipe.data, recipe.family, 0), recipe.data)
    iterations = {}
    for small in (True, False):
        multigrid = GeometricMG((48, 48, 48), coarse=coarse, small_coarsest=small)
        x, info = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"extra3d{small:d}_", multigrid=multigrid).solve(
            system.A, system.b)
        assert info.converged and np.linalg.norm(system.b - system.A @ x) <= 1e-8 * np.linalg.norm(system.b)
        iterations[small] = info.iterations
    assert len(multigrid.shapes) == 3 and iterations[True] <= iterations[False] + 1, iterations


@needs_petsc
def test_a_diverging_start_cycle_is_discarded_and_cg_still_converges():
    """A coefficient jumping 1000:1 across sharp interfaces: the full-multigrid start cycle
    (a stationary iteration on aggregation coarse operators) diverges on some samples
    (residual ~1e4 at 128²) while CG on the same V-cycle converges. The solver notices,
    starts again from the caller's guess without the cycle, and counts all the work."""
    from pdegen.build import draw_values, grid_of
    from solvers.ksp import KSPSolver
    recipe = load_recipe(ROOT / "recipes" / "darcy_threshold.yaml", [
        "grid.shape=[128,128]", "parameters.coefficient.high=1000", "parameters.coefficient.low=1"])
    grid = grid_of(recipe.data)

    def solver(cycles):
        return KSPSolver("cg", "mg", rtol=1e-8, maxiter=500, prefix=f"mgdiscard{cycles}_", multigrid=GeometricMG(
            (128, 128), coarse="aggregation", ordering="red-black", start_cycles=cycles))
    with_start, without = solver(1), solver(0)
    discarded = 0
    for sample in range(4):
        system = recipe.family.system(grid, draw_values(recipe.data, recipe.family, sample), recipe.data)
        x, info = with_start.solve(system.A, system.b)
        assert info.converged and np.linalg.norm(system.b - system.A @ x) <= 1e-8 * np.linalg.norm(system.b), info
        if info.extra.get("start_discarded"):
            discarded += 1
            # The same CG from the same guess, plus the discarded start cycle and its CG steps.
            assert info.iterations > without.solve(system.A, system.b)[1].iterations
    assert discarded >= 1


@needs_petsc
def test_sharp_jump_plan_smoothing_stays_definite_where_plain_icc_does_not():
    """Darcy with a 1000:1 jump across sharp interfaces, 320², sample 3: the planner's
    multigrid for such jumps (Galerkin coarse operators, ICC(1) smoothing in C order, a
    Chebyshev step on the coarse levels) converges to rtol in fewer CG iterations than
    SOR smoothing, while the plain ICC(1) step on every level makes the V-cycle an
    indefinite preconditioner on this sample and CG stops (docs/benchmarks.md, sharp_jumps)."""
    from pdegen.build import draw_values, grid_of
    from pdegen.plan import make_plan, make_solver, sharp_jump_mg_options
    from solvers.ksp import KSPSolver
    recipe = load_recipe(ROOT / "recipes" / "darcy_threshold.yaml", [
        "grid.shape=[320,320]", "parameters.coefficient.high=1000", "parameters.coefficient.low=1",
        "solver.method=cg", "solver.preconditioner=mg"])
    plan = make_plan(recipe)
    planned_as = (plan.method, plan.multigrid_coarse, plan.multigrid_ordering)
    assert planned_as == ("cg", "galerkin", "natural"), plan.describe()
    assert plan.options == sharp_jump_mg_options(5, 2) and plan.options["mg_levels_5_ksp_type"] == "richardson"
    system = recipe.family.system(grid_of(recipe.data), draw_values(recipe.data, recipe.family, 3), recipe.data)
    x, planned = make_solver(plan, recipe.data["solver"]).solve(system.A, system.b)
    assert planned.converged and np.linalg.norm(system.b - system.A @ x) <= 1e-8 * np.linalg.norm(system.b)

    def galerkin(smoothing, name):
        return KSPSolver("cg", "mg", rtol=1e-8, maxiter=500, prefix=f"sharp{name}_", options=smoothing,
                         multigrid=GeometricMG((320, 320), coarse="galerkin"))
    sor = galerkin({}, "sor").solve(system.A, system.b)[1]
    assert sor.converged and planned.iterations < sor.iterations, (planned, sor)
    plain = galerkin({"mg_levels_pc_type": "icc", "mg_levels_pc_factor_levels": 1}, "icc1").solve(system.A, system.b)[1]
    assert not plain.converged and "INDEFINITE_PC" in plain.reason, plain


@needs_petsc
def test_sharp_jump_plan_smoothing_in_3d_stays_definite_where_plain_icc0_does_not():
    """The same in 3-D (32³, 1000:1, sample 3), where the smoothing is ICC(0): the planned
    V-cycle converges to rtol, the plain ICC(0) step on every level stops CG with an
    indefinite preconditioner (docs/benchmarks.md, sharp_jumps_3d)."""
    from pdegen.build import draw_values, grid_of
    from pdegen.plan import make_plan, make_solver, sharp_jump_mg_options
    from solvers.ksp import KSPSolver
    recipe = load_recipe(ROOT / "recipes" / "darcy3d.yaml", [
        "grid.shape=[32,32,32]", "parameters.coefficient.transform=threshold", "parameters.coefficient.high=1000",
        "parameters.coefficient.low=1", "solver.method=cg", "solver.preconditioner=mg"])
    plan = make_plan(recipe)
    assert (plan.multigrid_coarse, plan.options) == ("galerkin", sharp_jump_mg_options(3, 3)), plan.describe()
    system = recipe.family.system(grid_of(recipe.data), draw_values(recipe.data, recipe.family, 3), recipe.data)
    x, planned = make_solver(plan, recipe.data["solver"]).solve(system.A, system.b)
    assert planned.converged and np.linalg.norm(system.b - system.A @ x) <= 1e-8 * np.linalg.norm(system.b)
    plain = KSPSolver("cg", "mg", rtol=1e-8, maxiter=500, prefix="sharp3dicc0_", options={"mg_levels_pc_type": "icc"},
                      multigrid=GeometricMG((32, 32, 32), coarse="galerkin")).solve(system.A, system.b)[1]
    assert not plain.converged and "INDEFINITE_PC" in plain.reason, plain


@needs_petsc
def test_nonsymmetric_plan_smooths_with_ilu_where_sor_breaks_down():
    """Advection-diffusion at Péclet 1000 (recirculating flow, 128²): the planner's GMRES +
    multigrid smooths with ILU(0) and converges in a handful of iterations, true residual
    within rtol; with the SPD plans' red-black SOR smoothing instead the same V-cycle
    stalls (docs/benchmarks.md, nonsymmetric_multigrid: 80-150 iterations or failure)."""
    import scipy.sparse as sp

    from pdegen.build import draw_values, grid_of
    from pdegen.plan import make_plan, make_solver
    recipe = load_recipe(ROOT / "recipes" / "advection_diffusion.yaml",
                         ["grid.shape=[128,128]", "parameters.peclet={dist: constant, value: 1000}"])
    plan = make_plan(recipe)
    assert (plan.method, plan.preconditioner, plan.options) == ("gmres", "mg", {"mg_levels_pc_type": "ilu"})
    system = recipe.family.system(grid_of(recipe.data), draw_values(recipe.data, recipe.family, 0), recipe.data)
    assert abs(system.A - system.A.T).max() > 0.1 * abs(system.A).max()  # far from symmetric
    x, info = make_solver(plan, recipe.data["solver"]).solve(system.A, system.b)
    residual = np.linalg.norm(system.b - sp.csr_matrix(system.A) @ x) / np.linalg.norm(system.b)
    assert info.converged and residual <= recipe.data["solver"]["rtol"] and info.iterations <= 12, info
    plan.options, plan.multigrid_ordering = {}, "red-black"
    _, sor = make_solver(plan, {**recipe.data["solver"], "maxiter": 40}).solve(system.A, system.b)
    assert not sor.converged, sor


@needs_petsc
def test_nonsymmetric_gamg_smooths_with_ilu_where_its_default_fails():
    """Beyond geometric multigrid's Péclet range (10,000 here, 128²) the plans' GMRES + GAMG
    smooths its levels with block Jacobi + ILU(0) and converges, true residual within rtol;
    GAMG's own Chebyshev/Jacobi smoothing does not (docs/benchmarks.md, nonsymmetric_multigrid)."""
    import scipy.sparse as sp

    from pdegen.build import draw_values, grid_of
    from pdegen.plan import make_plan, make_solver
    recipe = load_recipe(ROOT / "recipes" / "advection_diffusion.yaml",
                         ["grid.shape=[128,128]", "parameters.peclet={dist: constant, value: 10000}",
                          "solver.method=gmres", "solver.preconditioner=gamg"])
    plan = make_plan(recipe)
    assert plan.options["mg_levels_pc_type"] == "bjacobi" and plan.options["mg_levels_ksp_type"] == "richardson"
    system = recipe.family.system(grid_of(recipe.data), draw_values(recipe.data, recipe.family, 0), recipe.data)
    x, info = make_solver(plan, recipe.data["solver"]).solve(system.A, system.b)
    residual = np.linalg.norm(system.b - sp.csr_matrix(system.A) @ x) / np.linalg.norm(system.b)
    assert info.converged and residual <= recipe.data["solver"]["rtol"] and info.iterations <= 30, info
    petsc_default = {"mg_levels_ksp_type": "chebyshev", "mg_levels_ksp_max_it": 2, "mg_levels_pc_type": "jacobi"}
    _, default = make_solver(plan, {**recipe.data["solver"], "maxiter": 100, "options": petsc_default}).solve(
        system.A, system.b)
    assert not default.converged, default


@needs_petsc
def test_an_option_for_one_level_overrides_the_option_for_all_levels():
    """`mg_levels_3_pc_type` next to the hierarchy's default `mg_levels_pc_type` (sor):
    PETSc's lookup of the former falls back on the latter, which had made pdegen's option
    scope think the level option was set already and drop it."""
    from solvers.ksp import KSPSolver
    A, b = darcy_sequence(n=64, count=1)[0]
    multigrid = GeometricMG((64, 64))
    finest = len(multigrid.shapes) - 1
    solver = KSPSolver("cg", "mg", prefix="mglevelopt_", options={f"mg_levels_{finest}_pc_type": "jacobi"},
                       multigrid=multigrid)
    x, info = solver.solve(A, b)
    pc = solver.ksp.getPC()
    types = [pc.getMGSmoother(level).getPC().getType() for level in range(1, finest + 1)]
    assert types == ["sor"] * (finest - 1) + ["jacobi"]
    assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)


def test_interpolation_1d_is_flat_at_a_neumann_end():
    """At a Neumann end the boundary cell takes its whole parent (the normal derivative
    vanishes there); the other end keeps the Dirichlet 3/4; a constant is reproduced
    exactly next to the Neumann face, on odd rows too."""
    from solvers.multigrid import linear_interpolation_1d
    for cells in (32, 33):
        P = linear_interpolation_1d(np.ones(cells), neumann=(True, False))
        sums = P.sum(axis=1).A1
        assert sums[0] == 1.0 and np.isclose(sums[-1], 1.0 if cells % 2 else 0.75), sums[[0, -1]]
        assert np.allclose(sums[:-1], 1.0)


NEUMANN_CASES = [((31, 32), ((0, 1), (0, 1)), 4, [(1, 0), (1, 1)], ()),         # odd levels, two Neumann faces
                 ((32, 32), ((0, 4), (0, 1)), 8, [(0, 1), (1, 0), (1, 1)], ()),  # semi-coarsened, three
                 ((11, 9, 14), ((0, 1), (0, 1), (0, 2)), 2, [(0, 0), (2, 1)], ()),
                 ((31, 21), ((0, 1), (0, 2)), 4, [(1, 0)], (0,)),                 # odd and periodic along x
                 ((11, 9, 14), ((0, 1), (0, 1), (0, 2)), 2, [], (1, 2))]


@pytest.mark.parametrize("shape,extent,coarsest,neumann,periodic", NEUMANN_CASES)
def test_aggregation_with_neumann_faces_is_the_rediscretised_operator(shape, extent, coarsest, neumann, periodic):
    """With Neumann faces (no boundary term on the diagonal) or periodic axes (a face across
    the wrap) each aggregation operator of the constant-coefficient FV Laplacian is still
    that Laplacian rediscretised on the coarse level's cells with the same faces, on odd and
    semi-coarsened levels, where the corner cells weigh their boundary terms by axis."""
    from pdegen.families import fv
    from pdegen.families.darcy import assemble_diffusion
    from pdegen.grid import Grid
    from solvers.multigrid import cell_sizes

    def kind(axis, side):
        return "periodic" if axis in periodic else "robin" if (axis, side) in neumann else "dirichlet"

    faces = {(axis, side): fv.Boundary(kind(axis, side), 0.0) for axis in range(len(shape)) for side in (0, 1)}
    grid = Grid(shape, extent)
    fine, _ = assemble_diffusion(grid, np.ones(shape), 1.0, faces)
    reference = _fv_laplacian(cell_sizes([shape])[0], grid.spacing, neumann, periodic)
    assert abs(fine - reference).max() <= 1e-12 * abs(fine).max()
    mg = GeometricMG(shape, coarse="aggregation", spacing=grid.spacing, coarsest=coarsest, neumann=neumann,
                     periodic=periodic)
    assert len(mg.shapes) >= 3, mg.shapes
    for op, sizes in zip(mg.coarse_operators(fine), cell_sizes(mg.shapes)[1:]):
        expected = _fv_laplacian(sizes, grid.spacing, neumann, periodic)
        assert abs(op - expected).max() <= 1e-12 * abs(expected).max(), [s.size for s in sizes]


@needs_petsc
@pytest.mark.parametrize("coarse,ordering,cycles", [("aggregation", "red-black", 1), ("galerkin", "natural", 0)])
def test_neumann_faces_keep_cg_iterations_flat(coarse, ordering, cycles):
    """Darcy with three Neumann faces (64² and 256²): a hierarchy told of them needs the
    iterations it needs with Dirichlet faces everywhere at both sizes; one that interpolates
    towards zero there needs many more at 256², growing with the grid."""
    from pdegen.families import fv
    from pdegen.families.darcy import assemble_diffusion
    from pdegen.fields import gaussian_random_field, sample_rng
    from pdegen.grid import Grid
    from solvers.ksp import KSPSolver
    neumann = [(0, 1), (1, 0), (1, 1)]
    iterations = {}
    for n in (64, 256):
        grid = Grid((n, n), ((0, 1), (0, 1)))
        a = np.exp(gaussian_random_field((n, n), 2.5, 7.0, sample_rng(3, 0)))
        faces = {(axis, side): fv.Boundary("robin" if (axis, side) in neumann else "dirichlet", 0.0)
                 for axis in (0, 1) for side in (0, 1)}
        A, b = assemble_diffusion(grid, a, 1.0, faces)
        for told in (True, False):
            mg = GeometricMG((n, n), coarse=coarse, ordering=ordering, start_cycles=cycles,
                             neumann=neumann if told else ())
            solver = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mgneu{coarse}{n}{told}_", multigrid=mg)
            x, info = solver.solve(A, b)
            assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b), (n, told, info)
            iterations[n, told] = info.iterations
    assert iterations[256, True] <= iterations[64, True] + 1 <= 10, iterations
    assert iterations[256, False] >= 2 * iterations[256, True], iterations


def test_periodic_interpolation_wraps_around():
    """On a periodic row every fine cell takes 3/4 of its parent and 1/4 of the neighbour on
    its side, the ends across the wrap: rows sum to 1 and a smooth periodic function is
    interpolated to second order (odd rows too, where the last coarse cell is a single one)."""
    from solvers.multigrid import linear_interpolation_1d
    for cells in (32, 33):
        P = linear_interpolation_1d(np.ones(cells), periodic=True)
        assert np.allclose(P.sum(axis=1).A1, 1.0)
        # Cell 0 (centre 0.5) between its parent (centre 1) and, across the wrap, the last
        # coarse cell: centre 31 (a pair) or 32.5 (the lone last cell) on a row of 32 / 33.
        expected = (0.75, 0.25) if cells % 2 == 0 else (2 / 3, 1 / 3)
        assert np.allclose([P[0, 0], P[0, P.shape[1] - 1]], expected)
    errors = []
    for cells in (32, 64, 128):
        x = (np.arange(cells) + 0.5) / cells
        X = (np.arange(cells // 2) + 0.5) / (cells // 2)
        P = linear_interpolation_1d(np.ones(cells), periodic=True)
        errors.append(np.abs(P @ np.cos(2 * np.pi * X) - np.cos(2 * np.pi * x)).max())
    assert np.allclose(np.log2(np.array(errors[:-1]) / errors[1:]), 2.0, atol=0.1), errors


@needs_petsc
@pytest.mark.parametrize("shape", [(256, 256), (255, 255)])
def test_periodic_axis_keeps_cg_iterations_flat(shape):
    """Darcy periodic along x, Dirichlet along y: a hierarchy told of the periodic axis needs
    at most 9 CG iterations at 256² and on the odd 255², one that interpolates towards zero
    at the wrap more than twice that."""
    from pdegen.families import fv
    from pdegen.families.darcy import assemble_diffusion
    from pdegen.fields import gaussian_random_field, sample_rng
    from pdegen.grid import Grid
    from solvers.ksp import KSPSolver
    grid = Grid(shape, ((0, 1), (0, 1)))
    faces = {(0, 0): fv.Boundary("periodic"), (0, 1): fv.Boundary("periodic"),
             (1, 0): fv.Boundary("dirichlet", 0.0), (1, 1): fv.Boundary("dirichlet", 0.0)}
    A, b = assemble_diffusion(grid, np.exp(gaussian_random_field(shape, 2.5, 7.0, sample_rng(3, 0))), 1.0, faces)
    iterations = {}
    for told in (True, False):
        mg = GeometricMG(shape, coarse="aggregation", ordering="red-black", start_cycles=1,
                         periodic=(0,) if told else ())
        x, info = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mgper{shape[0]}{told}_", multigrid=mg).solve(A, b)
        assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
        iterations[told] = info.iterations
    assert iterations[True] <= 9 and iterations[False] >= 2 * iterations[True], iterations
