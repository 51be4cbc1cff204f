"""The interface every PDE family implements."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..grid import Grid
from ..schema import Key
from . import boundary as faces


@dataclass(frozen=True)
class Parameter:
    """A family parameter. ``kind`` is "field" (field or scalar distributions; scalars
    broadcast), "scalar" (scalar distributions only) or "boundary" (boundary data: a
    Fourier series or a constant). ``positive`` asks every draw to be > 0."""

    kind: str
    default: dict
    doc: str
    positive: bool = False


# The time-stepping families' default source: none (a frozen dataclass, so one object serves
# every family's table; recipes get deep copies of its default).
NO_SOURCE = Parameter("field", {"dist": "constant", "value": 0.0}, "source f(x)")


def frozen(A: sp.csr_matrix) -> sp.csr_matrix:
    """``A`` with its arrays made read-only: a time step's matrix, handed to the solver at
    every step unchanged, which the solver then need not compare (solvers.pattern)."""
    for array in (A.data, A.indices, A.indptr):
        while isinstance(array, np.ndarray):  # a view and the array owning its memory
            array.flags.writeable = False
            array = array.base
    return A


@dataclass
class LinearSystem:
    """``A x = b`` on ``grid``; ``A`` is CSR on the family's fixed pattern."""

    A: sp.csr_matrix
    b: np.ndarray
    symmetric: bool
    positive_definite: bool


