"""GMRES and GCRO-DR on the numpy backend: agreement, recycling gains, robustness.

Every solution returned is checked against its true residual ||b - Ax|| / ||b||.
"""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from problems import convection_diffusion, darcy_sequence
from solvers import GCRODR, GMRES


def true_residual(A, x, b):
    return np.linalg.norm(b - A @ x) / np.linalg.norm(b)


def test_gcrodr_with_k0_matches_gmres():
    A, b = convection_diffusion(30, 0.7)
    for m in (10, 30):
        x1, gm = GMRES(m=m, rtol=1e-9).solve(A, b)
        x2, gc = GCRODR(m=m, k=0, rtol=1e-9).solve(A, b)
        assert abs(gm.iterations - gc.iterations) <= 1
        assert gm.converged and gc.converged
        assert true_residual(A, x1, b) <= 1e-9 and true_residual(A, x2, b) <= 1e-9


def test_gmres_solution_matches_direct_solve():
    A, b = convection_diffusion(20, 1.1)
    x, info = GMRES(m=25, rtol=1e-11, preconditioner="jacobi").solve(A, b)
    reference = spla.spsolve(A.tocsc(), b)
    assert info.converged and np.abs(x - reference).max() <= 1e-8 * np.abs(reference).max()


def test_second_solve_of_the_same_system_needs_fewer_iterations():
    A, b = darcy_sequence(n=32, count=1)[0]
    solver = GCRODR(m=40, k=20, rtol=1e-8)
    _, first = solver.solve(A, b)
    x, second = solver.solve(A, b)
    # Measured: 138 then 67 iterations (k=20 deflates the smallest eigenvalues).
    assert second.iterations <= 0.6 * first.iterations, (first.iterations, second.iterations)
    assert true_residual(A, x, b) <= 1e-8


def test_recycling_on_darcy_sequence_saves_3x_iterations():
    systems = darcy_sequence(n=48, count=20)
    gmres, gcrodr = GMRES(m=30, rtol=1e-8), GCRODR(m=30, k=10, rtol=1e-8)
    total_gmres = total_gcrodr = 0
    for A, b in systems:
        x1, i1 = gmres.solve(A, b)
        x2, i2 = gcrodr.solve(A, b)  # no warm start: recycling alone
        assert true_residual(A, x1, b) <= 1e-8 and true_residual(A, x2, b) <= 1e-8
        total_gmres += i1.iterations
        total_gcrodr += i2.iterations
    # Measured: 11672 vs 3087 iterations (3.8x).
    assert total_gmres >= 3 * total_gcrodr, (total_gmres, total_gcrodr)


@pytest.mark.parametrize("orthogonalization", ["cgs", "cgs2"])
def test_drifting_nonsymmetric_sequence_never_diverges(orthogonalization):
    gmres = GMRES(m=30, rtol=1e-8, orthogonalization=orthogonalization)
    gcrodr = GCRODR(m=30, k=10, rtol=1e-8, orthogonalization=orthogonalization)
    total_gmres = total_gcrodr = 0
    x = None
    for step in range(20):
        A, b = convection_diffusion(40, 0.3 + 0.05 * step)
        _, i1 = gmres.solve(A, b)
        x, i2 = gcrodr.solve(A, b, x0=x)
        assert i2.converged and true_residual(A, x, b) <= 1e-8
        assert i2.iterations <= i1.iterations
        total_gmres += i1.iterations
        total_gcrodr += i2.iterations
    assert total_gcrodr < 0.7 * total_gmres, (total_gmres, total_gcrodr)


