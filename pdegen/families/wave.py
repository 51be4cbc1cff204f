"""Wave equation: u_tt = ∇·(c² ∇u) + f, u(0) = u₀, u_t(0) = v₀, trajectories (N, T, *grid).

A random wave speed c(x) (default exp(GRF), as Helmholtz's), a smooth GRF initial
displacement (α = 4) and zero initial velocity by default, in a periodic box by default;
faces as heat's otherwise (Dirichlet: fixed, Neumann: free). A rough initial state, or one
that is not zero on a fixed face, starts grid-scale waves that this scheme keeps (it damps
nothing) and that disperse: the defaults avoid both. Newmark's average-acceleration scheme
(β = 1/4, γ = 1/2): second order, unconditionally stable, and it keeps the discrete energy

    E = ½ ‖(u' - u)/Δt‖² + ⅛ (u' + u)ᵀ K (u' + u)      (u, u' consecutive states)

exactly (K the FV operator -∇·(c²∇)), so waves neither grow nor decay; its phase error
grows with the Courant number c Δt / h, which the recipes keep below 1. In two-step form
every step solves with the same matrix M = I/Δt² + K/4,

    M u^{n+1} = (2u^n - u^{n-1})/Δt² - K (u^n + u^{n-1})/4 + f,

and the first step, from u₀ and v₀, M u¹ = u₀/Δt² + v₀/Δt - K u₀/4 + f/2. So one
factorisation or preconditioner serves a sample's whole trajectory, as for heat.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((16, 16), ((0, 1), (0, 1)))
>>> recipe = {"boundary": {"kind": "periodic"}, "discretization": {"t_end": 1.0, "steps": 10, "save_every": 5}}
>>> values = {"wavespeed": 1.0, "initial": np.ones(g.shape), "velocity": 0.0, "forcing": 0.0}
>>> system, rhs = Wave().stepper(g, values, recipe)
>>> np.allclose(rhs(np.ones(g.size), 1), 100.0), np.allclose(rhs(np.ones(g.size), 2), 100.0)
(True, True)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..fields import typical_value
from ..grid import Grid
from . import boundary as faces
from . import fv
from .base import NO_SOURCE, LinearSystem, Parameter, frozen
from .heat import Heat, trajectory_keys

BETA = 0.25  # Newmark's average acceleration: energy-conserving


class Wave(Heat):
    name = "wave"
    doc = "u_tt = div(c^2 grad u) + f, random wave speed; Newmark (average acceleration); trajectories (N, T, *grid)"
    parameters = {
        "wavespeed": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "exp"},
                               "wave speed c(x) > 0", positive=True),
        "initial": Parameter("field", {"dist": "grf", "alpha": 4.0, "tau": 7.0, "transform": "none"},
                             "initial displacement u0(x)"),
        "velocity": Parameter("field", {"dist": "constant", "value": 0.0}, "initial velocity v0(x)"),
        "forcing": NO_SOURCE,
    }
    boundary = faces.keys("periodic")
    discretization = trajectory_keys(None, t_end=1.0, steps=200, save_every=10)  # (keep c dt / h near 1 or below)
    operator_parameters = ("wavespeed",)

    def mass_shift(self, recipe: dict) -> float:
        """The step matrix is K/4 + I/Δt² (K pure diffusion with a = c²): c = 1/Δt²."""
        d = recipe["discretization"]
        return (d["steps"] / d["t_end"]) ** 2

    def diffusivity(self, recipe: dict) -> float:
        return typical_value(recipe["parameters"]["wavespeed"]) ** 2

    def solves_in_step(self, recipe: dict, step: int) -> int:
        return 1

    def spatial_operator(self, grid: Grid, values: dict, recipe: dict):
        """(K, f): -∇·(c² ∇) with the recipe's boundary conditions, and the source."""
        c = np.broadcast_to(np.asarray(values["wavespeed"], dtype=np.float64), grid.shape)
        return fv.assemble(grid, values["forcing"], diffusion=c * c,
                           boundary=faces.conditions(recipe["boundary"], grid.ndim))

    def stepper(self, grid: Grid, values: dict, recipe: dict):
        """As heat's: rhs(u, step) gives the next state's right-hand side from the current
        one; it is called once per step, in order, and remembers the state before (the
        two-step form needs it)."""
        d = recipe["discretization"]
        dt = d["t_end"] / d["steps"]
        K, f = self.spatial_operator(grid, values, recipe)
        M = (BETA * K + sp.identity(grid.size, format="csr") / dt**2).tocsr()
        M.sort_indices()
        M = frozen(M)
        v0 = np.broadcast_to(np.asarray(values["velocity"], dtype=np.float64), grid.shape).ravel()
        before = {"state": None}

        def rhs(u: np.ndarray, step: int) -> np.ndarray:
            if step == 1:  # Newmark's first step from the initial displacement and velocity
                b = u / dt**2 + v0 / dt - (0.5 - BETA) * (K @ u) + 0.5 * f
            else:
                previous = before["state"]
                b = (2.0 * u - previous) / dt**2 - K @ ((1.0 - 2.0 * BETA) * u + BETA * previous) + f
            before["state"] = u
            return b

        return LinearSystem(M, None, symmetric=True, positive_definite=True), rhs
