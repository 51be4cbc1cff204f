"""Geometric multigrid (solvers.multigrid): the interpolation is exact where it should
be, the hierarchy follows the grid's C order, and CG + MG converges in a number of
iterations that does not grow with the grid (the point of multigrid)."""

from pathlib import Path

import numpy as np
import pytest
from conftest import needs_petsc
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
    assert level_shapes((30, 30)) == [(30, 30), (15, 15)]  # 15 is odd: stop
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
@pytest.mark.parametrize("coarse", ["galerkin", "aggregation"])
def test_cg_with_geometric_multigrid_converges_independently_of_the_grid(coarse):
    from solvers.ksp import KSPSolver
    iterations = {}
    for n in (32, 64, 128):
        A, b = darcy_sequence(n=n, count=1)[0]
        x, info = KSPSolver("cg", "mg", rtol=1e-8, prefix=f"mgtest{coarse}{n}_",
                            multigrid=GeometricMG((n, n), coarse=coarse)).solve(A, b)
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
        GeometricMG((30, 31))


def test_recipe_rejects_mg_on_a_grid_it_cannot_coarsen():
    with pytest.raises(RecipeError, match=r"grid.shape \[30, 30\]"):
        load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "darcy.yaml", ["solver.preconditioner=mg", "grid.shape=[30,30]"])


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
def test_cg_with_aggregation_multigrid_in_3d():
    from pdegen.families.darcy import assemble_diffusion
    from pdegen.fields import gaussian_random_field, sample_rng
    from pdegen.grid import Grid
    from solvers.ksp import KSPSolver
    n = 32
    a = np.exp(gaussian_random_field((n, n, n), 2.5, 7.0, sample_rng(3, 0)))
    A, b = assemble_diffusion(Grid((n, n, n), ((0, 1),) * 3), a, 1.0)
    x, info = KSPSolver("cg", "mg", rtol=1e-8, prefix="mg3d_",
                        multigrid=GeometricMG((n, n, n), coarse="aggregation")).solve(A, b)
    assert info.converged and np.linalg.norm(b - A @ x) / np.linalg.norm(b) <= 1e-8
    assert info.iterations <= 12, info.iterations


@needs_petsc
def test_pcmg_levels_hold_the_current_coarse_operators_across_pattern_changes():
    """Coarse values are written into the level Mats in place while the fine pattern
    holds, and the hierarchy is re-planned and re-wired when it changes (here a 9-point
    matrix between 5-point ones): PCMG's level operators must equal the explicit products
    of the matrix just solved, and every solve converge."""
    import scipy.sparse as sp

    from solvers.ksp import KSPSolver
    n = 32
    (A1, b), (A2, _), (A3, _) = darcy_sequence(n=n, count=3)
    T = sp.diags([1.0, 2.0, 1.0], [-1, 0, 1], shape=(n, n))
    nine_point = (A2 + 1e-3 * A2.diagonal().mean() * sp.kron(T, T)).tocsr()  # SPD, diagonal couplings
    mg = GeometricMG((n, n), coarse="aggregation")
    solver = KSPSolver("cg", "mg", rtol=1e-8, prefix="mgpattern_", multigrid=mg)
    pc = solver.ksp.getPC()
    levels = len(mg.shapes)
    for A in (A1, A2, nine_point, A3):
        x, info = solver.solve(A, b)
        assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b)
        for i, expected in enumerate(mg.coarse_operators(A)):
            level = levels - 2 - i
            ksp = pc.getMGCoarseSolve() if level == 0 else pc.getMGSmoother(level)
            indptr, indices, values = ksp.getOperators()[0].getValuesCSR()
            got = sp.csr_matrix((values, indices, indptr), shape=expected.shape)
            assert abs(got - expected).max() <= 1e-12 * abs(expected).max()
