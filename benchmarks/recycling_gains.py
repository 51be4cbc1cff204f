"""Iteration counts that show what recycling buys (numpy backend, no preconditioner
unless stated, rtol 1e-8), the same problems as tests/test_solvers.py:

1. the same 32x32 Darcy system solved twice by one GCRO-DR(40,20);
2. 20 Darcy systems (48x48, a = exp(GRF(2.5, 7)), greedy order): GMRES(30) from zero vs
   GCRO-DR(30,10) cold and warm-started;
3. 20 drifting convection-diffusion systems (40x40, Péclet 50, velocity angle 0.3 + 0.05 i).

Usage: python benchmarks/recycling_gains.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from benchmarks.report import table, write_section  # noqa: E402
from problems import convection_diffusion, darcy_sequence  # noqa: E402
from solvers import GCRODR, GMRES  # noqa: E402


def totals(systems, warm: bool):
    gmres, gcrodr = GMRES(m=30), GCRODR(m=30, k=10)
    g = c = 0
    worst = 0.0
    x = None
    for A, b in systems:
        _, i = gmres.solve(A, b)
        x, j = gcrodr.solve(A, b, x0=x if warm else None)
        g, c, worst = g + i.iterations, c + j.iterations, max(worst, j.residual)
    return g, c, worst


def main():
    A, b = darcy_sequence(n=32, count=1)[0]
    solver = GCRODR(m=40, k=20)
    first, second = solver.solve(A, b)[1].iterations, solver.solve(A, b)[1].iterations
    darcy = darcy_sequence(n=48, count=20)
    drift = [convection_diffusion(40, 0.3 + 0.05 * i) for i in range(20)]
    rows = []
    for name, systems, warm in (("Darcy 48x48, 20 systems, cold", darcy, False),
                                ("Darcy 48x48, 20 systems, warm start", darcy, True),
                                ("convection-diffusion drift, 20 systems, warm start", drift, True)):
        g, c, worst = totals(systems, warm)
        rows.append([name, g, c, f"**{g / c:.2f}x**", f"{worst:.1e}"])
    body = (f"Same 32x32 Darcy system twice with GCRO-DR(40,20): **{first}** then **{second}** iterations.\n\n"
            + table(["sequence", "GMRES(30) iterations", "GCRO-DR(30,10) iterations", "ratio",
                     "worst GCRO-DR true residual"], rows))
    print(body)
    write_section("recycling_gains", body)


if __name__ == "__main__":
    main()
