"""Progress of long work: a bar on a terminal, a line every so often in a log.

Without a terminal (a batch job's log, and every rank under mpiexec, whose output goes
into pipes) a bar would be one endless line of carriage returns, so the progress is a line
every ``PROGRESS_LINE_SECONDS``: ``solving: 1200/5000 samples (24%), 45.1/s, about 1 min
24 s left``. Work shorter than that prints none.
"""

from __future__ import annotations

import sys
import time

PROGRESS_LINE_SECONDS = 30.0


def progress(total: int | None, desc: str, disable: bool = False):
    """A tqdm bar on a terminal, else :class:`ProgressLines`; both take ``update(n)``,
    ``reset(total)``, ``write(message, file)`` and ``close()``."""
    from tqdm import tqdm
    if disable or sys.stderr.isatty():
        return tqdm(total=total, unit="sample", disable=disable, dynamic_ncols=True, desc=desc)
    return ProgressLines(total, desc)


class ProgressLines:
    """Progress as a line every PROGRESS_LINE_SECONDS on stderr (none for the last item)."""

    def __init__(self, total: int | None, desc: str):
        self.desc = desc
        self.reset(total)

    def reset(self, total: int | None = None) -> None:
        self.total, self.n = total, 0
        self.start = self.last = time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self.last < PROGRESS_LINE_SECONDS or (self.total is not None and self.n >= self.total):
            return
        self.last = now
        rate = self.n / max(now - self.start, 1e-9)
        if self.total:
            left = int(round((self.total - self.n) / rate))
            done = f"{self.n}/{self.total} samples ({100 * self.n // self.total}%), {rate:.1f}/s, " \
                   f"about {left // 60} min {left % 60} s left"
        else:
            done = f"{self.n} samples, {rate:.1f}/s"
        print(f"{self.desc}: {done}", file=sys.stderr, flush=True)

    @staticmethod
    def write(message: str, file=None) -> None:
        """A message of its own line (as tqdm.write, which keeps the bar below it)."""
        print(message, file=file or sys.stderr, flush=True)

    def close(self) -> None:
        pass
