"""Two-species diffusion–reaction (FitzHugh–Nagumo), PDEBench's 2-D diffusion–reaction data:

    u_t = D_u Δu + u - u³ - k - v,    v_t = D_v Δv + u - v,

an activator u and an inhibitor v that diffuses faster (D_v > D_u: Turing patterns), no
flux through the walls by default, trajectories of both stored as ``outputs/u`` and
``outputs/v`` (N, T, *grid). PDEBench's setting (Takamoto et al., "PDEBench: an extensive
benchmark for scientific machine learning", NeurIPS 2022) is the default: D_u = 1e-3,
D_v = 5e-3, k = 5e-3 on [-1, 1]², t in (0, 5]; its initial states are white noise on its
128² grid, here GRFs (``initial_u``, ``initial_v``), whose statistics do not depend on the
grid a recipe chooses (white noise's do: its fine scales are the grid's).

The state stacks the components, [u; v], and the step matrix is block diagonal,
diag(I/Δt + θ D_u L, I/Δt + θ D_v L) with L the FV Laplacian (-Δ): both components in one
solve, one factorisation per data set (the diffusivities are constants by default). The
reaction is explicit (IMEX, :mod:`pdegen.families.imex`, Crank–Nicolson with the reaction at
the predicted midpoint by default). Geometric multigrid does not apply to the stacked
system (its hierarchy is one grid's); the planner factorises it, or uses algebraic
multigrid above the direct limit.

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((8, 8), ((-1, 1), (-1, 1)))
>>> recipe = {"boundary": {"kind": "neumann", "value": 0.0}, "discretization": {"scheme": "backward-euler",
...           "t_end": 1.0, "steps": 10, "save_every": 10}}
>>> values = {"diffusivity_u": 1e-3, "diffusivity_v": 5e-3, "k": 5e-3, "initial_u": 0.5, "initial_v": 0.0}
>>> system, rhs = DiffusionReaction().stepper(g, values, recipe)
>>> system.A.shape, rhs(DiffusionReaction().initial_state(g, values), 1)[[0, 64]]  # u/Δt + R_u, v/Δt + R_v
((128, 128), array([5.37, 0.5 ]))
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..fields import magnitude_bound
from ..grid import Grid
from . import boundary as faces
from . import fv
from .base import Parameter
from .heat import trajectory_keys
from .imex import ImexDiffusion

# Where the states live (|u| up to about 1.2 after the first transient), the reaction's
# Jacobian [[1 - 3u², -1], [1, -1]] has eigenvalues down to about -3.3: the explicit
# midpoint step keeps them stable while Δt (3 B² - 1) <= 2, B the larger of 1.2 and the
# initial state's bound. The recipe check asks half of that, as reaction.py asks ρΔt <= 1.
STATE_BOUND = 1.2


class DiffusionReaction(ImexDiffusion):
    name = "diffusion_reaction"
    doc = ("u_t = Du lap u + u - u^3 - k - v, v_t = Dv lap v + u - v (FitzHugh-Nagumo, PDEBench's 2-D "
           "diffusion-reaction); IMEX Crank-Nicolson; outputs u and v, trajectories (N, T, *grid)")
    parameters = {
        "diffusivity_u": Parameter("scalar", {"dist": "constant", "value": 1e-3}, "activator diffusivity D_u > 0",
                                   positive=True),
        "diffusivity_v": Parameter("scalar", {"dist": "constant", "value": 5e-3}, "inhibitor diffusivity D_v > 0",
                                   positive=True),
        "k": Parameter("scalar", {"dist": "constant", "value": 5e-3}, "threshold k of the activator's reaction"),
        "initial_u": Parameter("field", {"dist": "grf", "alpha": 2.0, "tau": 5.0, "transform": "none"},
                               "initial activator u0(x)"),
        "initial_v": Parameter("field", {"dist": "grf", "alpha": 2.0, "tau": 5.0, "transform": "none"},
                               "initial inhibitor v0(x)"),
    }
    boundary = faces.keys("neumann")  # no flux, as PDEBench
    discretization = trajectory_keys("crank-nicolson", t_end=5.0, steps=200, save_every=2)  # Δt 0.025 (recipe says why)
    components = ("u", "v")
    operator_parameters = ("diffusivity_u", "diffusivity_v")

    def check(self, recipe: dict) -> list[str]:
        problems = super().check(recipe)
        d, p = recipe["discretization"], recipe["parameters"]
        shape = tuple(recipe["grid"]["shape"])
        bound = max(STATE_BOUND, magnitude_bound(p["initial_u"], shape), magnitude_bound(p["initial_v"], shape))
        stiffness = 3 * bound**2 - 1
        if stiffness * d["t_end"] / d["steps"] > 1.0:
            needed = int(np.ceil(stiffness * d["t_end"]))
            problems.append(f"discretization.steps: the explicit reaction needs Δt (3 B² - 1) <= 1 with "
                            f"B = {bound:.3g} (the initial states' bound, at least {STATE_BOUND}); with t_end "
                            f"{d['t_end']:g} that takes at least {needed} steps, got {d['steps']}")
        if recipe["solver"]["preconditioner"] == "mg":
            problems.append("solver.preconditioner: 'mg' (geometric multigrid) does not apply to the stacked "
                            "two-component system; use auto (a factorisation, or algebraic multigrid: gamg)")
        return problems

    def mass_shift(self, recipe: dict) -> None:
        return None  # two diffusions in one matrix: not K + c I with one K

    def diffusivity(self, recipe: dict) -> float:
        p = recipe["parameters"]
        return max(magnitude_bound(p["diffusivity_u"]), magnitude_bound(p["diffusivity_v"]))

    def spatial_operator(self, grid: Grid, values: dict, recipe: dict):
        """(L, b) of [u; v]_t = -L [u; v] + b (+ the reaction): L = diag(D_u L₁, D_v L₁)."""
        conditions = faces.conditions(recipe["boundary"], grid.ndim)
        blocks = [fv.assemble(grid, 0.0, diffusion=float(values[name]), boundary=conditions)
                  for name in ("diffusivity_u", "diffusivity_v")]
        L = sp.block_diag([A for A, _ in blocks], format="csr")
        return L, np.concatenate([b for _, b in blocks])

    def initial_state(self, grid: Grid, values: dict) -> np.ndarray:
        return np.concatenate([np.broadcast_to(np.asarray(values[name], dtype=np.float64), grid.shape).ravel()
                               for name in ("initial_u", "initial_v")])

    def explicit_term(self, grid: Grid, values: dict, recipe: dict):
        k, n = float(values["k"]), grid.size

        def reaction(state: np.ndarray) -> np.ndarray:
            u, v = state[:n], state[n:]
            return np.concatenate([u - u * u * u - k - v, u - v])

        return reaction