class Family:
    """Base class: subclasses set the class attributes and implement ``assemble``."""

    name: str = ""
    doc: str = ""
    parameters: dict[str, Parameter] = {}
    boundary: dict[str, Key] = {}
    # Family-specific discretisation settings (the recipe's ``discretization`` section).
    discretization: dict[str, Key] = {}
    symmetric: bool = True
    positive_definite: bool = True
    time_dependent: bool = False
    # Every step of a sample has the Δt of its recipe (sample_recipe's); False where a
    # family may shorten it mid-sample (navier_stokes), so a state stored every step of
    # the recipe need not have been one step after the state before it.
    fixed_time_step: bool = True
    # The operator is -div(a grad u) alone (no zeroth-order or advection term), so geometric
    # multigrid may build its coarse levels by aggregation (solvers.multigrid).
    pure_diffusion: bool = False
    # Parameters whose value changes the matrix (not only the right-hand side).
    operator_parameters: tuple[str, ...] = ()
    # Grid dimensions the family is written for (recipe validation refuses others).
    dimensions: tuple[int, ...] = (1, 2, 3)
    # The fields the state holds, each stored as ``outputs/<name>``. Several components
    # (diffusion_reaction's u and v) are stacked in the state and in the system component
    # by component: [u; v], each on the whole grid (one rank per system).
    components: tuple[str, ...] = ("solution",)

    def state_size(self, grid: Grid) -> int:
        """Unknowns of one system: the grid's cells times the components."""
        return grid.size * len(self.components)

    def output_times(self, recipe: dict):
        """Times of the stored states (time-dependent families); None when steady."""
        return None

    def check(self, recipe: dict) -> list[str]:
        """Family-specific cross-checks on a validated recipe; returns problems."""
        return []

    def operator_varies(self, recipe: dict) -> bool:
        """Whether the matrix changes from sample to sample under this recipe."""
        return any(recipe["parameters"][p]["dist"] != "constant" for p in self.operator_parameters)

    def mass_shift(self, recipe: dict) -> float | None:
        """c where every matrix is K + c I with K a pure diffusion operator (c = 1/Δt for a
        time step's matrix), so that multigrid may aggregate K and sum c I over the coarse
        cells (solvers.multigrid, ``shift``); 0.0 for pure diffusion; None otherwise."""
        return 0.0 if self.pure_diffusion else None

    def diffusivity(self, recipe: dict) -> float:
        """The diffusion coefficient's typical size (its median), for rules measured with a
        coefficient of order 1; 1.0 where the family has none to draw."""
        return 1.0

    def coefficient_jump(self, recipe: dict) -> float:
        """The largest ratio between the two values of a piecewise-constant operator
        parameter (a ``grf`` field with ``transform: threshold``); 1.0 where none jumps."""
        jumps = [1.0]
        for name in self.operator_parameters:
            spec = recipe["parameters"][name]
            if spec["dist"] == "grf" and spec.get("transform") == "threshold":
                low, high = sorted((abs(spec["low"]), abs(spec["high"])))
                jumps.append(high / low if low > 0 else float("inf"))
        return max(jumps)

    def solves_systems(self, recipe: dict) -> bool:
        """Whether this recipe's scheme solves linear systems at all (navier_stokes'
        pseudo-spectral one does not: the plan then has no solver, verify no residual)."""
        return True

    def solves_per_sample(self, recipe: dict) -> int:
        """How many systems with the same matrix one sample solves (time steps; 1 when steady)."""
        return 1

    def sample_recipe(self, grid: Grid, values: dict, recipe: dict) -> dict:
        """The recipe one sample is stepped with (build, verify and bench ask): the recipe
        itself, or where a family's step count depends on the sample (Burgers: its explicit
        flux's limit), a copy with the sample's own ``discretization.steps`` and
        ``save_every``, the stored times unchanged."""
        return recipe

    def vector_fields(self, grid: Grid, state: np.ndarray, recipe: dict) -> dict[str, np.ndarray]:
        """Vector fields that follow from a state, each (ndim, *grid) at the cell centres
        (navier_stokes: the velocity of its vorticity); exports write them beside the state."""
        return {}

    def finer_trajectory(self, grid: Grid, values: dict, recipe: dict):
        """The stored states of a sample whose scheme solves no linear systems, integrated
        more finely than the build did (``pdegen verify``'s independent check of them)."""
        raise NotImplementedError(f"{self.name} solves linear systems: verify checks their residuals")

    def solves_in_step(self, recipe: dict, step: int) -> int:
        """How many solves time step ``step`` (from 1) takes: ``stepper``'s rhs(u, step) gives
        each one's right-hand side from the state before it; only the last state is the step's."""
        return 1

    def neumann_faces(self, recipe: dict) -> list[list[int]]:
        """The [axis, side] faces (side 0 the low end) with a Neumann condition under a
        recipe, for multigrid's interpolation; none where the family has no face kinds.
        Inflow faces count: no diffusive flux crosses them either."""
        if "faces" not in self.boundary:
            return []
        kinds = faces.face_kinds(recipe["boundary"], len(recipe["grid"]["shape"]))
        return [list(divmod(index, 2)) for index, kind in enumerate(kinds) if kind in ("neumann", "inflow")]

    def periodic_axes(self, recipe: dict) -> tuple[int, ...]:
        """The axes along which the recipe's boundary is periodic."""
        if "faces" not in self.boundary:
            return ()
        return faces.periodic_axes(recipe["boundary"], len(recipe["grid"]["shape"]))

    def max_peclet(self, recipe: dict) -> float:
        """The largest Péclet number (convection against diffusion) the recipe's samples
        can have: 0.0 without convection, inf where the distribution has no bound."""
        return 0.0

    def monotone(self, recipe: dict) -> bool:
        """Whether every sample's matrix is an M-matrix (positive diagonal, non-positive
        off-diagonals, diagonally dominant), as upwind convection keeps it and central
        convection above a cell Péclet number of 2 does not."""
        return True

    def system(self, grid: Grid, values: dict, recipe: dict) -> LinearSystem:
        """The linear system of one sample under a recipe (what the build calls)."""
        return self.assemble(grid, values, recipe["boundary"])

    def system_rows(self, grid: Grid, values: dict, recipe: dict, first: int, last: int) -> LinearSystem:
        """Rows of the cells in slab [first, last) along axis 0 of :meth:`system` (global
        column indices). Families override this to assemble only those rows; this
        fallback slices the full system."""
        system = self.system(grid, values, recipe)
        stride = grid.size // grid.shape[0]
        rows = slice(first * stride, last * stride)
        return LinearSystem(system.A[rows], system.b[rows], system.symmetric, system.positive_definite)

    def assemble(self, grid: Grid, values: dict, boundary: dict) -> LinearSystem:
        raise NotImplementedError
