"""Pictures of samples (matplotlib, optional: ``pip install "pdegen[plot]"``)."""

from __future__ import annotations

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError('pdegen plot needs matplotlib: pip install "pdegen[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _as_image(values: np.ndarray) -> np.ndarray:
    """2-D view of a field: itself in 2-D, its middle slice along the last axis in 3-D."""
    if values.ndim == 3:
        return values[:, :, values.shape[2] // 2]
    return values


# Domains more than this many times wider than tall get one panel per row, each as wide as
# the figure: side by side they shrank to slivers under full-height colour bars.
WIDE_DOMAIN = 2.0
# Panels per row before they wrap (two outputs' first and last states beside two inputs: 2 x 3).
MAX_COLUMNS = 4


def _layout(count: int, extent) -> tuple[int, int, tuple[float, float]]:
    """Rows, columns and figure size (inches) for ``count`` panels of a domain with
    ``extent`` (None for 1-D plots): side by side, or stacked for wide domains."""
    if extent is not None:
        (x0, x1), (y0, y1) = extent[0], extent[1]
        aspect = (x1 - x0) / (y1 - y0)
        if aspect > WIDE_DOMAIN:
            width = 9.0
            return count, 1, (width, count * (max(1.0, width / aspect) + 1.0))
    rows = -(-count // MAX_COLUMNS)
    columns = -(-count // rows)
    return rows, columns, (4.4 * columns, 3.8 * rows)


def plot_sample(ds, sample_id: int, out) -> list[str]:
    """Input fields of sample ``sample_id`` beside its solution, one panel each; a
    trajectory as its first and last stored states, or on a 1-D grid as one picture over x
    and t. Returns the panels' titles."""
    plt = _pyplot()
    ids = ds["sample_id"][:]
    rows = np.flatnonzero(ids == sample_id)
    if not 0 <= sample_id < ds.num_samples:
        raise ValueError(f"sample {sample_id} is not in the store (its ids are 0..{ds.num_samples - 1})")
    if rows.size == 0 or not ds["done"][int(rows[0])]:  # a row's sample_id is written with its data
        done = ds["done"][:]
        raise ValueError(f"sample {sample_id} is not written yet ({int(done.sum())} of {done.size} samples are; "
                         f"resume the build to write the rest), e.g. --sample {int(ids[np.flatnonzero(done)[0]])}"
                         if done.any() else f"sample {sample_id} is not written yet (no sample is)")
    row = int(rows[0])
    ndim = len(ds.grid_shape)
    extent = ds.attrs["recipe"]["grid"]["extent"]
    panels = [(p, ds[p][row], None) for p in ds.fields("inputs")]  # (title, values, time span of an x-t picture)
    for p in ds.fields("outputs"):
        values = ds[p][row]
        if values.ndim > ndim:  # a trajectory
            times = ds["coords/t"][:]
            if ndim == 1:
                panels.append((f"{p} over x and t", values, (float(times[0]), float(times[-1]))))
            else:
                panels += [(f"{p} t={times[0]:.3g}", values[0], None), (f"{p} t={times[-1]:.3g}", values[-1], None)]
        else:
            panels.append((p, values, None))
    rows, columns, size = _layout(len(panels), extent if ndim > 1 else None)
    fig, axes = plt.subplots(rows, columns, figsize=size, squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    for ax, (name, values, span) in zip(axes.ravel(), panels):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            ax.plot(np.linspace(*extent[0], values.size), values)
        else:
            picture = [*extent[0], *span] if span else [*extent[0], *extent[1]]
            image = ax.imshow(values if span else _as_image(values).T, origin="lower", cmap="viridis",
                              extent=picture, aspect="auto" if span else "equal")
            fig.colorbar(image, ax=ax, shrink=0.85)
            ax.set_xlabel("x")
            ax.set_ylabel("t" if span else "y")
        ax.set_title(name + (" (mid z-slice)" if values.ndim == 3 else ""))
    converged = bool(ds["stats/converged"][row])
    solved = (ds.attrs.get("plan") or {}).get("method") != "none"  # pseudo-spectral: no residual to show
    fig.suptitle(f"{ds.attrs.get('name')} sample {sample_id}"
                 + (f": residual {ds['stats/residual'][row]:.1e}" if solved else "")
                 + ("" if converged else " (FAILED)"))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return [name for name, _, _ in panels]


def plot_learning_curves(metrics: dict, out) -> dict:
    """Train and validation relative L2 error per epoch (log scale) from a ``pdegen train``
    run's ``metrics.json``, with the test error of the best checkpoint as a dashed line.
    Returns the plotted series."""
    plt = _pyplot()
    history = metrics.get("history") or []
    if not history:
        raise ValueError("metrics.json has no epochs (history is empty)")
    series = {"epoch": [row["epoch"] for row in history],
              "train": [row["train"]["rel_l2"] for row in history],
              "val": [row["val"]["rel_l2"] for row in history if "val" in row]}
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.semilogy(series["epoch"], series["train"], label="train")
    if len(series["val"]) == len(series["epoch"]):
        ax.semilogy(series["epoch"], series["val"], label="validation")
    if "test" in metrics:
        series["test"] = metrics["test"]["rel_l2"]
        ax.axhline(series["test"], color="k", linestyle="--", linewidth=1,
                   label=f"test (best checkpoint) {series['test']:.2e}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("relative L2 error")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    rate = history[-1]["train"].get("samples_per_s")
    ax.set_title(f"{metrics.get('store', '')}\n{metrics.get('device', '')}"
                 + (f", {rate:,.0f} training samples/s" if rate else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return series


def _shown_states(count: int, most: int = 4) -> list[int]:
    """Up to ``most`` evenly spread state indices of ``count``, first and last included."""
    return sorted({int(round(i)) for i in np.linspace(0, count - 1, min(count, most))})


def plot_prediction(result, out) -> list[str]:
    """A trained model's prediction for one sample (:func:`pdegen.train.predict.predict`)
    beside the stored target: per output, rows of target, prediction and their difference
    at up to four of the predicted times (first and last included), target and prediction
    on one colour scale; on a 1-D grid one panel per time, both as lines. Returns the
    panels' titles."""
    plt = _pyplot()
    outputs, states = result.target.shape[:2]
    shown = _shown_states(states)
    one_d = result.target.ndim == 3
    rows = outputs * (1 if one_d else 3)
    fig, axes = plt.subplots(rows, len(shown), figsize=(4.2 * len(shown), 3.6 * rows), squeeze=False)
    titles = []
    for k, name in enumerate(result.outputs):
        for column, s in enumerate(shown):
            when = f" t={result.times[s]:.3g}" if result.times is not None else ""
            target, prediction = (np.asarray(a[k, s], dtype=np.float64) for a in (result.target, result.prediction))
            if one_d:
                ax = axes[k, column]
                x = np.linspace(*result.extent[0], target.size)
                ax.plot(x, target, label="target")
                ax.plot(x, prediction, "--", label="prediction")
                ax.set_xlabel("x")
                ax.legend(fontsize=8)
                ax.set_title(f"{name}{when}")
                titles.append(f"{name}{when}")
                continue
            picture = [*result.extent[0], *result.extent[1]]
            low, high = min(target.min(), prediction.min()), max(target.max(), prediction.max())
            difference = prediction - target
            spread = float(np.abs(difference).max()) or 1.0  # a symmetric scale, zero in the middle
            for offset, (label, values, limits, colours) in enumerate((
                    ("target", target, (low, high), "viridis"), ("prediction", prediction, (low, high), "viridis"),
                    ("prediction - target", difference, (-spread, spread), "RdBu_r"))):
                ax = axes[3 * k + offset, column]
                image = ax.imshow(_as_image(values).T, origin="lower", cmap=colours, extent=picture,
                                  vmin=limits[0], vmax=limits[1])
                fig.colorbar(image, ax=ax, shrink=0.85)
                ax.set_title(f"{name} {label}{when}" + (" (mid z-slice)" if values.ndim == 3 else ""), fontsize=9)
                titles.append(f"{name} {label}{when}")
    fig.suptitle(f"{result.run}: sample {result.sample_id} ({result.split} split), relative L2 {result.rel_l2:.3g}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return titles
