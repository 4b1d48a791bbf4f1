"""The engine interface every backend shares: shapes, argument checks, states, the policy in two halves.

An ``Engine`` steps a trained module (a camera ``Policy`` or a bare liquid core) for a batch of agents,
each with its own state and elapsed time; numpy float32 in and out. A backend implements ``_step``,
``_features`` and ``_step_features``; states (``EngineState``) belong to the engine that made them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .elapsed import dt_vector

BACKENDS = ("torch", "onnxruntime", "native")


class BackendUnavailable(RuntimeError):
    """The backend cannot run this model here (a library missing, an unsupported layer, no CUDA)."""


@dataclass
class EngineState:
    """A batch of agent states, in the representation of the engine that made it."""

    batch: int
    arrays: tuple  # backend-native tensors/arrays (empty for a network without memory)
    backend: str


def module_kind(module) -> str:
    from liquid_control.nets.policy import Policy

    return "policy" if isinstance(module, Policy) else "core"


def core_of(module):
    return module.core if module_kind(module) == "policy" else module



class Engine:
    """Common part of the backends: shapes, argument checks, state helpers."""

    backend = ""

    def __init__(self, module, device: str = "cpu", threads: int = 1):
        module = module.eval()
        self.module = module
        self.kind = module_kind(module)
        self.device = str(device)
        self.threads = int(threads)
        core = core_of(module)
        self.input_shape: tuple[int, ...] = (tuple(module.image_shape) if self.kind == "policy"
                                             else (int(core.input_size),))
        self.output_size = int(module.output_size)
        self.selection: dict[str, Any] = {}
        self._input_ndim = len(self.input_shape) + 1
        self._positive_dt = not getattr(core, "allow_zero_elapsed", True)
        with torch.no_grad():
            reference = core.initial_state(1)
        self._state_widths = [int(s.shape[-1]) for s in state_tensors(reference)]

    def warm_up(self, batch: int = 1) -> None:
        """One throw-away step at `batch` agents, so that whatever is compiled or allocated on first
        use (Numba kernels, ONNX Runtime's buffers; the batch kernels from ``batch_kernel_from``
        agents) happens now, not on a control tick."""
        if self.kind == "policy":
            features = self.features(np.zeros((batch, *self.input_shape), dtype=np.float32))
            self.step_features(features, 0.05)
        else:
            self.step(np.zeros((batch, *self.input_shape), dtype=np.float32), 0.05)

    # ----------------------------------------------------------------- state
    def initial_state(self, batch: int = 1) -> EngineState:
        batch = int(batch)
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        return EngineState(batch, self._zeros(batch), self.backend)

    def _zeros(self, batch: int) -> tuple:
        return tuple(np.zeros((batch, width), dtype=np.float32) for width in self._state_widths)

    def state_arrays(self, state: EngineState) -> list[np.ndarray]:
        """The state as float32 numpy arrays (batch, width): h, or (h, c) with mixed memory."""
        return [np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float32)
                for a in state.arrays]

    def reset_agents(self, state: EngineState, agents) -> EngineState:
        """A state with the chosen agents (indices or a boolean mask) back at their initial state."""
        arrays = []
        for array in state.arrays:
            array = array.clone() if isinstance(array, torch.Tensor) else array.copy()
            array[agents] = 0
            arrays.append(array)
        return EngineState(state.batch, tuple(arrays), state.backend)

    def stack(self, states: list[EngineState]) -> EngineState:
        """One batch from several states (agents in order)."""
        if not states:
            raise ValueError("nothing to stack")
        for state in states:
            if state.backend != self.backend:
                raise ValueError(f"a state made by the {state.backend!r} engine cannot join a {self.backend!r} batch")
        parts = zip(*(state.arrays for state in states))
        arrays = tuple(torch.cat(p) if isinstance(p[0], torch.Tensor) else np.concatenate(p) for p in parts)
        return EngineState(sum(state.batch for state in states), arrays, self.backend)

    def unstack(self, state: EngineState) -> list[EngineState]:
        """One state per agent (views into the batch's arrays)."""
        return [EngineState(1, tuple(a[i : i + 1] for a in state.arrays), self.backend) for i in range(state.batch)]

    def is_finite(self, state: EngineState) -> bool:
        return all(bool(np.isfinite(a).all()) for a in self.state_arrays(state))

    def describe_state(self, state: EngineState) -> dict[str, Any]:
        """Named parts of the state by neuron role (see ``LiquidSequence.describe_state``)."""
        tensors = [torch.from_numpy(a) for a in self.state_arrays(state)]
        if not tensors:
            return {}
        return self.module.describe_state(tensors[0] if len(tensors) == 1 else tuple(tensors))

    # ----------------------------------------------------------------- stepping
    def step(self, inputs, dt, state: EngineState | None = None) -> tuple[np.ndarray, EngineState]:
        """Advance every agent by its elapsed time: inputs (B, *input_shape) -> outputs (B, outputs) float32.

        ``dt`` is one number for all agents or one per agent, in seconds; ``state`` None starts
        every agent afresh. Inputs holding NaN or Inf are refused with a ValueError, on every backend.
        """
        inputs = self._checked(inputs, self.input_shape, self._input_ndim, "inputs")
        state, dts = self._checked_state(inputs.shape[0], dt, state)
        outputs, arrays = self._step(inputs, dts, state.arrays)
        return outputs, EngineState(inputs.shape[0], arrays, self.backend)

    # ----------------------------------------------------------------- a policy in two halves
    # A controller can run the conv head when a frame arrives and only the small liquid core at
    # the control tick: the tick's work becomes small, so its timing stays regular.
    # ``step(frames) == step_features(features(frames))``.
    def features(self, images) -> np.ndarray:
        """A camera policy's conv head alone: frames (B, C, H, W) -> features (B, F) float32."""
        if self.kind != "policy":
            raise ValueError("features() is for camera policies; this engine runs a bare core (use step)")
        images = self._checked(images, self.input_shape, self._input_ndim, "frames")
        return self._features(images)

    def step_features(self, features, dt, state: EngineState | None = None) -> tuple[np.ndarray, EngineState]:
        """The recurrent core alone on features from ``features()``: like ``step`` after the head."""
        if self.kind != "policy":
            return self.step(features, dt, state)
        features = self._checked(features, (self.feature_size,), 2, "features")
        state, dts = self._checked_state(features.shape[0], dt, state)
        outputs, arrays = self._step_features(features, dts, state.arrays)
        return outputs, EngineState(features.shape[0], arrays, self.backend)

    @property
    def feature_size(self) -> int:
        return int(core_of(self.module).input_size)

    def _checked(self, array, shape: tuple, ndim: int, what: str) -> np.ndarray:
        if type(array) is not np.ndarray or array.dtype != np.float32:
            array = np.asarray(array, dtype=np.float32)
        if array.shape[1:] != shape or array.ndim != ndim:
            raise ValueError(f"{what} have shape {array.shape}; this engine takes (batch, {', '.join(map(str, shape))})"
                             + (" float32 frames, channels first, preprocessed as the model card says"
                                if what in ("frames", "inputs") and self.kind == "policy" else ""))
        # Every backend refuses NaN/Inf alike, before the step: left to the arithmetic, torch's LTC
        # gave finite outputs for an Inf input where the native kernels gave NaN.
        if not np.isfinite(array).all():
            raise ValueError(f"{what} hold NaN or Inf: refused before the step")
        return array if array.flags.c_contiguous else np.ascontiguousarray(array)

    def _checked_state(self, batch: int, dt, state: EngineState | None) -> tuple[EngineState, np.ndarray]:
        if state is None:
            state = self.initial_state(batch)
        elif state.backend != self.backend:
            raise ValueError(f"this state was made by the {state.backend!r} engine; a {self.backend!r} engine "
                             "cannot continue it")
        elif state.batch != batch:
            raise ValueError(f"the state holds {state.batch} agents but {batch} inputs were given")
        elif [a.shape[-1] for a in state.arrays] != self._state_widths:
            raise ValueError(f"the state has widths {[a.shape[-1] for a in state.arrays]}, this network's are "
                             f"{self._state_widths}: it belongs to another model")
        return state, dt_vector(dt, batch, self._positive_dt)

    def _features(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _step_features(self, features: np.ndarray, dt: np.ndarray, arrays: tuple):
        raise NotImplementedError

    def _step(self, inputs: np.ndarray, dt: np.ndarray, arrays: tuple):
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "device": self.device, "threads": self.threads, "kind": self.kind,
                "input_shape": list(self.input_shape), "outputs": self.output_size,
                **({"selection": self.selection} if self.selection else {})}


def state_tensors(state) -> list:
    if state is None:
        return []
    return list(state) if isinstance(state, (tuple, list)) else [state]

