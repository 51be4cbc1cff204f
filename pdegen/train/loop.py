"""Training loop: a Fourier neural operator on a pdegen store.

Relative L2 error (per sample, in physical units after undoing the normalisation) is
reported for train and validation each epoch and for the test split at the end; the
best validation checkpoint, the last checkpoint and ``metrics.json`` go to ``out``.

On CUDA: mixed precision (bfloat16 autocast; spectral convolutions in float32, as cuFFT
has no bfloat16), the splits held in GPU memory when they fit (:mod:`.resident`; else
DataLoader workers with pinned, non-blocking transfers), and the training step replayed
as a CUDA graph (:mod:`.graphed`). Together they take an H200 from 1,270-1,500 to 2,940
samples/s at 128², batch 32: 1.00x the step's own rate (docs/benchmarks.md, `train_gpu`).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import time
from pathlib import Path

import torch

from ..store.reader import open_dataset
from .dataset import PDEDataset, make_loader
from .resident import ResidentBatches, fits_on_device
from .rollout import Rollout
from .space_time import TIME_PADDING, SpaceTime

WEIGHT_DECAY = 1e-4  # AdamW's, eager and CUDA-graph steps alike
NORMALIZATIONS = ("field", "pointwise")
SCHEMES = ("at-once", "rollout", "space-time")  # how a trajectory's states are predicted
# Settings a run's recorded config may lack, having been written before they existed.
OLDER_RUNS = {"padding": 0.0, "normalization": "field", "history": 0, "horizon": None, "scheme": "at-once",
              "include_failed": False}


def relative_l2(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample ||p - t|| / ||t|| over all channels and grid points."""
    dims = tuple(range(1, target.dim()))
    return torch.linalg.vector_norm(prediction - target, dim=dims) / torch.linalg.vector_norm(target, dim=dims).clamp_min(1e-30)


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available to PyTorch (choose --device cpu or auto)")
    return torch.device(device)


