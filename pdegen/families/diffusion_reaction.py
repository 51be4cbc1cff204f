"""Two-species diffusion–reaction: ``diffusion_reaction`` (FitzHugh–Nagumo, PDEBench's 2-D
diffusion–reaction data) and ``gray_scott`` (Pearson's Gray–Scott patterns, The Well's
equations), on a shared :class:`TwoSpecies` base. FitzHugh–Nagumo:

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

Gray–Scott, u_t = D_u Δu - u v² + F(1 - u), v_t = D_v Δv + u v² - (F + k) v (Pearson,
"Complex patterns in a simple system", Science 261, 1993), is solved the same way; its seeds
are v₀ (a thresholded GRF) with u₀ = 1 - 2 v₀, and its step rule comes from the reaction
Jacobian's spectral radius over the states' range (:meth:`GrayScott.reaction_stiffness`).

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


def diffusivities(u: float, v: float, u_doc: str, v_doc: str) -> dict[str, Parameter]:
    """The two scalar parameters :class:`TwoSpecies` assembles its diffusions from, with
    their defaults D_u = ``u``, D_v = ``v``."""
    return {"diffusivity_u": Parameter("scalar", {"dist": "constant", "value": u}, u_doc, positive=True),
            "diffusivity_v": Parameter("scalar", {"dist": "constant", "value": v}, v_doc, positive=True)}


class TwoSpecies(ImexDiffusion):
    """IMEX diffusion of two species u, v, each with its own diffusivity (scalar parameters
    ``diffusivity_u``, ``diffusivity_v``: :func:`diffusivities`), and an explicit reaction coupling them;
    subclasses set the parameters, :meth:`initial_state`, :meth:`reaction` and
    :meth:`reaction_stiffness`."""

    components = ("u", "v")
    operator_parameters = ("diffusivity_u", "diffusivity_v")

    def reaction(self, u: np.ndarray, v: np.ndarray, values: dict) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def reaction_stiffness(self, recipe: dict) -> tuple[float, str]:
        """(the largest |eigenvalue| of the reaction's Jacobian where the states live, how
        that bound was found): the recipe check asks Δt times it to be at most 1."""
        raise NotImplementedError

    def check(self, recipe: dict) -> list[str]:
        problems = super().check(recipe)
        d = recipe["discretization"]
        stiffness, why = self.reaction_stiffness(recipe)
        if stiffness * d["t_end"] / d["steps"] > 1.0:
            needed = int(np.ceil(stiffness * d["t_end"]))
            problems.append(f"discretization.steps: the explicit reaction needs {why}; with t_end "
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

    def explicit_term(self, grid: Grid, values: dict, recipe: dict):
        n = grid.size

        def term(state: np.ndarray) -> np.ndarray:
            return np.concatenate(self.reaction(state[:n], state[n:], values))

        return term


class DiffusionReaction(TwoSpecies):
    name = "diffusion_reaction"
    doc = ("u_t = Du lap u + u - u^3 - k - v, v_t = Dv lap v + u - v (FitzHugh-Nagumo, PDEBench's 2-D "
           "diffusion-reaction); IMEX Crank-Nicolson; outputs u and v, trajectories (N, T, *grid)")
    parameters = {
        **diffusivities(1e-3, 5e-3, "activator diffusivity D_u > 0", "inhibitor diffusivity D_v > 0"),
        "k": Parameter("scalar", {"dist": "constant", "value": 5e-3}, "threshold k of the activator's reaction"),
        "initial_u": Parameter("field", {"dist": "grf", "alpha": 2.0, "tau": 5.0, "transform": "none"},
                               "initial activator u0(x)"),
        "initial_v": Parameter("field", {"dist": "grf", "alpha": 2.0, "tau": 5.0, "transform": "none"},
                               "initial inhibitor v0(x)"),
    }
    boundary = faces.keys("neumann")  # no flux, as PDEBench
    discretization = trajectory_keys("crank-nicolson", t_end=5.0, steps=200, save_every=2,
                                     graded_start=True)  # Δt 0.025 (recipe says why)

    def reaction_stiffness(self, recipe: dict) -> tuple[float, str]:
        p, shape = recipe["parameters"], tuple(recipe["grid"]["shape"])
        bound = max(STATE_BOUND, magnitude_bound(p["initial_u"], shape), magnitude_bound(p["initial_v"], shape))
        return 3 * bound**2 - 1, (f"Δt (3 B² - 1) <= 1 with B = {bound:.3g} (the initial states' bound, at least "
                                  f"{STATE_BOUND})")

    def initial_state(self, grid: Grid, values: dict) -> np.ndarray:
        return np.concatenate([np.broadcast_to(np.asarray(values[name], dtype=np.float64), grid.shape).ravel()
                               for name in ("initial_u", "initial_v")])

    def reaction(self, u, v, values):
        return u - u * u * u - float(values["k"]) - v, u - v


class GrayScott(TwoSpecies):
    name = "gray_scott"
    doc = ("u_t = Du lap u - u v^2 + F (1 - u), v_t = Dv lap v + u v^2 - (F + k) v (Gray-Scott patterns); "
           "IMEX Crank-Nicolson; outputs u and v, trajectories (N, T, *grid)")
    parameters = {
        **diffusivities(2e-5, 1e-5, "diffusivity D_u > 0 of u", "diffusivity D_v > 0 of v"),
        "feed": Parameter("scalar", {"dist": "constant", "value": 0.04}, "feed rate F of u", positive=True),
        "kill": Parameter("scalar", {"dist": "constant", "value": 0.06}, "kill rate k of v", positive=True),
        "initial_v": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "threshold",
                                         "high": 0.25, "low": 0.0, "level": 0.25},
                               "initial v0(x) (seeds of 0.25 on 0); u0 = 1 - 2 v0"),
    }
    boundary = faces.keys("periodic")
    discretization = trajectory_keys("crank-nicolson", t_end=2000.0, steps=2000, save_every=20,
                                     graded_start=True)

    def reaction_stiffness(self, recipe: dict) -> tuple[float, str]:
        """The largest spectral radius of the Jacobian [[-v² - F, -2uv], [v², 2uv - F - k]]
        over u in [0, U], v in [0, V] (U, V: 1 and 0.5, or the initial states' bounds where
        larger; the patterns stay within u <= 1, v <= 0.45) and the largest F, k drawn."""
        p, shape = recipe["parameters"], tuple(recipe["grid"]["shape"])
        f, k = magnitude_bound(p["feed"]), magnitude_bound(p["kill"])
        spec = p["initial_v"]
        lowest = (min(spec["low"], spec["high"]) if spec.get("transform") == "threshold"
                  else -magnitude_bound(spec, shape))  # u0 = 1 - 2 v0 is largest where v0 is lowest
        top_u, top_v = max(1.0, 1.0 - 2.0 * lowest), max(0.5, magnitude_bound(spec, shape))
        u, v = np.meshgrid(np.linspace(0.0, top_u, 41), np.linspace(0.0, top_v, 41))
        jacobians = np.stack([np.stack([-v * v - f, -2 * u * v], -1), np.stack([v * v, 2 * u * v - f - k], -1)], -2)
        radius = float(np.abs(np.linalg.eigvals(jacobians)).max())
        return radius, (f"Δt ρ <= 1 with ρ = {radius:.3g}, the largest spectral radius of its Jacobian over "
                        f"u in [0, {top_u:.3g}], v in [0, {top_v:.3g}]")

    def initial_state(self, grid: Grid, values: dict) -> np.ndarray:
        v0 = np.broadcast_to(np.asarray(values["initial_v"], dtype=np.float64), grid.shape).ravel()
        return np.concatenate([1.0 - 2.0 * v0, v0])  # Pearson's seeds: u = 0.5 where v = 0.25

    def reaction(self, u, v, values):
        f, k = float(values["feed"]), float(values["kill"])
        uvv = u * v * v
        return f * (1.0 - u) - uvv, uvv - (f + k) * v
