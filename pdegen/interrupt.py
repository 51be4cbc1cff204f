"""Ctrl-C during a build, acted on between samples.

Python raises KeyboardInterrupt in whatever Python code runs next. When that is a callback
an exception cannot leave (a weakref callback of h5py's or zarr's object bookkeeping,
which runs thousands of times a second while a store is written), Python prints
"Exception ignored in ..." and the build carries on: 2 of 3 Ctrl-C were lost that way 3 s
into an HDF5 build of ``recipes/heat.yaml``. So during the sample loop the first Ctrl-C
only sets a flag, which the loop checks after every sample and turns into a
KeyboardInterrupt there; a second Ctrl-C interrupts at once, wherever the build is.

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


class StopRequest:
    """Context manager that takes over SIGINT (main thread only; elsewhere it does
    nothing) and restores the previous handler on exit; ``requested`` says whether a stop
    was asked for (the build's sample loop raises it as KeyboardInterrupt). ``announce``:
    say on stderr that the build stops after the current sample (one rank of an MPI run
    should)."""

    def __init__(self, announce: bool = True):
        self.requested, self.announce = False, announce
        self._installed, self._previous = False, None

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False

    def _handle(self, signum, frame) -> None:
        if self.requested:  # asked twice: stop now
            raise KeyboardInterrupt
        self.requested = True
        if self.announce:
            print("\nCtrl-C: stopping after the current sample (press it again to stop at once)",
                  file=sys.stderr, flush=True)
