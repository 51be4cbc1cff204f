"""Time as one more axis: an (n+1)-D operator predicting a whole horizon at once.

FNO's best model for its 2-D Navier–Stokes task (Li et al., ICLR 2021, section 5.3,
"FNO-3D") convolves in space-time: the inputs (here: the input fields, the history
states, the coordinates) are repeated along a new time axis of the horizon's length, the
time of each slice appended as a channel, and a 3-D FNO maps them to the states on that
axis. :class:`SpaceTime` wraps such a network so that it maps a
:class:`~pdegen.train.dataset.PDEDataset` item's x to its y, the states of each output
in time order as channels; the training loop treats it as any other model.

Time is not periodic, so the network should pad the time axis (FNO-3D added 6 slices to
40; :data:`TIME_PADDING`, used by ``pdegen train --scheme space-time``).

Example::

    >>> data = PDEDataset("navier_stokes.zarr", history=10, coordinates=True)       # doctest: +SKIP
    >>> net3d = make_model("fno", data.in_channels + 1, len(data.outputs), 3)        # doctest: +SKIP
    >>> net = SpaceTime(net3d, fields=len(data.outputs), horizon=data.time_steps)    # doctest: +SKIP
    >>> x, y = data.batch([0, 1]); net(x).shape == y.shape                           # doctest: +SKIP
    True
"""

from __future__ import annotations

import torch

from .wrapper import Wrapper

TIME_PADDING = 0.15  # of the time axis: FNO-3D's 6 slices on 40


class SpaceTime(Wrapper):
    """``net`` (channels: x's and the time in [0, 1], on the grid with a last axis of
    ``horizon`` times -> ``fields`` states on it) as a map from x ``(B, C, *grid)`` to
    ``(B, fields * horizon, *grid)``: each field's states in time order."""

    def __init__(self, net: torch.nn.Module, fields: int, horizon: int):
        super().__init__()
        if fields < 1 or horizon < 1:
            raise ValueError(f"SpaceTime needs fields and horizon >= 1; got fields {fields}, horizon {horizon}")
        self.net, self.fields, self.horizon = net, fields, horizon
        self.register_buffer("times", torch.linspace(0.0, 1.0, horizon), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, grid = x.shape[0], x.shape[2:]
        repeated = x.unsqueeze(-1).expand(*x.shape, self.horizon)
        times = self.times.to(x.dtype).expand(batch, 1, *grid, self.horizon)
        states = self.net(torch.cat([repeated, times], dim=1))  # (B, fields, *grid, horizon)
        return states.movedim(-1, 2).flatten(1, 2)
