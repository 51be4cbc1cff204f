"""Exports of a finished store to other tools' layouts, one module per layout:

- :mod:`.well`: trajectories as The Well's HDF5 data set (``the_well``'s WellDataset,
  neuraloperator's TheWellDataset);
- :mod:`.neuralop`: steady input/output pairs as neuraloperator's ``.pt`` files (its
  PTDataset, DarcyDataset).

What they share lives here: which samples go where (the store's splits, failed samples
left out, sample-id order) and writing into a hidden directory beside the output that is
renamed into place when complete, so that an interrupted export leaves nothing behind and
``overwrite`` replaces only an earlier export of the same layout.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..store.layout import SPLIT_LABELS


class ExportError(ValueError):
    """A store that cannot be exported, or an output path that cannot be written."""


def split_members(ds) -> tuple[dict[str, np.ndarray], list[int]]:
    """({split label: its converged sample ids, sorted}, the failed sample ids) of a finished
    store; an unfinished one is an :class:`ExportError`."""
    done = ds["done"][:]
    if not done.all():
        raise ExportError(f"{ds.path}: only {int(done.sum())} of {done.size} samples are done; finish the build "
                          "first (pdegen build RECIPE --resume)")
    ids, splits, converged = ds["sample_id"][:], ds["split"][:], ds["stats/converged"][:]
    members = {label: np.sort(ids[(splits == code) & converged]) for code, label in enumerate(SPLIT_LABELS)}
    return members, sorted(int(i) for i in ids[~converged])


@contextmanager
def staged(out: Path, overwrite: bool, is_export: Callable[[Path], bool], layout: str):
    """Yields a new hidden directory beside ``out`` to write the export into, renamed to
    ``out`` when the block ends without error (an earlier export there replaced, with
    ``overwrite`` only) and deleted when it raises (Ctrl-C included)."""
    if out.exists() and not overwrite:
        raise ExportError(f"{out}: already exists; pass --overwrite to replace it")
    if out.exists() and not is_export(out):
        raise ExportError(f"{out}: exists and is not an export of {layout}; --overwrite replaces only such an "
                          "export: choose a new path")
    if not out.parent.is_dir():
        raise ExportError(f"{out.parent}: no such directory")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield staging
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def export(store, out, *, to: str = "auto", overwrite: bool = False, progress=None):
    """Export ``store`` to the directory ``out`` in the layout ``to``: "well", "neuraloperator"
    or "auto" (The Well's for trajectories, neuraloperator's for steady data)."""
    from ..families import get_family
    from ..store.reader import open_dataset
    if to == "auto":
        with open_dataset(store) as ds:
            to = "well" if get_family(ds.attrs["recipe"]["family"]).time_dependent else "neuraloperator"
    if to == "well":
        from .well import export_well
        return export_well(store, out, overwrite=overwrite, progress=progress)
    if to == "neuraloperator":
        from .neuralop import export_neuralop
        return export_neuralop(store, out, overwrite=overwrite, progress=progress)
    raise ExportError(f"to: {to!r} is not a layout; choose well, neuraloperator or auto")
