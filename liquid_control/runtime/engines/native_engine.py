"""The ``native`` backend: the liquid core in compiled Numba kernels (``runtime.kernels``), CPU only.

A policy's conv head runs in ONNX Runtime when it is installed, else in torch. The core's weights are
packed for the kernels once at load (``packing``).
"""

from __future__ import annotations

import importlib

import numpy as np
import torch

from .base import BackendUnavailable, Engine, core_of
from .onnxruntime_engine import export_bytes, ort_session
from .packing import pack_core


class NativeEngine(Engine):
    """The liquid core in compiled Numba kernels; a policy's conv head in ONNX Runtime (or torch)."""

    backend = "native"
    # From this many agents on, the float32 kernels that are SIMD over agents take over (the measured
    # crossover between the two kinds of kernels).
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
        self.packed = pack_core(core_of(self.module), kernels)
        self.head_backend = "none"
        self._head = None
        if self.kind == "policy":
            self._head, self.head_backend = self._build_head(head)

    # ----------------------------------------------------------------- the conv head
    def _build_head(self, head: str):
        policy_head = self.module.head
        if head in ("auto", "onnxruntime"):
            try:
                session = ort_session(export_bytes(policy_head, head_only=True), self.threads)
            except BackendUnavailable:
                if head == "onnxruntime":
                    raise
            else:
                return (lambda images: session.run(None, {"image": images})[0]), "onnxruntime"

        def torch_head(images):
            with torch.inference_mode():
                return policy_head(torch.from_numpy(images)).numpy()

        return torch_head, "torch"

    def _zeros(self, batch: int) -> tuple:
        return tuple(np.zeros((batch, width), dtype=np.float64) for width in self._state_widths)

    def _features(self, images):
        return np.ascontiguousarray(self._head(images), dtype=np.float32)

    def _step_features(self, features, dt, arrays):
        return self._core(features, dt, arrays)

    def _step(self, inputs, dt, arrays):
        return self._core(self._head(inputs) if self._head is not None else inputs, dt, arrays)

    def _core(self, x, dt, arrays):
        packed = self.packed
        h = arrays[0]
        if packed.mixed:
            out_h, out_c = np.empty_like(h), np.empty_like(h)
            self._kernels.lstm_step(x, h, arrays[1], *packed.lstm, out_h, out_c)
            h = out_h
        out = np.empty((x.shape[0], packed.state_size))
        if packed.kind == "cfc_backbone":
            (first_w, first_b, hidden_w, hidden_b, heads_w, heads_b, activation) = packed.backbone
            self._kernels.cfc_backbone_step(x, h, dt, first_w, first_b, hidden_w, hidden_b, heads_w, heads_b,
                                            activation, *packed.pure, packed.mode, out)
        elif x.shape[0] >= self.batch_kernel_from:
            packed.batch_kernel(x, h, dt, packed.packed32, packed.packed[1], out)
        else:
            packed.kernel(x, h, dt, packed.packed[0], packed.packed[1], out)
        y = out[:, packed.output_slice]
        if packed.readout is not None:
            y = y * packed.readout[0] + packed.readout[1]
        if packed.fc is not None:
            y = y @ packed.fc[0].T + packed.fc[1]
        return y.astype(np.float32), ((out, out_c) if packed.mixed else (out,))
