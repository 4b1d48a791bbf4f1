"""A stateful wrapper for deployment: feed one observation and its elapsed time, get the output.

The network's hidden state lives here between calls. ``reset()`` starts over (all samples or a
chosen few), ``state`` exposes the raw tensors and ``inspect()`` names them by neuron role.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

from .sequence import LiquidSequence, State


class Stepper:
    def __init__(self, model: LiquidSequence, batch_size: int | None = None):
        """``batch_size=None`` steps one sample given as (features,); an int steps (batch_size, features)."""
        if not isinstance(model, LiquidSequence):
            raise TypeError(f"Stepper needs a CfC or LTC, got {type(model).__name__}")
        self.model = model
        self.batch_size = batch_size
        self.steps = 0
        self._state = model.initial_state(batch_size)

    @property
    def state(self) -> State:
        return self._state

    def __call__(self, x: torch.Tensor, dt=1.0) -> torch.Tensor:
        """Advance by ``dt`` seconds (a number, or one per sample) and return the network's output."""
        with torch.inference_mode():
            y, self._state = self.model.step(x, dt, self._state)
        self.steps += 1
        return y

    def reset(self, samples: Sequence[int] | None = None) -> None:
        """Zero the state of every sample, or only of the given batch indices."""
        fresh = self.model.initial_state(self.batch_size)
        if samples is None or self.batch_size is None:
            self._state = fresh
            self.steps = 0
            return
        index = torch.as_tensor(list(samples), dtype=torch.long)
        if self.model.use_mixed:
            self._state = tuple(old.index_copy(0, index, new[index]) for old, new in zip(self._state, fresh))
        else:
            self._state = self._state.index_copy(0, index, fresh[index])

    def inspect(self) -> dict[str, Any]:
        """The current state split by neuron role (motor/command/inter, and the LSTM memory if any)."""
        return self.model.describe_state(self._state)
