"""Autoregressive rollout: a one-step model run forward over a whole horizon.

FNO's 2-D Navier–Stokes model (Li et al., ICLR 2021, section 5.3, "FNO-2D") maps the
last K states to the next one and is trained on its own predictions: each predicted
state replaces the oldest in the window, forty times over, and the loss is taken over
the whole predicted trajectory. :class:`Rollout` wraps such a one-step network so that
it maps a :class:`~pdegen.train.dataset.PDEDataset` item's x (input fields, K states of
each output, coordinates) to its y (the next H states of each output), and the training
loop, checkpoints and CUDA graphs treat it as any other model.

The window is fed back in the units the dataset normalised it in, so every state of a
field must be normalised alike: per field (``normalization="field"``), not per channel.

Example::

    >>> data = PDEDataset("navier_stokes.zarr", history=10, coordinates=True)   # doctest: +SKIP
    >>> step = make_model("fno", data.in_channels, len(data.outputs), 2)         # doctest: +SKIP
    >>> net = Rollout(step, static=len(data.inputs), fields=len(data.outputs),   # doctest: +SKIP
    ...               history=10, horizon=data.time_steps)
    >>> x, y = data.batch([0, 1]); net(x).shape == y.shape                       # doctest: +SKIP
    True
"""

from __future__ import annotations

import torch

from .wrapper import Wrapper


class Rollout(Wrapper):
    """``step`` (channels: ``static`` fields, ``fields * history`` states, then whatever
    follows, e.g. coordinates -> ``fields`` next states) applied ``horizon`` times, each
    time on a window shifted by the state it predicted. Output channels: each field's
    ``horizon`` predicted states in time order, as :class:`PDEDataset` lays out y."""

    def __init__(self, step: torch.nn.Module, static: int, fields: int, history: int, horizon: int):
        super().__init__()
        if history < 1 or horizon < 1 or fields < 1 or static < 0:
            raise ValueError(f"Rollout needs history, horizon and fields >= 1 and static >= 0; got history "
                             f"{history}, horizon {horizon}, fields {fields}, static {static}")
        self.step, self.static, self.fields, self.history, self.horizon = step, static, fields, history, horizon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        begin, end = self.static, self.static + self.fields * self.history
        batch, grid = x.shape[0], x.shape[2:]
        window = x[:, begin:end].reshape(batch, self.fields, self.history, *grid)
        predictions = []
        for _ in range(self.horizon):
            state = self.step(torch.cat([x[:, :begin], window.flatten(1, 2), x[:, end:]], dim=1))
            predictions.append(state)
            # Under autocast the step may return bfloat16: the window keeps x's precision.
            window = torch.cat([window[:, :, 1:], state.to(window.dtype).unsqueeze(2)], dim=2)
        return torch.stack(predictions, dim=2).flatten(1, 2)
