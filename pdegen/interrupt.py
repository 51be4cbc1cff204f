"""Ctrl-C (or SIGTERM, or SIGUSR1) during a build, acted on between samples (time steps).

Python raises KeyboardInterrupt in whatever Python code runs next. When that is a callback
an exception cannot leave (a weakref callback of h5py's or zarr's object bookkeeping,
which runs thousands of times a second while a store is written), Python prints
"Exception ignored in ..." and the build carries on: 2 of 3 Ctrl-C were lost that way 3 s
into an HDF5 build of ``recipes/heat.yaml``. So during the sample loop the first Ctrl-C
only sets a flag, which the loop checks after every sample and turns into a
KeyboardInterrupt there; a second Ctrl-C interrupts at once, wherever the build is.
SIGTERM, which batch systems send at a job's time limit before they kill it (Slurm
waits ``KillWait``, 30 s by default), is taken the same way: the build stops after the
current sample with every finished sample written, and resumes from there. A
time-dependent build checks the flag after every time step and drops the sample in
progress (resume solves it again): one sample of a fine 2-D grid takes minutes, longer
than a batch system waits. A second SIGTERM changes nothing: a rank under mpiexec in a
batch job gets one from the batch system and one forwarded by mpiexec, and the kill that
follows needs no help. SIGUSR1 is taken the same way too: Open MPI's mpirun kills the
ranks 0.25 s after it forwards a SIGTERM (5.0.11, measured), too soon to write anything,
but forwards SIGUSR1 and leaves the job running, so there a build is stopped with
``kill -USR1 <mpirun's pid>`` or Slurm's ``--signal=USR1@120`` (docs/parallel.md).

Example
-------
>>> import os, signal
>>> with StopRequest(announce=False) as stop:
...     os.kill(os.getpid(), signal.SIGINT)   # remembered, not raised here
...     stop.requested
True
"""

from __future__ import annotations

import signal
import sys
import threading


SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
if hasattr(signal, "SIGUSR1"):  # not on Windows
    SIGNALS[signal.SIGUSR1] = "SIGUSR1"


class StopRequest:
    """Context manager that takes over SIGINT, SIGTERM and SIGUSR1 (main thread only;
    elsewhere it does nothing) and restores the previous handlers on exit; ``requested``
    says whether a stop was asked for (the build's sample loop raises it as
    KeyboardInterrupt). ``announce``: say on stderr that the build stops after ``after``,
    what it finishes first (one rank of an MPI run should)."""

    def __init__(self, announce: bool = True, after: str = "the current sample"):
        self.requested, self.announce, self.after = False, announce, after
        self._previous: dict = {}

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._handle) for number in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.requested:
            if signum == signal.SIGINT:  # Ctrl-C twice: stop now
                raise KeyboardInterrupt
            return
        self.requested = True
        if self.announce:
            print(f"\n{SIGNALS.get(signum, 'signal')}: stopping after {self.after}; every finished sample "
                  "is kept (a second Ctrl-C stops at once)", file=sys.stderr, flush=True)
