"""Heat equation: u_t = ∇·(a ∇u) + f, u(0) = u₀, faces Dirichlet (u = g), Neumann or periodic.

Random coefficient a(x) and initial condition u₀ (GRFs), implicit time stepping on
``steps`` equal steps up to ``t_end``: backward Euler (first order), Crank–Nicolson
(second order) or, the default, Crank–Nicolson with Rannacher's start (the first step as
two backward-Euler half steps). The states every ``save_every`` steps are stored as a
trajectory (N, T, *grid), their times in ``coords/t``. Within a sample the matrix
(I/Δt + θ L) is fixed, so a factorisation or preconditioner is reused across steps and
each step warm-starts from the previous state. Cell-centred FV in space.

Why Rannacher's start: a GRF initial state is rough, and Crank–Nicolson damps its fast
modes hardly at all when Δt λ is large (their amplification tends to -1), so they
oscillate from step to step through the whole trajectory. Two backward-Euler half steps
damp them first, with the same matrix: (I/(Δt/2) + L) = 2 (I/Δt + L/2). On
recipes/heat.yaml (20 steps, Δt/h² = 10) that took the error at t_end against the exact
semi-discrete solution from 15% to 0.08% (docs/benchmarks.md, time_accuracy; Rannacher,
"Finite element solution of diffusion problems with irregular data", Numer. Math. 43, 1984).

Example
-------
>>> import numpy as np
>>> from pdegen.grid import Grid
>>> g = Grid((16, 16), ((0, 1), (0, 1)))
>>> recipe = {"boundary": {"kind": "dirichlet", "value": 0.0}, "discretization": {"scheme": "rannacher", "t_end": 0.1,
...           "steps": 10, "save_every": 5}}
>>> system, rhs = Heat().stepper(g, {"coefficient": 1.0, "initial": np.ones(g.shape), "forcing": 0.0}, recipe)
>>> rhs(np.ones(g.size), 1).shape, Heat().solves_in_step(recipe, 1), Heat().solves_in_step(recipe, 2)
((256,), 2, 1)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..fields import typical_value
from ..grid import Grid
from ..schema import Key
from . import boundary as faces
from . import fv
from .base import NO_SOURCE, Family, LinearSystem, Parameter, frozen

THETA = {"backward-euler": 1.0, "crank-nicolson": 0.5, "rannacher": 0.5}  # rannacher: CN after its start


class SolveBySparseLU:
    """A ``solve(A, b, x0, last)`` for :meth:`Heat.trajectory` that solves every step
    directly: a sparse LU of each step matrix, made once (a family that shortens Δt
    mid-sample hands out a new matrix), ``solves`` counting the calls. What verify and the
    reference integrations use."""

    def __init__(self):
        self.matrix, self.lu, self.solves = None, None, 0

    def __call__(self, A, b, x0, last):
        if self.matrix is not A:
            import scipy.sparse.linalg as spla
            self.matrix, self.lu = A, spla.splu(A.tocsc())
        self.solves += 1
        return self.lu.solve(b)


def trajectory_keys(scheme: str | None, t_end: float, steps: int, save_every: int,
                    graded_start: bool = False) -> dict[str, Key]:
    """The ``discretization`` keys of the time-stepping families, with a family's defaults
    (no ``scheme`` key where it is None: a family with one scheme; ``start_refinement``
    where ``graded_start``: :func:`interval_refinement`)."""
    keys = {} if scheme is None else {
        "scheme": Key("str", scheme, choices=tuple(THETA),
                      doc="rannacher: Crank-Nicolson, its first step two backward-Euler half steps")}
    keys |= {
        "t_end": Key("number", t_end, low=0.0, low_open=True, doc="final time"),
        "steps": Key("int", steps, low=1, doc="time steps to t_end"),
        "save_every": Key("int", save_every, low=1, doc="store every this many steps"),
    }
    if graded_start:
        keys["start_refinement"] = Key("int", 0, low=0, high=10, doc=(
            "k: a graded start, Δt growing with t: the first stored interval in 2^k times the steps, "
            "the next 2 in 2^(k-1), the 4 after in 2^(k-2), the 8 after in 2^(k-3), ... (for rough or stiff "
            "initial states)"))
    return keys


def interval_refinement(recipe: dict, interval: int) -> int:
    """How many times the recipe's steps stored interval j = ``interval`` (from 0) takes:
    2^(k - ⌊log2(j + 1)⌋) while that is more than 1, k = ``discretization.start_refinement``,
    else 1. A graded start: Δt grows in proportion to the time elapsed (about Δt·(j+1)/2^k)
    until it reaches the recipe's, so that Δt/t, which sets Crank–Nicolson's error on a rough
    initial state (white noise) or a stiff early transient, stays the same; the stored times
    stay. (Halving the refinement at every interval instead left a later state's error
    5.7x the first's on recipes/diffusion_reaction_pdebench.yaml.)"""
    k = recipe["discretization"].get("start_refinement", 0)
    return 2 ** max(k - ((interval + 1).bit_length() - 1), 0)


def with_steps(recipe: dict, needed: int) -> dict:
    """The recipe with at least ``needed`` equal steps: its own ``steps`` where that is as
    many, else the next multiple of its stored states, which keep their times
    (``save_every`` grows with the steps). For families whose explicit terms limit Δt."""
    d = recipe["discretization"]
    stored = d["steps"] // d["save_every"]
    steps = max(d["steps"], stored * -(-needed // stored))
    if steps == d["steps"]:
        return recipe
    return {**recipe, "discretization": {**d, "steps": steps, "save_every": steps // stored}}


class Heat(Family):
    name = "heat"
    doc = "u_t = div(a grad u) + f, backward Euler or Crank-Nicolson; trajectories (N, T, *grid)"
    parameters = {
        "coefficient": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "exp"},
                                 "diffusivity a(x) > 0", positive=True),
        "initial": Parameter("field", {"dist": "grf", "alpha": 2.5, "tau": 7.0, "transform": "none"},
                             "initial condition u0(x)"),
        "forcing": NO_SOURCE,
    }
    boundary = faces.KEYS  # every face Neumann is allowed: an insulated box
    discretization = trajectory_keys("rannacher", t_end=0.05, steps=20, save_every=1, graded_start=True)
    time_dependent = True
    operator_parameters = ("coefficient",)

    def check(self, recipe: dict) -> list[str]:
        d = recipe["discretization"]
        if d["steps"] % d["save_every"]:
            return [f"discretization.save_every: must divide discretization.steps ({d['steps']}), "
                    f"got {d['save_every']}"]
        return []

    def mass_shift(self, recipe: dict) -> float:
        """The step matrix is θL + I/Δt (L pure diffusion): c = 1/Δt."""
        d = recipe["discretization"]
        return d["steps"] / d["t_end"]

    def diffusivity(self, recipe: dict) -> float:
        """The coefficient's median (1 for exp of a zero-mean GRF): what sizes Δt a/h²."""
        return typical_value(recipe["parameters"]["coefficient"])

    def solves_in_step(self, recipe: dict, step: int) -> int:
        return 2 if recipe["discretization"]["scheme"] == "rannacher" and step == 1 else 1

    def solves_per_sample(self, recipe: dict) -> int:
        d = recipe["discretization"]
        refined = min(2 ** d.get("start_refinement", 0) - 1, d["steps"] // d.get("save_every", 1))  # intervals
        steps = d["steps"] + sum(d["save_every"] * (interval_refinement(recipe, j) - 1) for j in range(refined))
        return sum(self.solves_in_step(recipe, step) for step in range(1, steps + 1))

    def output_times(self, recipe: dict):
        d = recipe["discretization"]
        dt = d["t_end"] / d["steps"]
        return dt * d["save_every"] * np.arange(1, d["steps"] // d["save_every"] + 1)

    def spatial_operator(self, grid: Grid, values: dict, recipe: dict):
        """(L, b): the FV operator of u_t = -L u + b (here diffusion) and its source, with the
        recipe's boundary conditions."""
        return fv.assemble(grid, values["forcing"], diffusion=values["coefficient"],
                           boundary=faces.conditions(recipe["boundary"], grid.ndim))

    def step_operators(self, grid: Grid, values: dict, recipe: dict):
        """(Δt, the step matrix M = I/Δt + θL, the explicit part (1 - θ)L, b)."""
        d = recipe["discretization"]
        dt, theta = d["t_end"] / d["steps"], THETA[d["scheme"]]
        L, b = self.spatial_operator(grid, values, recipe)
        M = (theta * L + sp.identity(L.shape[0], format="csr") / dt).tocsr()
        M.sort_indices()
        return dt, frozen(M), (1.0 - theta) * L, b

    def stepper(self, grid: Grid, values: dict, recipe: dict):
        """(system with the step matrix I/Δt + θL, rhs(u, step) -> the right-hand side of the
        next solve of time step ``step`` (from 1) from the current state u). Step a sample
        through :meth:`trajectory`, which calls rhs as the families need it."""
        dt, M, explicit, b = self.step_operators(grid, values, recipe)
        half_steps_first = recipe["discretization"]["scheme"] == "rannacher"

        def rhs(u: np.ndarray, step: int) -> np.ndarray:
            if half_steps_first and step == 1:  # backward Euler over Δt/2, in the CN matrix's scaling
                return u / dt + 0.5 * b
            return u / dt - explicit @ u + b

        return LinearSystem(M, None, symmetric=self.symmetric, positive_definite=self.positive_definite), rhs

    def step_too_long(self, grid: Grid, state: np.ndarray, dt: float, refinement: int) -> bool:
        """Whether the step about to start from ``state`` needs a shorter Δt than ``dt``
        (``refinement``: how many times the sample's first step count it takes already);
        never where Δt is fixed (a family that overrides this sets ``fixed_time_step``
        False: navier_stokes asks its flow; :meth:`trajectory`)."""
        return False

    def trajectory(self, grid: Grid, values: dict, recipe: dict, solve):
        """Time-steps one sample with its own recipe (:meth:`sample_recipe`), yielding
        (step, state, stored) after each step from 1; ``stored`` marks the states the store
        keeps. ``solve(A, b, x0, last)`` returns each solve's solution in turn, ``last``
        telling a step's final solve from those before it (Rannacher's half step, the IMEX
        predictor). A graded start (:func:`interval_refinement`) takes the first stored
        intervals with shorter steps, each interval's Δt its own (a new step matrix where it
        changes). Where :meth:`step_too_long` says so at a step's start, the stored
        interval under way is done again from its first state with half the Δt, which the
        rest of the sample keeps; a step is abandoned before any of its solves, and a family
        that may shorten Δt (not ``fixed_time_step``) hands its states out a finished
        interval at a time, so every state handed out solved its step. ``step`` counts
        steps of the current Δt from t = 0. The one place that calls the stepper's
        right-hand sides, which keep state between calls and so must be called in order,
        once per solve."""
        recipe = self.sample_recipe(grid, values, recipe)
        first, first_every = recipe["discretization"]["steps"], recipe["discretization"]["save_every"]
        u, shortened, built = self.initial_state(grid, values), 1, None
        for j in range(first // first_every):
            while True:
                factor = max(shortened, interval_refinement(recipe, j))
                if factor != built:  # this interval's Δt differs from the last one's
                    d = {**recipe["discretization"], "steps": factor * first, "save_every": factor * first_every}
                    stepped = {**recipe, "discretization": d}
                    system, rhs = self.stepper(grid, values, stepped)
                    built = factor
                dt, every, state, interval = d["t_end"] / d["steps"], d["save_every"], u, []
                step = j * every
                for now in range(step + 1, step + every + 1):
                    if self.step_too_long(grid, state, dt, factor):
                        break
                    solves = self.solves_in_step(stepped, now)
                    for index in range(solves):
                        state = solve(system.A, rhs(state, now), state, index == solves - 1)
                    if self.fixed_time_step:  # never done again: at once
                        yield now, state, now == step + every
                    else:
                        interval.append((now, state, now == step + every))
                else:
                    break
                shortened = 2 * factor
            yield from interval
            u = state

    def initial_state(self, grid: Grid, values: dict) -> np.ndarray:
        return np.array(np.broadcast_to(values["initial"], grid.shape), dtype=np.float64).ravel()