def test_second_gram_schmidt_pass_restores_orthogonality():
    """Arnoldi on eigenvalues spread over 8 decades: one classical Gram-Schmidt pass per
    step (``cgs``, the default) lets the basis drift from orthonormal (measured 6e-12);
    the DGKS second pass (``cgs2``) keeps it at rounding level (3e-15)."""
    from solvers.backends.numpy import NumpyBackend
    from solvers.kernels import arnoldi_cycle
    n, steps = 400, 60
    A = sp.diags(np.logspace(0, 8, n)).tocsr()
    loss = {}
    for refine in (True, False):
        backend = NumpyBackend("none")
        backend.set_operator(A)
        basis = np.empty((n, steps + 1), order="F")
        cycle = arnoldi_cycle(backend, basis, 0, np.ones(n), np.sqrt(n), steps, 0.0, refine)
        V = basis[:, : cycle.steps + 1]
        loss[refine] = np.linalg.norm(V.T @ V - np.eye(cycle.steps + 1))
    assert loss[True] < 1e-13 < loss[False], loss


def test_incremental_least_squares_matches_lstsq():
    """GivensLS (the Hessenberg least squares of every Arnoldi step) against NumPy's
    lstsq after each added column: the same residual norm and minimiser, also when a
    column is already upper triangular (a zero subdiagonal entry)."""
    from solvers.kernels import GivensLS
    rng = np.random.default_rng(3)
    steps, beta = 12, 2.5
    H = np.triu(rng.standard_normal((steps + 1, steps)), -1)
    H[5, 4] = 0.0
    ls = GivensLS(steps, beta)
    rhs = np.zeros(steps + 1)
    rhs[0] = beta
    for j in range(steps):
        residual = ls.add_column(H[: j + 2, j])
        y, *_ = np.linalg.lstsq(H[: j + 2, : j + 1], rhs[: j + 2], rcond=None)
        assert np.allclose(ls.solve(), y, rtol=1e-12, atol=1e-12)
        assert residual == pytest.approx(np.linalg.norm(rhs[: j + 2] - H[: j + 2, : j + 1] @ y), rel=1e-10, abs=1e-14)


def test_block_combinations_match_numpy():
    """kernels.combine (sum of block x small matrix, BLAS in place) equals NumPy's products
    for Fortran-ordered, C-ordered and empty blocks, and returns contiguous columns."""
    from solvers.kernels import combine
    rng = np.random.default_rng(11)
    F = np.asfortranarray(rng.standard_normal((50, 4)))
    C = rng.standard_normal((50, 9))[:, 2:5]  # a strided view of a C-ordered array
    Y1, Y2 = rng.standard_normal((4, 3)), rng.standard_normal((3, 3))
    out = combine(((F, Y1), (C, Y2), (F[:, :0], Y1[:0])))
    assert out.flags.f_contiguous and np.allclose(out, F @ Y1 + C @ Y2, rtol=1e-14, atol=1e-13)
    assert np.array_equal(combine(((F[:, :0], Y1[:0]),)), np.zeros((50, 3)))


def test_abrupt_operator_changes_and_scalings():
    """Recycle space from one operator, then a very different one, then a rescaled one."""
    darcy = darcy_sequence(n=24, count=2)
    conv, bc = convection_diffusion(24, 2.0, peclet=200.0)
    sequence = [darcy[0], (conv, bc), (1e6 * darcy[1][0], darcy[1][1]), (-darcy[0][0], darcy[0][1]),
                (sp.identity(576, format="csr"), np.arange(576.0))]
    solver = GCRODR(m=20, k=8, rtol=1e-9)
    for A, b in sequence:
        x, info = solver.solve(A, b)
        assert info.converged, info
        assert true_residual(A, x, b) <= 1e-9


def test_degenerate_recycle_space_is_repaired():
    A, b = darcy_sequence(n=20, count=1)[0]
    solver = GCRODR(m=20, k=6, rtol=1e-9)
    solver.solve(A, b)
    # Corrupt U: duplicated and zero columns make A U rank deficient.
    U = solver.U.copy()
    U[:, 1] = U[:, 0]
    U[:, 2] = 0.0
    solver.use_recycle_space(U)
    x, info = solver.solve(A, b + 1.0)
    assert info.converged and true_residual(A, x, b + 1.0) <= 1e-9
    assert solver.U.shape[1] <= 6 and np.allclose(solver.C.T @ solver.C, np.eye(solver.C.shape[1]), atol=1e-10)
    # The defining relation of the recycle space holds: A U = C.
    assert np.abs(A @ solver.U - solver.C).max() < 1e-8


