"""Building blocks shared by GMRES and GCRO-DR: Arnoldi by classical Gram-Schmidt (one
reduction per step; a DGKS second pass on request) against a fixed orthonormal block,
Givens-rotation least squares, harmonic Ritz vectors and a rank-revealing
orthonormalisation of distributed blocks.

All distributed work goes through a backend (``apply_A``, ``apply_M``, ``dot``); the
small dense matrices (Hessenberg, Ritz problems) are replicated on every rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from scipy.linalg.blas import dgemm as _dgemm
from scipy.linalg.blas import dgemv as _dgemv

# A Hessenberg subdiagonal below this fraction of the column norm is a (lucky) breakdown.
BREAKDOWN = 1e-13


# Daniel-Gragg-Kaufman-Stewart criterion: reorthogonalise when one classical Gram-Schmidt
# pass removed more than half of the vector's squared norm (cos 45° between w and the span).
REORTHOGONALIZE = 0.5


def project(backend, basis: np.ndarray, ncols: int, refine: bool = True):
    """Orthogonalise column ``ncols`` of ``basis`` against the orthonormal columns before it,
    in place, by classical Gram-Schmidt, with DGKS reorthogonalisation when needed if
    ``refine`` (the solvers' ``orthogonalization="cgs2"``).

    One pass costs one reduction: the block inner product [Q w]^T w gives the
    coefficients and w·w together, and the norm after projection follows from Pythagoras.
    When that pass cancelled most of w (the criterion above), the norm is recomputed
    explicitly, and with ``refine`` a second pass restores orthogonality first (CGS2).
    Returns (coefficients, norm of the projected column).
    """
    Q = basis[:, :ncols]
    w = basis[:, ncols]
    both = backend.dot(basis[:, : ncols + 1], w)
    h, ww = both[:-1].copy(), float(both[-1])
    _subtract_combination(Q, h, w)
    norm2 = ww - float(h @ h)
    if norm2 > REORTHOGONALIZE * ww:
        return h, float(np.sqrt(norm2))
    if not refine:  # plain CGS (PETSc's default): accept the pass, but take an honest norm
        return h, backend.norm(w)
    h2 = backend.dot(Q, w)
    _subtract_combination(Q, h2, w)
    return h + h2, backend.norm(w)


def _subtract_combination(Q: np.ndarray, h: np.ndarray, w: np.ndarray) -> None:
    """w -= Q h in place: one BLAS gemv pass over w when the layout allows (a basis in
    Fortran order), instead of a temporary Q h and a second pass."""
    if Q.flags.f_contiguous and w.flags.c_contiguous and Q.dtype == w.dtype == np.float64 and Q.shape[1] > 0:
        result = _dgemv(-1.0, Q, h, 1.0, w, overwrite_y=True)
        if not np.may_share_memory(result, w):  # f2py made a copy after all
            w[...] = result
    else:
        w -= Q @ h


class GivensLS:
    """Incremental QR of an (j+1) x j upper Hessenberg matrix by Givens rotations, for
    min || beta e1 - H y ||; ``residual`` is the current least-squares residual norm.

    The product of the rotations so far is kept as one explicit orthogonal matrix, so a
    new column is rotated by a single small matrix-vector product rather than j scalar
    rotations in Python (which had cost a GMRES(40) step ~20 us at any problem size)."""

    def __init__(self, steps: int, beta: float):
        self.R = np.zeros((steps + 1, steps))
        self.Qt = np.eye(steps + 1)  # Q^T: the rotations applied so far
        self.beta = beta
        self.j = 0

    def add_column(self, h: np.ndarray) -> float:
        j = self.j
        rotated = self.Qt[: j + 1, : j + 1] @ h[: j + 1]  # row j+1 of Q^T is still e_{j+1}
        denominator = np.hypot(rotated[j], h[j + 1])
        c, s = (1.0, 0.0) if denominator == 0.0 else (rotated[j] / denominator, h[j + 1] / denominator)
        self.R[:j, j] = rotated[:j]
        self.R[j, j] = denominator
        row = self.Qt[j, : j + 1].copy()
        self.Qt[j, : j + 1] = c * row
        self.Qt[j, j + 1] = s
        self.Qt[j + 1, : j + 1] = -s * row
        self.Qt[j + 1, j + 1] = c
        self.j += 1
        return self.residual

    @property
    def residual(self) -> float:
        return abs(self.beta * self.Qt[self.j, 0])

    def solve(self) -> np.ndarray:
        j = self.j
        if j == 0:
            return np.zeros(0)
        return sla.solve_triangular(self.R[:j, :j], self.beta * self.Qt[:j, 0], check_finite=False)


def combine(terms) -> np.ndarray:
    """sum_i X_i Y_i for this rank's rows ``X_i`` (n_local x p_i) and small replicated
    ``Y_i`` (p_i x q), as one Fortran-ordered n_local x q array (contiguous columns, as
    the solvers' bases): BLAS accumulates the products in place, with no n-row temporaries."""
    out = None
    for block, coefficients in terms:
        coefficients = np.asfortranarray(coefficients, dtype=np.float64)
        if block.shape[1] == 0:
            continue
        if out is None:
            out = _dgemm(1.0, block, coefficients)
        else:
            out = _dgemm(1.0, block, coefficients, 1.0, out, overwrite_c=True)
    if out is None:
        block, coefficients = terms[0]
        out = np.zeros((block.shape[0], np.shape(coefficients)[1]), order="F")
    return out


@dataclass
class Cycle:
    """Result of one Arnoldi cycle: ``steps`` columns of the Hessenberg ``H`` (steps+1 x
    steps), the coupling ``B = C^T A M^-1 V`` (k x steps) and the LS solution ``y``."""

    steps: int
    H: np.ndarray
    B: np.ndarray
    y: np.ndarray
    residual_estimate: float
    breakdown: bool


def arnoldi_cycle(backend, basis: np.ndarray, k: int, r: np.ndarray, beta: float, steps: int,
                  target: float, refine: bool = True) -> Cycle:
    """Run up to ``steps`` Arnoldi steps of B = (I - C C^T) A M^-1 from r / beta.

    ``basis`` is a preallocated (n, k + steps + 1) array whose first k columns hold C
    (orthonormal); the Krylov basis V is written after them. Stops early when the
    least-squares residual drops to ``target`` or on breakdown. ``refine`` selects CGS
    with DGKS reorthogonalisation (True) or a single CGS pass (False, PETSc's default).
    """
    basis[:, k] = r / beta
    H = np.zeros((steps + 1, steps))
    B = np.zeros((k, steps))
    givens = GivensLS(steps, beta)
    breakdown = False
    j = 0
    while j < steps:
        backend.apply_A(backend.apply_M(basis[:, k + j]), out=basis[:, k + j + 1])
        coefficients, norm = project(backend, basis, k + j + 1, refine)
        B[:, j] = coefficients[:k]
        H[: j + 1, j] = coefficients[k:]
        H[j + 1, j] = norm
        givens.add_column(H[: j + 2, j])
        j += 1
        scale = max(np.abs(H[: j + 1, j - 1]).max(), 1e-300)
        if norm <= BREAKDOWN * scale:
            breakdown = True
            break
        basis[:, k + j] /= norm
        if givens.residual <= target:
            break
    return Cycle(j, H[: j + 1, :j], B[:, :j], givens.solve(), givens.residual, breakdown)


def harmonic_ritz(G: np.ndarray, WtV: np.ndarray, k: int) -> np.ndarray | None:
    """Real orthonormal basis P (columns <= k) of the harmonic Ritz vectors of smallest
    modulus: G^T G z = theta (G^T WtV) z, as in Parks et al. (2006), eq. (2.16).

    Complex conjugate pairs contribute their real and imaginary parts together; a pair
    that straddles the cut ends the selection (k - 1 columns) instead of being skipped
    for a larger value, a jump that made the recycle space, and iteration counts, depend
    on rounding (a 1e-12 perturbation of b changed them by up to 4; now by at most 1).
    Returns None when the small eigenproblem fails.
    """
    try:
        values, vectors = sla.eig(G.T @ G, G.T @ WtV, check_finite=False)
    except (np.linalg.LinAlgError, ValueError):
        return None
    finite = np.isfinite(values)
    if not finite.any():
        return None
    order = [i for i in np.argsort(np.abs(np.where(finite, values, np.inf))) if finite[i]]
    columns = []
    taken = set()
    for i in order:
        if len(columns) >= k or i in taken:
            continue
        if abs(values[i].imag) > 1e-12 * max(abs(values[i]), 1e-300):
            if len(columns) + 2 > k:
                break  # the pair straddles the cut: stop at k - 1 rather than skip to a larger value
            columns += [vectors[:, i].real, vectors[:, i].imag]
            distance = np.where(np.arange(len(values)) == i, np.inf, np.abs(values - values[i].conj()))
            partner = np.argmin(distance)
            taken.update({i, int(partner)})
        else:
            columns.append(vectors[:, i].real)
            taken.add(i)
    if not columns:
        return None
    P, R = np.linalg.qr(np.column_stack(columns))
    keep = np.abs(np.diag(R)) > 1e-12 * np.abs(np.diag(R)).max()
    return P[:, keep]


def orthonormalize(backend, Y: np.ndarray, companion: np.ndarray | None = None, drop: float = 1e-10):
    """Orthonormalise the distributed block Y (SVQB then CholQR), dropping directions
    whose singular value is below ``drop`` times the largest; ``companion`` gets the same
    column transformation (so that A U = C stays true). Returns (Q, companion')."""
    G = backend.dot(Y, Y)
    G = 0.5 * (G + G.T)
    lam, W = np.linalg.eigh(G)
    if lam.max() <= 0:
        return Y[:, :0], None if companion is None else companion[:, :0]
    keep = lam > (drop**2) * lam.max()
    T = W[:, keep] / np.sqrt(lam[keep])
    Q = Y @ T
    companion = None if companion is None else companion @ T
    G2 = backend.dot(Q, Q)  # second pass: CholQR cleans the rounding of the first
    try:
        R = np.linalg.cholesky(0.5 * (G2 + G2.T)).T
    except np.linalg.LinAlgError:
        return Q, companion
    Q = sla.solve_triangular(R, Q.T, trans="T", check_finite=False).T
    if companion is not None:
        companion = sla.solve_triangular(R, companion.T, trans="T", check_finite=False).T
    return Q, companion
