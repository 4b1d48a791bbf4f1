"""Export a policy's single step to ONNX, and check the export against the torch model.

The exported graph is one control step: ``(image, dt, state...) -> (output, next_state...)``
with a dynamic batch axis, so ONNX Runtime (or any ONNX consumer on a robot) can run the network
statefully exactly like ``Policy.step``. ``check_onnx`` runs both on random frames over a rollout
with irregular elapsed times and reports the largest differences.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .policy import Policy


def _state_tensors(state) -> list[torch.Tensor]:
    if state is None:
        return []
    return list(state) if isinstance(state, (tuple, list)) else [state]


class _Step(nn.Module):
    """Policy.step with a flat signature: tensors in, tensors out (what ONNX export needs)."""

    def __init__(self, policy: Policy, tuple_state: bool):
        super().__init__()
        self.policy = policy
        self.tuple_state = tuple_state

    def forward(self, image, dt, *state):
        if not state:
            previous = None
        else:
            previous = tuple(state) if self.tuple_state else state[0]
        output, next_state = self.policy.step(image, dt, previous)
        return (output, *_state_tensors(next_state))


def export_onnx(policy: Policy, path: str | os.PathLike, opset: int = 17) -> Path:
    """Write ``policy``'s step as an ONNX graph; returns the path."""
    policy = policy.eval()
    state = policy.initial_state(1)
    states = _state_tensors(state)
    channels, height, width = policy.image_shape
    example = (torch.zeros(1, channels, height, width), torch.full((1,), 0.05), *states)
    state_names = [f"state_{i}" for i in range(len(states))]
    next_names = [f"next_state_{i}" for i in range(len(states))]
    names_in, names_out = ["image", "dt", *state_names], ["output", *next_names]
    checks = policy.check_inputs, getattr(policy.core, "check_inputs", None)
    policy.check_inputs = False  # value checks cannot be traced; the exported graph trusts its inputs
    if checks[1] is not None:
        policy.core.check_inputs = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
            torch.onnx.export(_Step(policy, isinstance(state, tuple)), example, str(path), input_names=names_in,
                              output_names=names_out, dynamic_axes={name: {0: "batch"} for name in names_in + names_out},
                              opset_version=opset, dynamo=False)
    finally:
        policy.check_inputs = checks[0]
        if checks[1] is not None:
            policy.core.check_inputs = checks[1]
    return Path(path)


def check_onnx(policy: Policy, path: str | os.PathLike, steps: int = 20, batch: int = 3, seed: int = 0) -> dict:
    """Largest |torch - ONNX Runtime| over a rollout of random frames with irregular elapsed times."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    accepted = {graph_input.name for graph_input in session.get_inputs()}
    generator = torch.Generator().manual_seed(seed)
    state = policy.initial_state(batch)
    onnx_states = [s.numpy() for s in _state_tensors(state)]
    worst_output = worst_state = 0.0
    with torch.no_grad():
        for _ in range(steps):
            image = torch.randn(batch, *policy.image_shape, generator=generator)
            dt = 0.01 + 0.2 * torch.rand(batch, generator=generator)
            output, state = policy.step(image, dt, state)
            feeds = {"image": image.numpy(), "dt": dt.numpy()}
            feeds.update({f"state_{i}": s for i, s in enumerate(onnx_states)})
            # A core that ignores the elapsed time (LSTM, feed-forward) exports a graph without dt.
            results = session.run(None, {name: value for name, value in feeds.items() if name in accepted})
            onnx_states = results[1:]
            worst_output = max(worst_output, float(np.abs(results[0] - output.numpy()).max()))
            for ours, theirs in zip(_state_tensors(state), onnx_states):
                worst_state = max(worst_state, float(np.abs(ours.numpy() - theirs).max()))
    return {"steps": steps, "batch": batch, "max_abs_output_error": worst_output, "max_abs_state_error": worst_state}
