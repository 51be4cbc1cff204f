"""Normalisation from a store's statistics, per channel or per channel and grid point, on any device."""

from __future__ import annotations

import torch


class Normalizer(torch.nn.Module):
    """x -> (x - mean) / std per channel (dimension 1 of a batch, 0 of a sample), or per
    channel and grid point where ``mean`` and ``std`` are shaped ``(C, *grid)`` (FNO's
    UnitGaussianNormalizer, ``pointwise`` in :class:`~pdegen.train.dataset.PDEDataset`).

    The statistics are buffers, so ``.to(device)`` moves them with the model and they
    are saved in checkpoints."""

    def __init__(self, mean, std, eps: float = 1e-12):
        super().__init__()
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32).clamp_min(eps)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def _shape(self, x: torch.Tensor, channel_dim: int) -> tuple:
        if self.mean.dim() > 1:  # (C, *grid): one more leading axis for a batch
            return (1,) * channel_dim + tuple(self.mean.shape)
        shape = [1] * x.dim()
        shape[channel_dim] = -1
        return tuple(shape)

    def encode(self, x: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
        """Normalise; channels on ``channel_dim`` (1 for a batch, 0 for one sample)."""
        shape = self._shape(x, channel_dim)
        return (x - self.mean.view(shape)) / self.std.view(shape)

    def encode_(self, x: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
        """:meth:`encode` in place (the same arithmetic, so the same bits)."""
        shape = self._shape(x, channel_dim)
        return x.sub_(self.mean.view(shape)).div_(self.std.view(shape))

    def decode(self, x: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
        shape = self._shape(x, channel_dim)
        return x * self.std.view(shape) + self.mean.view(shape)
