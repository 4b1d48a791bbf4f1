"""The deployment runtime: one interface to step a trained network, on the fastest backend there is.

An ``Engine`` runs a trained module (a camera ``Policy`` or a bare liquid core such as ``CfC`` or
``LTC``) one control step at a time for a batch of independent agents, each with its own state
and its own elapsed time::

    engine = load_engine("models/ncp19_lane", backend="auto")
    state = engine.initial_state(batch=1)
    outputs, state = engine.step(frames, dt, state)     # frames (B, C, H, W) float32, dt (B,) s

Inputs and outputs are numpy float32 arrays; states are opaque (``EngineState``) and belong to
the engine that made them. Backends:

``torch``
    The training model itself on CPU or CUDA, in inference mode, with the masked and fused weights
    of the liquid cell formed once at load instead of at every step.
``onnxruntime``
    The step exported to ONNX (``nets.onnx_export``) and run by ONNX Runtime on the CPU: the one
    graph a robot without torch can run too.
``native``
    The liquid core in compiled kernels (``runtime.kernels``, Numba); a policy's conv head runs in
    ONNX Runtime when it is installed (else torch). CPU only.
``auto``
    Builds every backend available for the device, times a few steps of each at the batch size
    asked for, and keeps the fastest (``engine.selection`` holds the timings).

Every backend computes what the training model computes: the tests hold each to the torch
module within 1e-5 over rollouts with irregular elapsed times.
"""

from __future__ import annotations

import importlib
import io
import math
import os
import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

BACKENDS = ("torch", "onnxruntime", "native")


class BackendUnavailable(RuntimeError):
    """The backend cannot run this model here (a library missing, an unsupported layer, no CUDA)."""


@dataclass
class EngineState:
    """A batch of agent states, in the representation of the engine that made it."""

    batch: int
    arrays: tuple  # backend-native tensors/arrays (empty for a network without memory)
    backend: str


def _module_kind(module) -> str:
    from liquid_control.nets.policy import Policy

    return "policy" if isinstance(module, Policy) else "core"


def _core_of(module):
    return module.core if _module_kind(module) == "policy" else module


def _dt_vector(dt, batch: int, positive: bool) -> np.ndarray:
    """Elapsed times as a (batch,) float32 vector: a number applies to every agent.

    Written for a batch of one to cost well under a microsecond of checks: numpy's small-array
    calls are what dominate a compiled cell step.
    """
    kind = type(dt)
    if kind is float or kind is int:
        value = float(dt)  # checked as the network will see it, in float32: 1e-46 is 0, 1e39 is inf
        value = float(np.float32(value)) if abs(value) < 3.4028234e38 else math.copysign(math.inf, value) if value == value else value
        _check_dt(value, value, positive)
        return np.array((value,), dtype=np.float32) if batch == 1 else np.full(batch, value, dtype=np.float32)
    if kind is np.ndarray and dt.dtype == np.float32 and dt.ndim == 1:
        values = dt
    else:
        if kind is bool:
            raise TypeError("dt must be a number of seconds or an array of them, not a bool")
        values = np.asarray(dt, dtype=np.float32).reshape(-1)
    count = values.shape[0]
    if count == 1:
        value = float(values[0])
        _check_dt(value, value, positive)
        return values if batch == 1 else np.full(batch, value, dtype=np.float32)
    if count != batch:
        raise ValueError(f"dt has {count} values for a batch of {batch} agents; give one per agent or one number")
    _check_dt(float(values.min()), float(values.max()), positive)  # min/max propagate NaN
    return values


def _check_dt(low: float, high: float, positive: bool) -> None:
    if not ((low > 0.0 if positive else low >= 0.0) and high < math.inf):
        raise ValueError(_dt_message(positive, [low, high] if low != high else [low]))


def _dt_message(positive: bool, values) -> str:
    if positive:
        return f"elapsed times must be finite and > 0 s (an LTC's solver divides by the step length), got {values}"
    return f"elapsed times must be finite and >= 0 s, got {values}"


