"""Small test problems for the solver tests (independent of pdegen's families)."""

import numpy as np
import scipy.sparse as sp

from pdegen.families.darcy import assemble_diffusion
from pdegen.fields import gaussian_random_field, sample_rng
from pdegen.grid import Grid
from pdegen.ordering import greedy_order, similarity_features


def darcy_sequence(n=48, count=20, seed=1, ordered=True):
    """(A, b) for Darcy systems with a = exp(GRF(2.5, 7)), in greedy order."""
    grid = Grid((n, n), ((0, 1), (0, 1)))
    fields = [np.exp(gaussian_random_field((n, n), 2.5, 7.0, sample_rng(seed, i))) for i in range(count)]
    order = greedy_order(np.stack([similarity_features({"a": f}) for f in fields])) if ordered else range(count)
    return [assemble_diffusion(grid, fields[i], 1.0) for i in order]


def convection_diffusion(n, angle, peclet=50.0):
    """-Δu + Pe (cos θ, sin θ)·∇u on the unit square, first-order upwind, Dirichlet 0.
    Nonsymmetric; the velocity angle θ lets a sequence drift slowly."""
    h = 1.0 / (n + 1)
    vx, vy = peclet * np.cos(angle), peclet * np.sin(angle)
    one = np.ones(n)
    D2 = sp.diags([-one[1:], 2 * one, -one[1:]], [-1, 0, 1]) / h**2
    # Upwind first derivative for positive / negative velocity.
    Dplus = sp.diags([-one[1:], one], [-1, 0]) / h   # backward difference (v > 0)
    Dminus = sp.diags([-one, one[1:]], [0, 1]) / h   # forward difference (v < 0)
    Dx = Dplus if vx >= 0 else Dminus
    Dy = Dplus if vy >= 0 else Dminus
    I = sp.identity(n)
    A = sp.kron(D2, I) + sp.kron(I, D2) + vx * sp.kron(Dx, I) + vy * sp.kron(I, Dy)
    x = np.linspace(h, 1 - h, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    b = (np.exp(-40 * ((X - 0.3) ** 2 + (Y - 0.4) ** 2))).ravel()
    return sp.csr_matrix(A), b
