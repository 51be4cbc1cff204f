"""A PyTorch dataset over a pdegen store (Zarr or HDF5).

Each item is ``(x, y)``: x stacks the input fields (``inputs/*``, plus random scalars of
``params/*`` broadcast to constant channels, plus grid coordinates when asked) as
channels ``(C_in, *grid)``; y stacks the outputs ``(C_out, *grid)`` (a heat trajectory's
time axis becomes channels). With ``history=K`` the first K stored states of each
trajectory join the inputs and y holds the states after them (FNO's Navier–Stokes task:
10 states in, 40 out). Samples come from the store's ``split`` array, never by position
(stores are in solve order, which is correlated).

The store is opened lazily in each process that reads (DataLoader workers included), so
the dataset pickles as a path. Zarr v3 runs an asyncio event loop in a thread, which a
``fork``-ed worker inherits in an unusable state: :func:`make_loader` uses the
``forkserver`` start method (``spawn`` where that is unavailable).

``__getitems__`` reads a whole batch chunk by chunk through a small cache of decoded
chunks, and :class:`ChunkShuffleSampler` draws each batch from a pool of chunks, so a
chunk is decoded about once per epoch rather than once per sample (measured in
docs/benchmarks.md: `benchmarks/loader_speed.py`).
"""

from __future__ import annotations

import multiprocessing
from collections import OrderedDict

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..store.normalization import RunningMoments
from ..store.reader import open_dataset
from .normalize import Normalizer


POINTWISE = "pointwise"  # the key of per-point statistics in PDEDataset.statistics (no store path)