class Engine:
    """Common part of the backends: shapes, argument checks, state helpers."""

    backend = ""

    def __init__(self, module, device: str = "cpu", threads: int = 1):
        module = module.eval()
        self.module = module
        self.kind = _module_kind(module)
        self.device = str(device)
        self.threads = int(threads)
        core = _core_of(module)
        self.input_shape: tuple[int, ...] = tuple(module.image_shape) if self.kind == "policy" else (int(core.input_size),)
        self.output_size = int(module.output_size)
        self.selection: dict[str, Any] = {}
        self._input_ndim = len(self.input_shape) + 1
        self._positive_dt = not getattr(core, "allow_zero_elapsed", True)
        with torch.no_grad():
            reference = core.initial_state(1)
        self._state_widths = [int(s.shape[-1]) for s in _tensors(reference)]

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
        return [np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float32) for a in state.arrays]

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
    # the control tick: the tick's work becomes microseconds, so its timing stays regular.
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
        return int(_core_of(self.module).input_size)

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
            raise ValueError(f"this state was made by the {state.backend!r} engine; a {self.backend!r} engine cannot continue it")
        elif state.batch != batch:
            raise ValueError(f"the state holds {state.batch} agents but {batch} inputs were given")
        elif [a.shape[-1] for a in state.arrays] != self._state_widths:
            raise ValueError(f"the state has widths {[a.shape[-1] for a in state.arrays]}, this network's are "
                             f"{self._state_widths}: it belongs to another model")
        return state, _dt_vector(dt, batch, self._positive_dt)

    def _features(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _step_features(self, features: np.ndarray, dt: np.ndarray, arrays: tuple):
        raise NotImplementedError

    def _step(self, inputs: np.ndarray, dt: np.ndarray, arrays: tuple):
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "device": self.device, "threads": self.threads, "kind": self.kind,
                "input_shape": list(self.input_shape), "outputs": self.output_size, **({"selection": self.selection} if self.selection else {})}


def _tensors(state) -> list:
    if state is None:
        return []
    return list(state) if isinstance(state, (tuple, list)) else [state]


# ====================================================================== torch
class TorchEngine(Engine):
    """The training model in inference mode; liquid cell weights prepared once at load."""

    backend = "torch"

    def __init__(self, module, device: str = "cpu", threads: int = 1):
        device = str(device)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable("device 'cuda' requested but torch sees no CUDA device")
        super().__init__(module, device, threads)
        self.module = self.module.to(device)
        self._core = _core_of(self.module)
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
            return y, tuple(_tensors(new))
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
            y, new = self._core_step(torch.from_numpy(features).to(self.device), torch.from_numpy(dt).to(self.device), arrays)
            return y.float().cpu().numpy(), new


# ====================================================================== ONNX Runtime
def _ort_session(model_bytes: bytes, threads: int):
    try:
        import onnxruntime
    except ImportError as error:  # the module may be absent, or blocked (tests)
        raise BackendUnavailable(f"onnxruntime is not installed ({error}); pip install onnxruntime") from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _export_bytes(module, **kwargs) -> bytes:
    from liquid_control.nets.onnx_export import export_onnx

    buffer = io.BytesIO()
    export_onnx(module, buffer, **kwargs)
    return buffer.getvalue()


class OnnxRuntimeEngine(Engine):
    """The whole step as one ONNX graph run by ONNX Runtime (CPU)."""

    backend = "onnxruntime"

    def __init__(self, module, device: str = "cpu", threads: int = 1):
        if str(device) != "cpu":
            raise BackendUnavailable("the onnxruntime backend runs on the CPU here (no CUDA execution provider installed)")
        super().__init__(module, "cpu", threads)
        self.session = _ort_session(_export_bytes(self.module), self.threads)
        self._accepted = {graph_input.name for graph_input in self.session.get_inputs()}
        self._input_name = "image" if self.kind == "policy" else "x"

    def _step(self, inputs, dt, arrays):
        return self._run(self.session, self._accepted, self._input_name, inputs, dt, arrays)

    @staticmethod
    def _run(session, accepted, input_name, inputs, dt, arrays):
        feeds = {input_name: inputs}
        if "dt" in accepted:
            feeds["dt"] = dt
        for index, array in enumerate(arrays):
            feeds[f"state_{index}"] = array
        results = session.run(None, feeds)
        return results[0], tuple(results[1:])

    def _halves(self):
        """The head and the core as two graphs, exported on first use of the split interface."""
        halves = getattr(self, "_halves_built", None)
        if halves is None:
            core = _ort_session(_export_bytes(self.module.core), self.threads)
            halves = (_ort_session(_export_bytes(self.module.head, head_only=True), self.threads), core,
                      {graph_input.name for graph_input in core.get_inputs()})
            self._halves_built = halves  # one assignment: a second thread sees all of it or none
        return halves

    def _features(self, images):
        return self._halves()[0].run(None, {"image": images})[0]

    def _step_features(self, features, dt, arrays):
        _, core, accepted = self._halves()
        return self._run(core, accepted, "x", features, dt, arrays)


