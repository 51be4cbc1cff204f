"""Heat's trajectories with an explicit term: u_t = ∇·(a ∇u) + N(u) + f (IMEX).

The diffusion is implicit and N explicit, so every solve of a sample has heat's step
matrix M = I/Δt + θL: one factorisation or preconditioner serves the whole trajectory,
and with a constant diffusivity and one Δt for every sample the whole data set. The families set N
(:meth:`ImexDiffusion.explicit_term`): a reaction ρ r(u) (``allen_cahn``, ``fisher_kpp``),
a flux divergence -∇·F(u) (``burgers``). Schemes (``scheme``):

- ``crank-nicolson`` (default): a backward-Euler half step with N at the step's start
  predicts the midpoint state, M u* = u/Δt + (b + N(u))/2; Crank–Nicolson takes the step
  with N there (the midpoint rule), M u' = (I/Δt - L/2) u + b + N(u*). Second order, two
  solves per step.
- ``rannacher``: the same, its first step as two backward-Euler half steps with N at
  each one's start, which damp a rough initial state's fast modes (heat's default).
- ``backward-euler``: M u' = u/Δt + b + N(u), M = I/Δt + L. First order, one solve.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> from pdegen.families.reaction import FisherKPP
>>> g = Grid((8,), ((0, 1),))
>>> recipe = {"boundary": {"kind": "neumann", "value": 0.0}, "discretization": {"scheme": "backward-euler",
...           "t_end": 1.0, "steps": 4, "save_every": 4}}
>>> values = {"coefficient": 1e-3, "rate": 2.0, "initial": np.zeros(g.shape), "forcing": 0.0}
>>> system, rhs = FisherKPP().stepper(g, values, recipe)
>>> rhs(np.full(g.size, 0.5), 1)[:2]  # u/Δt + ρ u (1 - u)
array([2.5, 2.5])
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..grid import Grid
from .base import LinearSystem
from .heat import Heat


class ImexDiffusion(Heat):
    """Heat with an explicit term N(u) added to the right-hand side; subclasses set N."""

    def explicit_term(self, grid: Grid, values: dict, recipe: dict) -> Callable[[np.ndarray], np.ndarray]:
        """N of one sample: a function of the flat state u (grid.size) to a flat array."""
        raise NotImplementedError

    def solves_in_step(self, recipe: dict, step: int) -> int:
        return 1 if recipe["discretization"]["scheme"] == "backward-euler" else 2

    def stepper(self, grid: Grid, values: dict, recipe: dict):
        """As heat's: rhs(u, step) is called for each solve of a step in turn, the first
        with the step's starting state (the Crank-Nicolson corrector needs it again)."""
        dt, M, explicit, b = self.step_operators(grid, values, recipe)
        term = self.explicit_term(grid, values, recipe)
        scheme = recipe["discretization"]["scheme"]
        solves = 1 if scheme == "backward-euler" else 2
        current = {"step": None, "count": 0, "start": None}

        def source(u: np.ndarray) -> np.ndarray:
            return b + term(u)

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
            start = current["start"]  # the corrector: N at the predicted midpoint u
            return start / dt - explicit @ start + source(u)

        return LinearSystem(M, None, symmetric=self.symmetric, positive_definite=self.positive_definite), rhs
