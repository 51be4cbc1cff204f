"""The PETSc backend: agreement with PETSc's own KSP and with the numpy backend, matrix
reuse in place, preconditioner reuse, and distributed runs under mpiexec."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from conftest import mpi_env, mpiexec, needs_petsc
from problems import darcy_sequence

pytestmark = needs_petsc
HERE = Path(__file__).parent


@pytest.mark.parametrize("pc", ["none", "jacobi", "sor", "ilu", "bjacobi", "asm", "gamg"])
def test_gmres_matches_petsc_kspgmres(pc):
    from solvers import GMRES
    from solvers.ksp import KSPSolver
    A, b = darcy_sequence(n=40, count=1)[0]
    x, ours = GMRES(m=30, rtol=1e-8, backend="petsc", preconditioner=pc).solve(A, b)
    _, theirs = KSPSolver("gmres", pc, rtol=1e-8, options={"ksp_gmres_restart": 30,
                                                           "ksp_orthogonalization": "cgs"}).solve(A, b)
    assert abs(ours.iterations - theirs.iterations) <= 2, (ours.iterations, theirs.iterations)
    assert ours.converged and np.linalg.norm(b - A @ x) / np.linalg.norm(b) <= 1e-8


@pytest.mark.parametrize("pc", ["jacobi", "ilu", "bjacobi"])
def test_left_preconditioned_gmres_matches_petsc_default_kspgmres(pc):
    """pc_side="left" is PETSc's default GMRES: M^-1 A x = M^-1 b, stopped on the
    preconditioned residual. Same iterations (+-2); GCRO-DR with k = 0 is that GMRES too."""
    from petsc4py import PETSc

    from solvers import GCRODR, GMRES
    from solvers.backends.petsc import MatrixHolder, options_scope
    A, b = darcy_sequence(n=40, count=1)[0]
    x, ours = GMRES(m=30, rtol=1e-8, backend="petsc", preconditioner=pc, pc_side="left").solve(A, b)
    _, k0 = GCRODR(m=30, k=0, rtol=1e-8, backend="petsc", preconditioner=pc, pc_side="left").solve(A, b)
    mat = MatrixHolder().update(A)
    ksp = PETSc.KSP().create()
    ksp.setOptionsPrefix("left_reference_")
    ksp.setType("gmres")
    ksp.getPC().setType(pc)
    ksp.setOperators(mat)
    ksp.setTolerances(rtol=1e-8, atol=0.0, max_it=10000)
    with options_scope("left_reference_", {"ksp_gmres_restart": 30, "ksp_orthogonalization": "cgs"}):
        ksp.setFromOptions()
        assert ksp.getPCSide() == PETSc.PC.Side.LEFT and ksp.getNormType() == PETSc.KSP.NormType.PRECONDITIONED
        bv, xv = mat.createVecLeft(), mat.createVecRight()
        bv.getArray()[:] = b
        ksp.solve(bv, xv)
    theirs = ksp.getIterationNumber()
    assert abs(ours.iterations - theirs) <= 2 and abs(k0.iterations - theirs) <= 2, (ours, k0.iterations, theirs)
    # Stopped on the preconditioned residual, which info.converged reports; info.residual is the true one.
    pc_apply = GMRES(m=30, backend="petsc", preconditioner=pc)
    pc_apply._prepare(A, b, None, None)
    Mr, Mb = pc_apply.backend.apply_M(b - A @ x), pc_apply.backend.apply_M(b)
    assert ours.converged and np.linalg.norm(Mr) <= 1e-8 * np.linalg.norm(Mb)
    assert ours.residual == pytest.approx(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


def test_left_preconditioned_gcrodr_recycles_along_a_sequence():
    from solvers import GCRODR
    solver = GCRODR(m=30, k=10, rtol=1e-8, backend="petsc", preconditioner="jacobi", pc_side="left")
    iterations, x = [], None
    for A, b in darcy_sequence(n=32, count=5):
        x, info = solver.solve(A, b, x0=x)
        assert info.converged and info.residual < 1e-6, info
        iterations.append(info.iterations)
    assert max(iterations[1:]) < iterations[0]  # the recycled space pays from the second system on
    with pytest.raises(ValueError, match="pc_side must be 'right'"):
        GCRODR(pc_side="both")


@pytest.mark.parametrize("pc", ["none", "jacobi"])
def test_numpy_and_petsc_backends_agree(pc):
    from solvers import GCRODR
    solvers = [GCRODR(m=30, k=10, rtol=1e-8, backend=be, preconditioner=pc) for be in ("numpy", "petsc")]
    for A, b in darcy_sequence(n=32, count=6):
        (x1, i1), (x2, i2) = (s.solve(A, b) for s in solvers)
        assert abs(i1.iterations - i2.iterations) <= 2
        assert np.linalg.norm(b - A @ x2) / np.linalg.norm(b) <= 1e-8


def test_matrix_is_updated_in_place_on_the_same_pattern():
    from solvers.backends.petsc import MatrixHolder
    (A1, _), (A2, _) = darcy_sequence(n=16, count=2)
    holder = MatrixHolder()
    m1 = holder.update(A1)
    m2 = holder.update(A2)
    assert m1 is m2  # same Mat object: symbolic factorisations and PC structure can be reused
    x = np.random.default_rng(0).standard_normal(A2.shape[0])
    xv, yv = m2.createVecs()
    xv.getArray()[:] = x
    m2.mult(xv, yv)
    assert np.allclose(yv.getArray(), A2 @ x, rtol=1e-14)
    A3 = A2.tolil()
    A3[0, 5] = 1.0  # new pattern: a new Mat
    assert holder.update(A3.tocsr()) is not m2


def test_matrix_holder_renumbers_rows_and_columns():
    """With ``position``, CSR row/column i lands at row/column position[i] of the Mat,
    on creation and on in-place updates."""
    from solvers.backends.petsc import MatrixHolder
    (A1, _), (A2, _) = darcy_sequence(n=8, count=2)
    order = np.random.default_rng(1).permutation(A1.shape[0])  # the CSR row at each Mat row
    holder = MatrixHolder(position=np.argsort(order))
    for A in (A1, A2):
        mat = holder.update(A)
        indptr, indices, values = mat.getValuesCSR()
        got = sp.csr_matrix((values, indices, indptr), shape=A.shape)
        assert abs(got - A[order][:, order]).max() == 0.0
    assert mat is holder.update(A1)  # same pattern: updated in place


def test_matrix_holder_trusts_only_immutable_index_arrays():
    """Index arrays nobody can write to (read-only, and so is the array owning their
    memory) at the same place mean the same pattern; a writable array changed in place
    must still be noticed: a new Mat with the right entries, not values scattered into
    the old pattern."""
    import scipy.sparse as sp
    from solvers.backends.petsc import MatrixHolder
    from solvers.pattern import PatternMemo
    A = sp.csr_matrix(np.array([[4.0, 1.0, 0.0], [1.0, 4.0, 0.0], [0.0, 2.0, 5.0]]))
    indptr, indices = A.indptr.copy(), A.indices.copy()
    memo = PatternMemo()
    memo.remember(indptr, indices)
    assert memo.same(indptr, indices) and memo.same(indptr.copy(), indices.copy())
    indices[-2] = 0  # row 2 now holds (2, 0) instead of (2, 1): same sizes, other pattern
    assert not memo.same(indptr, indices)

    holder = MatrixHolder()
    B = sp.csr_matrix((A.data.copy(), A.indices.copy(), A.indptr.copy()), shape=A.shape)
    first = holder.update(B)
    B.indices[-2] = 0  # in place, on the writable array the holder saw
    second = holder.update(B)
    assert second is not first
    assert np.array_equal(second.getValuesCSR()[1], B.indices)

    frozen_indptr, frozen_indices = B.indptr.copy(), B.indices.copy()
    for array in (frozen_indptr, frozen_indices):
        array.flags.writeable = False
    C = sp.csr_matrix((B.data.copy(), frozen_indices, frozen_indptr), shape=B.shape)  # SciPy keeps views
    assert holder.update(C) is second and holder._memo._frozen is not None  # compared once, then trusted
    D = sp.csr_matrix((2.0 * B.data, frozen_indices, frozen_indptr), shape=B.shape)
    assert holder.update(D) is second and np.allclose(second.getValuesCSR()[2], D.data)  # writable values compared
    with pytest.raises(ValueError, match="needs 6 values"):
        holder.set_values(np.ones(3))
    with pytest.raises(ValueError, match="a Mat made by update"):
        MatrixHolder().set_values(np.ones(6))

    writable = B.indices.copy()
    view = writable.view()
    view.flags.writeable = False  # a read-only view of a writable owner can still change
    memo = PatternMemo()
    memo.remember(B.indptr, view)
    assert memo._frozen is None


def test_a_frozen_step_matrix_is_trusted_and_a_new_one_noticed(monkeypatch):
    """A time step's matrix (pdegen.families.base.frozen: its arrays and their owners
    read-only) handed over again at the same place is not compared value by value; another
    frozen matrix, or a writable one, is, and the solves follow each matrix (against
    SciPy's)."""
    import solvers.backends.petsc as petsc_backend
    from pdegen.families.base import frozen
    from solvers.ksp import KSPSolver
    rng = np.random.default_rng(0)
    T = sp.diags([-np.ones(49), 4.0 * np.ones(50), -np.ones(49)], [-1, 0, 1], format="csr")
    A1, A2 = frozen(T.copy()), frozen((T + 0.5 * sp.identity(50, format="csr")).tocsr())
    b = rng.standard_normal(50)
    solver = KSPSolver("preonly", "cholesky", rtol=1e-10)
    compared = []
    original = petsc_backend._same_values
    monkeypatch.setattr(petsc_backend, "_same_values", lambda old, new: compared.append(1) or original(old, new))
    for A, counted in ((A1, 0), (A1, 0), (A2, 1), (A2, 0), (A1, 1), (T.copy(), 1)):
        before = len(compared)
        x, info = solver.solve(A, b)
        assert len(compared) - before == counted
        assert np.allclose(x, spla.spsolve(A.tocsc(), b), rtol=1e-12, atol=1e-12) and info.converged


def test_direct_and_cg_ksp():
    from solvers.ksp import KSPSolver
    direct, cg = KSPSolver("preonly", "cholesky", rtol=1e-8), KSPSolver("cg", "gamg", rtol=1e-8)
    x_prev = None
    for A, b in darcy_sequence(n=40, count=4):
        x, info = direct.solve(A, b)
        assert info.converged and info.iterations == 0 and info.residual < 1e-12
        y, info = cg.solve(A, b, x0=x_prev)
        assert info.converged and np.linalg.norm(b - A @ y) / np.linalg.norm(b) <= 1e-8
        x_prev = y


def test_ksp_converges_from_a_warm_start_far_above_the_right_hand_side():
    """A warm start whose residual is 1e7 ||b|| (a time step from a rough state on a stiff
    operator is such a guess): PETSc's default divergence test stopped CG before its first
    iteration (||r|| >= 1e4 ||b||); pdegen's KSP runs on to rtol on the true residual."""
    from solvers.ksp import KSPSolver
    ((A, b),) = darcy_sequence(n=40, count=1)
    x0 = np.random.default_rng(0).standard_normal(b.size)
    b = b * (np.linalg.norm(b - A @ x0) / np.linalg.norm(b)) / 1e7
    assert np.linalg.norm(b - A @ x0) >= 0.99e7 * np.linalg.norm(b)
    x, info = KSPSolver("cg", "jacobi", rtol=1e-8, maxiter=2000, prefix="farguess_").solve(A, b, x0=x0)
    assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b), info
    explicit = KSPSolver("cg", "jacobi", rtol=1e-8, prefix="farguess_dtol_", options={"ksp_divtol": 1e4})
    assert explicit.solve(A, b, x0=x0)[1].reason == "DIVERGED_DTOL"  # the option still sets one