# ====================================================================== native (Numba kernels)
class NativeEngine(Engine):
    """The liquid core in compiled Numba kernels; a policy's conv head in ONNX Runtime (or torch)."""

    backend = "native"
    # From this many agents on, the float32 kernels that are SIMD over agents take over (measured
    # crossover on a 2-core x86 machine: between 4 and 8 agents).
    batch_kernel_from = 8

    def __init__(self, module, device: str = "cpu", threads: int = 1, head: str = "auto"):
        if str(device) != "cpu":
            raise BackendUnavailable("the native backend runs on the CPU")
        try:
            kernels = importlib.import_module("liquid_control.runtime.kernels")
        except ImportError as error:
            raise BackendUnavailable(f"numba is not installed ({error}); pip install numba") from error
        super().__init__(module, "cpu", threads)
        self._kernels = kernels
        self._pack(_core_of(self.module))
        self.head_backend = "none"
        self._head = None
        if self.kind == "policy":
            self._head, self.head_backend = self._build_head(head)

    # ----------------------------------------------------------------- the conv head
    def _build_head(self, head: str):
        policy_head = self.module.head
        if head in ("auto", "onnxruntime"):
            try:
                session = _ort_session(_export_bytes(policy_head, head_only=True), self.threads)
            except BackendUnavailable:
                if head == "onnxruntime":
                    raise
            else:
                return (lambda images: session.run(None, {"image": images})[0]), "onnxruntime"

        def torch_head(images):
            with torch.inference_mode():
                return policy_head(torch.from_numpy(images)).numpy()

        return torch_head, "torch"

    # ----------------------------------------------------------------- packing the core's weights
    def _pack(self, core) -> None:
        from liquid_control.nets.cfc import CfCCell, WiredCfCCell
        from liquid_control.nets.sequence import CfC, LTC

        if not isinstance(core, (CfC, LTC)):
            raise BackendUnavailable(f"the native backend runs CfC and LTC cores, not {type(core).__name__}")
        k = self._kernels
        f64 = lambda t: np.ascontiguousarray(t.detach().cpu().double().numpy())  # noqa: E731
        self._mixed = core.use_mixed
        if core.use_mixed:
            lstm = core.lstm
            self._lstm = (f64(lstm.input_map.weight), f64(lstm.input_map.bias), f64(lstm.recurrent_map.weight))
        self._state_size = core.state_size
        with torch.no_grad():
            cell = core.rnn_cell
            if isinstance(core, LTC):
                self._kind = "ltc"
                prepared = cell.prepare()
                inputs = cell.input_size
                self._packed = k.pack_ltc(
                    cell.sensory_sparsity_mask.numpy(), cell.sparsity_mask.numpy(), cell.ode_unfolds, cell.epsilon,
                    input_w=f64(cell.input_w) if cell.input_mapping in ("affine", "linear") else np.ones(inputs),
                    input_b=f64(cell.input_b) if cell.input_mapping == "affine" else np.zeros(inputs),
                    s_sigma=f64(cell.sensory_sigma), s_mu=f64(cell.sensory_mu), s_w=f64(prepared.sensory_w),
                    s_w_erev=f64(prepared.sensory_w_erev), r_sigma=f64(cell.sigma), r_mu=f64(cell.mu), r_w=f64(prepared.w),
                    r_w_erev=f64(prepared.w_erev), cm=f64(prepared.cm), gleak=f64(prepared.gleak),
                    gleak_vleak=f64(prepared.gleak_vleak))
                self._kernel = k.ltc_step
                self._batch_kernel = k.ltc_step_batch
                self._packed32 = self._packed[0].astype(np.float32)
                outputs = cell.output_size
                self._readout = (f64(cell.output_w) if cell.output_mapping in ("affine", "linear") else np.ones(outputs),
                                 f64(cell.output_b) if cell.output_mapping == "affine" else np.zeros(outputs))
                self._output_slice = slice(0, outputs)
                self._fc = None
                return
            cells = cell.layers if isinstance(cell, WiredCfCCell) else [cell]
            self._mode = k.MODE_CODES[cells[0].mode]
            pure = self._mode == k.MODE_CODES["pure"]
            taus = np.concatenate([f64(c.w_tau).reshape(-1) for c in cells]) if pure else np.zeros(1)
            amps = np.concatenate([f64(c.A).reshape(-1) for c in cells]) if pure else np.zeros(1)
            self._pure = (taus, amps)
            if isinstance(cell, CfCCell) and cell.backbone is not None:
                self._kind = "cfc_backbone"
                prepared = cell.prepare()
                linears = [m for m in cell._backbone_rest if isinstance(m, torch.nn.Linear)]
                units = cell.backbone_units
                hidden_w = np.stack([f64(m.weight) for m in linears]) if linears else np.zeros((0, units, units))
                hidden_b = np.stack([f64(m.bias) for m in linears]) if linears else np.zeros((0, units))
                self._backbone = (np.concatenate([f64(prepared.first_input_w), f64(prepared.first_state_w)], axis=1),
                                  f64(prepared.first_b), hidden_w, hidden_b, f64(prepared.heads_w), f64(prepared.heads_b),
                                  k.ACTIVATION_CODES[cell.backbone_activation])
            else:
                self._kind = "cfc_layers"
                blocks = []
                for layer in cells:
                    prepared = layer.prepare()
                    blocks.append((np.concatenate([f64(prepared.first_input_w), f64(prepared.first_state_w)], axis=1),
                                   f64(prepared.first_b)))
                self._packed = k.pack_cfc_layers(blocks, self._mode, taus, amps)
                self._kernel = k.cfc_layers_step
                self._batch_kernel = k.cfc_layers_step_batch
                self._packed32 = self._packed[0].astype(np.float32)
            outputs = cell.output_size
            self._output_slice = slice(self._state_size - outputs, self._state_size)
            self._fc = None if isinstance(core.fc, torch.nn.Identity) else (f64(core.fc.weight), f64(core.fc.bias))
            self._readout = None

    def _zeros(self, batch: int) -> tuple:
        return tuple(np.zeros((batch, width), dtype=np.float64) for width in self._state_widths)

    def _features(self, images):
        return np.ascontiguousarray(self._head(images), dtype=np.float32)

    def _step_features(self, features, dt, arrays):
        return self._core(features, dt, arrays)

    def _step(self, inputs, dt, arrays):
        return self._core(self._head(inputs) if self._head is not None else inputs, dt, arrays)

    def _core(self, x, dt, arrays):
        h = arrays[0]
        if self._mixed:
            out_h, out_c = np.empty_like(h), np.empty_like(h)
            self._kernels.lstm_step(x, h, arrays[1], *self._lstm, out_h, out_c)
            h = out_h
        out = np.empty((x.shape[0], self._state_size))
        if self._kind == "cfc_backbone":
            (first_w, first_b, hidden_w, hidden_b, heads_w, heads_b, activation) = self._backbone
            self._kernels.cfc_backbone_step(x, h, dt, first_w, first_b, hidden_w, hidden_b, heads_w, heads_b, activation,
                                            *self._pure, self._mode, out)
        elif x.shape[0] >= self.batch_kernel_from:
            self._batch_kernel(x, h, dt, self._packed32, self._packed[1], out)
        else:
            self._kernel(x, h, dt, self._packed[0], self._packed[1], out)
        y = out[:, self._output_slice]
        if self._readout is not None:
            y = y * self._readout[0] + self._readout[1]
        if self._fc is not None:
            y = y @ self._fc[0].T + self._fc[1]
        return y.astype(np.float32), ((out, out_c) if self._mixed else (out,))


