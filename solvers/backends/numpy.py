"""NumPy/SciPy backend (serial): SciPy sparse matrices or LinearOperators, and
preconditioners given as LinearOperators, callables or by name ("none", "jacobi", "ilu").

Example
-------
>>> import scipy.sparse as sp, numpy as np
>>> be = NumpyBackend()
>>> be.set_operator(sp.identity(3, format="csr"))
True
>>> be.apply_A(np.ones(3))
array([1., 1., 1.])
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

PRECONDITIONERS = ("none", "jacobi", "ilu")


class NumpyBackend:
    name = "numpy"

    def __init__(self, preconditioner="none", options: dict | None = None):
        self.preconditioner = preconditioner
        self.options = dict(options or {})
        self.A = None
        self._M = None

    # Operator and preconditioner -------------------------------------------------
    def set_operator(self, A) -> bool:
        """Use ``A`` from now on; returns whether it differs from the previous operator."""
        changed = A is not self.A
        self.A = A
        return changed

    def build_preconditioner(self, spec=None) -> None:
        """(Re)build M for the current operator: a name, a LinearOperator or a callable."""
        spec = self.preconditioner if spec is None else spec
        if spec is None or (isinstance(spec, str) and spec == "none"):
            self._M = None
        elif isinstance(spec, str):
            if spec not in PRECONDITIONERS:
                raise ValueError(f"numpy backend preconditioner must be one of {', '.join(PRECONDITIONERS)}; "
                                 f"got {spec!r}")
            A = sp.csr_matrix(self.A)
            if spec == "jacobi":
                inverse_diagonal = 1.0 / A.diagonal()
                self._M = lambda x: inverse_diagonal * x
            else:
                ilu = spla.spilu(A.tocsc(), drop_tol=self.options.get("drop_tol", 1e-4),
                                 fill_factor=self.options.get("fill_factor", 10))
                self._M = ilu.solve
        elif hasattr(spec, "matvec"):
            self._M = spec.matvec
        elif callable(spec):
            self._M = spec
        else:
            raise TypeError(f"preconditioner must be a name, a LinearOperator or a callable; got {type(spec)}")

    @property
    def has_preconditioner(self) -> bool:
        return self._M is not None

    # Kernels ---------------------------------------------------------------------
    def apply_A(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return _into(np.asarray(self.A @ x).ravel(), out)

    def apply_M(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if self._M is None:
            return _into(x, out) if out is not None else x.copy()
        return _into(np.asarray(self._M(x)).ravel(), out)

    def dot(self, V: np.ndarray, W: np.ndarray) -> np.ndarray:
        """Global V^T W (here: serial)."""
        return V.T @ W

    def column_norms(self, V: np.ndarray) -> np.ndarray:
        return np.linalg.norm(V, axis=0)

    def norm(self, x: np.ndarray) -> float:
        return float(np.sqrt(self.dot(x, x)))

    def local(self, b: np.ndarray) -> np.ndarray:
        return np.asarray(b, dtype=np.float64).ravel()


def _into(y: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return y
    out[...] = y
    return out
