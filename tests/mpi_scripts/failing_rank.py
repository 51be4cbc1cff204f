"""Run under mpiexec: rank 1 raises in the middle of its segment; the job must abort
with the error shown instead of leaving rank 0 waiting at the final reduction."""

import sys

import pdegen.build as build
from mpi4py import MPI

original = build.draw_values


def draw_values(recipe, family, sample_id):
    if MPI.COMM_WORLD.Get_rank() == 1:
        raise RuntimeError("injected failure on rank 1")
    return original(recipe, family, sample_id)


build.draw_values = draw_values
from pdegen.cli import main  # noqa: E402

sys.argv = ["pdegen", "build", sys.argv[1], "-q"]
main()
