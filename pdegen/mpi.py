"""Communicators, with a serial stand-in when mpi4py (or an MPI launch) is absent."""

from __future__ import annotations

import os
import sys


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
        comm.Abort(1)