ENGINES = {"torch": TorchEngine, "onnxruntime": OnnxRuntimeEngine, "native": NativeEngine}


# ====================================================================== choosing
def available_backends(device: str = "cpu") -> list[str]:
    """Backends that can run on ``device`` here (libraries installed); a model may still rule some out."""
    found = ["torch"]
    if str(device) == "cpu":
        for name, library in (("onnxruntime", "onnxruntime"), ("native", "numba")):
            try:
                __import__(library)
            except ImportError:
                continue
            found.append(name)
    return found


class _Timer:
    """Times one engine as the controller runs it: for a camera policy the conv head on the frame
    (``features``) and the core (``step_features``) separately, else the whole ``step``."""

    def __init__(self, engine: Engine, batch: int):
        self.engine = engine
        generator = np.random.default_rng(0)
        self.inputs = generator.standard_normal((batch, *engine.input_shape)).astype(np.float32)
        self.dt = np.full(batch, 0.05, dtype=np.float32)
        self.state = engine.initial_state(batch)
        self.features = engine.features(self.inputs) if engine.kind == "policy" else None
        self.head: list[float] = []
        self.core: list[float] = []

    def once(self, keep: bool = True) -> None:
        engine, clock = self.engine, time.perf_counter
        if self.features is not None:
            started = clock()
            engine.features(self.inputs)
            head = clock() - started
            started = clock()
            _, self.state = engine.step_features(self.features, self.dt, self.state)
        else:
            head = 0.0
            started = clock()
            _, self.state = engine.step(self.inputs, self.dt, self.state)
        core = clock() - started
        if keep:
            self.head.append(head)
            self.core.append(core)

    def seconds(self) -> float:
        """Median head + median core: the head's timing noise (the same graph in several backends)
        does not swamp the differences between the cores."""
        return statistics.median(self.head) + statistics.median(self.core)