def test_recycle_update_with_a_singular_triangular_factor_keeps_the_independent_directions():
    """The recycle update C = Ŵ Q, U = Ũ R^-1 when R is singular (Ũ has a repeated
    direction): instead of dividing by ~0, the independent part is kept, with A U = C and
    C orthonormal (a branch the solves above never reach)."""
    A, b = darcy_sequence(n=12, count=1)[0]
    solver = GCRODR(m=10, k=4, rtol=1e-9)
    solver.solve(A, b)  # sets up the backend with A
    rng = np.random.default_rng(5)
    X = rng.standard_normal((A.shape[0], 3))
    U_tilde = np.column_stack([X, X[:, 0] + 1e-15 * X[:, 1]])  # four columns, rank 3
    Q, R = np.linalg.qr(A @ U_tilde)
    assert abs(R[3, 3]) < 1e-12 * abs(R).max()
    halves = ((U_tilde[:, :2], np.eye(4)[:2]), (U_tilde[:, 2:], np.eye(4)[2:]))  # Ũ as a sum of blocks
    solver._set_recycle_space(Q, halves, R)
    assert solver.U.shape[1] == 3
    assert np.allclose(solver.C.T @ solver.C, np.eye(3), atol=1e-12)
    assert np.abs(A @ solver.U - solver.C).max() < 1e-10


def test_inconsistent_recycle_space_is_dropped_and_the_solve_still_converges():
    """C orthonormal but no longer A U (U overwritten): the projection step then makes up a
    residual that is not b - A x. The cycle's true residual exposes it; the solver must
    drop the space and go on as GMRES from the true residual (it used to restart from the
    made-up one and loop to maxiter)."""
    A, b = darcy_sequence(n=20, count=1)[0]
    solver = GCRODR(m=20, k=6, rtol=1e-9, maxiter=2000)
    first = solver.solve(A, b)[1]
    solver.U = np.asfortranarray(np.random.default_rng(0).standard_normal(solver.U.shape))
    x, info = solver.solve(A, b + 1.0)
    assert info.converged and true_residual(A, x, b + 1.0) <= 1e-9, info
    assert info.extra["resets"] >= 1
    assert info.iterations < 3 * first.iterations  # one wasted cycle, not a stall
    # The space rebuilt after the reset is consistent again: A U = C.
    assert np.abs(A @ solver.U - solver.C).max() < 1e-8


def test_reset_forgets_the_recycle_space():
    A, b = darcy_sequence(n=20, count=1)[0]
    solver = GCRODR(m=20, k=6, rtol=1e-9)
    cold = solver.solve(A, b)[1].iterations
    assert solver.solve(A, b + 1.0)[1].iterations < cold  # recycling helps ...
    solver.reset()
    assert solver.U is None and solver.C is None
    x, info = solver.solve(A, b)  # ... and after reset() the solve starts from nothing again
    assert info.iterations == cold and true_residual(A, x, b) <= 1e-9
    # A recycle space with nothing in it (A U = 0) is dropped the same way.
    solver.use_recycle_space(np.zeros((b.size, 3)))
    x, info = solver.solve(A, b)
    assert info.iterations == cold and info.extra["recycle_matvecs"] == 3 and true_residual(A, x, b) <= 1e-9


def test_breakdown_and_trivial_cases():
    n = 50
    identity = sp.identity(n, format="csr")
    b = np.arange(1.0, n + 1)
    for solver in (GMRES(m=10), GCRODR(m=10, k=4)):
        x, info = solver.solve(identity, b)  # lucky breakdown after one step
        assert info.converged and info.iterations == 1 and np.allclose(x, b)
        x, info = solver.solve(identity, np.zeros(n))
        assert info.converged and info.iterations == 0 and not x.any()
    # An exact initial guess needs no iteration at all.
    A, b = convection_diffusion(10, 0.2)
    exact = spla.spsolve(A.tocsc(), b)
    x, info = GCRODR(m=10, k=4, rtol=1e-8).solve(A, b, x0=exact)
    assert info.iterations == 0 and info.converged


