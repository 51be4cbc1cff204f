"""A training step captured once as a CUDA graph and replayed for every full batch.

A small FNO step launches ~300-400 kernels, and at batch 32 on an H200 issuing them took
as long as running them or longer (18-26 ms of host time for 11-23 ms of GPU time per
step, docs/benchmarks.md `train_gpu`): the GPU waited on Python. Replaying a captured
graph issues the whole forward, backward and AdamW update with one launch (10.8 ms of
GPU time per step there, 2,956 samples/s against 1,794-2,385 eager).

The recipe is PyTorch's whole-network capture ("CUDA Graphs", torch.cuda documentation):
a few eager warm-up steps on a side stream (they are real training steps), gradients set
to None before capture so backward allocates them in the graph's memory pool, autocast
without its weight cache, and an optimizer whose step reads its learning rate and step
count from device tensors (``capturable=True``, a tensor ``lr`` that the scheduler
updates in place; momentum must not be scheduled, as ``betas`` are Python floats baked
into the graph). Batches of another shape (the last, partial batch) take an eager step
with the same model and optimizer.

Example::

    >>> optimizer = capturable_adamw(net.parameters(), lr=3e-3)      # doctest: +SKIP
    >>> train_step = GraphedStep(net, decode, optimizer, use_amp=True) # doctest: +SKIP
    >>> loss, error = train_step(x, y)                                 # doctest: +SKIP
"""

from __future__ import annotations

import torch

from .loop import WEIGHT_DECAY, batch_loss


def capturable_adamw(parameters, lr: float, weight_decay: float = WEIGHT_DECAY) -> torch.optim.AdamW:
    """AdamW whose step can be captured in a CUDA graph; its learning rate is a device
    tensor, so LR schedulers (which update a tensor ``lr`` in place) reach the graph."""
    parameters = list(parameters)
    device = parameters[0].device
    return torch.optim.AdamW(parameters, lr=torch.tensor(lr, device=device), weight_decay=weight_decay,
                             capturable=True)


class GraphedStep:
    """``step(x, y) -> (loss, per-sample errors)``: forward, loss, backward and optimizer
    step, from the ``warmup + 1``-th full batch on as a replay of one CUDA graph.

    ``scheduler`` (if any) steps eagerly after each batch. The returned tensors are
    copies, valid after the next call. If capture fails (an operation that a graph cannot
    hold), every step stays eager and ``capture_error`` says why."""

    def __init__(self, net, decode, optimizer, scheduler=None, use_amp: bool = True, warmup: int = 3):
        self.net, self.decode, self.optimizer, self.scheduler = net, decode, optimizer, scheduler
        self.use_amp, self.warmup = use_amp, warmup
        self.graph = None  # a CUDAGraph once captured; False if capture failed
        self.capture_error = None
        self.steps = 0
        self.replays = 0

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        self.steps += 1
        if self.graph is None and self.steps <= self.warmup:
            result = self._on_side_stream(x, y)
        elif self.graph is None:
            try:
                self._capture(x, y)
            except RuntimeError as error:  # an operation the graph cannot hold: stay eager
                self.graph, self.capture_error = False, f"{type(error).__name__}: {error}"
                result = self._eager(x, y)
            else:
                result = self._replay(x, y)
        elif self.graph is False:
            result = self._eager(x, y)
        elif x.shape == self.static_x.shape and y.shape == self.static_y.shape:
            result = self._replay(x, y)
        else:
            result = self._eager(x, y)
        if self.scheduler is not None:
            self.scheduler.step()
        return result

    def _eager(self, x, y):
        # Zero the gradients in place: after capture they live in the graph's pool, and
        # replays keep writing to those tensors.
        self.optimizer.zero_grad(set_to_none=not self.graph)
        loss, error = batch_loss(self.net, x, y, self.decode, self.use_amp)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), error.detach()

    def _on_side_stream(self, x, y):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            loss, error = self._eager(x, y)
        torch.cuda.current_stream().wait_stream(side)
        return loss, error

    def _capture(self, x, y):
        self.static_x, self.static_y = x.clone(), y.clone()
        self.optimizer.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        # thread_local: a DataLoader's pin-memory thread may allocate pinned memory
        # while this thread captures ("global" mode makes that an error).
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            loss, error = batch_loss(self.net, self.static_x, self.static_y, self.decode, self.use_amp,
                                     cache_autocast=False)
            loss.backward()
            self.optimizer.step()
        self.static_loss, self.static_error = loss.detach(), error.detach()

    def _replay(self, x, y):
        self.static_x.copy_(x, non_blocking=True)
        self.static_y.copy_(y, non_blocking=True)
        self.graph.replay()
        self.replays += 1
        return self.static_loss.clone(), self.static_error.clone()
