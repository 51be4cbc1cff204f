"""A trained run's prediction for one sample of its store, beside the stored target.

Rebuilds the run's model from its checkpoint (the best validation one, ``best.pt``) and
its recorded settings, reads the sample as training did (same fields, history,
normalisation from the train split) and returns target and prediction in physical units;
``pdegen plot RUN --sample ID`` draws them.

Example::

    >>> result = predict("runs/train", sample_id=3)                 # doctest: +SKIP
    >>> result.target.shape == result.prediction.shape                # doctest: +SKIP
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..store.reader import open_dataset
from .dataset import PDEDataset
from .loop import OLDER_RUNS, build_network, pick_device, relative_l2

SPLITS = ("train", "val", "test")


@dataclass
class Prediction:
    """``target`` and ``prediction``: ``(outputs, states, *grid)`` arrays in physical units
    (states: 1 for a steady output); ``times`` of the states (None when steady)."""
    run: str
    store: str
    sample_id: int
    split: str
    outputs: list[str]
    target: np.ndarray
    prediction: np.ndarray
    times: np.ndarray | None
    extent: list
    rel_l2: float


def run_config(run) -> dict:
    """The settings a run was trained with (``last.pt``'s; ``best.pt`` holds only some)."""
    path = Path(run) / "last.pt"
    if not path.is_file():
        raise ValueError(f"{run}: no last.pt, so not a pdegen train output folder (or one that has not finished "
                         "an epoch)")
    config = torch.load(path, weights_only=False, map_location="cpu").get("config")
    if not config or "store" not in config:
        raise ValueError(f"{path} records no settings (written by an older pdegen?)")
    return {**OLDER_RUNS, **config}


def predict(run, sample_id: int, device: str = "cpu") -> Prediction:
    """The best checkpoint of ``run`` applied to sample ``sample_id`` of its store."""
    config = run_config(run)
    store = config["store"]
    if not Path(store).exists():
        raise ValueError(f"{run} was trained on {store}, which is not there any more")
    window = dict(subsample=config["subsample"], coordinates=True, history=config["history"],
                  horizon=config["horizon"], pointwise=config["normalization"] == "pointwise")
    train = PDEDataset(store, "train", include_failed=config["include_failed"], **window)  # as the run normalised
    with open_dataset(store) as ds:
        ids, done, split_codes = ds["sample_id"][:], ds["done"][:], ds["split"][:]
        times = ds["coords/t"][:] if "coords/t" in ds else None
        extent = ds.attrs["recipe"]["grid"]["extent"]
    rows = np.flatnonzero((ids == sample_id) & done)
    if rows.size == 0:
        raise ValueError(f"sample {sample_id} is not a written sample of {store} (ids 0..{ids.size - 1}, "
                         f"{int(done.sum())} written)")
    split = SPLITS[int(split_codes[rows[0]])]
    data = PDEDataset(store, split, statistics=train.statistics, include_failed=True, **window)  # any sample asked
    index = int(np.flatnonzero(data.rows == rows[0])[0])
    net = build_network(config["scheme"], train, config["model"], config["modes"], config["width"],
                        config["layers"], config["padding"])
    net.load_state_dict(torch.load(Path(run) / "best.pt", weights_only=False, map_location="cpu")["model"])
    device = pick_device(device)
    net = net.to(device).eval()
    x, y = data.batch([index])
    decode = data.output_normalizer.to(device)
    with torch.no_grad():
        prediction = decode.decode(net(x.to(device)).float()).cpu()
    target = decode.decode(y.to(device)).cpu()
    error = float(relative_l2(prediction, target)[0])
    shape = (len(data.outputs), data.time_steps, *prediction.shape[2:])
    if times is not None:
        times = times[data.history:data.history + data.time_steps]
    return Prediction(str(run), str(store), int(sample_id), split, data.outputs, target.numpy().reshape(shape),
                      prediction.numpy().reshape(shape), times, extent, error)