def test_ksp_goes_on_once_when_petsc_stops_above_the_true_rtol():
    """PETSc judges convergence on the method's own residual, which can drift from the true
    one (near the rounding floor); when the true residual misses rtol the solver goes on once
    from x. A convergence test that stops the first pass after 2 iterations stands in for
    the drift: without the second pass the solve is reported unconverged."""
    from petsc4py import PETSc

    from solvers.ksp import KSPSolver
    ((A, b),) = darcy_sequence(n=40, count=1)
    solver = KSPSolver("cg", "jacobi", rtol=1e-8, maxiter=2000, prefix="secondpass_")
    stopped = []

    def stop_early_once(ksp, its, rnorm):
        if not stopped and its == 2:
            stopped.append(its)
            return PETSc.KSP.ConvergedReason.CONVERGED_RTOL
        return None
    solver.ksp.addConvergenceTest(stop_early_once, prepend=True)
    x, info = solver.solve(A, b)
    assert stopped == [2] and info.extra.get("second_pass"), info
    assert info.converged and np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b), info
    assert info.iterations > 2


def test_reused_gamg_preconditioner_stays_consistent_after_in_place_updates():
    """Reusing GAMG built for system 1 on systems 2.. (matrix updated in place) must still
    converge: the PC keeps its own copy of the matrix it was built for."""
    from solvers import GCRODR
    solver = GCRODR(m=30, k=10, rtol=1e-8, backend="petsc", preconditioner="gamg")
    iterations = []
    for A, b in darcy_sequence(n=48, count=6):
        x, info = solver.solve(A, b)
        assert info.converged and np.linalg.norm(b - A @ x) / np.linalg.norm(b) <= 1e-8
        iterations.append(info.iterations)
    # The stale preconditioner costs some iterations, never convergence.
    assert max(iterations) <= 3 * iterations[0] + 5, iterations


