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


def vorticity_pseudo_spectral(omega0: np.ndarray, nu: float, amplitude: float, times, dt: float) -> np.ndarray:
    """2-D Navier–Stokes in vorticity form on the unit torus, an independent reference for
    pdegen's navier_stokes: ω₀ on the n² cell centres, FNO's forcing
    amplitude (sin 2π(x + y) + cos 2π(x + y)), Fourier derivatives with 2/3 dealiasing,
    diffusion by an integrating factor, RK4 in time (Δt ``dt``). Returns ω at ``times``
    (multiples of dt), shaped (len(times), n, n)."""
    n = omega0.shape[0]
    centres = (np.arange(n) + 0.5) / n
    x, y = np.meshgrid(centres, centres, indexing="ij")
    k = np.fft.fftfreq(n, d=1.0 / n)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    k2 = 4 * np.pi**2 * (kx**2 + ky**2)
    inverse = np.divide(1.0, k2, out=np.zeros_like(k2), where=k2 > 0)
    keep = (np.abs(kx) < n / 3) & (np.abs(ky) < n / 3)
    force = np.fft.fft2(amplitude * (np.sin(2 * np.pi * (x + y)) + np.cos(2 * np.pi * (x + y))))

    def nonlinear(w):
        psi = w * inverse
        u, v = np.fft.ifft2(2j * np.pi * ky * psi).real, np.fft.ifft2(-2j * np.pi * kx * psi).real
        wx, wy = np.fft.ifft2(2j * np.pi * kx * w).real, np.fft.ifft2(2j * np.pi * ky * w).real
        return -np.fft.fft2(u * wx + v * wy) * keep + force

    full, half = np.exp(-nu * k2 * dt), np.exp(-nu * k2 * dt / 2)
    w, t, out = np.fft.fft2(omega0), 0, []
    for target in times:
        for _ in range(int(round(target / dt)) - t):
            a = nonlinear(w)
            b = nonlinear(half * (w + dt / 2 * a))
            c = nonlinear(half * w + dt / 2 * b)
            d = nonlinear(full * w + dt * half * c)
            w = full * w + dt / 6 * (full * a + 2 * half * (b + c) + d)
        t = int(round(target / dt))
        out.append(np.fft.ifft2(w).real)
    return np.array(out)


def fourier_resample(w: np.ndarray, m: int) -> np.ndarray:
    """A band-limited periodic field on n² cell centres of the unit torus, evaluated on m²
    cell centres."""
    n = w.shape[0]
    k = np.fft.fftfreq(n, d=1.0 / n)
    coefficients = np.fft.fft2(w) * np.outer(*(2 * [np.exp(-1j * np.pi * k / n)]))  # centres at (i + 1/2)/n
    at = np.exp(2j * np.pi * np.outer((np.arange(m) + 0.5) / m, k))
    return (at @ coefficients @ at.T).real / n**2
