"""Reaction-diffusion: u_t = ∇·(a ∇u) + ρ r(u) + f, u(0) = u₀, trajectories (N, T, *grid).

Two reactions, each a family: ``allen_cahn``, r(u) = u - u³ (phase separation into
u = ±1 with interfaces of width about sqrt(2a/ρ)), and ``fisher_kpp``, r(u) = u (1 - u)
(a population invading at the speed 2 sqrt(a ρ); PDEBench's diffusion-reaction data).
The diffusion is implicit and the reaction explicit (IMEX), so every solve of a sample has
heat's step matrix M = I/Δt + θL: one factorisation or preconditioner serves the whole
trajectory, and with a constant diffusivity the whole data set. Schemes (``scheme``):

- ``crank-nicolson`` (default): a backward-Euler half step with the reaction at the
  step's start predicts the midpoint state, M u* = u/Δt + (b + ρ r(u))/2; Crank–Nicolson
  takes the step with the reaction there (the midpoint rule), M u' = (I/Δt - L/2) u + b
  + ρ r(u*). Second order, two solves per step.
- ``rannacher``: the same, its first step as two backward-Euler half steps with the
  reaction at each one's start, which damp a rough initial state's fast modes: heat's
  default, where Δt a/h² is 10 and the initial state clashes with the Dirichlet walls. On
  the reaction recipes (Δt a/h² <= 1.6, no-flux walls) plain Crank–Nicolson was the more
  accurate at every stored time, 3.9-7.2x at the first (docs/benchmarks.md,
  reaction_time_accuracy).
- ``backward-euler``: M u' = u/Δt + b + ρ r(u), M = I/Δt + L. First order, one solve.

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

from ..grid import Grid
from . import boundary as faces
from .base import LinearSystem, Parameter
from .heat import Heat, trajectory_keys


def rate_bound(spec: dict) -> float:
    """The largest value a (positive) scalar distribution can draw."""
    return float(spec["value"] if spec["dist"] == "constant" else spec["high"])


class ReactionDiffusion(Heat):
    """Heat's trajectories with an explicit reaction term ρ r(u); subclasses set r."""

    boundary = faces.keys("neumann")  # no flux through the walls by default, as in PDEBench

    @staticmethod
    def reaction(u: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def check(self, recipe: dict) -> list[str]:
        problems = super().check(recipe)
        d = recipe["discretization"]
        rate = rate_bound(recipe["parameters"]["rate"])
        if rate * d["t_end"] / d["steps"] > 1.0:
            needed = int(np.ceil(rate * d["t_end"]))
            problems.append(f"discretization.steps: the explicit reaction needs rate * Δt <= 1, and with rates up to "
                            f"{rate:g} and t_end {d['t_end']:g} that takes at least {needed} steps, got {d['steps']}")
        return problems

    def solves_in_step(self, recipe: dict, step: int) -> int:
        return 1 if recipe["discretization"]["scheme"] == "backward-euler" else 2

    def stepper(self, grid: Grid, values: dict, recipe: dict):
        """As heat's: rhs(u, step) is called for each solve of a step in turn, the first
        with the step's starting state (the Crank-Nicolson corrector needs it again)."""
        dt, M, explicit, b = self.step_operators(grid, values, recipe)
        rate, scheme = float(values["rate"]), recipe["discretization"]["scheme"]
        solves = 1 if scheme == "backward-euler" else 2
        current = {"step": None, "count": 0, "start": None}

        def source(u: np.ndarray) -> np.ndarray:
            return b + rate * self.reaction(u)

        def rhs(u: np.ndarray, step: int) -> np.ndarray:
            current["count"] = current["count"] + 1 if current["step"] == step else 0
            current["step"] = step
            if scheme == "backward-euler":
                return u / dt + source(u)
            if current["count"] % solves == 0:  # a backward-Euler half step from the step's start
                current["start"] = u
                return u / dt + 0.5 * source(u)
            if scheme == "rannacher" and step == 1:  # Rannacher's second half step
                return u / dt + 0.5 * source(u)
            start = current["start"]  # the corrector: the reaction at the predicted midpoint u
            return start / dt - explicit @ start + source(u)

        return LinearSystem(M, None, symmetric=self.symmetric, positive_definite=self.positive_definite), rhs


class AllenCahn(ReactionDiffusion):
    name = "allen_cahn"
    doc = "u_t = div(a grad u) + rho (u - u^3): phase separation; IMEX Crank-Nicolson; trajectories (N, T, *grid)"
    parameters = {
        "coefficient": Parameter("field", {"dist": "constant", "value": 1e-3},
                                 "diffusivity a(x) > 0 (ε² of the interface width)", positive=True),
        "rate": Parameter("scalar", {"dist": "constant", "value": 1.0}, "reaction rate ρ > 0", positive=True),
        "initial": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "none"},
                             "initial condition u0(x)"),
        "forcing": Parameter("field", {"dist": "constant", "value": 0.0}, "source f(x)"),
    }
    discretization = trajectory_keys("crank-nicolson", t_end=5.0, steps=50, save_every=5)

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
        "forcing": Parameter("field", {"dist": "constant", "value": 0.0}, "source f(x)"),
    }
    discretization = trajectory_keys("crank-nicolson", t_end=2.0, steps=80, save_every=4)

    @staticmethod
    def reaction(u: np.ndarray) -> np.ndarray:
        return u * (1.0 - u)