def test_a_users_own_petsc_pc_is_applied_as_given():
    """``solve(A, b, M=pc)`` with a PETSc PC the caller set up: the solver applies that PC
    (same iterations as the same PC built by name) and keeps it for later systems."""
    from petsc4py import PETSc

    from solvers import GCRODR
    from solvers.backends.petsc import MatrixHolder
    (A, b), (A2, b2) = darcy_sequence(n=32, count=2)
    mat = MatrixHolder().update(A)
    pc = PETSc.PC().create(comm=PETSc.COMM_SELF)
    pc.setType("jacobi")
    pc.setOperators(mat, mat)
    pc.setUp()
    by_name = GCRODR(m=30, k=10, rtol=1e-8, backend="petsc", preconditioner="jacobi")
    given = GCRODR(m=30, k=10, rtol=1e-8, backend="petsc")
    (_, reference), (x, info) = by_name.solve(A, b), given.solve(A, b, M=pc)
    assert info.iterations == reference.iterations and info.extra["rebuilt"]
    assert np.linalg.norm(b - A @ x) / np.linalg.norm(b) <= 1e-8
    assert given.backend.pc is pc and given.backend.has_preconditioner
    x2, info2 = given.solve(A2, b2)  # no M: the caller's PC is reused, not replaced
    assert given.backend.pc is pc and not info2.extra["rebuilt"]
    assert info2.converged and np.linalg.norm(b2 - A2 @ x2) / np.linalg.norm(b2) <= 1e-8
    unpreconditioned = GCRODR(m=30, k=10, rtol=1e-8, backend="petsc").solve(A, b)[1]
    assert unpreconditioned.iterations != reference.iterations  # Jacobi matters here, so the check above can fail


