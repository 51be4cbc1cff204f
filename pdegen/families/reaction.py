"""Reaction-diffusion: u_t = ∇·(a ∇u) + ρ r(u) + f, u(0) = u₀, trajectories (N, T, *grid).

Two reactions, each a family: ``allen_cahn``, r(u) = u - u³ (phase separation into
u = ±1 with interfaces of width about sqrt(2a/ρ)), and ``fisher_kpp``, r(u) = u (1 - u)
(a population invading at the speed 2 sqrt(a ρ); PDEBench's diffusion-reaction data).
The diffusion is implicit and the reaction explicit (IMEX, :mod:`pdegen.families.imex`: one
factorisation per data set with a constant diffusivity). Default ``crank-nicolson``, not
heat's ``rannacher``: heat's start pays where Δt a/h² is 10 and the initial state clashes
with Dirichlet walls; on the reaction recipes (Δt a/h² <= 1.6, no-flux walls) plain
Crank–Nicolson was the more accurate at every stored time, 3.9-7.2x at the first
(docs/benchmarks.md, reaction_time_accuracy).

The explicit reaction is stable while ρΔt <= 1 (r' lies in [-2, 1] where the states
live), which the recipe check asks of the largest rate the recipe can draw.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((16, 16), ((0, 1), (0, 1)))
>>> recipe = {"boundary": {"kind": "neumann", "value": 0.0}, "discretization": {"scheme": "crank-nicolson",
...           "t_end": 1.0, "steps": 10, "save_every": 5}}
>>> values = {"coefficient": 1e-3, "rate": 1.0, "initial": np.zeros(g.shape), "forcing": 0.0}
>>> system, rhs = AllenCahn().stepper(g, values, recipe)
>>> rhs(np.ones(g.size), 2)[:2], AllenCahn().solves_in_step(recipe, 2)
(array([10., 10.]), 2)
"""

from __future__ import annotations

import numpy as np

from ..fields import magnitude_bound
from ..grid import Grid
from . import boundary as faces
from .base import NO_SOURCE, Parameter
from .heat import trajectory_keys
from .imex import ImexDiffusion


class ReactionDiffusion(ImexDiffusion):
    """IMEX diffusion with the explicit term N(u) = ρ r(u); subclasses set r."""

    boundary = faces.keys("neumann")  # no flux through the walls by default, as in PDEBench

    @staticmethod
    def reaction(u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def check(self, recipe: dict) -> list[str]:
        problems = super().check(recipe)
        d = recipe["discretization"]
        rate = magnitude_bound(recipe["parameters"]["rate"])
        if rate * d["t_end"] / d["steps"] > 1.0:
            needed = int(np.ceil(rate * d["t_end"]))
            problems.append(f"discretization.steps: the explicit reaction needs rate * Δt <= 1, and with rates up to "
                            f"{rate:g} and t_end {d['t_end']:g} that takes at least {needed} steps, got {d['steps']}")
        return problems

    def explicit_term(self, grid: Grid, values: dict, recipe: dict):
        rate = float(values["rate"])
        return lambda u: rate * self.reaction(u)


class AllenCahn(ReactionDiffusion):
    name = "allen_cahn"
    doc = "u_t = div(a grad u) + rho (u - u^3): phase separation; IMEX Crank-Nicolson; trajectories (N, T, *grid)"
    parameters = {
        "coefficient": Parameter("field", {"dist": "constant", "value": 1e-3},
                                 "diffusivity a(x) > 0 (ε² of the interface width)", positive=True),
        "rate": Parameter("scalar", {"dist": "constant", "value": 1.0}, "reaction rate ρ > 0", positive=True),
        "initial": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "none"},
                             "initial condition u0(x)"),
        "forcing": NO_SOURCE,
    }
    discretization = trajectory_keys("crank-nicolson", t_end=5.0, steps=50, save_every=5, graded_start=True)

    @staticmethod
    def reaction(u: np.ndarray) -> np.ndarray:
        return u - u * u * u  # (u**3 is a pow call per element: 10x slower)


class FisherKPP(ReactionDiffusion):
    name = "fisher_kpp"
    doc = "u_t = div(a grad u) + rho u (1 - u): invasion fronts; IMEX Crank-Nicolson; trajectories (N, T, *grid)"
    parameters = {
        "coefficient": Parameter("field", {"dist": "constant", "value": 1e-3}, "diffusivity a(x) > 0",
                                 positive=True),
        "rate": Parameter("scalar", {"dist": "uniform", "low": 1.0, "high": 10.0}, "reaction rate ρ > 0",
                          positive=True),
        "initial": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "threshold",
                                       "high": 1.0, "low": 0.0, "level": 0.25},
                             "initial density u0(x) in [0, 1]"),
        "forcing": NO_SOURCE,
    }
    discretization = trajectory_keys("crank-nicolson", t_end=2.0, steps=80, save_every=4, graded_start=True)

    @staticmethod
    def reaction(u: np.ndarray) -> np.ndarray:
        return u * (1.0 - u)
