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


def plot_sample(ds, sample_id: int, out) -> None:
    """Input fields of sample ``sample_id`` beside its solution, one panel each."""
    plt = _pyplot()
    ids = ds["sample_id"][:]
    rows = np.flatnonzero(ids == sample_id)
    if rows.size == 0 or not ds["done"][int(rows[0])]:
        raise ValueError(f"sample {sample_id} is not in the store (ids 0..{ds.num_samples - 1}, done rows only)")
    row = int(rows[0])
    ndim = len(ds.grid_shape)
    panels = [(p, ds[p][row]) for p in ds.fields("inputs")]
    for p in ds.fields("outputs"):
        values = ds[p][row]
        if values.ndim > ndim:  # a trajectory: first and last stored time
            times = ds["coords/t"][:]
            panels += [(f"{p} t={times[0]:.3g}", values[0]), (f"{p} t={times[-1]:.3g}", values[-1])]
        else:
            panels.append((p, values))
    extent = ds.attrs["recipe"]["grid"]["extent"]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.8), squeeze=False)
    for ax, (name, values) in zip(axes[0], panels):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            ax.plot(np.linspace(*extent[0], values.size), values)
        else:
            image = ax.imshow(_as_image(values).T, origin="lower", cmap="viridis",
                              extent=[*extent[0], *extent[1]], aspect="equal")
            fig.colorbar(image, ax=ax, shrink=0.85)
            ax.set_xlabel("x")
            ax.set_ylabel("y")
        ax.set_title(name + (" (mid z-slice)" if values.ndim == 3 else ""))
    converged = bool(ds["stats/converged"][row])
    fig.suptitle(f"{ds.attrs.get('name')} sample {sample_id}: residual {ds['stats/residual'][row]:.1e}"
                 f"{'' if converged else ' (FAILED)'}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
