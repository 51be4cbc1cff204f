"""Export a store of steady problems as neuraloperator's ``.pt`` files, for its PTDataset.

neuraloperator (Kossaifi et al., "A library for learning neural operators", 2024) reads
its Darcy and similar data sets as ``ROOT/{name}_train_{res}.pt`` and
``ROOT/{name}_test_{res}.pt``, each a dict of tensors ``x`` (inputs) and ``y`` (outputs) of
shape (n, *grid), or (n, channels, *grid) with ``channels_squeezed=False``
(``neuralop.data.datasets.pt_dataset.PTDataset``). :func:`export_neuralop` writes:

- ``x``: the store's input fields, then its drawn scalar parameters as constant channels
  (as ``pdegen train`` feeds them), ``y``: its outputs (``solution``, or one channel per
  component), in the store's dtype, samples in sample-id order;
- one file per split: ``train``, ``test`` and ``val`` (the last is pdegen's; PTDataset reads
  train and test), with ``sample_id`` and the ``channels`` names beside ``x`` and ``y``;
- ``res`` is the grid's side (``16x32`` for a grid that is not square).

With one input and one output channel the channel axis is squeezed (neuraloperator's own
files, and PTDataset's default); otherwise both keep it. The summary names the
PTDataset call that reads the export. Samples recorded as failed are left out. The
store's fields are held in memory while they are written (a 128² Darcy data set of 1,000
samples: 128 MiB in float32). Trajectories belong in The Well's layout (:mod:`.well`).

Example
-------
>>> resolution_label((64, 64)), resolution_label((16, 32))
('64', '16x32')
>>> export_neuralop("data/darcy.zarr", "data/darcy_pt")                 # doctest: +SKIP
>>> from neuralop.data.datasets.pt_dataset import PTDataset             # doctest: +SKIP
>>> data = PTDataset("data/darcy_pt", "darcy", n_train=400, n_tests=[50], batch_size=16,
...                  test_batch_sizes=[16], train_resolution=128, test_resolutions=[128])  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..families import get_family
from ..store.layout import output_paths, stored_parameters
from ..store.reader import open_dataset
from . import ExportError, split_members, staged

PT_SPLITS = ("train", "test", "val")


@dataclass
class NeuralopSummary:
    out: Path
    name: str
    resolution: str
    samples: dict[str, int]        # per split
    inputs: list[str]              # x's channels
    outputs: list[str]             # y's channels
    squeezed: bool
    left_out: list[int] = field(default_factory=list)

    def line(self) -> str:
        counts = ", ".join(f"{split} {n}" for split, n in self.samples.items())
        failed = f"; {len(self.left_out)} failed sample(s) left out" if self.left_out else ""
        call = (f"PTDataset({str(self.out)!r}, {self.name!r}, n_train={self.samples['train']}, "
                f"n_tests=[{self.samples['test']}], batch_size=..., test_batch_sizes=[...], "
                f"train_resolution={self.resolution}, test_resolutions=[{self.resolution}]"
                f"{'' if self.squeezed else ', channels_squeezed=False'})")
        return (f"{self.out}: {counts} samples, x = {', '.join(self.inputs)}, y = {', '.join(self.outputs)}"
                f"{failed}; read with {call}")


def resolution_label(shape: tuple[int, ...]) -> str:
    """The ``res`` of the file names: the grid's side, or its sides joined by x."""
    return str(shape[0]) if len(set(shape)) == 1 else "x".join(map(str, shape))


def _is_export(path: Path) -> bool:
    """Whether ``path`` holds an earlier export of this layout and nothing else."""
    return path.is_dir() and all(p.suffix == ".pt" for p in path.iterdir())


def export_neuralop(store, out, *, overwrite: bool = False, progress=None) -> NeuralopSummary:
    """Write the steady samples of the pdegen store ``store`` as neuraloperator's ``.pt``
    files in the directory ``out``."""
    try:
        import torch
    except ImportError:
        raise ExportError("neuraloperator's files are written with PyTorch, which is not installed: "
                          "pip install 'pdegen[train]'") from None
    out = Path(out)
    with open_dataset(store) as ds:
        recipe = ds.attrs["recipe"]
        family = get_family(recipe["family"])
        if family.time_dependent:
            raise ExportError(f"{store}: {family.name} stores trajectories; export them to The Well's layout "
                              "(--to well, or --to auto)")
        members, left_out = split_members(ds)
        inputs = [path for path in stored_parameters(recipe) if path.startswith("inputs/")]
        scalars = [path for path in stored_parameters(recipe) if path.startswith("params/") and ds[path].ndim == 1]
        outputs = output_paths(recipe)
        if not inputs and not scalars:
            raise ExportError(f"{store}: no parameter of {recipe['name']!r} is drawn, so every sample has the same "
                              "inputs: nothing for x")
        squeezed = len(inputs) + len(scalars) == 1 and len(outputs) == 1
        shape = tuple(ds.grid_shape)
        resolution = resolution_label(shape)
        rows = {int(sample): row for row, sample in enumerate(ds["sample_id"][:])}
        names = {"x": [p.split("/", 1)[1] for p in [*inputs, *scalars]], "y": [p.split("/", 1)[1] for p in outputs]}
        dtype = ds[outputs[0]].dtype
        fields = {path: ds[path][:] for path in [*inputs, *outputs]}  # each read once, in one pass
        fields.update({path: np.broadcast_to(ds[path][:].astype(dtype).reshape(-1, *[1] * len(shape)),
                                             (len(rows), *shape)) for path in scalars})  # constant channels
        with staged(out, overwrite, _is_export, "neuraloperator's .pt files (only *.pt)") as staging:
            for split in PT_SPLITS:
                chosen = [rows[int(sample)] for sample in members[split]]
                x = np.stack([fields[path][chosen] for path in [*inputs, *scalars]], axis=1)
                y = np.stack([fields[path][chosen] for path in outputs], axis=1)
                if squeezed:
                    x, y = x[:, 0], y[:, 0]
                tensors = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in (("x", x), ("y", y))}
                torch.save({**tensors, "sample_id": torch.from_numpy(members[split].astype(np.int64)),
                            "channels": names}, staging / f"{recipe['name']}_{split}_{resolution}.pt")
                if progress is not None:
                    progress.update(len(chosen))
    return NeuralopSummary(out, recipe["name"], resolution, {split: int(members[split].size) for split in PT_SPLITS},
                           names["x"], names["y"], squeezed, left_out)