def test_petsc_options_are_scoped_to_their_solver():
    from petsc4py import PETSc
    from solvers.ksp import KSPSolver
    KSPSolver("gmres", "jacobi", options={"ksp_gmres_restart": 7}, prefix="scoped_")
    assert not PETSc.Options("scoped_").hasName("ksp_gmres_restart")
    A, b = darcy_sequence(n=24, count=1)[0]
    second = KSPSolver("gmres", "jacobi", prefix="scoped_").solve(A, b)[1]
    default = KSPSolver("gmres", "jacobi", prefix="other_", options={"ksp_gmres_restart": 30}).solve(A, b)[1]
    restart7 = KSPSolver("gmres", "jacobi", prefix="other_", options={"ksp_gmres_restart": 7}).solve(A, b)[1]
    assert second.iterations == default.iterations != restart7.iterations


def test_solvers_name_the_options_petsc_never_read():
    """PETSc's -options_left cannot see options the solvers took out of the database again,
    so the solvers tell: a misspelt name and an option of a preconditioner not in use are
    unread, the others (read at set-up or at the first solve) are not."""
    from solvers import GCRODR
    from solvers.ksp import KSPSolver
    A, b = darcy_sequence(n=24, count=1)[0]
    ksp = KSPSolver("cg", "bjacobi", prefix="unread_", options={"pc_bjacobi_blocks": 4, "sub_pc_type": "icc",
                                                               "sub_pc_typo": "ilu", "pc_gamg_threshold": 0.1})
    x, info = ksp.solve(A, b)
    assert info.converged and ksp.unread_options == ["pc_gamg_threshold", "sub_pc_typo"]
    gcrodr = GCRODR(m=20, k=5, backend="petsc", preconditioner="asm", options={"pc_asm_overlap": 2,
                                                                                "pc_bjacobi_blocks": 4})
    x, info = gcrodr.solve(A, b)
    assert info.converged and gcrodr.unread_options == ["pc_bjacobi_blocks"]


