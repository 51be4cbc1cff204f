"""Viscous Burgers: u_t + Σ_i ∂_i(u²/2) = ν Δu + f, u(0) = u₀, trajectories (N, T, *grid).

FNO's Burgers data (Li et al., "Fourier neural operator for parametric partial
differential equations", ICLR 2021) in 1-D, and its scalar analogue in 2-D and 3-D (the
flux u²/2 along every axis). Defaults as FNO's: the unit interval, periodic, ν = 0.1 and
u₀ a GRF with covariance 625 (-Δ + 25)^(-2) (α = 2, τ = 5, σ = 25), to t = 1.

The diffusion is implicit and the flux explicit (IMEX, :mod:`pdegen.families.imex`): every
solve of a sample has the step matrix I/Δt + θνL, one factorisation per sample. The flux
across each face is Engquist and Osher's for u²/2, F(u⁻, u⁺) = max(u⁻, 0)²/2 +
min(u⁺, 0)²/2 (upwind wherever the flow goes), of the two cells' values (``convection:
upwind``, first order) or of states reconstructed from them with van Leer's limited slopes
(``muscl``, the default: second order where u is smooth, no oscillation at a shock however
small ν; van Leer, J. Comput. Phys. 32, 1979). Faces: periodic (default); Dirichlet, where
the state outside is the face's value; Neumann, where it is the cell's own (u passes
through: the value is a diffusive flux only).

The explicit flux asks Δt max|u| Σ_i 1/h_i <= 0.4 (``CFL``): there a shock of height 1.5
makes new extrema of 6e-5 to 1.6e-3 (ν from 1e-3 to 1e-5), at 0.5 up to 1.2e-2, and the
scheme stays stable beyond 1 (docs/benchmarks.md, burgers). |u| stays below the largest of
|u0| and the Dirichlet values plus t_end max|f| (Burgers' maximum principle), so each
sample takes the steps its own bound asks, at least ``steps`` and a multiple of the stored
states (:meth:`Burgers.sample_recipe`): Δt, and with it the step matrix, is the sample's.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((8,), ((0, 1),))
>>> u = np.where(np.arange(8) < 4, 1.0, 0.0)
>>> flux_divergence(u, g, {(0, 0): fv.Boundary("periodic"), (0, 1): fv.Boundary("periodic")}, "upwind")
array([ 4.,  0.,  0.,  0., -4.,  0.,  0.,  0.])

(u moves right: the block's first cell empties, the cell past its end fills.)
"""

from __future__ import annotations

import numpy as np

from ..fields import magnitude_bound, typical_value
from ..grid import Grid
from ..schema import Key
from . import boundary as faces
from . import fv
from .base import NO_SOURCE, Parameter
from .heat import trajectory_keys, with_steps
from .imex import ImexDiffusion

CFL = 0.4  # Δt max|u| Σ 1/h_i: the midpoint rule with limited slopes (docs/benchmarks.md, burgers)


