"""The deployment runtime: one interface to step a trained network, on the fastest backend there is.

    engine = load_engine("models/ncp19_lane", backend="auto")
    state = engine.initial_state(batch=1)
    outputs, state = engine.step(frames, dt, state)     # frames (B, C, H, W) float32, dt (B,) s

Backends, one a module: ``torch`` (the training model), ``onnxruntime`` (the exported ONNX graph, CPU),
``native`` (compiled liquid-cell kernels, CPU); ``auto`` times the available ones and keeps the fastest
(``selection``). Every backend computes what the training model computes: the tests hold each to the
torch module within 1e-5 over rollouts with irregular elapsed times.
"""

from .base import BACKENDS, BackendUnavailable, Engine, EngineState
from .native_engine import NativeEngine
from .onnxruntime_engine import OnnxRuntimeEngine
from .selection import ENGINES, available_backends, load_engine
from .torch_engine import TorchEngine

__all__ = ["BACKENDS", "ENGINES", "BackendUnavailable", "Engine", "EngineState", "NativeEngine", "OnnxRuntimeEngine",
           "TorchEngine", "available_backends", "load_engine"]