def default_workers(device: torch.device, cpu_count: int | None = None) -> int:
    """DataLoader workers when none are asked for (a store streamed, not held on the
    device): on CUDA 4 (at most half the cores), which took an H200's eager loop from 976
    to 1,546 samples/s at 128² (docs/benchmarks.md, train_gpu); on the CPU none, as
    workers compete with the model for the same cores (loader_speed)."""
    if device.type != "cuda":
        return 0
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return min(4, cores // 2)


def make_model(name: str, in_channels: int, out_channels: int, ndim: int, modes: int | tuple = 12, width: int = 32,
               layers: int = 4, padding: float | list = 0.0):
    """An FNO on ``ndim`` axes; ``modes`` and ``padding`` (a fraction) for every axis, or
    one per axis."""
    if name != "fno":
        raise ValueError(f"model must be 'fno'; got {name!r}")
    from neuralop.layers.spectral_convolution import SpectralConv
    from neuralop.models import FNO
    modes = tuple(modes) if isinstance(modes, (tuple, list)) else (modes,) * ndim
    net = FNO(n_modes=modes, hidden_channels=width, in_channels=in_channels,
              out_channels=out_channels, n_layers=layers, domain_padding=padding or None)
    for module in net.modules():
        if isinstance(module, SpectralConv):
            # A partial of the module itself (not a closure over its bound method), so
            # deep copies and pickles of the model call their own weights.
            module.forward = functools.partial(_forward_in_float32, module)
    return net


def _forward_in_float32(module, x, *args, **kwargs):
    """A spectral convolution's forward in float32 under autocast: cuFFT has no bfloat16
    transforms ("Unsupported dtype BFloat16"), and the spectral weights are complex64
    anyway. The pointwise layers around it still run in bfloat16."""
    with torch.autocast(x.device.type, enabled=False):
        return type(module).forward(module, x.float(), *args, **kwargs)


def batch_loss(net, x, y, decode, use_amp: bool, cache_autocast: bool = True):
    """Forward (bfloat16 autocast when ``use_amp``) and per-sample relative L2 in physical
    units: ``(mean loss, per-sample errors)``, attached to the graph when grad is on.
    ``cache_autocast=False`` is what CUDA-graph capture requires."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=use_amp, cache_enabled=cache_autocast):
        prediction = net(x)
    error = relative_l2(decode.decode(prediction.float()), decode.decode(y))
    return error.mean(), error


def step(net, x, y, decode, use_amp: bool, optimizer=None, scheduler=None):
    """One batch: :func:`batch_loss`, and a backward pass and optimizer step when
    ``optimizer`` is given. Returns the mean loss and the per-sample errors, detached and
    left on the device."""
    with torch.set_grad_enabled(optimizer is not None):
        loss, error = batch_loss(net, x, y, decode, use_amp)
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return loss.detach(), error.detach()


def one_cycle(optimizer, lr: float, total_steps: int):
    """One-cycle learning rate (10% warm-up) with AdamW's beta1 held at 0.9: the default
    momentum cycling rewrites ``betas`` as Python floats, which a captured CUDA graph
    has baked in, so eager and graphed training would differ.

    PyTorch divides by the warm-up's length in steps less one, pct_start * total_steps - 1,
    which is zero for 10 steps at 10% (ZeroDivisionError: 2 epochs of 5 batches); from 3
    to 19 steps the warm-up is 2 steps instead."""
    warm_up = 0.1 if total_steps < 3 or total_steps >= 20 else 2.0 / total_steps
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps, pct_start=warm_up,
                                               cycle_momentum=False)


def make_train_step(net, decode, lr: float, total_steps: int, use_amp: bool, cuda_graph: bool):
    """AdamW, its one-cycle schedule over ``total_steps`` and the step ``train_step(x, y)``
    that applies both: eager, or captured and replayed as one CUDA graph (:mod:`.graphed`).
    Returns ``(train_step, optimizer, scheduler)``; ``train`` and
    ``benchmarks/train_gpu.py`` build their steps here, so both time the same step."""
    if cuda_graph:
        from .graphed import GraphedStep, capturable_adamw
        optimizer = capturable_adamw(net.parameters(), lr=lr)
        scheduler = one_cycle(optimizer, lr, total_steps)
        return GraphedStep(net, decode, optimizer, scheduler, use_amp), optimizer, scheduler
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    scheduler = one_cycle(optimizer, lr, total_steps)
    train_step = functools.partial(step, net, decode=decode, use_amp=use_amp, optimizer=optimizer, scheduler=scheduler)
    return train_step, optimizer, scheduler


def build_network(scheme: str, data: PDEDataset, model: str, modes: int, width: int, layers: int, padding: float):
    """The model mapping ``data``'s x to its y under ``scheme`` (:data:`SCHEMES`)."""
    ndim, fields, horizon = len(data.grid_shape), len(data.outputs), data.time_steps
    if scheme == "rollout":
        step_net = make_model(model, data.in_channels, fields, ndim, modes, width, layers, padding)
        return Rollout(step_net, len(data.inputs), fields, data.history, horizon)
    if scheme == "space-time":
        if horizon < 2:
            raise ValueError(f"scheme 'space-time' predicts along a time axis: {', '.join(data.outputs)} holds "
                             "one state per sample (train a steady store with scheme 'at-once')")
        space_time = make_model(model, data.in_channels + 1, fields, ndim + 1, (modes,) * ndim
                                + (min(modes, horizon // 2 + 1),), width, layers, [padding] * ndim + [TIME_PADDING])
        return SpaceTime(space_time, fields, horizon)
    return make_model(model, data.in_channels, data.out_channels, ndim, modes, width, layers, padding)


def _save(state: dict, path: Path) -> None:
    """``torch.save`` through a temporary file and a rename: never a half-written file."""
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def _load_state(path: Path, config: dict) -> dict:
    if not path.is_file():
        raise ValueError(f"resume: {path} not found, so there is nothing to resume (train without --resume)")
    state = torch.load(path, weights_only=False, map_location="cpu")
    if "optimizer" not in state:
        raise ValueError(f"resume: {path} holds no training state (written by an older pdegen?)")
    previous = {**OLDER_RUNS, **state["config"]}
    changed = [f"{key} {previous.get(key)!r} -> {value!r}" for key, value in config.items()
               if previous.get(key) != value]
    if changed:
        raise ValueError(f"resume: {path} was trained with other settings ({'; '.join(changed)}); resume with "
                         "the same ones, or train afresh into another --out")
    return state


def _shuffle_counter(loader):
    """What counts a loader's passes (its shuffle is seeded by it): ResidentBatches itself,
    a DataLoader's ChunkShuffleSampler; None for an unshuffled DataLoader."""
    if isinstance(loader, ResidentBatches):
        return loader
    return loader.batch_sampler if hasattr(loader.batch_sampler, "epoch") else None


def train(store, model: str = "fno", epochs: int = 50, batch_size: int = 32, lr: float = 3e-3,
          device: str = "auto", num_workers: int | None = None, out="runs/train", modes: int = 12, width: int = 32,
          layers: int = 4, subsample: int = 1, amp: bool = True, seed: int = 0, progress: bool = True,
          data_on_device: str | bool = "auto", cuda_graph: bool | None = None, resume: bool = False,
          padding: float = 0.0, normalization: str = "field", history: int = 0, horizon: int | None = None,
          scheme: str = "at-once", include_failed: bool = False, log=print) -> dict:
    """Train ``model`` on ``store``'s train split; see the module docstring.

    ``data_on_device``: hold the splits in the device's memory (:mod:`.resident`) instead
    of streaming them through DataLoader workers; ``"auto"`` does so on CUDA when they
    take at most a quarter of the free memory. ``cuda_graph``: replay each training step
    as a CUDA graph (:mod:`.graphed`); None means on CUDA. Both are recorded in the
    metrics.

    ``out/last.pt`` holds the whole training state after every epoch (model, optimizer,
    schedule, history, shuffles, random state), written through a rename so that an
    interrupted save leaves the previous one whole; ``resume=True`` continues from it and
    ends where the uninterrupted run would have.

    ``padding``: the FNO's domain padding, a fraction of each axis added before its
    Fourier layers and cut off after them, so that data that is not periodic need not be
    treated as such (neuraloperator's ``domain_padding``; 0 for none).

    ``normalization``: ``"field"`` (inputs and outputs by one mean and std per field, the
    store's) or ``"pointwise"`` (by a mean and std per channel and grid point of the train
    split, FNO's convention; :class:`~pdegen.train.dataset.PDEDataset`).

    ``history``, ``horizon``: the first ``history`` stored states of each trajectory are
    inputs and the next ``horizon`` (default: all the rest) the targets (FNO's
    Navier–Stokes task: 10 in, 40 out). ``scheme``: how the model predicts a trajectory's
    states: ``"at-once"``, one FNO on the grid with a channel per state; ``"rollout"``,
    one state at a time from the last ``history``, on its own predictions (:mod:`.rollout`,
    FNO-2D's scheme); ``"space-time"``, an FNO with time as one more axis (:mod:`.space_time`,
    FNO-3D's). The error is over all predicted states whatever the scheme.

    Failed samples (``stats/converged`` false) are left out, and said so, unless
    ``include_failed``."""
    if not 0.0 <= padding < 1.0:
        raise ValueError(f"padding must be a fraction of the domain in [0, 1); got {padding!r}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}; got {normalization!r}")
    torch.manual_seed(seed)
    dev = pick_device(device)
    if data_on_device not in ("auto", True, False):
        raise ValueError(f"data_on_device must be 'auto', True or False; got {data_on_device!r}")
    if cuda_graph is None:
        cuda_graph = dev.type == "cuda"
    if cuda_graph and dev.type != "cuda":
        raise ValueError(f"cuda_graph=True needs a CUDA device; the device is {dev}")
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}; got {scheme!r}")
    if scheme == "rollout" and not history:
        raise ValueError("scheme 'rollout' predicts from the last `history` states: give history >= 1")
    if scheme == "rollout" and normalization != "field":
        raise ValueError(f"rollout feeds predicted states back as inputs, so each field must be normalised alike "
                         f"at every time: use normalization 'field', not {normalization!r}")
    out = Path(out)
    pointwise = normalization == "pointwise"
    window = dict(subsample=subsample, coordinates=True, pointwise=pointwise, history=history, horizon=horizon,
                  include_failed=include_failed)
    data = {"train": PDEDataset(store, "train", **window)}
    for split in ("val", "test"):  # the train split's statistics, computed once for a partial store
        data[split] = PDEDataset(store, split, statistics=data["train"].statistics, **window)
    with open_dataset(store) as ds:
        done = ds["done"][:]
    if not done.all():
        log(f"{store}: {int(done.sum())} of {done.size} samples written (its build stopped part-way or is "
            "running): training on those, normalised with their train-split statistics")
    left_out = {split: ds.failed_left_out for split, ds in data.items() if ds.failed_left_out}
    if left_out:
        log(f"{store}: {sum(left_out.values())} failed samples (stats/converged false) left out ("
            + ", ".join(f"{split} {count}" for split, count in left_out.items()) + "; include_failed to keep them)")
    if len(data["train"]) == 0:
        raise ValueError(f"{store}: the train split is empty")
    data = {split: ds for split, ds in data.items() if len(ds)}
    out.mkdir(parents=True, exist_ok=True)  # only once the store has opened
    resident = fits_on_device(data.values(), dev) if data_on_device == "auto" else data_on_device
    if resident:
        if num_workers:
            log(f"the splits are held in {dev.type} memory: no DataLoader, so {num_workers} workers are not used "
                "(--data-on-device no streams them)")
        num_workers = 0
        loaders = {split: ResidentBatches(ds, batch_size, dev, shuffle=split == "train", seed=seed)
                   for split, ds in data.items()}
    else:
        if num_workers is None:
            num_workers = default_workers(dev)
        loaders = {split: make_loader(ds, batch_size, shuffle=split == "train", num_workers=num_workers, seed=seed)
                   for split, ds in data.items()}
    train_set = data["train"]
    net = build_network(scheme, train_set, model, modes, width, layers, padding).to(dev)
    decode = copy.deepcopy(train_set.output_normalizer).to(dev)  # the dataset's stays on the CPU
    use_amp = amp and dev.type == "cuda"
    train_step, optimizer, scheduler = make_train_step(net, decode, lr, epochs * len(loaders["train"]), use_amp,
                                                       cuda_graph)
    curve, best, graph_failure_logged = [], float("inf"), False  # curve: a row per epoch
    shuffle_counters = {split: counter for split, loader in loaders.items()
                        if (counter := _shuffle_counter(loader)) is not None}
    config = {"store": str(Path(store).resolve()), "model": model, "epochs": epochs, "batch_size": batch_size,
              "lr": lr, "modes": modes, "width": width, "layers": layers, "subsample": subsample, "seed": seed,
              "padding": padding, "normalization": normalization, "history": train_set.history,
              "horizon": train_set.time_steps if train_set.history else None, "scheme": scheme,
              "include_failed": include_failed}
    first_epoch = 1
    if resume:
        state = _load_state(out / "last.pt", config)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for group in optimizer.param_groups:  # a tensor learning rate (capturable AdamW) back on the device
            if torch.is_tensor(group["lr"]):
                group["lr"] = group["lr"].to(dev)
        scheduler.load_state_dict(state["scheduler"])
        curve, best, first_epoch = state["history"], state["best"], state["epoch"] + 1
        for split, passes in state["passes"].items():
            shuffle_counters[split].epoch = passes
        torch.set_rng_state(state["rng"])
        log(f"resuming {out} after epoch {state['epoch']} of {epochs}")

    def run(split: str, training: bool) -> dict:
        net.train(training)
        # Sums stay on the device: reading them every batch would stall the GPU.
        total_loss = torch.zeros((), device=dev)
        total_error = torch.zeros((), device=dev)
        count, started = 0, time.perf_counter()
        batches = loaders[split]
        if progress:
            from tqdm import tqdm
            batches = tqdm(batches, desc=f"{split:>5}", leave=False, unit="batch")
        for x, y in batches:
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            loss, error = train_step(x, y) if training else step(net, x, y, decode, use_amp)
            total_loss += loss * len(x)
            total_error += error.sum()
            count += len(x)
        total_loss, total_error = float(total_loss), float(total_error)  # one synchronisation per pass
        seconds = time.perf_counter() - started
        return {"loss": total_loss / count, "rel_l2": total_error / count, "samples_per_s": count / seconds}

    for epoch in range(first_epoch, epochs + 1):
        row = {"epoch": epoch, "train": run("train", True)}
        if "val" in loaders:
            with torch.no_grad():
                row["val"] = run("val", False)
        curve.append(row)
        if getattr(train_step, "capture_error", None) and not graph_failure_logged:
            log(f"CUDA graph capture failed, training eagerly: {train_step.capture_error}")
            graph_failure_logged = True
        score = row.get("val", row["train"])["rel_l2"]
        if score < best:
            best = score
            _save({"model": net.state_dict(), "epoch": epoch, "config": {key: config[key] for key in (
                   "modes", "width", "layers", "model", "padding", "normalization", "history", "horizon", "scheme")}},
                  out / "best.pt")
        _save({"model": net.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
               "epoch": epoch, "history": curve, "best": best, "config": config, "rng": torch.get_rng_state(),
               "passes": {split: counter.epoch for split, counter in shuffle_counters.items()}}, out / "last.pt")
        log(f"epoch {epoch:3d}  train rel L2 {row['train']['rel_l2']:.4f}"
            + (f"  val rel L2 {row['val']['rel_l2']:.4f}" if "val" in row else "")
            + f"  ({row['train']['samples_per_s']:.0f} samples/s)")
    metrics = {"store": str(store), "device": str(dev), "epochs": epochs, "num_workers": num_workers,
               "data_on_device": bool(resident),
               "cuda_graph": bool(cuda_graph) and not getattr(train_step, "capture_error", None),
               "cuda_graph_error": getattr(train_step, "capture_error", None),
               "history": curve, "best_val_rel_l2": best}
    if "test" in loaders:
        net.load_state_dict(torch.load(out / "best.pt", weights_only=False)["model"])
        with torch.no_grad():
            metrics["test"] = run("test", False)
        log(f"test rel L2 {metrics['test']['rel_l2']:.4f} (best validation checkpoint)")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
