"""A split held in the training device's memory: read from the store once, then every
epoch's batches are cut on the device. No DataLoader, no workers, no host-to-device copy
per batch, so the GPU never waits on data.

Neural-operator datasets are usually small beside a GPU's memory (1,000 Darcy samples at
128² with coordinates: 0.26 GB), and streaming them through a DataLoader costs the main
process time that a launch-bound training step needs (docs/benchmarks.md, `train_gpu`).
:func:`fits_on_device` decides; larger stores stream through :func:`make_loader`.

Example::

    >>> data = PDEDataset("darcy.zarr", "train", coordinates=True)        # doctest: +SKIP
    >>> batches = ResidentBatches(data, 32, torch.device("cuda"))        # doctest: +SKIP
    >>> for x, y in batches: ...                                          # doctest: +SKIP
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .dataset import PDEDataset


def split_bytes(dataset: PDEDataset) -> int:
    """Bytes that ``dataset``'s x and y take as tensors (after subsampling)."""
    shape = tuple(-(-n // dataset.subsample) for n in dataset.grid_shape)
    per_item = (dataset.in_channels + dataset.out_channels) * math.prod(shape)
    return len(dataset) * per_item * torch.empty((), dtype=dataset.dtype).element_size()


def fits_on_device(datasets, device: torch.device, fraction: float = 0.25) -> bool:
    """Whether ``datasets`` together take at most ``fraction`` of the device's free
    memory (the rest is for the model, its activations and the allocator's slack).
    Always False off CUDA: on the CPU the DataLoader already reads from host memory."""
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return sum(split_bytes(d) for d in datasets) <= fraction * free


class ResidentBatches:
    """Batches of ``dataset`` from a copy of it in ``device`` memory.

    Iterating gives ``(x, y)`` pairs on ``device``, every item once per pass, in a fresh
    uniform shuffle each pass when ``shuffle`` (seeded by ``seed`` and the pass number,
    like :class:`~pdegen.train.dataset.ChunkShuffleSampler`), in store order otherwise.
    The store is read in store order, ``read_batch`` items at a time, so each chunk is
    decoded once."""

    def __init__(self, dataset: PDEDataset, batch_size: int, device: torch.device, shuffle: bool = True,
                 seed: int = 0, read_batch: int = 256):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        self.batch_size, self.shuffle, self.seed, self.device = batch_size, shuffle, seed, torch.device(device)
        self.epoch = 0
        self.x = self.y = None
        for start in range(0, len(dataset), read_batch):
            x, y = dataset.batch(np.arange(start, min(start + read_batch, len(dataset))))
            if self.x is None:
                self.x = torch.empty((len(dataset), *x.shape[1:]), dtype=x.dtype, device=self.device)
                self.y = torch.empty((len(dataset), *y.shape[1:]), dtype=y.dtype, device=self.device)
            self.x[start:start + len(x)].copy_(x)
            self.y[start:start + len(y)].copy_(y)
        if self.x is None:
            raise ValueError(f"{dataset.path}: split {dataset.split!r} is empty")

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        n = len(self.x)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(n, generator=generator).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        self.epoch += 1
        for start in range(0, n, self.batch_size):
            rows = order[start:start + self.batch_size]
            yield self.x.index_select(0, rows), self.y.index_select(0, rows)
