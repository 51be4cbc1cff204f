"""Training loop: a Fourier neural operator on a pdegen store.

Relative L2 error (per sample, in physical units after undoing the normalisation) is
reported for train and validation each epoch and for the test split at the end; the
best validation checkpoint, the last checkpoint and ``metrics.json`` go to ``out``.
Mixed precision (bfloat16 autocast; spectral convolutions in float32, as cuFFT has no
bfloat16) and pinned, non-blocking transfers on CUDA.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import time
from pathlib import Path

import torch

from .dataset import PDEDataset, make_loader


def relative_l2(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample ||p - t|| / ||t|| over all channels and grid points."""
    dims = tuple(range(1, target.dim()))
    return torch.linalg.vector_norm(prediction - target, dim=dims) / torch.linalg.vector_norm(target, dim=dims).clamp_min(1e-30)


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available to PyTorch")
    return torch.device(device)


def default_workers(device: torch.device, cpu_count: int | None = None) -> int:
    """DataLoader workers when none are asked for: on CUDA 4 (at most half the cores),
    which took an H200's training loop from 976 to 1,546 samples/s at 128²
    (docs/benchmarks.md, train_gpu); on the CPU none, as workers compete with the model
    for the same cores (loader_speed)."""
    if device.type != "cuda":
        return 0
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return min(4, cores // 2)


def make_model(name: str, in_channels: int, out_channels: int, ndim: int, modes: int = 12, width: int = 32,
               layers: int = 4):
    if name != "fno":
        raise ValueError(f"model must be 'fno'; got {name!r}")
    from neuralop.layers.spectral_convolution import SpectralConv
    from neuralop.models import FNO
    net = FNO(n_modes=(modes,) * ndim, hidden_channels=width, in_channels=in_channels,
              out_channels=out_channels, n_layers=layers)
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


def step(net, x, y, decode, use_amp: bool, optimizer=None, scheduler=None):
    """One batch: forward (bfloat16 autocast when ``use_amp``), per-sample relative L2 in
    physical units, and a backward pass and optimizer step when ``optimizer`` is given.
    Returns the mean loss and the per-sample errors, detached and left on the device."""
    with torch.set_grad_enabled(optimizer is not None), torch.autocast(x.device.type, dtype=torch.bfloat16,
                                                                       enabled=use_amp):
        prediction = net(x)
    error = relative_l2(decode.decode(prediction.float()), decode.decode(y))
    loss = error.mean()
    if optimizer is not None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return loss.detach(), error.detach()


def train(store, model: str = "fno", epochs: int = 50, batch_size: int = 32, lr: float = 3e-3,
          device: str = "auto", num_workers: int | None = None, out="runs/train", modes: int = 12, width: int = 32,
          layers: int = 4, subsample: int = 1, amp: bool = True, seed: int = 0, progress: bool = True,
          log=print) -> dict:
    torch.manual_seed(seed)
    dev = pick_device(device)
    if num_workers is None:
        num_workers = default_workers(dev)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = {split: PDEDataset(store, split, subsample=subsample, coordinates=True) for split in ("train", "val", "test")}
    if len(data["train"]) == 0:
        raise ValueError(f"{store}: the train split is empty")
    loaders = {split: make_loader(ds, batch_size, shuffle=split == "train", num_workers=num_workers)
               for split, ds in data.items() if len(ds)}
    train_set = data["train"]
    net = make_model(model, train_set.in_channels, train_set.out_channels, len(train_set.grid_shape),
                     modes, width, layers).to(dev)
    decode = copy.deepcopy(train_set.output_normalizer).to(dev)  # the dataset's stays on the CPU
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * len(loaders["train"]),
                                                    pct_start=0.1)
    use_amp = amp and dev.type == "cuda"
    history, best = [], float("inf")

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
            loss, error = step(net, x, y, decode, use_amp, optimizer if training else None, scheduler)
            total_loss += loss * len(x)
            total_error += error.sum()
            count += len(x)
        total_loss, total_error = float(total_loss), float(total_error)  # one synchronisation per pass
        seconds = time.perf_counter() - started
        return {"loss": total_loss / count, "rel_l2": total_error / count, "samples_per_s": count / seconds}

    for epoch in range(1, epochs + 1):
        row = {"epoch": epoch, "train": run("train", True)}
        if "val" in loaders:
            with torch.no_grad():
                row["val"] = run("val", False)
        history.append(row)
        score = row.get("val", row["train"])["rel_l2"]
        if score < best:
            best = score
            torch.save({"model": net.state_dict(), "epoch": epoch, "config": {"modes": modes, "width": width,
                        "layers": layers, "model": model}}, out / "best.pt")
        log(f"epoch {epoch:3d}  train rel L2 {row['train']['rel_l2']:.4f}"
            + (f"  val rel L2 {row['val']['rel_l2']:.4f}" if "val" in row else "")
            + f"  ({row['train']['samples_per_s']:.0f} samples/s)")
    torch.save({"model": net.state_dict(), "epoch": epochs}, out / "last.pt")
    metrics = {"store": str(store), "device": str(dev), "epochs": epochs, "num_workers": num_workers,
               "history": history, "best_val_rel_l2": best}
    if "test" in loaders:
        net.load_state_dict(torch.load(out / "best.pt", weights_only=False)["model"])
        with torch.no_grad():
            metrics["test"] = run("test", False)
        log(f"test rel L2 {metrics['test']['rel_l2']:.4f} (best validation checkpoint)")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
