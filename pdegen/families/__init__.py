"""PDE families: each module turns sampled parameters into a sparse linear system.

A family declares its parameters (field or scalar, with defaults and constraints),
the boundary conditions it accepts, and assembles ``A x = b`` on a :class:`~pdegen.grid.Grid`
with vectorised numpy on a fixed sparsity pattern, so that one solver-side matrix can be
updated in place from sample to sample.
"""

from __future__ import annotations

from .advection import AdvectionDiffusion
from .base import Family, LinearSystem, Parameter
from .burgers import Burgers
from .darcy import Darcy
from .diffusion_reaction import DiffusionReaction, GrayScott
from .heat import Heat
from .helmholtz import Helmholtz
from .navier_stokes import NavierStokes
from .poisson import Poisson
from .reaction import AllenCahn, FisherKPP
from .transport import Transport
from .wave import Wave

FAMILIES: dict[str, Family] = {family.name: family for family in
                               (Darcy(), Poisson(), Helmholtz(), Heat(), AdvectionDiffusion(), AllenCahn(),
                                FisherKPP(), DiffusionReaction(), GrayScott(), Transport(), Wave(), Burgers(), NavierStokes())}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown family {name!r}; registered families: {', '.join(FAMILIES)}") from None


__all__ = ["FAMILIES", "Family", "LinearSystem", "Parameter", "get_family"]