def load_engine(model, backend: str = "auto", device: str = "cpu", threads: int = 1, batch: int = 1,
                timing_steps: int = 15) -> Engine:
    """An engine for ``model`` (a module, or a model folder/card path) on ``backend``.

    ``auto`` builds every backend available on ``device``, times ``timing_steps`` steps of each at
    ``batch`` agents (interleaved, round by round), and returns the fastest; a backend that cannot
    run the model is skipped with its reason in ``engine.selection``.
    """
    if isinstance(model, (str, os.PathLike)):
        from liquid_control.nets import load_model

        model, _ = load_model(model, device="cpu")
    if backend != "auto" and backend not in ENGINES:
        raise ValueError(f"backend must be 'auto' or one of {BACKENDS}, got {backend!r}")
    if backend != "auto":
        return ENGINES[backend](model, device=device, threads=threads)
    timings: dict[str, Any] = {}
    timers: dict[str, _Timer] = {}
    for name in available_backends(device):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                timer = _Timer(ENGINES[name](model, device=device, threads=threads), batch)
                for _ in range(3):
                    timer.once(keep=False)
        except BackendUnavailable as error:
            timings[name] = f"unavailable: {error}"
            continue
        except Exception as error:  # an export or compile failure rules out that backend, not the model
            if name == "torch":
                raise
            timings[name] = f"failed: {type(error).__name__}: {error}"
            continue
        timers[name] = timer
    if not timers:  # torch is always importable; only a broken model gets here
        raise BackendUnavailable(f"no backend can run this model: {timings}")
    for _ in range(timing_steps):  # interleaved: load from other processes hits every backend alike
        for timer in timers.values():
            timer.once()
    for name, timer in timers.items():
        timings[name] = round(timer.seconds() * 1e6, 1)
    chosen = min(timers, key=lambda name: timings[name])
    engine = timers[chosen].engine
    engine.selection = {"batch": int(batch), "median_step_us": timings, "chosen": chosen}
    if any(timer.features is not None for timer in timers.values()):
        engine.selection["median_head_us"] = {name: round(statistics.median(t.head) * 1e6, 1) for name, t in timers.items()}
        engine.selection["median_core_us"] = {name: round(statistics.median(t.core) * 1e6, 1) for name, t in timers.items()}
    return engine


__all__ = ["BACKENDS", "BackendUnavailable", "Engine", "EngineState", "NativeEngine", "OnnxRuntimeEngine", "TorchEngine",
           "available_backends", "load_engine"]
