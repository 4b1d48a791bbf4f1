"""The ``torch`` backend: the training model itself, in inference mode, on CPU or CUDA.

The masked and fused weights of a liquid cell are formed once at load instead of at every step.
"""

from __future__ import annotations

import numpy as np
import torch

from .base import BackendUnavailable, Engine, EngineState, core_of, state_tensors


class TorchEngine(Engine):
    """The training model in inference mode; liquid cell weights prepared once at load."""

    backend = "torch"

    def __init__(self, module, device: str = "cpu", threads: int = 1):
        device = str(device)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable("device 'cuda' requested but torch sees no CUDA device")
        super().__init__(module, device, threads)
        self.module = self.module.to(device)
        self._core = core_of(self.module)
        from liquid_control.nets.sequence import LiquidSequence

        self._liquid = isinstance(self._core, LiquidSequence)
        with torch.inference_mode():
            self._prepared = self._core.rnn_cell.prepare() if self._liquid else None
        self._cuda = device.startswith("cuda")

    def _zeros(self, batch: int) -> tuple:
        return tuple(torch.zeros(batch, width, device=self.device) for width in self._state_widths)

    def reset_agents(self, state: EngineState, agents) -> EngineState:
        if isinstance(agents, np.ndarray):
            agents = torch.from_numpy(agents).to(self.device)
        return super().reset_agents(state, agents)

    def _core_step(self, x: torch.Tensor, dt: torch.Tensor, arrays: tuple):
        core = self._core
        if not self._liquid:
            previous = None if not arrays else (arrays if len(arrays) > 1 else arrays[0])
            y, new = core.step(x, dt, previous)
            return y, tuple(state_tensors(new))
        cell, prepared = core.rnn_cell, self._prepared
        column = dt.reshape(-1, 1)
        if core.use_mixed:
            h, c = core.lstm.step(core.lstm.precompute(x), arrays)
            y, h = cell.step(cell.precompute(x, prepared), h, column, prepared)
            return core._readout(y), (h, c)
        y, h = cell.step(cell.precompute(x, prepared), arrays[0], column, prepared)
        return core._readout(y), (h,)

    def _step(self, inputs, dt, arrays):
        with torch.inference_mode():
            x = torch.from_numpy(inputs)
            d = torch.from_numpy(dt)
            if self._cuda:
                x, d = x.to(self.device, non_blocking=True), d.to(self.device, non_blocking=True)
            if self.kind == "policy":
                x = self.module.head(x)
            y, new = self._core_step(x, d, arrays)
            return y.float().cpu().numpy(), new

    def _features(self, images):
        with torch.inference_mode():
            return self.module.head(torch.from_numpy(images).to(self.device)).float().cpu().numpy()

    def _step_features(self, features, dt, arrays):
        with torch.inference_mode():
            x, d = torch.from_numpy(features).to(self.device), torch.from_numpy(dt).to(self.device)
            y, new = self._core_step(x, d, arrays)
            return y.float().cpu().numpy(), new

