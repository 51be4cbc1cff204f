"""Backends supply matrix-vector products, preconditioner applications and block inner
products (local GEMM plus one reduction) to the Krylov algorithms in :mod:`solvers`."""