@pytest.mark.parametrize("make", [lambda **kw: GMRES(m=20, rtol=1e-9, **kw),
                                  lambda **kw: GCRODR(m=20, k=5, rtol=1e-9, **kw)])
def test_warm_start_worse_than_zero_is_scaled_a_better_one_kept(make):
    A, b = convection_diffusion(24, 0.4)
    exact = spla.spsolve(A.tocsc(), b)
    # A multiple of the solution (residual 8 ||b||) is scaled back to it: no iteration needed.
    x, info = make().solve(A, b, x0=-7.0 * exact)
    assert info.iterations == 0 and true_residual(A, x, b) <= 1e-9
    assert info.extra["guess_scale"] == pytest.approx(-1 / 7, rel=1e-9)
    # A bad guess, ||b - A x0|| = 1000 ||b||: alpha = (b, A x0) / ||A x0||^2, as the formula gives.
    rng = np.random.default_rng(3)
    guess = rng.standard_normal(b.size)
    guess *= 1000 * np.linalg.norm(b) / np.linalg.norm(A @ guess)
    x, scaled = make().solve(A, b, x0=guess)
    Ag = A @ guess
    alpha = scaled.extra["guess_scale"]
    assert alpha == pytest.approx((b @ Ag) / (Ag @ Ag), rel=1e-9)
    assert np.linalg.norm(b - alpha * Ag) <= np.linalg.norm(b)
    assert scaled.converged and true_residual(A, x, b) <= 1e-9
    # A guess better than zero (residual d, ||d|| = 0.3 ||b||) is kept as it is.
    d = rng.standard_normal(b.size)
    d *= 0.3 * np.linalg.norm(b) / np.linalg.norm(d)
    near = exact + spla.spsolve(A.tocsc(), d)
    assert true_residual(A, near, b) == pytest.approx(0.3, rel=1e-6)
    x, kept = make().solve(A, b, x0=near)
    assert kept.extra["guess_scale"] == 1.0 and kept.converged and true_residual(A, x, b) <= 1e-9
    # Off, or from zero, nothing is scaled (iteration counts of restarted methods do not
    # fall monotonically with the starting residual: benchmarks/warm_start.py measures them).
    x, unscaled = make(scale_guess=False).solve(A, b, x0=guess)
    assert "guess_scale" not in unscaled.extra and "guess_scale" not in make().solve(A, b)[1].extra
    assert unscaled.converged and true_residual(A, x, b) <= 1e-9


def test_solution_in_recycle_space_converges_without_iterations():
    A, b = darcy_sequence(n=16, count=1)[0]
    solver = GCRODR(m=30, k=10, rtol=1e-8)
    solver.solve(A, b)
    c = solver.C[:, 0] * 3.0 - solver.C[:, 1]
    x, info = solver.solve(A, c)  # b in range(C): the projection step solves it
    assert info.iterations == 0 and true_residual(A, x, c) <= 1e-8


def test_preconditioner_built_once_and_rebuilt_on_request():
    systems = darcy_sequence(n=24, count=3)
    solver = GCRODR(m=20, k=5, rtol=1e-8, preconditioner="ilu")
    infos = [solver.solve(A, b)[1] for A, b in systems[:2]]
    assert [i.extra["rebuilt"] for i in infos] == [True, False]
    solver.rebuild_preconditioner()
    x, info = solver.solve(*systems[2])
    assert info.extra["rebuilt"] and info.converged
    # An explicit M (a LinearOperator) is used as given.
    A, b = systems[2]
    diag = A.diagonal()
    M = spla.LinearOperator(A.shape, matvec=lambda v: v / diag)
    x, info = GMRES(m=30, rtol=1e-8).solve(A, b, M=M)
    x_ref, info_ref = GMRES(m=30, rtol=1e-8, preconditioner="jacobi").solve(A, b)
    assert info.iterations == info_ref.iterations and true_residual(A, x, b) <= 1e-8


