"""What every solver returns beside the solution."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SolveInfo:
    """Outcome of one solve.

    iterations: Krylov iterations (matrix-vector products in the Krylov loop); 0 for a
        direct solve. residual: true relative residual ||b - A x|| / ||b|| of the returned
        x, computed afresh. converged: residual <= rtol. seconds: wall time of the solve.
    """

    iterations: int = 0
    residual: float = float("nan")
    converged: bool = False
    seconds: float = 0.0
    method: str = ""
    reason: str = ""
    extra: dict = field(default_factory=dict)