def van_leer_slopes(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Van Leer's limited slope from a cell's two differences: their harmonic mean where
    they agree in sign, 0 at an extremum."""
    product = backward * forward
    total = backward + forward
    return np.divide(2.0 * product, total, out=np.zeros_like(product), where=product > 0.0)


def _cut(v: np.ndarray, axis: int, lo: int | None, hi: int | None) -> np.ndarray:
    return v[fv.axis_slice(v.ndim, axis, slice(lo, hi))]


def _padded(u: np.ndarray, axis: int, conditions: dict) -> np.ndarray:
    """u with two ghost layers each side of ``axis``: the other end's cells (periodic),
    the face value (Dirichlet) or copies of the boundary cell (Neumann)."""
    if conditions[axis, 0].kind == "periodic":
        return np.concatenate([_cut(u, axis, -2, None), u, _cut(u, axis, 0, 2)], axis=axis)
    ghosts = []
    for side, cell in ((0, _cut(u, axis, 0, 1)), (1, _cut(u, axis, -1, None))):
        condition = conditions[axis, side]
        layer = np.full_like(cell, float(condition.value)) if condition.kind == "dirichlet" else cell
        ghosts.append(np.concatenate([layer, layer], axis=axis))
    return np.concatenate([ghosts[0], u, ghosts[1]], axis=axis)


def flux_divergence(u: np.ndarray, grid: Grid, conditions: dict, convection: str = "muscl") -> np.ndarray:
    """Σ_i ∂_i(u²/2) by finite volumes: (F_{i+1/2} - F_{i-1/2}) / h per axis, F Engquist
    and Osher's flux of the face's two states; ``u`` shaped like the grid."""
    out = np.zeros(grid.shape)
    for axis, h in enumerate(grid.spacing):
        padded = _padded(u, axis, conditions)
        cells = _cut(padded, axis, 1, -1)  # a ghost each side and the grid
        if convection == "muscl":
            differences = np.diff(padded, axis=axis)
            half = 0.5 * van_leer_slopes(_cut(differences, axis, 0, -1), _cut(differences, axis, 1, None))
            upper_face, lower_face = cells + half, cells - half
        else:
            upper_face = lower_face = cells
        left, right = _cut(upper_face, axis, 0, -1), _cut(lower_face, axis, 1, None)  # the n + 1 faces' two states
        flux = 0.5 * (np.maximum(left, 0.0) ** 2 + np.minimum(right, 0.0) ** 2)
        out += np.diff(flux, axis=axis) / h
    return out


def _wall_speed(recipe: dict, ndim: int) -> float:
    """The largest |value| the recipe holds a Dirichlet face at (0 without one)."""
    return max([abs(float(c.value)) for c in faces.conditions(recipe["boundary"], ndim).values()
                if c.kind == "dirichlet"], default=0.0)


def _needed_steps(recipe: dict, speed: float, grid: Grid) -> int:
    """The steps that keep Δt ``speed`` Σ 1/h_i <= CFL."""
    return int(np.ceil(recipe["discretization"]["t_end"] * speed * sum(1.0 / h for h in grid.spacing) / CFL))


class Burgers(ImexDiffusion):
    name = "burgers"
    doc = "u_t + sum_i d_i(u^2/2) = nu lap u + f: viscous Burgers (FNO's in 1-D); IMEX; trajectories (N, T, *grid)"
    parameters = {
        "viscosity": Parameter("scalar", {"dist": "constant", "value": 0.1}, "ν > 0", positive=True),
        "initial": Parameter("field", {"dist": "grf", "alpha": 2.0, "tau": 5.0, "sigma": 25.0, "transform": "none"},
                             "initial state u0(x)"),
        "forcing": NO_SOURCE,
    }
    boundary = faces.keys("periodic")
    discretization = {**trajectory_keys("crank-nicolson", t_end=1.0, steps=20, save_every=1, graded_start=True),
                      "steps": Key("int", 20, low=1, doc="time steps to t_end, at least: a sample takes more where its "
                                                         "explicit flux needs them (a multiple of the stored states)"),
                      "convection": Key("str", "muscl", choices=("muscl", "upwind"),
                                        doc="muscl: van Leer's limited slopes, second order; upwind: first order")}
    operator_parameters = ("viscosity",)

    def sample_recipe(self, grid: Grid, values: dict, recipe: dict) -> dict:
        """The recipe with this sample's steps: at least ``steps``, and as many as its own
        bound on |u| needs (a multiple of the stored states, which stay at the same times).
        The bound is Burgers' maximum principle: the largest of |u0| and the Dirichlet
        values, plus t_end max|f|."""
        d = recipe["discretization"]
        speed = max(float(np.max(np.abs(values["initial"]))), _wall_speed(recipe, grid.ndim)) \
            + d["t_end"] * float(np.max(np.abs(values["forcing"])))
        return with_steps(recipe, _needed_steps(recipe, speed, grid))

    def solves_per_sample(self, recipe: dict) -> int:
        """A typical sample's solves, for the planner: its |u0| taken as 1.5 pointwise
        standard deviations of a Gaussian start (the median of the largest |u0| of 1-D GRF
        draws, docs/benchmarks.md: 1.6), the bound itself for a bounded one."""
        shape, parameters = tuple(recipe["grid"]["shape"]), recipe["parameters"]
        speed = max(magnitude_bound(parameters["initial"], shape, 1.5), _wall_speed(recipe, len(shape))) \
            + recipe["discretization"]["t_end"] * magnitude_bound(parameters["forcing"], shape, 1.5)
        needed = _needed_steps(recipe, speed, Grid(shape, recipe["grid"]["extent"]))
        return super().solves_per_sample(with_steps(recipe, needed))  # a graded start's extra steps counted

    def operator_varies(self, recipe: dict) -> bool:
        return True  # Δt, and with it I/Δt + θνL, is each sample's own

    def mass_shift(self, recipe: dict) -> float | None:
        return None  # 1/Δt differs from sample to sample: no one shift for the multigrid plan

    def diffusivity(self, recipe: dict) -> float:
        return typical_value(recipe["parameters"]["viscosity"])

    def spatial_operator(self, grid: Grid, values: dict, recipe: dict):
        """(νL, b): the viscous term and the source, with the recipe's faces."""
        return fv.assemble(grid, values["forcing"], diffusion=values["viscosity"],
                           boundary=faces.conditions(recipe["boundary"], grid.ndim))

    def explicit_term(self, grid: Grid, values: dict, recipe: dict):
        conditions = faces.conditions(recipe["boundary"], grid.ndim)
        convection = recipe["discretization"]["convection"]
        return lambda u: -flux_divergence(u.reshape(grid.shape), grid, conditions, convection).ravel()
