"""The solve planner: how a recipe's systems get solved, and why.

``solver.method: auto`` picks a strategy from what the recipe implies (does the matrix
change between samples? is it SPD? how large is it?); explicit choices in the recipe
always win. The plan is printed by ``pdegen plan`` and stored in the dataset's
attributes. The thresholds come from measurements recorded in docs/benchmarks.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from solvers.multigrid import SEMI_COARSENING_RATIO, level_shapes

from .families.boundary import face_kinds, face_names
from .grid import AXIS_NAMES, Grid

# Largest 2-D system (unknowns) for which a sparse Cholesky with a reused symbolic
# factorisation beats CG + GAMG (warm start, reused AMG) on one core, measured on Darcy
# (docs/benchmarks.md, planner_crossover): CG/direct time 1.06 at 224², 0.98 at 256²
# (1.10 and 0.88 in an earlier run).
DIRECT_MAX_UNKNOWNS_2D = 240 * 240
# Where multigrid does not apply to nonsymmetric 2-D systems (below 96², Péclet numbers above
# MG_MAX_PECLET, non-monotone central convection; see below): a reused sparse LU
# beat GMRES(40) + ILU and GCRO-DR(40,20) + ILU (warm, greedy order) at every measured size
# on advection-diffusion (docs/benchmarks.md, nonsymmetric_crossover, three runs; time of
# GMRES / GCRO-DR over LU): 4.0-5.1x / 5.9-6.4x at 128², 5.8-8.3x / 4.7-7.4x at 256²,
# 7.3-10.6x / 5.2-8.9x at 384², 6.9-10.9x / 6.2-8.2x at 512², 6.9-8.3x / 6.9-10.4x at 768²
# (one sample); a one-off 1024² sample: LU 18 s, GCRO-DR 204 s. So the limit is set by
# memory, not time: the factor's fill grows slowly (32, 40, 49, 54, 57, 62 nonzeros per
# unknown from 64² to 768²), about 0.8 GB at 1024² (that process peaked at 1.9 GB with the
# Krylov run's basis); above it, with every rank holding its own factor, the iterative
# solve is chosen.
DIRECT_MAX_UNKNOWNS_2D_NONSYMMETRIC = 1024 * 1024
# Without the LU (several ranks per system), GCRO-DR(40,20) beats GMRES(40) on nonsymmetric
# sequences from this size up, and loses below it (docs/benchmarks.md,
# distributed_nonsymmetric: advection-diffusion, 2 ranks per system, block Jacobi + ILU,
# time of GCRO-DR over GMRES in two runs: 1.28-1.59x at 128², 0.81-0.82x at 256²,
# 0.64-0.70x at 384², with 1.9x, 2.5x and 2.9x fewer iterations; in a third, on the -O3
# PETSc where PETSc's GMRES gains more than our loop: 1.53x, 0.97x (a tie), 0.75x; in the
# latest, with the guarded warm start: 1.49x, 0.97x, 0.72x; one rank with ILU,
# nonsymmetric_crossover: 1.15-1.5x at 128², 0.80-0.91x at 256²).
GCRODR_MIN_UNKNOWNS_NONSYMMETRIC = 256 * 256
# Time-dependent 2-D SPD families (heat) solve one matrix I/Δt + θL at every step of a
# sample, so the factorisation made once per sample is spread over its steps while CG pays
# at every step (docs/benchmarks.md, time_dependent_crossover, two runs, samples after the
# first; CG + geometric multigrid over the reused Cholesky): at 20 steps 3.95-4.39x the time
# at 128², 3.08-3.11x at 256², 2.38-2.44x at 512², 1.91-2.02x at 768², 1.28-1.56x at 1024²;
# at 5 steps 1.31-1.33x at 256², 0.94x at 512², 0.47-0.55x at 1024². From those two step
# counts the factorisation's cost (less multigrid's set-up) pays for itself after 3.5-3.6 /
# 5.4 / 11-14 steps at 256² / 512² / 1024²: about 11 steps per 1024 cells of the grid's
# side. Checked at 10 steps: 1.54x at 512² (direct, as predicted), 0.78x at 1024²
# (multigrid, as predicted). The direct solve is kept while a sample has at least that
# many steps, up to 1024² (memory, as for the LU below; CG + GAMG, what the planner used
# above 240², took 1.2-1.7x multigrid's time). Otherwise CG with geometric multigrid
# (Galerkin coarse operators: the mass term).
TIME_DEPENDENT_DIRECT_MAX_UNKNOWNS_2D = 1024 * 1024
# The unknowns of all the factorisations a graded start keeps at once (solvers.slots): keeping
# 5 (k = 4) for recipes/diffusion_reaction_pdebench.yaml at 256² (131,072 unknowns, two
# species) took its build from 470 to 800 MB; above this, each is refactored where its Δt starts.
SLOT_UNKNOWNS = 2**20


# Time-stepping in 3-D: the step matrix I/Δt + θL is dominated by its mass term, so ICC(0)
# needs few CG iterations (about 7 sqrt(Δt/h²) per step) and multigrid wins only where
# Δt/h² and the grid are large. Measured (docs/benchmarks.md, time_dependent_3d, two runs;
# samples' solve time over 5-40 steps) with CG + multigrid whose coarse operators aggregate
# the diffusion and sum the mass term (solvers.multigrid ``shift``, C order), against CG +
# ICC: from 80³ 0.85-0.90x with 20 steps (Δt/h² 16 at 80³, 23 at 96³; 0.66x at 128³, Δt/h²
# 41), 0.67-0.85x with 10, 0.59-0.70x with 5; at 64³ 1.01-1.05x with 10 and 20 steps (Δt/h²
# 20, 10) and 0.82-0.87x with 5 (41); 0.98-1.37x at 48³, 1.36-1.67x at 32³, and a tie at
# 96³ with 40 steps (1.01x, Δt/h² 11.5). Red-black numbering with a start cycle (the 3-D
# Darcy variant) took 0.60-0.97x where C order took 0.59-0.90x; Galerkin coarse operators,
# what the planner had offered, 0.87-1.13x from 80³ (1.09-2.45x below in the runs before).
# (The recipes' a = exp(GRF) has median 1, so these Δt/h² are Δt a/h², what the rule reads.)
# So (min unknowns, min Δt a/h²) pairs from which multigrid is planned, ICC below:
TIME_DEPENDENT_3D_MG = ((80**3, 16.0), (64**3, 40.0))
TIME_DEPENDENT_3D_ICC = ("the step matrix I/Δt + θL is dominated by its mass term, so incomplete Cholesky needs few "
                         "iterations; CG + geometric multigrid (aggregation with the mass term summed) took 0.98-1.67x "
                         "its time up to 64³ unless Δt/h² >= 40 and 1.01x at 96³ with Δt/h² = 11.5, but 0.59-0.90x "
                         "from 80³ with Δt/h² >= 16 (docs/benchmarks.md, time_dependent_3d)")


def factorisation_break_even(unknowns: int) -> float:
    """Time steps per sample from which a reused factorisation beats CG + multigrid (2-D)."""
    return 11.0 * unknowns**0.5 / 1024


# A matrix that never changes is factorised once, except in 3-D where multigrid applies:
# there the factor fills in, and its triangular solves are hardly faster than a CG +
# multigrid solve (docs/benchmarks.md, fixed_operator_3d, 3-D Poisson: the factorisation
# took 2.8 / 12.8 / 39 / 102 s at 32³ / 40³ / 48³ / 56³, the solves 8.8 / 20 / 45 / 90 ms per
# sample against 11.6 / 30 / 46 / 91 ms, so it pays back after 970 and 1,264 samples at
# 32³ and 40³, 54,000 at 48³, 850,000 at 56³; rerun three times with the smaller 3-D
# coarsest grids: 750-1,028 and 1,013-3,475 samples at 32³ and 40³, 1,633 or never at 48³,
# never at 56³). So in 3-D: factor once only up to 40³ and from 1,300 samples.
FIXED_3D_DIRECT = (40**3, 1300)
FIXED_3D_FACTORISATION = ("the factorisation took 2.8 s at 32³ and 102 s at 56³, and pays back only after about "
                          "1,000 samples up to 40³ and 54,000 from 48³ (docs/benchmarks.md, fixed_operator_3d): "
                          "CG with geometric multigrid instead")

# In 1-D the matrix is tridiagonal and a sparse factorisation costs O(n): the reused
# Cholesky took 2.0 / 8.7 / 30 ms per sample at 16,384 / 65,536 / 262,144 cells against
# 12 / 58 ms for CG + GAMG, which failed on every sample at 262,144 (docs/benchmarks.md,
# planner_crossover_1d; rtol 1e-5, as 1e-8 is below double precision's rounding floor from
# about 30,000 cells on). So direct at any size that fits in memory.
DIRECT_MAX_UNKNOWNS_1D = 10**7
# In 3-D, fill makes factorisations expensive: at 24³ Cholesky took 256 ms/sample against
# 14 ms for CG + ICC (warm start), and at 48³ CG + ICC beat CG + GAMG 171 to 306 ms
# (docs/benchmarks.md, families_bench and planner notes). No direct solves in 3-D unless
# the matrix is fixed.
DIRECT_MAX_UNKNOWNS_3D = 0
# From this many unknowns up, CG with geometric multigrid (solvers.multigrid, SOR
# smoothing, 7-9 iterations at every size) beats the alternatives on steady SPD problems
# whose grid halves at least twice (docs/benchmarks.md, planner_crossover). 2-D Darcy,
# aggregation coarse operators, red-black numbering + 1 start cycle, against the reused
# Cholesky (methods interleaved, 24 samples): 0.89x the time at 64², 0.59x at 96², 0.47x
# at 128², 0.27x at 256² on the -O3 PETSc (on -g -O: 0.88x, 0.86x, 0.68x, 0.26x; with
# C-order smoothing before that: 0.93x, 0.79x, 0.58x, 0.42x); the 12/3 thresholded
# coefficient (darcy_threshold): 0.94x at 64², 0.68x at 96², 0.55x at 128² (-g -O: 1.00x,
# 0.88x, 0.59x). 64² stays a near-tie, so the direct solve (no iteration count to go
# wrong) keeps it. With Galerkin products (any SPD operator; an earlier run of the same
# script): 1.07x at 64², 0.96x at 96², 0.71x at 128². 3-D Darcy against CG + ICC
# (planner_crossover_3d, the coarsest grid at most 512 cells): aggregation in red-black
# numbering 0.88x at 32³, 0.49x at 48³ (0.71x / 0.40x over the samples after the first),
# a tie at 24³ (1.02x; 0.82x on later samples), 1.19x at 20³; before, 0.73x / 0.61x (C
# order, earlier runs: 0.85x / 0.62x, 0.64x / 0.54x, 0.82x / 0.58x); Galerkin products
# (27-point coarse stencils) lost, 124 against 49 ms/sample at 32³ (a one-off run, 8³
# coarsest grid).
MG_MIN_UNKNOWNS = {2: {"aggregation": 96 * 96, "galerkin": 96 * 96}, 3: {"aggregation": 32**3}}
# Multigrid numbering and full-multigrid start cycles (solvers.multigrid) by dimension
# and coarse operators, from docs/benchmarks.md (multigrid_variants: time per solve
# relative to C order without start cycles, median over systems, each system solved once
# as in a build; nine runs on the -O3 PETSc that `make setup` builds, the last two noisy).
# 2-D aggregation, red-black + 1 cycle: 0.64-0.67x at 128², 0.61-0.78x at 256², 0.63-0.79x
# on the thresholded coefficient; 2-D Galerkin, red-black alone: 0.81-0.86x (with the cycle
# 0.88-0.90x); 3-D aggregation, red-black + 1 cycle: 0.84-0.92x at 32³, 0.97-1.02x at 48³
# (four runs; 0.89x in the last two, its coarsest grid 6³ instead of 12³), 0.88-0.92x at
# 64³ (three; 0.85-0.86x in two scratch runs). On PyPI's default -g -O
# build red-black gains less (side by side, two runs: 0.73-0.79x in 2-D, 0.94-0.95x at
# 32³, 1.03-1.06x at 48³; C order costs the same on both builds).
MG_VARIANTS = {(2, "aggregation"): ("red-black", 1), (2, "galerkin"): ("red-black", 0),
               (3, "aggregation"): ("red-black", 1)}
# Nonsymmetric convection-diffusion in 2-D (upwind or central): GMRES(40) with geometric
# multigrid (Galerkin coarse operators P^T A P, one ILU(0) smoothing step in C order) needs
# 6-8 iterations at every size and beats the reused sparse LU from 96² on, where the direct
# limit below was set against ILU-preconditioned Krylov methods needing hundreds to thousands
# of iterations (docs/benchmarks.md, nonsymmetric_multigrid, three runs; multigrid's time over
# the LU's at Péclet 10-100: 1.04-1.08x at 64², 0.78-0.80x at 96², 0.60-0.65x at 128²,
# 0.35-0.37x at 256², 0.23x at 512², 0.14-0.17x at 768², 0.10-0.12x at 1024², one sample
# from 768²). SOR smoothing, the SPD plans' choice, broke down on these recirculating flows
# from Péclet 150-200 (20-84 iterations at 150, failures from 200, at 128² and 256²); ILU(0)
# held 6-8 iterations up to Péclet 1000 from 128² to 1024² (upwind) and failed at 3000
# (512², 1024²). Central convection at a cell Péclet number above 2 (no longer an M-matrix)
# failed at 128² (Péclet 1000, cell Péclet 7.8). Beyond these bounds the LU, or GCRO-DR
# above the direct limit, keeps the problem.
MG_MIN_UNKNOWNS_NONSYMMETRIC = 96 * 96
MG_MAX_PECLET = 1000.0
NONSYMMETRIC_MG_OPTIONS = {"mg_levels_pc_type": "ilu"}
# Spread over several ranks, solvers.multigrid distributes its hierarchy as the build
# distributes the matrix (slabs along axis 0; Galerkin coarse operators, C order). Against
# GAMG on 2 ranks per system (docs/benchmarks.md, distributed_multigrid): Darcy with CG
# 0.78x the time at 128², 0.76x at 256², 0.62x at 512²; advection-diffusion with GMRES 0.95x
# at 128² (0.59-1.06 over the repeats: a tie), 0.76x at 256², 0.71x at 384². In 3-D, against
# the block Jacobi + ICC(0) the planner had kept there (distributed_multigrid_3d, Darcy, 8
# samples per build, samples after the first): 1.11x at 32³, 0.90x at 40³ (0.87-1.02: nearly
# a tie), 0.81x at 48³, 0.65x at 56³, 0.57x at 64³, 0.45x at 80³ (GAMG: 1.34x, 1.01x, 0.90x,
# 0.76x, 0.68x, 0.56x). (Before the coarsest grid was kept to 216 cells, solvers.multigrid,
# its 12³ level under 48³ had made multigrid 2.6x slower than ICC there.) So CG + geometric
# multigrid from 40³.
DISTRIBUTED_MG_MIN_UNKNOWNS = {"spd": 128 * 128, "nonsymmetric": 256 * 256, "spd_3d": 40**3}
# Spread over several ranks where geometric multigrid does not apply (no sequential LU either), the same idea
# with PETSc's algebraic multigrid: GMRES + GAMG whose levels take one Richardson step with
# block Jacobi + ILU(0) (ILU(0) on one rank), instead of GAMG's Chebyshev/Jacobi default,
# needed 11-14 iterations where block Jacobi + ILU(0) needed 146-1,432 with GMRES or GCRO-DR
# on 2 ranks per system, and took 0.13x / 0.07x / 0.05x GCRO-DR's time at 128² / 256² / 384²
# (docs/benchmarks.md, distributed_nonsymmetric, Péclet 10-100); on one rank it held 12-21
# iterations up to Péclet 10,000 (upwind, 256²; 23 at 30,000; central convection failed above
# a cell Péclet number of 2: nonsymmetric_multigrid).
# On one rank, where geometric multigrid does not apply (Péclet numbers above 1000), the
# same GMRES + GAMG against the reused LU at Péclet 1000-10,000 (nonsymmetric_multigrid, two
# runs): 1.15-1.18x the LU's time at 128², 0.84-0.91x at 256², 0.61-0.62x at 384², 0.44-0.45x
# at 512², 0.22-0.24x at 1024²; 15-21 iterations. So from 384² (256² a near-tie the LU
# keeps), and above the LU's memory limit instead of GCRO-DR + ILU.
AMG_MIN_UNKNOWNS_NONSYMMETRIC = 384 * 384
AMG_MAX_PECLET = 10000.0
NONSYMMETRIC_AMG_OPTIONS = {"mg_levels_ksp_type": "richardson", "mg_levels_ksp_max_it": 1,
                            "mg_levels_pc_type": "bjacobi"}
# A coefficient that jumps across sharp interfaces (a thresholded field) by this ratio or
# more: multigrid's iterations grow with the jump, aggregation's fastest (docs/benchmarks.md,
# contrast, 128² and 256², seven runs; CG iterations aggregation / Galerkin: 10 / 7-7.5 at
# 4:1, 12 / 9 at 10:1, 17-18 / 12 at 30:1, 26-29 / 15-17 at 100:1, 69-86 / 23-26 at
# 1000:1), while a factorisation does not care: at 128² the reused Cholesky took 1.2-1.7x
# the time of the faster multigrid at 10:1, 0.91-1.16x at 30:1, 0.68-1.01x at 100:1 (a tie
# in one run) and 0.51-0.63x at 1000:1. So at and above it in 2-D: direct up to
# the direct limit, Galerkin coarse operators beyond (at 256², 0.83-1.12x the time of
# aggregation at 100:1, 0.39-0.62x at 1000:1). Smooth coefficients (exp of a GRF) are not
# affected: 10 aggregation iterations at a 23,000:1 max/min ratio.
SHARP_JUMP_MIN = 100.0
# From a 1000:1 jump the reused Cholesky stays ahead of Galerkin multigrid beyond the usual
# direct limit: 0.60-0.83x its time at 256², 0.61-0.85x at 384², 0.87-1.08x at 512²; at
# 100:1 multigrid is ahead from 256² (0.74-0.93x the Cholesky's time at 256², 0.64-0.90x at
# 384², 0.48-0.77x at 512²; contrast, six runs at 256², five at 384² and 512²). So for
# such jumps the 2-D direct limit rose to 448². With incomplete Cholesky smoothing (below)
# multigrid caught up: at 1000:1 it takes 0.99-1.02x the Cholesky's time at 256², 0.95-0.99x
# at 320², 0.88-0.97x at 384², 0.74-0.78x at 448², 0.71-0.73x at 512² (sharp_jumps, two runs
# of two rounds); at 10⁴:1 1.06x at 384², 0.89-0.93x at 448², 0.76x at 512²; at 100:1
# 0.85-0.87x at 256², 0.53-0.54x at 512². A tie goes to the factorisation, which has no
# iteration to fail (near 10⁴:1 rtol 1e-8 nears the rounding floor, where CG's own residual
# and the true one part), so for a 1000:1 jump the direct limit is 384².
SHARP_JUMP_DIRECT = (1000.0, 384 * 384)


# Smoothing for those jumps (2-D, one rank per system): SOR (red-black) weakens with the
# jump, incomplete Cholesky (C order) much less; ICC(1), one level of fill, took the fewest
# iterations. But on Galerkin coarse operators (not M-matrices) an incomplete factor can be
# far smaller than the matrix in some direction, and one plain smoothing step then
# amplifies it: CG stopped with DIVERGED_INDEFINITE_PC on some samples at 1000:1 (ICC(0):
# one of 16 at 128²; ICC(1): one of 6 at 320², from the 160² level). So the finest level,
# an M-matrix (a regular splitting: the step converges, Meijerink and van der Vorst 1977),
# takes the plain step, and the coarse levels a Chebyshev step, damped by an estimate of
# the largest eigenvalue of ICC^-1 A there (10-20% more time than the plain step, the same
# iterations): 9-17 CG iterations from 100:1 to 1000:1 and 128² to 512² (19-26 at 10⁴:1),
# 0.57-0.99x the time of red-black SOR smoothing from 256² up, 0.46-0.56x at 10⁴:1
# (docs/benchmarks.md, sharp_jumps).
# In 3-D ICC(1)'s fill (27-point coarse stencils) costs more than it saves: ICC(0) there.
# Over several ranks per system (PETSc's ICC is sequential) block Jacobi with ICC on each
# rank's block, the same steps: 0.63-0.89x the time of SOR smoothing at 256² and 512² on
# 2 ranks per system, 10-17 CG iterations against 16-35 (sharp_jumps_distributed).
def sharp_jump_mg_options(finest_level: int, ndim: int, distributed: bool = False) -> dict:
    """PCMG options smoothing an ``ndim``-D hierarchy whose finest level PETSc numbers
    ``finest_level``, spread over several ranks when ``distributed``."""
    icc = {"pc_type": "icc", "pc_factor_levels": 1 if ndim == 2 else 0}
    if distributed:
        icc = {"pc_type": "bjacobi", **{f"sub_{key}": value for key, value in icc.items()}}
    return {**{f"mg_levels_{key}": value for key, value in icc.items()}, "mg_levels_ksp_type": "chebyshev",
            f"mg_levels_{finest_level}_ksp_type": "richardson"}


# In 3-D (no direct solve) the planner's aggregation multigrid against CG + ICC on
# thresholded coefficients (docs/benchmarks.md, contrast, four runs at 32³ and 48³, the
# latest two with red-black numbering + 1 start cycle): multigrid 10-11.5 / 18-23.5 / 44-81
# iterations at 10 / 100 / 1000:1, ICC 58-86 / 73-109 / 87-129; CG + ICC took 1.5-2.3x
# multigrid's time at 10:1, 0.91-1.44x (32³) and 1.29-1.57x (48³) at 100:1, 0.44-0.64x
# at 1000:1. Galerkin coarse operators (12-26 iterations) do not rescue it: CG + ICC took
# 0.51-0.76x their time at 1000:1. Two more runs with the smaller 3-D coarsest grids
# (contrast_3d): 1.39-2.15x / 1.09-1.46x / 0.49-0.62x, Galerkin 0.70-0.79x at 1000:1.
# So from 1000:1 in 3-D no aggregation multigrid, and CG + ICC for small grids, time steps and
# several ranks per system; for steady problems on one rank from SHARP_JUMP_MG_MIN_3D up,
# Galerkin multigrid smoothed by ICC(0) (sharp_jump_mg_options; without the Chebyshev step
# on the coarse levels it failed on one 32³ sample): 13-21 CG iterations at 1000:1, 0.78-0.87x
# the time of CG + ICC at 48³ and 0.60-0.63x at 64³ (1.23-1.25x at 32³), where aggregation
# took 82-135; at 100:1 aggregation stays ahead, 1.05-1.75x faster from 32³ to 64³
# (docs/benchmarks.md, sharp_jumps_3d, two rounds).
SHARP_JUMP_3D = 1000.0
SHARP_JUMP_MG_MIN_3D = 48**3
# Stretched cells: with every axis halved together, pointwise (SOR) smoothing weakened as
# cells stretched (at 128², 7 / 10 / 14 / 18 / 34 / 64 CG iterations for cells of aspect
# 1 / 2 / 3 / 4 / 8 / 16); halving the short axis first (semi-coarsening, solvers.multigrid)
# keeps it at 6-7 up to 64:1 at 128² and 256² (docs/benchmarks.md, planner_crossover_aspect;
# 7-10 on 32³ plates and rods up to 16:1, semi_coarsening), so the multigrid rules hold for
# any cell shape.
# Preconditioners whose set-up costs many matvecs are reused across neighbouring
# systems and rebuilt when iterations grow; cheap ones are rebuilt for every system
# (a stale Jacobi or ILU costs more iterations than its set-up saves).
REUSED_PRECONDITIONERS = ("gamg", "hypre")
# Symmetric indefinite (Helmholtz, 64², docs/benchmarks.md, ablation): what Krylov methods do.
INDEFINITE_KRYLOV = ("restarted GMRES(40) stalled with all six preconditioners measured, GCRO-DR(40,20) converged "
                     "with block Jacobi, SOR, ASM or ILU in 1,600-2,600 iterations, 150-370x the time of a sparse LU")
# Exact greedy ordering is O(N²); above this many samples the KD-tree order is used.
GREEDY_MAX_SAMPLES = 2000


def mg_variant(ndim: int, coarse: str) -> tuple[str, int]:
    """The multigrid numbering and full-multigrid start cycles the planner uses for
    ``ndim``-D grids with ``coarse`` coarse operators (C order, no start cycle unless
    MG_VARIANTS measured better)."""
    return MG_VARIANTS.get((ndim, coarse), ("natural", 0))


def multigrid_coarse_operators(family, data: dict) -> str:
    """How geometric multigrid builds its coarse operators for a (validated) recipe:
    "aggregation" for pure diffusion on one rank per system without sharp jumps (2-D from
    SHARP_JUMP_MIN, steady 3-D from SHARP_JUMP_3D), and for 3-D time steps (diffusion plus a
    mass term, aggregated with ``multigrid_shift``); "galerkin" otherwise. One rule for the
    plan and for the recipe check that the grid coarsens at least twice (3-D Galerkin
    hierarchies go further: solvers.multigrid)."""
    if data["ranks_per_system"] > 1:  # a distributed hierarchy: Galerkin products (solvers.multigrid)
        return "galerkin"
    ndim = len(data["grid"]["shape"])
    jump = family.coefficient_jump(data)
    sharp = (ndim == 2 and jump >= SHARP_JUMP_MIN) or (ndim == 3 and jump >= SHARP_JUMP_3D
                                                       and not family.time_dependent)
    shift = family.mass_shift(data)
    # A mass term only in 3-D: measured there (time_dependent_3d); 2-D time steps keep
    # the Galerkin products their crossover (time_dependent_crossover) was measured with.
    aggregates = shift == 0.0 or (shift is not None and ndim == 3)
    return "aggregation" if aggregates and not sharp else "galerkin"


def multigrid_shift(family, data: dict, coarse: str) -> float:
    """The mass term c of aggregation coarse operators (solvers.multigrid ``shift``)."""
    return (family.mass_shift(data) or 0.0) if coarse == "aggregation" else 0.0


def rebuild_policy(preconditioner: str) -> str:
    return "adaptive" if preconditioner in REUSED_PRECONDITIONERS else "always"


@dataclass
class Plan:
    method: str
    backend: str
    preconditioner: str
    ordering: str
    warm_start: bool
    reasons: list[str] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # PETSc options the plan adds
    grid_shape: list = field(default_factory=list)  # for geometric multigrid's hierarchy
    grid_spacing: list = field(default_factory=list)  # cell sizes: which axes the hierarchy halves
    multigrid_coarse: str = "galerkin"  # or "aggregation" for pure diffusion (solvers.multigrid)
    multigrid_ordering: str = "natural"  # or "red-black"
    multigrid_start_cycles: int = 0  # full-multigrid cycles before CG
    # Whether the hierarchy halves odd axes too (plans stored before it did resume without).
    multigrid_odd: bool = False
    # Whether a 3-D coarsest grid is kept small, at most 216 / 512 cells (solvers.multigrid.
    # coarsest_limit; likewise False for plans stored before).
    multigrid_small_coarsest: bool = False
    # The mass term c (1/Δt) aggregation coarse operators sum over the coarse cells
    # (solvers.multigrid ``shift``; 0.0 for pure diffusion and in plans stored before).
    multigrid_shift: float = 0.0
    # The [axis, side] faces with a Neumann boundary, where the interpolation extends the
    # parent's value instead of decaying to zero (solvers.multigrid ``neumann``).
    multigrid_neumann: list = field(default_factory=list)
    # The axes that wrap around, where the interpolation does too (``periodic``).
    multigrid_periodic: list = field(default_factory=list)
    # A direct plan's factorisations kept at once: one per step matrix of a graded start
    # (solvers.slots; 1 in plans stored before, and where they would not fit SLOT_UNKNOWNS).
    step_matrices: int = 1

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if self.method == "none":
            return "no linear solver" + "".join(f"\n  - {r}" for r in self.reasons)
        head = f"{self.method}"
        if self.method != "direct":
            head += f" + {self.preconditioner}"
        head += f" on {self.backend}, ordering {self.ordering}, warm start {'on' if self.warm_start else 'off'}"
        return head + "".join(f"\n  - {r}" for r in self.reasons)


def make_plan(recipe) -> Plan:
    data = recipe.data if hasattr(recipe, "data") else recipe
    from .families import get_family
    family = get_family(data["family"])
    if not family.solves_systems(data):
        scheme = data["discretization"]["scheme"]
        return Plan("none", "numpy", "none", "none", warm_start=False, reasons=[
            f"discretization.scheme {scheme}: no linear systems to solve; the solver settings are unused"])
    solver = data["solver"]
    unknowns = 1
    for n in data["grid"]["shape"]:
        unknowns *= n
    ndim = len(data["grid"]["shape"])
    reasons = []
    method = solver["method"]
    mg = amg = False
    step_matrices = 1
    jump = family.coefficient_jump(data)
    sharp = ndim == 2 and jump >= SHARP_JUMP_MIN
    sharp_3d = ndim == 3 and jump >= SHARP_JUMP_3D
    # Galerkin multigrid smoothed by ICC(0), from SHARP_JUMP_MG_MIN_3D; CG + ICC otherwise
    sharp_multigrid_3d = (sharp_3d and not family.time_dependent and data["ranks_per_system"] == 1
                          and unknowns >= SHARP_JUMP_MG_MIN_3D)
    no_multigrid_3d = sharp_3d and not sharp_multigrid_3d
    coarse = multigrid_coarse_operators(family, data)
    mg_ordering, mg_cycles = mg_variant(ndim, coarse)
    shift = multigrid_shift(family, data, coarse)
    if shift:  # time steps: C order measured faster than red-black + a start cycle (time_dependent_3d)
        mg_ordering, mg_cycles = "natural", 0
    mg_options = {}
    if not family.symmetric:  # ILU smoothing needs no red-black order to run fast
        mg_ordering, mg_cycles, mg_options = "natural", 0, dict(NONSYMMETRIC_MG_OPTIONS)
    if data["ranks_per_system"] > 1:  # a distributed hierarchy: Galerkin products in C order (solvers.multigrid)
        mg_ordering, mg_cycles = "natural", 0
        if not family.symmetric:  # PETSc's ILU is sequential: ILU(0) on each rank's block
            mg_options = {"mg_levels_pc_type": "bjacobi"}
    spacing = list(Grid(data["grid"]["shape"], data["grid"]["extent"]).spacing)
    levels = level_shapes(data["grid"]["shape"], spacing=spacing, coarse=coarse)
    halvings = len(levels) - 1
    components = len(family.components)
    if components > 1:  # stacked components: the system is not one grid's, so no geometric hierarchy
        unknowns *= components
        halvings = 0
        reasons.append(f"{components} components ({', '.join(family.components)}) stacked in one block-diagonal "
                       f"system of {unknowns} unknowns: no geometric multigrid (its hierarchy is one grid's)")
    distributed = data["ranks_per_system"] > 1
    icc_smoothing = (sharp or (sharp_3d and not distributed)) and family.symmetric and coarse == "galerkin"
    if icc_smoothing:  # incomplete Cholesky smoothing, C order
        mg_ordering, mg_cycles, mg_options = "natural", 0, sharp_jump_mg_options(halvings, ndim, distributed)
    hierarchy = " > ".join("x".join(map(str, level)) for level in levels)  # for the reasons
    aspect = max(spacing) / min(spacing)
    if method == "auto":
        varies = family.operator_varies(data)
        if ndim > 2:
            limit = DIRECT_MAX_UNKNOWNS_3D
        elif ndim == 1:
            limit = DIRECT_MAX_UNKNOWNS_1D
        else:
            limit = DIRECT_MAX_UNKNOWNS_2D if family.positive_definite else DIRECT_MAX_UNKNOWNS_2D_NONSYMMETRIC
        indefinite = family.symmetric and not family.positive_definite
        steps = family.solves_per_sample(data)
        time_stepping = family.time_dependent and family.positive_definite and ndim == 2
        if time_stepping:  # factorise unless too few steps to pay for it where multigrid would take over
            few_steps = (steps < factorisation_break_even(unknowns) and halvings >= 2
                         and unknowns >= MG_MIN_UNKNOWNS[2][coarse])
            limit = 0 if few_steps else TIME_DEPENDENT_DIRECT_MAX_UNKNOWNS_2D
        if sharp and jump >= SHARP_JUMP_DIRECT[0] and family.positive_definite:
            limit = max(limit, SHARP_JUMP_DIRECT[1])
        mg_min = limit + 1 if sharp else MG_MIN_UNKNOWNS.get(ndim, {}).get(coarse, float("inf"))
        if no_multigrid_3d:
            mg_min = float("inf")
        if sharp_multigrid_3d:
            mg_min = SHARP_JUMP_MG_MIN_3D
        if time_stepping:  # the factorisation's break-even, not the steady crossover
            mg_min = max(mg_min, limit + 1)
        time_stepping_3d = family.time_dependent and family.positive_definite and ndim == 3
        # Δt a/h² with a the coefficient's median (the rule was measured with a ~ 1)
        step_ratio = family.diffusivity(data) / (shift * min(spacing) ** 2) if shift else 0.0
        if time_stepping_3d:  # against CG + ICC, which wins while the mass term dominates
            mg_min = min((size for size, ratio in TIME_DEPENDENT_3D_MG if step_ratio >= ratio * (1 - 1e-9)),
                         default=float("inf"))
            if no_multigrid_3d or not shift:
                mg_min = float("inf")
        multigrid_fits = (family.positive_definite and (time_stepping or time_stepping_3d or not family.time_dependent)
                          and solver["backend"] == "petsc" and unknowns >= mg_min and halvings >= 2)
        peclet = family.max_peclet(data)
        convection = not family.symmetric and not family.time_dependent and ndim == 2 and solver["backend"] == "petsc"
        convection_grid = convection and halvings >= 2 and unknowns >= MG_MIN_UNKNOWNS_NONSYMMETRIC
        convection_multigrid = convection_grid and peclet <= MG_MAX_PECLET and family.monotone(data)
        convection_amg = convection and peclet <= AMG_MAX_PECLET and family.monotone(data)
        if data["ranks_per_system"] > 1:
            if indefinite and solver["preconditioner"] in ("auto", "none"):
                method = "direct"
                reasons.append(f"symmetric indefinite (Helmholtz-like): {INDEFINITE_KRYLOV}, so a direct solve "
                               "even across ranks (which needs PETSc with MUMPS)")
            else:
                reasons.append("several ranks per system: PETSc's own factorisations are sequential, "
                               "so no direct solve")
                # A preconditioner named in the recipe stands: multigrid only when it is left to the plan.
                auto_pc = solver["preconditioner"] == "auto"
                distributed_grid = auto_pc and ndim == 2 and halvings >= 2 and solver["backend"] == "petsc"
                if family.positive_definite:
                    method = "cg"
                    if distributed_grid and unknowns >= DISTRIBUTED_MG_MIN_UNKNOWNS["spd"]:
                        mg = True
                        reasons.append(f"SPD, {unknowns} unknowns in 2-D: CG with geometric multigrid distributed "
                                       f"over the ranks ({hierarchy}; Galerkin coarse operators, C order), 0.62-0.78x "
                                       "the time of CG + GAMG from 128² to 512² on 2 ranks per system "
                                       "(docs/benchmarks.md, distributed_multigrid)")
                        if sharp:
                            reasons.append(f"the coefficient jumps {jump:g}:1 across sharp interfaces: smoothed by "
                                           "block Jacobi + ICC(1) (a Chebyshev step on the coarse levels): "
                                           "10-17 iterations, 0.63-0.89x the time of SOR smoothing at 256² and "
                                           "512² on 2 ranks per system "
                                           "(docs/benchmarks.md, sharp_jumps_distributed)")
                    elif (auto_pc and ndim == 3 and halvings >= 2 and solver["backend"] == "petsc"
                          and not no_multigrid_3d and unknowns >= DISTRIBUTED_MG_MIN_UNKNOWNS["spd_3d"]):
                        mg = True
                        reasons.append(f"SPD, {unknowns} unknowns in 3-D: CG with geometric multigrid distributed "
                                       f"over the ranks ({hierarchy}; Galerkin coarse operators, C order), 0.45-0.90x "
                                       "the time of CG + block Jacobi/ICC from 40³ to 80³ on 2 ranks per system "
                                       "(1.11x at 32³: docs/benchmarks.md, distributed_multigrid_3d)")
                elif auto_pc and convection_multigrid and unknowns >= DISTRIBUTED_MG_MIN_UNKNOWNS["nonsymmetric"]:
                    method, mg = "gmres", True
                    reasons.append(f"nonsymmetric, {unknowns} unknowns, Péclet number at most {peclet:g}: GMRES with "
                                   f"geometric multigrid distributed over the ranks ({hierarchy}; Galerkin coarse "
                                   "operators, block Jacobi + ILU(0) smoothing), 0.71-0.76x the time of GMRES + GAMG "
                                   "at 256² and 384² on 2 ranks per system (docs/benchmarks.md, distributed_multigrid)")
                elif indefinite:
                    method = "gcrodr"
                    reasons.append(f"symmetric indefinite: GCRO-DR, as {INDEFINITE_KRYLOV}")
                elif auto_pc and convection_amg:
                    method, amg = "gmres", True
                    reasons.append(f"nonsymmetric, Péclet number at most {peclet:g}: GMRES with algebraic "
                                   "multigrid (GAMG, its levels smoothed by block Jacobi + ILU(0)): 11-14 iterations "
                                   "and 0.05-0.13x the time of GCRO-DR + block Jacobi from 128² to 384² on 2 ranks per "
                                   "system (docs/benchmarks.md, distributed_nonsymmetric)")
                elif unknowns >= GCRODR_MIN_UNKNOWNS_NONSYMMETRIC:
                    method = "gcrodr"
                    reasons.append(f"nonsymmetric, {unknowns} unknowns: GCRO-DR, measured 0.64-0.97x the time of "
                                   "GMRES from 256² to 384² on 2 ranks per system (docs/benchmarks.md, "
                                   "distributed_nonsymmetric)")
                else:
                    method = "gmres"
                    reasons.append(f"nonsymmetric, {unknowns} unknowns (below {GCRODR_MIN_UNKNOWNS_NONSYMMETRIC}): "
                                   "GMRES, as GCRO-DR's recycling cost more than it saved at 128² "
                                   "(docs/benchmarks.md, distributed_nonsymmetric)")
        elif solver["preconditioner"] not in ("auto", "none"):
            method = "cg" if family.positive_definite else "gcrodr" if indefinite else "gmres"
            reasons.append(f"solver.preconditioner: {solver['preconditioner']} set in the recipe, so an "
                           f"iterative method: {method}" + (f" ({INDEFINITE_KRYLOV})" if indefinite else ""))
        elif indefinite:
            method = "direct"
            reasons.append(f"symmetric indefinite (Helmholtz-like): {INDEFINITE_KRYLOV}; a sparse LU does not")
        elif not varies and (ndim < 3 or not multigrid_fits or (unknowns <= FIXED_3D_DIRECT[0]
                                                                 and data["samples"] >= FIXED_3D_DIRECT[1])):
            method = "direct"
            graded = data.get("discretization", {}).get("start_refinement", 0)
            if graded and unknowns * (graded + 1) <= SLOT_UNKNOWNS:
                step_matrices = graded + 1
                reasons.append(f"the {step_matrices} step matrices of a graded start are the same for every sample: "
                               "factor each once and keep all, then only forward/back substitutions")
            elif graded:
                reasons.append(f"the {graded + 1} step matrices of a graded start are the same for every sample, "
                               f"but {graded + 1} factorisations of {unknowns} unknowns are too many to keep "
                               f"(up to {SLOT_UNKNOWNS} unknowns in all): each refactored where its Δt starts")
            else:
                reasons.append("the matrix is the same for every sample: factor once, then only "
                               "forward/back substitutions")
        elif multigrid_fits:
            method = "cg"
            mg = True
            rival = "the reused Cholesky" if ndim == 2 else "CG + incomplete Cholesky"
            why = (f"above the direct limit {limit}" if sharp else
                   f"measured faster than {rival} from {mg_min} unknowns at this jump" if sharp_multigrid_3d else
                   f"measured faster than {rival} from {MG_MIN_UNKNOWNS[ndim][coarse]} unknowns")
            if time_stepping_3d:
                why = (f"time steps with Δt a/h² = {step_ratio:.3g}: measured faster than CG + incomplete Cholesky "
                       "from " + " and from ".join(f"{round(size ** (1 / 3))}³ at Δt a/h² >= {ratio:g}"
                                                 for size, ratio in TIME_DEPENDENT_3D_MG)
                       + "; the mass term 1/Δt summed over the coarse cells (docs/benchmarks.md, time_dependent_3d)")
            if time_stepping:
                why = (f"{steps} time step{'s' if steps != 1 else ''} per sample, fewer than the "
                       f"{factorisation_break_even(unknowns):.1f} over which a reused factorisation pays for itself "
                       "at this size" if unknowns <= TIME_DEPENDENT_DIRECT_MAX_UNKNOWNS_2D else
                       f"above the direct limit {TIME_DEPENDENT_DIRECT_MAX_UNKNOWNS_2D} for time-stepping")
                why += " (docs/benchmarks.md, time_dependent_crossover)"
            variant = ("the numbering incomplete Cholesky smoothing needs, below" if icc_smoothing
                       else f"the fastest measured variant in {ndim}-D")
            reasons.append(f"SPD, {unknowns} unknowns in {ndim}-D on a grid that coarsens "
                           f"{halvings} times ({hierarchy}): CG with geometric multigrid, "
                           f"{coarse} coarse operators ({why}), {mg_ordering} numbering, "
                           f"{mg_cycles} full-multigrid start cycle{'s' if mg_cycles != 1 else ''} ({variant})")
            if not varies:
                reasons.append(f"the matrix is the same for every sample, but in {ndim}-D its factorisation fills in: "
                               f"{FIXED_3D_FACTORISATION}")
            if sharp_multigrid_3d:
                reasons.append(f"the coefficient jumps {jump:g}:1 across sharp interfaces: Galerkin coarse operators "
                               "smoothed by ICC(0) (a Chebyshev step on the coarse levels): 13-21 iterations at "
                               "1000:1 and 0.60-0.87x the time of CG + ICC at 48³ and 64³, where aggregation "
                               "multigrid took 82-135 (docs/benchmarks.md, sharp_jumps_3d)")
            if sharp:
                reasons.append(f"the coefficient jumps {jump:g}:1 across sharp interfaces: Galerkin coarse operators, "
                               "which kept CG at 15-26 iterations from 100:1 to 1000:1 where aggregation took 26-86 "
                               "(docs/benchmarks.md, contrast), smoothed by ICC(1) (a Chebyshev step on the coarse "
                               "levels, where a plain one made the V-cycle indefinite): 9-17 iterations, 0.57-0.99x "
                               "the time of SOR smoothing from 256² up (docs/benchmarks.md, sharp_jumps)")
            if aspect > SEMI_COARSENING_RATIO:
                measured = ("6-7 iterations up to 64:1 at 128² and 256², where halving every axis took 34 at 8:1 "
                            "(docs/benchmarks.md, planner_crossover_aspect)" if ndim == 2 else
                            "7-10 iterations on 32³ plates and rods up to 16:1, where halving every axis took "
                            "23-46 at 8:1-16:1 (docs/benchmarks.md, semi_coarsening)")
                reasons.append(f"cells of aspect {aspect:.3g}:1: the hierarchy halves the short axes first "
                               f"(semi-coarsening), which kept CG at {measured}")
        elif convection_multigrid:
            method = "gmres"
            mg = True
            reasons.append(f"nonsymmetric, {unknowns} unknowns in {ndim}-D, Péclet number at most {peclet:g}, on a "
                           f"grid that coarsens {halvings} times ({hierarchy}): GMRES with geometric multigrid "
                           "(Galerkin coarse operators, ILU(0) smoothing), 6-8 iterations up to Péclet "
                           f"{MG_MAX_PECLET:g} and measured faster than the reused sparse LU from "
                           f"{MG_MIN_UNKNOWNS_NONSYMMETRIC} unknowns (0.60-0.65x its time at 128², 0.10-0.12x "
                           "at 1024²: docs/benchmarks.md, nonsymmetric_multigrid)")
        elif convection_amg and unknowns >= AMG_MIN_UNKNOWNS_NONSYMMETRIC:
            method, amg = "gmres", True
            if convection_grid:
                reasons.append(_no_convection_multigrid(peclet))
            reasons.append(f"nonsymmetric, {unknowns} unknowns, Péclet number at most {peclet:g}: GMRES with "
                           "algebraic multigrid (GAMG, its levels smoothed by ILU(0)), 15-21 iterations at Péclet "
                           "1000-10,000 and measured faster than the reused sparse LU from "
                           f"{AMG_MIN_UNKNOWNS_NONSYMMETRIC} unknowns (0.61-0.62x its time at 384², 0.22-0.24x at "
                           "1024²: docs/benchmarks.md, nonsymmetric_multigrid)")
        elif unknowns <= limit:
            method = "direct"
            if convection_grid:
                reasons.append(_no_convection_multigrid(peclet))
            if ndim == 1:
                reasons.append(f"{unknowns} unknowns in 1-D: the matrix is tridiagonal, its factorisation costs "
                               "O(n) (measured 8-10x faster than CG + GAMG at 16,384 and 65,536 cells, which failed at "
                               "262,144: docs/benchmarks.md, planner_crossover_1d); sparse factorisation with the "
                               "symbolic factorisation reused")
            elif time_stepping:
                reasons.append(f"{unknowns} unknowns in 2-D, {steps} solves per sample: one factorisation per "
                               "sample serves every solve, and pays for itself against CG + multigrid over "
                               f"{factorisation_break_even(unknowns):.1f} solves at this size (measured faster up to "
                               "1024² at 20 steps: docs/benchmarks.md, time_dependent_crossover)")
            elif family.time_dependent and not family.positive_definite:
                reasons.append(f"nonsymmetric, {unknowns} unknowns in {ndim}-D, {steps} solves per sample with one "
                               f"step matrix: one sparse LU per sample serves them all (direct limit {limit})")
            elif family.positive_definite and sharp:
                reasons.append(f"{unknowns} unknowns in {ndim}-D and a coefficient that jumps {jump:g}:1 across "
                               "sharp interfaces, where multigrid needs 15-86 CG iterations and the reused Cholesky "
                               f"measured faster up to {limit} unknowns (docs/benchmarks.md, contrast): sparse "
                               "factorisation with the symbolic factorisation reused")
            elif family.positive_definite:
                threshold = MG_MIN_UNKNOWNS.get(ndim, {}).get(coarse)
                below = (f"the {threshold} from which CG + geometric multigrid measured faster" if threshold and
                         unknowns < threshold else f"the measured direct/iterative crossover ({limit})")
                reasons.append(f"{unknowns} unknowns in {ndim}-D, below {below}: sparse factorisation with the "
                               "symbolic factorisation reused (fixed nonzero pattern)")
            else:
                reasons.append(f"nonsymmetric, {unknowns} unknowns in {ndim}-D (direct limit {limit}): sparse LU "
                               "with the symbolic factorisation reused, measured 4-11x faster than GMRES or "
                               "GCRO-DR + ILU from 128² to 768² (docs/benchmarks.md, nonsymmetric_crossover)"
                               + _nonsymmetric_alternative(convection_amg, peclet, halvings))
        elif family.positive_definite:
            method = "cg"
            reasons.append(f"SPD and {unknowns} unknowns in {ndim}-D (above the direct limit {limit}): CG with "
                           + ("incomplete Cholesky" if ndim == 3 else "algebraic multigrid"))
            if ndim == 3 and family.time_dependent:
                ratio = "each sample its own Δt" if family.mass_shift(data) is None else f"Δt a/h² = {step_ratio:.3g}"
                reasons.append(f"time-stepping in 3-D ({ratio}), one preconditioner per sample: "
                               f"{TIME_DEPENDENT_3D_ICC}")
            if no_multigrid_3d and halvings >= 2:
                reasons.append(f"no geometric multigrid: the coefficient jumps {jump:g}:1 across sharp interfaces, "
                               "where aggregation multigrid needed 44-70 CG iterations and CG + ICC 0.44-0.63x its "
                               "time at 32³ and 48³ (docs/benchmarks.md, contrast); Galerkin multigrid smoothed by "
                               f"ICC(0) takes over from {SHARP_JUMP_MG_MIN_3D} unknowns, for steady problems on one "
                               "rank per system (sharp_jumps_3d)")
        else:
            method = "gcrodr"
            if convection_grid:
                reasons.append(_no_convection_multigrid(peclet))
            reasons.append(f"nonsymmetric and above the direct limit ({limit}): GCRO-DR with ILU, warm-started in "
                           "sorted order (on sequences from 256² to 512²: 2.5-3.1x fewer iterations and 0.58-0.91x "
                           "the time of GMRES + ILU, 0.70-0.73x at 1024²; slower below 256², and no faster on a lone "
                           "768² system with nothing to recycle: docs/benchmarks.md, nonsymmetric_crossover)")
            if family.time_dependent:
                reasons.append("time steps: each sample's steps share one matrix, which GCRO-DR's recycled space "
                               "suits (not measured for time steps)")
    else:
        reasons.append(f"solver.method: {method} set in the recipe")
    preconditioner = solver["preconditioner"]
    if method == "direct":
        preconditioner = "cholesky" if family.positive_definite else "lu"
        if solver["backend"] == "numpy":
            preconditioner = "superlu"
    elif preconditioner == "auto" and mg:
        preconditioner = "mg"
    elif preconditioner == "auto" and amg:
        preconditioner = "gamg"
    elif preconditioner == "auto":
        if solver["backend"] == "numpy":
            preconditioner = "ilu" if not family.positive_definite else "jacobi"
        elif family.positive_definite:
            preconditioner = "icc" if ndim == 3 else "gamg"
        else:
            preconditioner = "ilu"
        reasons.append(f"preconditioner auto -> {preconditioner}")
    if preconditioner == "mg" and not mg:  # named in the recipe: say what the hierarchy will be
        reasons.append(f"mg: geometric multigrid on {hierarchy}, {coarse} coarse operators, {mg_ordering} numbering")
    neumann, periodic = family.neumann_faces(data), family.periodic_axes(data)
    if preconditioner == "mg" and neumann:
        names = ", ".join(face_names(ndim)[2 * axis + side] for axis, side in neumann)
        kinds = "Neumann or inflow" if "inflow" in face_kinds(data["boundary"], ndim) else "Neumann"
        reasons.append(f"{kinds} faces {names}: multigrid interpolates its corrections flat onto them, which kept CG "
                       "at 4-6 iterations on Darcy from 128² to 512² and at 32³ / 48³, where interpolating towards "
                       "zero (the Dirichlet rule) took 12-31, 1.7-5.7x the time (docs/benchmarks.md, "
                       "boundary_multigrid)")
    if preconditioner == "mg" and periodic:
        reasons.append(f"periodic along {', '.join(AXIS_NAMES[a] for a in periodic)}: multigrid interpolates across "
                       "the wrap too, which kept CG at 8-9 iterations on Darcy from 128² to 512² and at 32³ / "
                       "48³, where decaying towards zero there took 15-27, 1.6-3.0x the time (docs/benchmarks.md, "
                       "boundary_multigrid)")
    options = dict(mg_options) if preconditioner == "mg" else {}
    if preconditioner == "gamg" and not family.symmetric:
        options.update(NONSYMMETRIC_AMG_OPTIONS)
    if data["ranks_per_system"] > 1 and method == "direct":
        options["pc_factor_mat_solver_type"] = "mumps"  # PETSc's own LU/Cholesky are sequential
    if data["ranks_per_system"] > 1 and preconditioner in ("ilu", "icc"):
        options["sub_pc_type"] = preconditioner  # PETSc's ILU/ICC are sequential: one block per rank
        reasons.append(f"{preconditioner} on {data['ranks_per_system']} ranks per system -> bjacobi "
                       f"with {preconditioner} on each rank's block")
        preconditioner = "bjacobi"
    ordering = data["ordering"]["method"]
    if ordering == "auto":
        if method == "direct":
            ordering, why = "none", "a direct solve does not depend on its neighbours"
        elif preconditioner == "mg":
            ordering, why = "none", ("multigrid hardly depends on the starting guess: the order buys 0.4% fewer "
                                     "iterations and costs 3-4.6% of the build at 10,000 samples "
                                     "(docs/benchmarks.md, ordering)")
        else:
            ordering = "greedy" if data["samples"] <= GREEDY_MAX_SAMPLES else "kdtree"
            why = "cheap, and warm starts gain a little: docs/benchmarks.md, ablation"
        reasons.append(f"ordering auto -> {ordering} ({why})")
    return Plan(method, solver["backend"], preconditioner, ordering, warm_start=method != "direct",
                reasons=reasons, options=options, grid_shape=list(data["grid"]["shape"]), grid_spacing=spacing,
                multigrid_coarse=coarse, multigrid_ordering=mg_ordering if preconditioner == "mg" else "natural",
                multigrid_start_cycles=mg_cycles if preconditioner == "mg" else 0, multigrid_odd=True,
                multigrid_small_coarsest=True,
                multigrid_shift=shift if preconditioner == "mg" else 0.0,
                multigrid_neumann=neumann if preconditioner == "mg" else [],
                multigrid_periodic=list(periodic) if preconditioner == "mg" else [],
                step_matrices=step_matrices if method == "direct" else 1)


def _nonsymmetric_alternative(amg_applies: bool, peclet: float, halvings: int) -> str:
    """Where the LU keeps a nonsymmetric problem that multigrid could take on a larger grid."""
    if not amg_applies:
        return ""
    if peclet <= MG_MAX_PECLET and halvings >= 2:
        return (f"; GMRES + geometric multigrid measured faster from {MG_MIN_UNKNOWNS_NONSYMMETRIC} unknowns "
                "(nonsymmetric_multigrid)")
    return f"; GMRES + GAMG measured faster from {AMG_MIN_UNKNOWNS_NONSYMMETRIC} unknowns (nonsymmetric_multigrid)"


def _no_convection_multigrid(peclet: float) -> str:
    why = (f"Péclet numbers up to {peclet:g}, above the {MG_MAX_PECLET:g} up to which its ILU(0)-smoothed V-cycle "
           "kept GMRES at 6-8 iterations (it failed at 3000)" if peclet > MG_MAX_PECLET else
           "central convection at a cell Péclet number above 2, where the matrix is no longer an M-matrix (it "
           "failed at cell Péclet 7.8)")
    return f"no geometric multigrid: {why} (docs/benchmarks.md, nonsymmetric_multigrid)"


def make_solver(plan: Plan, solver_options: dict, comm=None):
    """A sequence solver object with ``solve(A, b, x0=None, global_size=None)``; None for
    a plan with nothing to solve."""
    if plan.method == "none":
        return None
    rtol, maxiter = solver_options["rtol"], solver_options["maxiter"]
    if plan.backend == "numpy":
        if plan.method == "direct":
            from solvers.direct import ScipyDirect
            if plan.step_matrices > 1:
                from solvers.slots import MatrixSlots
                return MatrixSlots(lambda: ScipyDirect(rtol), plan.step_matrices)
            return ScipyDirect(rtol)
        from solvers import GCRODR, GMRES
        m, k = solver_options["restart"], solver_options["recycle"]
        if plan.method == "gcrodr":
            return GCRODR(m=m, k=k, rtol=rtol, maxiter=maxiter, backend="numpy",
                          preconditioner=plan.preconditioner, rebuild=rebuild_policy(plan.preconditioner))
        return GMRES(m=m, rtol=rtol, maxiter=maxiter, backend="numpy", preconditioner=plan.preconditioner,
                     rebuild=rebuild_policy(plan.preconditioner))
    from solvers.ksp import KSPSolver
    options = {**plan.options, **(solver_options.get("options") or {})}
    if plan.method == "direct":
        def direct():
            return KSPSolver("preonly", plan.preconditioner, rtol=rtol, maxiter=maxiter, options=options, comm=comm)
        if plan.step_matrices > 1 and (comm is None or comm.getSize() == 1):
            from solvers.slots import MatrixSlots
            return MatrixSlots(direct, plan.step_matrices)
        return direct()
    if plan.method in ("cg", "gmres"):
        if plan.method == "gmres":
            options.setdefault("ksp_gmres_restart", solver_options["restart"])
        multigrid = None
        if plan.preconditioner == "mg":
            from solvers.multigrid import GeometricMG
            multigrid = GeometricMG(plan.grid_shape, coarse=plan.multigrid_coarse, ordering=plan.multigrid_ordering,
                                    start_cycles=plan.multigrid_start_cycles, spacing=plan.grid_spacing or None,
                                    odd=plan.multigrid_odd, small_coarsest=plan.multigrid_small_coarsest,
                                    shift=plan.multigrid_shift, neumann=plan.multigrid_neumann,
                                    periodic=plan.multigrid_periodic)
        return KSPSolver(plan.method, plan.preconditioner, rtol=rtol, maxiter=maxiter, options=options, comm=comm,
                         multigrid=multigrid)
    from solvers import GCRODR
    return GCRODR(m=solver_options["restart"], k=solver_options["recycle"], rtol=rtol, maxiter=maxiter,
                  backend="petsc", preconditioner=plan.preconditioner, options=options, comm=comm,
                  rebuild=rebuild_policy(plan.preconditioner))
