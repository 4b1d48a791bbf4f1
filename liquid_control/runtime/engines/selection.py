"""Choosing a backend: which are available here, and ``load_engine``, which times them and keeps the fastest.

``auto`` builds every backend available for the device, times a few steps of each at the batch size
asked for (interleaved, round by round), and keeps the fastest; ``engine.selection`` holds the timings.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from typing import Any

import numpy as np

from .base import BACKENDS, BackendUnavailable, Engine
from .native_engine import NativeEngine
from .onnxruntime_engine import OnnxRuntimeEngine
from .torch_engine import TorchEngine

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


class BackendTimer:
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
    timers: dict[str, BackendTimer] = {}
    for name in available_backends(device):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                timer = BackendTimer(ENGINES[name](model, device=device, threads=threads), batch)
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
        for part in ("head", "core"):
            engine.selection[f"median_{part}_us"] = {name: round(statistics.median(getattr(t, part)) * 1e6, 1)
                                                     for name, t in timers.items()}
    return engine

