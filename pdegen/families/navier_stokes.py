"""Incompressible Navier–Stokes in 2-D, vorticity form: ω_t + u·∇ω = ν Δω + f on a periodic box.

FNO's Navier–Stokes data (Li et al., "Fourier neural operator for parametric partial
differential equations", ICLR 2021, section 5.3) by default: the unit torus, ν = 1e-3,
ω₀ a GRF with α = 2.5, τ = 7 (σ = τ^1.5, FNO's normalisation), the forcing
f = A (sin 2π(x + y) + cos 2π(x + y)) with A = 0.1 (``forcing_amplitude``; on another box
x and y are scaled to its sides), to t = 50, a state stored every time unit. FNO solved it
pseudo-spectrally on 256² and kept every fourth point.

Two discretisations (``discretization.scheme``):

- ``pseudo-spectral``, the default: Fourier modes in space, an integrating factor for the
  viscous term and RK4 for the rest (:mod:`pdegen.families.spectral`); no linear systems.
  On the recipe's flow a 64² solution is within 4.3e-9 of a 128² one at every stored
  time.
- ``crank-nicolson``, ``backward-euler`` or ``rannacher``: finite volumes with implicit
  diffusion, described below; second order in space (2% off at t = 50 on 64²), for
  comparison with the other families' discretisations and as a sequence of linear systems.

Finite volumes: the velocity is u = (∂ψ/∂y, -∂ψ/∂x) with -Δψ = ω. ψ is the exact inverse of the 5-point
Laplacian on the periodic grid, by FFT (the discrete Laplacian is diagonal in the Fourier
basis; ψ has zero mean); the face velocities are differences of ψ at the cell corners
(:func:`fv.stream_face_velocities`), so the discrete divergence is zero to rounding and the
total of ω changes only by the source's. The flux u ω across each face takes the upwind
state of van Leer's limited reconstruction (``convection: muscl``, the default: second
order where ω is smooth, no new extrema from the convection) or the two cells' mean
(``central``: second order, oscillates once |u| h / ν exceeds 2).

The diffusion is implicit and the convection explicit (IMEX, :mod:`pdegen.families.imex`):
one step matrix I/Δt + θνL per sample (until Δt halves, below), factorised once. The
explicit convection asks Δt (max|u_x| / h_x + max|u_y| / h_y) <= 0.4 (``CFL``, Burgers'
limit, with which the midpoint rule and limited slopes make no new extrema of note).
Each sample's Δt comes from its own ω₀
(:meth:`NavierStokes.sample_recipe`): the steps that keep the CFL number at 0.4 with
the velocity of ω₀ doubled (``SPEED_MARGIN``: the forcing drives the flow), at least the
recipe's ``steps``, a multiple of the stored states. Where the forcing speeds the flow up
further, past a CFL number of 0.8 (``CFL_RESTART``) at the start of a step, the stored
interval under way is done again with half the Δt, which the rest of the sample keeps
(the stored times stay); the same data refine the same way in ``pdegen verify``.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((32, 32), ((0, 1), (0, 1)))
>>> x, y = g.mesh()
>>> omega = np.sin(2 * np.pi * x) * np.sin(2 * np.pi * y)  # a Taylor–Green cell: ψ = ω / 8π²
>>> bool(np.abs(8 * np.pi**2 * stream_function(omega, g) - omega).max() < 2e-2)
True
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..fields import sample_parameter, sample_rng, typical_value
from ..grid import Grid
from ..schema import Key
from . import boundary as faces
from . import fv, spectral
from .base import Parameter
from .burgers import van_leer_slopes
from .heat import THETA, trajectory_keys, with_steps
from .imex import ImexDiffusion

CFL = 0.4            # Δt Σ_i max|u_i| / h_i aimed at
CFL_RESTART = 0.8    # reached at a step's start: its stored interval again, with half the Δt
SPEED_MARGIN = 2.0   # the velocity of ω₀ times this sizes the first try's Δt
MAX_REFINEMENT = 64  # a flow that needs 64x the first try's steps has blown up
SPECTRAL = "pseudo-spectral"


def stream_function(omega: np.ndarray, grid: Grid) -> np.ndarray:
    """ψ with -L ψ = ω - mean(ω) and mean(ψ) = 0, L the 5-point Laplacian of the periodic
    grid (exactly: L is diagonal in the discrete Fourier basis, with symbol
    -Σ_i (2 - 2 cos(2π k_i / n_i)) / h_i²)."""
    spectrum = np.fft.rfftn(omega) * _inverse_symbol(grid.shape, grid.spacing)
    return np.fft.irfftn(spectrum, s=grid.shape, axes=tuple(range(grid.ndim)))


@lru_cache(maxsize=8)
def _inverse_symbol(shape: tuple, spacing: tuple) -> np.ndarray:
    """1 / Σ_i (2 - 2 cos(2π k_i / n_i)) / h_i² on rfftn's wavenumbers; 0 for the mean."""
    symbol = np.zeros((*shape[:-1], shape[-1] // 2 + 1))
    for axis, (n, h) in enumerate(zip(shape, spacing)):
        k = np.fft.rfftfreq(n, d=1.0 / n) if axis == len(shape) - 1 else np.fft.fftfreq(n, d=1.0 / n)
        along = [1] * len(shape)
        along[axis] = k.size
        symbol = symbol + ((2.0 - 2.0 * np.cos(2.0 * np.pi * k / n)) / h**2).reshape(along)
    symbol.flat[0] = np.inf  # the mean: ψ's is 0
    return 1.0 / symbol


def face_velocities(omega: np.ndarray, grid: Grid) -> list[np.ndarray]:
    """The normal velocities on the x faces (n_x + 1, n_y) and the y faces (n_x, n_y + 1)
    of the flow with vorticity ω (first and last faces of an axis are the same face)."""
    return fv.stream_face_velocities(grid, stream_function(omega, grid), periodic=(0, 1))


def cfl_number(velocities: list[np.ndarray], grid: Grid, dt: float) -> float:
    return dt * sum(float(np.abs(w).max()) / h for w, h in zip(velocities, grid.spacing))


def convection(omega: np.ndarray, velocities: list[np.ndarray], grid: Grid, scheme: str = "muscl") -> np.ndarray:
    """∇·(u ω) by finite volumes on the periodic grid: (F_{i+1/2} - F_{i-1/2}) / h per
    axis, F = w ω_face with w the face's normal velocity and ω_face the upwind side's
    limited reconstruction (muscl) or the two cells' mean (central)."""
    out = np.zeros(grid.shape)
    for axis, (w, h) in enumerate(zip(velocities, grid.spacing)):
        def cut(v, lo, hi):
            return v[fv.axis_slice(grid.ndim, axis, slice(lo, hi))]
        padded = np.concatenate([cut(omega, -2, None), omega, cut(omega, 0, 2)], axis=axis)  # two ghosts each side
        cells = cut(padded, 1, -1)  # one ghost each side
        if scheme == "muscl":
            differences = np.diff(padded, axis=axis)
            half = 0.5 * van_leer_slopes(cut(differences, 0, -1), cut(differences, 1, None))
            upper_face, lower_face = cells + half, cells - half
        else:
            upper_face = lower_face = cells
        left, right = cut(upper_face, 0, -1), cut(lower_face, 1, None)  # the n + 1 faces' two states
        if scheme == "muscl":
            flux = np.maximum(w, 0.0) * left + np.minimum(w, 0.0) * right
        else:
            flux = 0.5 * w * (left + right)
        out += np.diff(flux, axis=axis) / h
    return out


def forcing_pattern(grid: Grid) -> np.ndarray:
    """FNO's forcing shape sin 2π(x + y) + cos 2π(x + y), x and y scaled to the box's sides."""
    (x0, x1), (y0, y1) = grid.extent
    x, y = grid.mesh()
    phase = 2.0 * np.pi * ((x - x0) / (x1 - x0) + (y - y0) / (y1 - y0))
    return np.sin(phase) + np.cos(phase)


class NavierStokes(ImexDiffusion):
    name = "navier_stokes"
    doc = ("w_t + u.grad w = nu lap w + f, u = curl psi, -lap psi = w: 2-D incompressible flow in vorticity form "
           "(FNO's); periodic; IMEX; trajectories (N, T, *grid)")
    parameters = {
        "viscosity": Parameter("scalar", {"dist": "constant", "value": 1e-3}, "ν > 0", positive=True),
        "initial": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "none"},
                             "initial vorticity ω0(x) (its mean is kept: periodic flow cannot change it)"),
        "forcing_amplitude": Parameter("scalar", {"dist": "constant", "value": 0.1},
                                       "A in FNO's forcing f = A (sin 2π(x + y) + cos 2π(x + y))"),
    }
    boundary = faces.keys("periodic", ("periodic",))
    discretization = {**trajectory_keys(None, t_end=50.0, steps=50, save_every=1),
                      "scheme": Key("str", SPECTRAL, choices=(SPECTRAL, *THETA),
                                    doc="pseudo-spectral: Fourier modes, integrating factor + RK4, no linear systems "
                                        "(FNO's way); the others: finite volumes, implicit diffusion (rannacher: "
                                        "Crank-Nicolson, its first step two backward-Euler half steps)"),
                      "steps": Key("int", 50, low=1, doc="time steps to t_end, at least: a sample takes more where its "
                                                         "explicit convection needs them (a multiple of the stored "
                                                         "states)"),
                      "convection": Key("str", "muscl", choices=("muscl", "central"),
                                        doc="finite volumes: muscl, van Leer's limited upwind states; central, the "
                                            "cells' mean")}
    operator_parameters = ("viscosity",)
    dimensions = (2,)
    fixed_time_step = False  # Δt halves where the flow outgrows it
    _checked: tuple = (None, None)  # (state, its face velocities) at the start of the step under way

    def check(self, recipe: dict) -> list[str]:
        problems = super().check(recipe)
        method = recipe["solver"]["method"]
        if recipe["discretization"]["scheme"] == SPECTRAL and method != "auto":
            problems.append(f"solver.method: {method!r} has nothing to solve: discretization.scheme {SPECTRAL!r} "
                            "solves no linear systems; leave solver.method 'auto', or choose a finite-volume scheme "
                            f"({', '.join(map(repr, THETA))})")
        return problems

    def diffusivity(self, recipe: dict) -> float:
        return typical_value(recipe["parameters"]["viscosity"])

    def operator_varies(self, recipe: dict) -> bool:
        return True  # Δt, and with it I/Δt + θνL, is each sample's own

    def mass_shift(self, recipe: dict) -> float | None:
        return None  # 1/Δt differs from sample to sample

    def sample_recipe(self, grid: Grid, values: dict, recipe: dict) -> dict:
        """The recipe with this sample's steps: as many as keep the CFL number at 0.4 with
        the velocity of ω₀ doubled, at least ``steps``, a multiple of the stored states."""
        omega = np.array(np.broadcast_to(values["initial"], grid.shape), dtype=np.float64)
        speed_over_h = SPEED_MARGIN * cfl_number(face_velocities(omega, grid), grid, 1.0)
        return with_steps(recipe, int(np.ceil(recipe["discretization"]["t_end"] * speed_over_h / CFL)))

    def vector_fields(self, grid: Grid, state: np.ndarray, recipe: dict) -> dict[str, np.ndarray]:
        """{"velocity": (2, n_x, n_y)}: u = (∂ψ/∂y, -∂ψ/∂x) at the cell centres of the flow with
        vorticity ``state`` (on ``grid``), as the scheme defines it: on the Fourier modes
        (pseudo-spectral), or the mean of the two face velocities of finite volumes."""
        omega = np.asarray(state, dtype=np.float64).reshape(grid.shape)
        if not self.solves_systems(recipe):
            return {"velocity": spectral.velocity(omega, tuple(hi - lo for lo, hi in grid.extent))}
        wx, wy = face_velocities(omega, grid)
        return {"velocity": np.stack([0.5 * (wx[:-1] + wx[1:]), 0.5 * (wy[:, :-1] + wy[:, 1:])])}

    def solves_systems(self, recipe: dict) -> bool:
        return recipe["discretization"]["scheme"] != SPECTRAL

    def solves_per_sample(self, recipe: dict) -> int:
        """A typical sample's solves, for the planner: those of one draw of ω₀ (seed 0), as
        :meth:`sample_recipe` counts them (Δt halving mid-sample not foreseen); none
        pseudo-spectrally."""
        if not self.solves_systems(recipe):
            return 0
        shape = tuple(recipe["grid"]["shape"])
        initial = sample_parameter(recipe["parameters"]["initial"], shape, sample_rng(0, 0))
        stepped = self.sample_recipe(Grid(shape, recipe["grid"]["extent"]), {"initial": initial}, recipe)
        return stepped["discretization"]["steps"] * self.solves_in_step(recipe, 2)

    def trajectory(self, grid: Grid, values: dict, recipe: dict, solve):
        """As heat's (finite volumes), or pseudo-spectrally (``solve`` unused): the stored
        states only, each yielded as (step, state, True)."""
        if self.solves_systems(recipe):
            yield from super().trajectory(grid, values, recipe, solve)
        else:
            yield from self._spectral_states(grid, values, recipe, spectral.CFL)

    def finer_trajectory(self, grid: Grid, values: dict, recipe: dict):
        """Pseudo-spectral states with steps for half the Courant number: RK4's error
        falls 16x, so the difference from the build's states is about its error."""
        return self._spectral_states(grid, values, recipe, spectral.CFL / 2)

    def _spectral_states(self, grid: Grid, values: dict, recipe: dict, cfl: float):
        """(step, state, True) for each stored state, integrated for the Courant number ``cfl``."""
        lengths = tuple(hi - lo for lo, hi in grid.extent)
        forcing = float(values["forcing_amplitude"]) * forcing_pattern(grid)
        every = recipe["discretization"]["save_every"]
        states = spectral.integrate(self.initial_state(grid, values).reshape(grid.shape), lengths,
                                    float(values["viscosity"]), forcing, self.output_times(recipe),
                                    min_steps=every, cfl=cfl)
        for index, state in enumerate(states, start=1):
            yield index * every, state.ravel(), True

    def spatial_operator(self, grid: Grid, values: dict, recipe: dict):
        """(νL, f): the viscous term and FNO's forcing on the periodic grid."""
        forcing = float(values["forcing_amplitude"]) * forcing_pattern(grid)
        return fv.assemble(grid, forcing, diffusion=values["viscosity"],
                           boundary=faces.conditions(recipe["boundary"], grid.ndim))

    def explicit_term(self, grid: Grid, values: dict, recipe: dict):
        scheme = recipe["discretization"]["convection"]

        def term(omega_flat: np.ndarray) -> np.ndarray:
            omega = omega_flat.reshape(grid.shape)
            if omega_flat is self._checked[0]:  # the step's start, its velocities just computed
                velocities = self._checked[1]
            else:
                velocities = face_velocities(omega, grid)
            return -convection(omega, velocities, grid, scheme).ravel()
        return term

    def step_too_long(self, grid: Grid, state: np.ndarray, dt: float, refinement: int) -> bool:
        """A step that would start above CFL_RESTART (heat's trajectory then halves Δt); a
        flow that blew up, or outgrew MAX_REFINEMENT times the first steps, is an error."""
        velocities = face_velocities(state.reshape(grid.shape), grid)
        courant = cfl_number(velocities, grid, dt)
        if not np.isfinite(courant) or refinement > MAX_REFINEMENT:
            raise FloatingPointError(f"navier_stokes: the flow blew up (Courant number {courant:.3g} with "
                                     f"{refinement}x the first try's steps, at most {MAX_REFINEMENT}x)")
        self._checked = (state, velocities)  # the predictor's term needs them again
        return courant > CFL_RESTART