def run_mpi(ranks, out, kind, pc):
    command = [mpiexec(), "-n", str(ranks), sys.executable, str(HERE / "mpi_scripts" / "solve_sequence.py"),
               str(out), kind, pc]
    subprocess.run(command, check=True, timeout=300, capture_output=True, env=mpi_env())
    return np.load(out)


@pytest.mark.mpi
@pytest.mark.skipif(mpiexec() is None, reason="mpiexec not found")
@pytest.mark.parametrize("kind,pc", [("darcy", "jacobi"), ("convection", "none")])
def test_distributed_runs_match_serial(tmp_path, kind, pc):
    serial = run_mpi(1, tmp_path / "p1.npz", kind, pc)
    assert np.all(serial["residuals"] <= 1e-8)
    for ranks in (2, 3):
        parallel = run_mpi(ranks, tmp_path / f"p{ranks}.npz", kind, pc)
        assert np.all(np.abs(parallel["iterations"] - serial["iterations"]) <= 2), \
            (ranks, parallel["iterations"], serial["iterations"])
        assert np.all(parallel["residuals"] <= 1e-8)
        # The warm start's scale is a global quantity: every rank's equals the serial one.
        assert np.isnan(serial["guess_scales"][0]) and np.all(serial["guess_scales"][2::2] == 1.0)
        assert np.all(serial["guess_scales"][1::2] < 0)  # the flipped guesses were scaled
        assert np.allclose(parallel["guess_scales"][1:], serial["guess_scales"][1:], rtol=1e-6)
        scale = np.abs(serial["solutions"]).max()
        assert np.abs(parallel["solutions"] - serial["solutions"]).max() <= 1e-6 * scale