class PDEDataset(Dataset):
    """The rows of one ``split`` ("train", "val", "test"; None: all written rows) of a store.

    ``inputs``/``outputs``: store paths to use (default: all ``inputs/*`` and scalar
    ``params/*``; all ``outputs/*``). ``normalize`` with the store's train-split statistics
    (its ``normalization`` attribute, or ``statistics``, a ``{path: {"mean", "std"}}`` such
    as another split's ``.statistics``, or else computed from the written train rows);
    ``pointwise``: with a mean and std for every channel and grid point, computed from the
    train rows (FNO's convention; one pass over them) unless ``statistics`` holds them.
    ``subsample`` takes every k-th cell; ``coordinates`` appends the cell-centre
    coordinates as channels.

    Failed samples (``stats/converged`` false: a solve that missed its tolerance, or a
    flow that blew up and holds NaN) are left out unless ``include_failed``;
    ``failed_left_out`` counts those of the split.

    ``history``: the first K stored states of every output (each must be a trajectory of
    more than K states) become input channels, after the input fields and before the
    coordinates, each output's K states in time order; y then holds the ``horizon``
    states that follow them (default: all the rest), each output's states in time order.
    An output's states are normalised alike wherever they are placed.
    """

    def __init__(self, path, split: str | None = "train", inputs=None, outputs=None, normalize: bool = True,
                 subsample: int = 1, coordinates: bool = False, dtype=torch.float32, cache_chunks: int = 32,
                 statistics: dict | None = None, pointwise: bool = False, history: int = 0,
                 horizon: int | None = None, include_failed: bool = False):
        self.path, self.split, self.subsample, self.coordinates, self.dtype = str(path), split, int(subsample), \
            coordinates, dtype
        self.cache_chunks = int(cache_chunks)
        if self.subsample < 1:
            raise ValueError(f"subsample must be >= 1; got {subsample}")
        with open_dataset(self.path) as ds:
            available_in = ds.fields("inputs") + [p for p in ds.fields("params") if ds[p].ndim == 1]
            available_out = ds.fields("outputs")
            self.inputs = _choose(inputs, available_in, "inputs")
            self.outputs = _choose(outputs, available_out, "outputs")
            done = ds["done"][:]
            mask = done if split is None else done & ds.split_mask(split)
            failed = mask & ~ds["stats/converged"][:]
            self.failed_left_out = 0 if include_failed else int(failed.sum())
            self.rows = np.flatnonzero(mask if include_failed else mask & ~failed)
            self.grid_shape = ds.grid_shape
            self.rows_per_chunk = rows_per_chunk(ds, self.outputs[0])
            self.extent = ds.attrs["recipe"]["grid"]["extent"]
            self.history, self.time_steps = _window(ds, self.outputs, len(self.grid_shape), history, horizon)
            # A store built before failed samples were left out of its statistics may hold NaN
            # ones (a flow that blew up): those are computed again, as for a partial store.
            stored = {p: m for p, m in ds.attrs.get("normalization", {}).items()
                      if np.isfinite(m.get("mean", np.nan)) and np.isfinite(m.get("std", np.nan))}
            stats = {**stored, **(statistics or {})}
            by_field = normalize and not pointwise
            if by_field:  # a build still running or stopped part-way has not written them yet
                stats = {**stats, **{p: train_moments(ds, p) for p in [*self.inputs, *self.outputs]
                                     if p not in stats}}
            # per field {"mean", "std", ...}: hand them to the other splits' datasets
            self.statistics = {p: stats[p] for p in [*self.inputs, *self.outputs] if p in stats}
            self.input_normalizer = _normalizer([stats.get(p) for p in [*self.inputs, *self.outputs]],
                                                [1] * len(self.inputs) + [self.history] * len(self.outputs)
                                                ) if by_field else None
            self.output_normalizer = _normalizer([stats.get(p) for p in self.outputs],
                                                 [self.time_steps] * len(self.outputs)) if by_field else None
        self._handle = None
        if normalize and pointwise:  # per point instead
            moments = (statistics or {}).get(POINTWISE) or pointwise_moments(
                PDEDataset(path, "train", self.inputs, self.outputs, normalize=False, subsample=subsample,
                           history=history, horizon=horizon, include_failed=include_failed))
            self.statistics = {POINTWISE: moments}  # for the other splits' datasets
            self.input_normalizer = Normalizer(*moments["inputs"])
            self.output_normalizer = Normalizer(*moments["outputs"])

    # Pickling for workers: never carry an open handle across processes.
    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"] = None
        state.pop("_cache", None)
        return state

    def _open(self):
        if self._handle is None:
            self._handle = open_dataset(self.path)
        return self._handle

    def __len__(self) -> int:
        return int(self.rows.size)

    @property
    def data_channels(self) -> int:
        """Input channels read from the store (fields, scalars, history states): those
        before the coordinates, and the ones the input normaliser applies to."""
        return len(self.inputs) + len(self.outputs) * self.history

    @property
    def in_channels(self) -> int:
        return self.data_channels + (len(self.grid_shape) if self.coordinates else 0)

    @property
    def out_channels(self) -> int:
        return len(self.outputs) * self.time_steps

    def sample_ids(self) -> np.ndarray:
        with open_dataset(self.path) as ds:
            return ds["sample_id"][:][self.rows]

    def _read(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Rows of one array, read chunk by chunk through a small LRU cache of decoded
        chunks: a batch drawn from a few chunks (see ChunkShuffleSampler) decodes each
        of them once, not once per sample."""
        array = self._open()[name]
        chunk = self.rows_per_chunk  # every per-sample array is chunked alike (pdegen.store.layout)
        out = np.empty((len(rows), *array.shape[1:]), dtype=array.dtype)
        for c in np.unique(rows // chunk):
            block = self._chunk(name, array, int(c), chunk)
            where = np.flatnonzero(rows // chunk == c)
            out[where] = block[rows[where] - c * chunk]
        return out

    def _chunk(self, name, array, index, chunk):
        key = (name, index)
        cache = self.__dict__.setdefault("_cache", OrderedDict())
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        block = np.asarray(array[index * chunk:(index + 1) * chunk])
        cache[key] = block
        while len(cache) > self.cache_chunks * max(1, len(self.inputs) + len(self.outputs)):
            cache.popitem(last=False)
        return block

    def chunk_of_rows(self) -> np.ndarray:
        """Store chunk index of each item (for chunk-aware sampling)."""
        return self.rows // self.rows_per_chunk

    def batch(self, indices) -> tuple[torch.Tensor, torch.Tensor]:
        """Items ``indices`` stacked: ``x`` of shape ``(B, C_in, *grid)``, ``y`` ``(B, C_out, *grid)``.

        Each channel is written once, straight into the result; in a DataLoader worker the
        result lives in shared memory, so handing it to the main process copies nothing
        (a tensor made elsewhere is copied into shared memory when it is sent)."""
        rows = self.rows[np.asarray(indices, dtype=np.int64)]
        s = self.subsample
        cut = (slice(None),) + (slice(None, None, s),) * len(self.grid_shape)
        shape = tuple(-(-n // s) for n in self.grid_shape)
        # Written in float32 or float64 (what numpy can hold), cast once at the end if needed.
        work = self.dtype if self.dtype in (torch.float32, torch.float64) else torch.float32
        x = _output((len(rows), self.in_channels, *shape), work)
        xv = x.numpy()
        for c, name in enumerate(self.inputs):
            values = self._read(name, rows)
            if values.ndim == 1:  # a scalar parameter: a constant channel
                values = values.reshape(-1, *([1] * len(shape)))
            else:
                values = values[cut]
            xv[:, c] = values
        y = _output((len(rows), self.out_channels, *shape), work)
        yv, c, h = y.numpy(), 0, self.history
        for k, name in enumerate(self.outputs):
            values = self._read(name, rows)
            if values.ndim == len(shape) + 2:  # trajectory (rows, T, *grid): time steps as channels
                values = values[(slice(None), slice(None)) + cut[1:]]
            else:
                values = values[cut][:, None]
            first = len(self.inputs) + k * h
            xv[:, first:first + h] = values[:, :h]
            yv[:, c:c + self.time_steps] = values[:, h:h + self.time_steps]
            c += self.time_steps
        if self.input_normalizer is not None:
            self.input_normalizer.encode_(x[:, :self.data_channels])
        if self.coordinates:  # unnormalised coordinates in [low, high]
            grids = np.meshgrid(*[np.linspace(lo, hi, n)[::s] for (lo, hi), n in zip(self.extent, self.grid_shape)],
                                indexing="ij")
            xv[:, self.data_channels:] = np.stack(grids).astype(np.float32)
        if self.output_normalizer is not None:
            self.output_normalizer.encode_(y)
        return x.to(self.dtype), y.to(self.dtype)

    def __getitem__(self, index: int):
        x, y = self.batch([index])
        return x[0], y[0]

    def __getitems__(self, indices):
        x, y = self.batch(indices)
        return _Items(x, y)


class _Items(list):
    """``__getitems__``'s result: the list of ``(x, y)`` items that any collate function
    takes, and the stacked batch they are views of, which :func:`make_loader`'s collate
    function hands on as it is instead of stacking a copy."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        super().__init__(zip(x, y))
        self.stacked = (x, y)


def _output(shape: tuple, dtype) -> torch.Tensor:
    """An uninitialised tensor, in shared memory when made in a DataLoader worker (as
    PyTorch's default collate function does)."""
    if torch.utils.data.get_worker_info() is None:
        return torch.empty(shape, dtype=dtype)
    count = int(np.prod(shape))
    storage = torch.empty(0, dtype=dtype)._typed_storage()._new_shared(count)
    return torch.empty(0, dtype=dtype).new(storage).view(shape)


def _choose(requested, available, what):
    if requested is None:
        if not available:
            raise ValueError(f"the store has no {what}")
        return list(available)
    def resolve(name: str) -> str:  # "coefficient" -> "inputs/coefficient" (or params/...)
        if "/" in name:
            return name
        if what == "outputs" or f"inputs/{name}" in available:
            return f"{what}/{name}"
        return f"params/{name}"
    requested = [resolve(r) for r in requested]
    missing = [r for r in requested if r not in available]
    if missing:
        raise KeyError(f"{', '.join(missing)} not in the store; available {what}: {', '.join(available)}")
    return requested


def _window(ds, outputs: list[str], ndim: int, history: int, horizon: int | None) -> tuple[int, int]:
    """``(history, horizon)`` checked against the stored outputs: how many leading states
    of each become inputs, and how many after them are targets (all of a steady output's
    one state, all of a trajectory's without a history)."""
    states = {name: ds[name].shape[1] if ds[name].ndim > ndim + 1 else None for name in outputs}
    if history == 0:
        if horizon is not None:
            raise ValueError(f"horizon {horizon} needs a history (the states it follows); got history 0")
        return 0, states[outputs[0]] or 1
    steady = [name for name, n in states.items() if n is None]
    if steady:
        raise ValueError(f"history {history}: {', '.join(steady)} is not a trajectory (history takes the first "
                         "states of time-dependent outputs)")
    length = min(states.values())
    if not 1 <= history < length:
        raise ValueError(f"history must be an integer from 1 to {length - 1} (the outputs have {length} states, "
                         f"and at least one must be left to predict); got {history}")
    horizon = length - history if horizon is None else horizon
    if not 1 <= horizon <= length - history:
        raise ValueError(f"horizon must be an integer from 1 to {length - history} (the states after the first "
                         f"{history} of {length}); got {horizon}")
    return history, horizon


def rows_per_chunk(ds, name: str) -> int:
    """Samples per stored chunk of ``name``. An HDF5 store written by several process
    groups reads through a virtual dataset, which has no chunks of its own: its part files
    hold chunks of the recipe's ``output.chunk_samples``, aligned to the parts."""
    chunks = ds[name].chunks
    return int(chunks[0]) if chunks else int(ds.attrs["recipe"]["output"]["chunk_samples"])


def train_moments(ds, name: str) -> dict:
    """Mean and std of ``name`` over the written, converged rows of the train split, chunk
    by chunk: what a build stores in its ``normalization`` attribute when it completes,
    for stores that do not have it yet (an interrupted build, or one still running)."""
    rows = np.flatnonzero(ds["done"][:] & ds.split_mask("train") & ds["stats/converged"][:])
    if rows.size == 0:
        raise ValueError(f"{name}: no written, converged sample in the train split to normalise with")
    chunk = rows_per_chunk(ds, name)
    moments = RunningMoments()
    for start in range(0, int(rows[-1]) + 1, chunk):
        inside = rows[(rows >= start) & (rows < start + chunk)]
        if inside.size:
            moments.add(np.asarray(ds[name][start:start + chunk])[inside - start])
    return moments.as_dict()


def pointwise_moments(dataset: PDEDataset) -> dict:
    """Mean and std over ``dataset``'s items (unnormalised) of every input channel and
    every output channel at every grid point: ``{"inputs": (mean, std), "outputs": ...}``,
    arrays shaped ``(C, *grid)``; read a chunk of rows at a time."""
    if len(dataset) == 0:
        raise ValueError(f"{dataset.path}: no written sample in the train split to normalise with")
    inputs = dataset.data_channels
    totals = None
    for start in range(0, len(dataset), dataset.rows_per_chunk):
        x, y = dataset.batch(range(start, min(start + dataset.rows_per_chunk, len(dataset))))
        parts = (x[:, :inputs].double(), y.double())
        sums = [(p.sum(0), (p * p).sum(0)) for p in parts]
        totals = sums if totals is None else [(a + c, b + d) for (a, b), (c, d) in zip(totals, sums)]
    moments = {}
    for name, (total, squares) in zip(("inputs", "outputs"), totals):
        mean = total / len(dataset)
        std = (squares / len(dataset) - mean * mean).clamp_min(0.0).sqrt()
        # A point where a channel never varies (a fixed wall value, a constant parameter) is
        # divided by a millionth of the channel's largest std (1 if it never varies at all),
        # not by ~0: its rounding would otherwise be blown up.
        floor = std.flatten(1).amax(1) * 1e-6
        floor = torch.where(floor > 0, floor, torch.ones_like(floor))
        moments[name] = (mean.float(), torch.maximum(std, floor.view(-1, *[1] * (std.dim() - 1))).float())
    return moments


def _normalizer(stats, repeats):
    means, stds = [], []
    for stat, repeat in zip(stats, repeats):
        mean, std = (stat["mean"], stat["std"]) if stat else (0.0, 1.0)
        means += [mean] * repeat
        stds += [std] * repeat
    return Normalizer(means, stds)


class ChunkShuffleSampler(Sampler):
    """Batches drawn from pools of ``pool_chunks`` store chunks: chunk order is shuffled
    every epoch, samples are shuffled within each pool, and batches are cut from the pools
    in turn (a batch spans at most two pools), so every chunk is decoded about once per
    epoch instead of once per sample, and every epoch has the same number of batches.

    The price is less mixing: a batch holds samples of ``pool_chunks`` chunks, and stores
    sorted for recycling keep similar samples in the same chunk. The default pool of 16
    chunks (512 samples at 32 per chunk) keeps batches varied."""

    def __init__(self, dataset: PDEDataset, batch_size: int, pool_chunks: int = 16, seed: int = 0,
                 drop_last: bool = False):
        self.batch_size, self.pool_chunks, self.seed, self.drop_last = batch_size, pool_chunks, seed, drop_last
        chunk_of = dataset.chunk_of_rows()
        self.groups = [np.flatnonzero(chunk_of == c) for c in np.unique(chunk_of)]
        self.epoch = 0

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        chunks = rng.permutation(len(self.groups))
        pools = [rng.permutation(np.concatenate([self.groups[c] for c in chunks[s:s + self.pool_chunks]]))
                 for s in range(0, len(chunks), self.pool_chunks)]
        order = np.concatenate(pools)  # batches are cut across pool boundaries: a fixed count
        for b in range(0, len(order), self.batch_size):
            batch = order[b:b + self.batch_size]
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch.tolist()

    def __len__(self) -> int:
        n = sum(len(g) for g in self.groups)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def make_loader(dataset: PDEDataset, batch_size: int = 32, shuffle: bool = True, num_workers: int = 0,
                pin_memory: bool | None = None, chunk_aware: bool = True, seed: int = 0, **kwargs) -> DataLoader:
    """A DataLoader with a zarr-safe start method and batched, chunk-aware reads
    (``chunk_aware=False`` gives a plain uniform shuffle)."""
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    context = None
    if num_workers > 0:
        methods = multiprocessing.get_all_start_methods()
        context = "forkserver" if "forkserver" in methods else "spawn"
    common = dict(num_workers=num_workers, pin_memory=pin_memory, multiprocessing_context=context,
                  persistent_workers=num_workers > 0, collate_fn=_stack, **kwargs)
    if shuffle and chunk_aware:
        return DataLoader(dataset, batch_sampler=ChunkShuffleSampler(dataset, batch_size, seed=seed), **common)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, **common)


def _stack(items):
    if isinstance(items, _Items):
        return items.stacked
    xs, ys = zip(*items)
    return torch.stack(xs), torch.stack(ys)