def test_maxiter_reports_not_converged():
    A, b = convection_diffusion(30, 0.5)
    x, info = GCRODR(m=10, k=3, rtol=1e-10, maxiter=5).solve(A, b)
    assert not info.converged and info.iterations <= 5 and info.residual > 1e-10


@pytest.mark.parametrize("kwargs", [dict(m=10, k=10), dict(m=10, k=-1), dict(m=5, k=2, rtol=0)])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        GCRODR(**kwargs)


def test_rebuild_policies():
    systems = darcy_sequence(n=24, count=6)
    always = GMRES(m=30, rtol=1e-8, preconditioner="jacobi", rebuild="always")
    assert all(always.solve(A, b)[1].extra["rebuilt"] for A, b in systems)
    # adaptive: a solve that needs more than growth x the post-rebuild iterations
    # triggers a rebuild for the next system.
    adaptive = GMRES(m=30, rtol=1e-8, preconditioner="jacobi", rebuild="adaptive", growth=1.0)
    infos = [adaptive.solve(A, b)[1] for A, b in systems]
    rebuilt = [i.extra["rebuilt"] for i in infos]
    assert rebuilt[0]
    for k in range(1, len(infos)):
        baseline = next(infos[j].iterations for j in range(k - 1, -1, -1) if rebuilt[j])
        assert rebuilt[k] == (infos[k - 1].iterations > baseline + 2 and not rebuilt[k - 1])


def test_seeded_recycle_space_deflates_the_first_solve():
    """Seeding U with the smallest eigenvectors removes them from the first solve: far
    fewer iterations than an unseeded start, which must find them first (at tight
    tolerances the unseeded run catches up: its U converges to the same space)."""
    n = 400
    A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
    b = np.ones(n)
    _, vectors = np.linalg.eigh(A.toarray())
    cold = GCRODR(m=30, k=10, rtol=1e-3)
    _, cold_info = cold.solve(A, b)
    seeded = GCRODR(m=30, k=10, rtol=1e-3)
    seeded.use_recycle_space(vectors[:, :10])
    x, seeded_info = seeded.solve(A, b)
    assert seeded_info.converged and true_residual(A, x, b) <= 1e-3
    assert seeded_info.iterations < 0.5 * cold_info.iterations, (seeded_info.iterations, cold_info.iterations)
    with pytest.raises(ValueError, match="non-empty"):
        seeded.use_recycle_space(np.zeros((n, 0)))


def test_matrix_slots_keep_one_factorisation_per_matrix_and_hand_each_system_to_its_own():
    """solvers.slots: three step matrices in turn, twice (the second round as new objects
    with equal values, as the next sample builds them): with keep=3 each is factorised once
    (3 of 6 solves), with keep=2 the least recently used makes way every time (6 of 6);
    every solution is the system's own, to SciPy's spsolve."""
    from solvers.direct import ScipyDirect
    from solvers.slots import MatrixSlots
    laplacian = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(40, 40), format="csr")
    first = [(laplacian + sp.identity(40) * shift).tocsr() for shift in (0.5, 1.0, 2.0)]
    second = [A.copy() for A in first]
    b = np.random.default_rng(0).standard_normal(40)
    for keep, factorised in ((3, [True] * 3 + [False] * 3), (2, [True] * 6)):
        slots = MatrixSlots(lambda: ScipyDirect(1e-12), keep)
        rebuilt = []
        for A in first + second:
            x, info = slots.solve(A, b)
            rebuilt.append(info.extra["rebuilt"])
            assert np.abs(x - spla.spsolve(A.tocsc(), b)).max() < 1e-12
        assert rebuilt == factorised, (keep, rebuilt)
    assert slots.method == "superlu"  # the solvers' own attributes
    with pytest.raises(ValueError, match="keep must be >= 1"):
        MatrixSlots(ScipyDirect, 0)