def python_ksp(prefix: str, given: dict):
    """A KSP of type python running solvers.petsc.GCRODR, set up from the options database
    with ``given`` under ``prefix`` (taken out again afterwards)."""
    from petsc4py import PETSc
    opts = PETSc.Options()
    given = {"ksp_type": "python", "ksp_python_type": "solvers.petsc.GCRODR", **given}
    for name, value in given.items():
        opts[f"{prefix}{name}"] = value
    ksp = PETSc.KSP().create()
    ksp.setOptionsPrefix(prefix)
    ksp.setFromOptions()
    for name in given:
        opts.delValue(f"{prefix}{name}")
    return ksp


@pytest.mark.parametrize("side", ["right", "left"])
def test_gcrodr_as_a_petsc_python_ksp(side):
    from solvers import GCRODR
    from solvers.backends.petsc import MatrixHolder
    systems = darcy_sequence(n=24, count=4)
    given = {"ksp_gcrodr_m": 30, "ksp_gcrodr_k": 10, "pc_type": "jacobi", "ksp_rtol": 1e-9}
    if side == "left":
        given["ksp_gcrodr_pc_side"] = "left"
    ksp = python_ksp("pyk_", given)
    reference = GCRODR(m=30, k=10, rtol=1e-9, backend="petsc", preconditioner="jacobi", rebuild="always",
                       pc_side=side)
    holder = MatrixHolder()
    for A, b in systems:
        mat = holder.update(A)
        ksp.setOperators(mat)
        bv, xv = mat.createVecLeft(), mat.createVecRight()
        bv.getArray()[:] = b
        ksp.solve(bv, xv)
        x_ref, info = reference.solve(A, b)
        assert ksp.getConvergedReason() > 0 and info.converged
        assert np.allclose(xv.getArray(), x_ref, rtol=0, atol=1e-12 * np.abs(x_ref).max())  # the same method
        assert abs(ksp.getIterationNumber() - info.iterations) <= 2
        if side == "right":
            assert np.linalg.norm(b - A @ xv.getArray()) / np.linalg.norm(b) <= 1e-9


@pytest.mark.parametrize("scale", [True, False])
def test_python_ksp_scales_a_nonzero_guess_worse_than_zero_unless_told_not_to(scale):
    from solvers.backends.petsc import MatrixHolder
    A, b = darcy_sequence(n=16, count=1)[0]
    exact = spla.spsolve(A.tocsc(), b)
    ksp = python_ksp("pyg_", {"ksp_rtol": 1e-9, "ksp_gcrodr_scale_guess": "true" if scale else "false"})
    mat = MatrixHolder().update(A)
    ksp.setOperators(mat)
    bv, xv = mat.createVecLeft(), mat.createVecRight()
    bv.getArray()[:] = b
    xv.getArray()[:] = -7.0 * exact  # residual 8 ||b||; scaled by -1/7 it is the solution
    ksp.setInitialGuessNonzero(True)
    ksp.solve(bv, xv)
    assert ksp.getConvergedReason() > 0
    assert np.linalg.norm(b - A @ xv.getArray()) / np.linalg.norm(b) <= 1e-9
    assert (ksp.getIterationNumber() == 0) == scale, ksp.getIterationNumber()


def test_solvers_runs_openblas_single_threaded_unless_told_otherwise():
    """Importing solvers before PETSc leaves the OpenBLAS that PETSc loads with one thread
    (its threads made CG + MG 2x slower, docs/benchmarks.md); a value the user set wins."""
    import os
    probe = ("import ctypes, solvers.ksp; "
             "print(ctypes.CDLL('libopenblas.so.0').openblas_get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}

    def threads(**extra):
        result = subprocess.run([sys.executable, "-c", probe], env={**env, **extra}, cwd=HERE.parent,
                                capture_output=True, text=True, timeout=120)
        if "libopenblas.so.0" in result.stderr:
            pytest.skip("PETSc is not linked with OpenBLAS here")
        assert result.returncode == 0, result.stderr
        return int(result.stdout.split()[-1])

    assert threads() == 1
    if (os.cpu_count() or 1) >= 2:
        assert threads(OPENBLAS_NUM_THREADS="2") == 2
