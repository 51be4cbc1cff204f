"""Pseudo-spectral time-stepping of 2-D vorticity on a periodic box: how FNO made its data.

ω_t + u·∇ω = ν Δω + f with u = (∂ψ/∂y, -∂ψ/∂x), -Δψ = ω. Derivatives are exact on the
grid's Fourier modes (real FFTs), the product u·∇ω is formed on the grid and its modes
beyond two thirds of each axis's Nyquist number dropped (Orszag's 2/3 rule, as FNO's
solver does); the viscous term is integrated exactly by an integrating factor and the
rest by the classical fourth-order Runge–Kutta method (Cox and Matthews' "IFRK4"), so
Δt is bounded by the convection alone: Δt Σ_i max|u_i| / h_i at most ``CFL``.

Each stored interval is split into equal steps sized from the flow at its start, with the
velocity doubled (``SPEED_MARGIN``: the forcing speeds a flow up); where the flow at its
end would need more (a Courant number above ``CFL_RESTART``), the interval is done again
with twice the steps. A flow that needs ``MAX_REFINEMENT`` times its first steps has blown
up: FloatingPointError.

On recipes/navier_stokes.yaml's flow (ν = 1e-3 to t = 50) a 64² solution matches one on
128² to 4.3e-9 (docs/benchmarks.md, navier_stokes); second-order finite volumes on the
same 64² grid are 2% off by t = 50.

Reference: S. M. Cox and P. C. Matthews, "Exponential time differencing for stiff
systems", J. Comput. Phys. 176, 430-455, 2002 (IFRK4, section 2); FNO's data: Li et al.,
ICLR 2021, section 5.3 (Crank–Nicolson there, on 256²).

Example
-------
>>> import numpy as np
>>> n, nu = 32, 1e-2
>>> x = (np.arange(n) + 0.5) / n
>>> taylor_green = np.outer(np.sin(2 * np.pi * x), np.sin(2 * np.pi * x))  # u·∇ω = 0: pure decay
>>> (state,) = integrate(taylor_green, (1.0, 1.0), nu, np.zeros((n, n)), [0.5])
>>> bool(np.allclose(state, taylor_green * np.exp(-8 * np.pi**2 * nu * 0.5), atol=1e-12))
True
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np

CFL = 0.5             # Δt Σ_i max|u_i| / h_i aimed at (RK4 on 2/3-dealiased modes is stable to ~1.3)
CFL_RESTART = 1.0     # reached by an interval's end: the interval again, with twice the steps
SPEED_MARGIN = 2.0    # the velocity at an interval's start times this sizes its steps
MAX_REFINEMENT = 64   # a flow that needs 64x the first try's steps has blown up


@cache
def _keep_freed_memory() -> None:
    """Ask glibc (once per process) to keep freed blocks up to 32 MiB for reuse instead of
    returning them to the system. Each step frees and allocates arrays of 100-500 KiB (the
    FFTs' own too); by default glibc hands such memory back and faults it in again, page by
    page: at 128² that took 55% of the time (1.0M page faults in 2.8 s for t = 0..10; 1.07 s
    with this, the same digits). Elsewhere than glibc, nothing is done."""
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, libc's among them
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
        libc.mallopt(m_mmap_threshold, 32 << 20)
        libc.mallopt(m_trim_threshold, 64 << 20)
    except (OSError, AttributeError, TypeError):
        pass


class _Modes:
    """The real-FFT wavenumbers of an (n_x, n_y) box with sides ``lengths``."""

    def __init__(self, shape: tuple[int, int], lengths: tuple[float, float]):
        (nx, ny), (lx, ly) = shape, lengths
        self.shape = shape
        self.spacing = (lx / nx, ly / ny)
        mx, my = np.fft.fftfreq(nx, d=1.0 / nx), np.fft.rfftfreq(ny, d=1.0 / ny)  # whole mode numbers
        self.kx = (2.0 * np.pi / lx * mx)[:, None]
        self.ky = (2.0 * np.pi / ly * my)[None, :]
        self.k2 = self.kx**2 + self.ky**2
        self.inverse_k2 = np.divide(1.0, self.k2, out=np.zeros_like(self.k2), where=self.k2 > 0)
        self.kept = (np.abs(mx)[:, None] < nx / 3.0) & (np.abs(my)[None, :] < ny / 3.0)  # the 2/3 rule
        # What turns ω's modes into those of u = ∂ψ/∂y, v = -∂ψ/∂x, ∂ω/∂x, ∂ω/∂y: one stacked
        # inverse FFT makes all four (1.3x faster than four calls at 64²).
        self.gradients = np.stack(np.broadcast_arrays(1j * self.ky * self.inverse_k2, -1j * self.kx * self.inverse_k2,
                                                      1j * self.kx, 1j * self.ky))

    def fields(self, w_hat: np.ndarray) -> np.ndarray:
        """(u, v, ∂ω/∂x, ∂ω/∂y) on the grid, stacked."""
        return np.fft.irfft2(self.gradients * w_hat, s=self.shape)

    def speed_over_h(self, w_hat: np.ndarray) -> float:
        """Σ_i max|u_i| / h_i: Δt times this is the Courant number."""
        u, v = np.fft.irfft2(self.gradients[:2] * w_hat, s=self.shape)
        return float(np.abs(u).max()) / self.spacing[0] + float(np.abs(v).max()) / self.spacing[1]


def velocity(omega: np.ndarray, lengths: tuple[float, float]) -> np.ndarray:
    """(2, n_x, n_y): u = ∂ψ/∂y and v = -∂ψ/∂x of the flow with vorticity ``omega`` on an
    (n_x, n_y) periodic box with sides ``lengths``, exact on the grid's Fourier modes (-Δψ = ω,
    ψ of zero mean)."""
    modes = _Modes(omega.shape, lengths)
    return np.fft.irfft2(modes.gradients[:2] * np.fft.rfft2(np.asarray(omega, dtype=np.float64)), s=modes.shape)


def integrate(omega0: np.ndarray, lengths: tuple[float, float], viscosity: float, forcing: np.ndarray,
              times: Sequence[float], min_steps: int = 1, cfl: float = CFL) -> Iterator[np.ndarray]:
    """The vorticity at each of the increasing ``times`` (> 0) from ``omega0`` at t = 0,
    both on the cells of an (n_x, n_y) periodic box with sides ``lengths`` (any uniform
    points: the phase of the grid does not matter), under the steady source ``forcing``
    on the same cells; each stored interval takes at least ``min_steps`` steps, sized for
    the Courant number ``cfl`` (``pdegen verify`` integrates again with half of it)."""
    _keep_freed_memory()
    modes = _Modes(omega0.shape, lengths)
    force_hat = np.fft.rfft2(forcing)

    def tendency(w_hat):
        """The Fourier modes of -u·∇ω + f (dealiased)."""
        u, v, wx, wy = modes.fields(w_hat)
        return force_hat - modes.kept * np.fft.rfft2(u * wx + v * wy)

    def advance(w_hat, interval, steps):
        dt = interval / steps
        full, half = np.exp(-viscosity * modes.k2 * dt), np.exp(-viscosity * modes.k2 * dt / 2)
        for _ in range(steps):
            a = tendency(w_hat)
            b = tendency(half * (w_hat + dt / 2 * a))
            c = tendency(half * w_hat + dt / 2 * b)
            d = tendency(full * w_hat + dt * half * c)
            w_hat = full * w_hat + dt / 6 * (full * a + 2 * half * (b + c) + d)
        return w_hat

    w_hat, now = np.fft.rfft2(np.asarray(omega0, dtype=np.float64)), 0.0
    for target in times:
        interval = float(target) - now
        first = max(min_steps, int(np.ceil(interval * SPEED_MARGIN * modes.speed_over_h(w_hat) / cfl)))
        steps = first
        while True:
            end = advance(w_hat, interval, steps)
            courant = interval / steps * modes.speed_over_h(end) if np.isfinite(end).all() else np.inf
            if courant <= CFL_RESTART:
                break
            if steps >= MAX_REFINEMENT * first:
                raise FloatingPointError(f"navier_stokes: the flow blew up by t = {target:g} (Courant number "
                                         f"{courant:.3g} with {steps // first}x the first try's steps)")
            steps *= 2
        w_hat, now = end, float(target)
        yield np.fft.irfft2(w_hat, s=modes.shape)
