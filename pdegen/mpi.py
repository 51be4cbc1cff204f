"""Communicators, with a serial stand-in when mpi4py (or an MPI launch) is absent."""

from __future__ import annotations

import os
import sys
import time


class SerialComm:
    """The subset of mpi4py's Comm that pdegen uses, for one process."""

    rank = 0
    size = 1

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def barrier(self):
        pass

    def bcast(self, obj, root=0):
        return obj

    def allreduce(self, obj, op=None):
        return obj

    def allgather(self, obj):
        return [obj]

    def gather(self, obj, root=0):
        return [obj]

    def Split(self, color=0, key=0):
        return self

    def Abort(self, code=1):
        os._exit(code)


def launched_under_mpi() -> bool:
    names = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK", "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD")
    return any(name in os.environ for name in names)


def launcher_size() -> int | None:
    """How many processes an MPI launcher says it started (its environment), or None."""
    for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):  # Open MPI; MPICH's Hydra, Intel MPI, Slurm's PMI
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    # srun --mpi=pmix exports no size of its own: the step's task count. Only with PMIX_RANK,
    # which srun sets per task: a batch script's own environment has SLURM_* counts too.
    if "PMIX_RANK" in os.environ and os.environ.get("SLURM_STEP_NUM_TASKS", "").isdigit():
        return int(os.environ["SLURM_STEP_NUM_TASKS"])
    return None


def launcher_rank() -> int:
    """This process's rank according to the launcher's environment (0 when not launched)."""
    for name in ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def mpi_library(MPI) -> str:
    """The first line of mpi4py's MPI library version, cleaned (Open MPI ends it with a NUL)."""
    return " ".join(MPI.Get_library_version().replace("\x00", " ").splitlines()[0].split())


def launch_mismatch(comm) -> str | None:
    """Why ``comm`` (one process) disagrees with a launcher that started several, or None.

    The classic cause is mpi4py built against another MPI than the mpiexec used (or no
    mpi4py at all): every process then believes it is alone and would build the whole
    dataset into the same store.
    """
    started = launcher_size()
    if started is None or started <= 1 or comm.Get_size() > 1:
        return None
    launcher = ("Open MPI's mpiexec" if "OMPI_COMM_WORLD_SIZE" in os.environ
                else "a PMI (MPICH-style) mpiexec" if "PMI_SIZE" in os.environ else "Slurm's srun (PMIx)")
    try:
        from mpi4py import MPI
        cause = (f"mpi4py is built against {mpi_library(MPI)}, not the MPI of this mpiexec; use the mpiexec "
                 "of that MPI, or rebuild mpi4py for this one (pip install --force-reinstall --no-binary mpi4py "
                 "mpi4py)")
    except (ImportError, RuntimeError):
        cause = "mpi4py is not installed or cannot load its MPI library (pip install mpi4py)"
    return (f"{launcher} started {started} processes, but each one sees an MPI world of 1 process: "
            f"{cause}. Stopped before writing anything, as every process would build the whole dataset "
            "into the same store.")


def world():
    """mpi4py's COMM_WORLD when available, else :class:`SerialComm`."""
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError):  # pragma: no cover - no mpi4py, or no MPI library for it to load
        return SerialComm()
    return MPI.COMM_WORLD


def abort_on_error(comm, error: BaseException) -> None:
    """Show the error and abort every rank, so no rank waits forever on a dead peer."""
    print(f"[rank {comm.Get_rank()}] error: {error}", file=sys.stderr, flush=True)
    if comm.Get_size() > 1:
        # The launcher forwards a rank's output through its own pipes; aborting at once
        # can kill them before the message gets through (seen once in the test suite:
        # exit status 1, nothing on stderr).
        time.sleep(0.5)
        comm.Abort(1)
