"""The base of the modules that wrap a neuraloperator model (:mod:`.rollout`, :mod:`.space_time`)."""

from __future__ import annotations

import torch


class Wrapper(torch.nn.Module):
    """A module holding a neuraloperator model. Its state dict loads back: neuraloperator's
    models add an unprefixed ``"_metadata"`` entry (their constructor's arguments) to the
    state dict even when nested in another module, which ``load_state_dict`` would refuse
    as unexpected; nothing here needs it."""

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        state_dict = {key: value for key, value in state_dict.items() if key != "_metadata"}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
