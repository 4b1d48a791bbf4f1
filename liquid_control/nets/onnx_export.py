"""Export a network's single step to ONNX, and check the export against the torch model.

The exported graph is one control step: ``(image, dt, state...) -> (output, next_state...)`` for
a camera policy, ``(x, dt, state...)`` for a bare core (CfC, LTC), with a dynamic batch axis, so
ONNX Runtime (or any ONNX consumer on a robot) can run the network statefully exactly like its
``step``. ``check_onnx`` runs both on random inputs over a rollout with irregular elapsed times
and reports the largest differences. The runtime's ``onnxruntime`` backend runs these graphs.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn


def _state_tensors(state) -> list[torch.Tensor]:
    if state is None:
        return []
    return list(state) if isinstance(state, (tuple, list)) else [state]


class _Step(nn.Module):
    """``step`` of a policy or core with a flat signature: tensors in, tensors out (what ONNX export needs)."""

    def __init__(self, policy: nn.Module, tuple_state: bool):
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


class _Head(nn.Module):
    """A policy's conv head alone: image -> features (for runtimes that run the core elsewhere)."""

    def __init__(self, head: nn.Module):
        super().__init__()
        self.head = head

    def forward(self, image):
        return self.head(image)


def _input_example(module) -> tuple[str, torch.Tensor]:
    if hasattr(module, "image_shape"):
        return "image", torch.zeros(1, *module.image_shape)
    if hasattr(module, "in_channels") and hasattr(module, "convs"):  # a ConvHead
        return "image", torch.zeros(1, module.in_channels, module.height, module.width)
    return "x", torch.zeros(1, int(module.input_size))


def export_onnx(module: nn.Module, path, opset: int = 17, head_only: bool = False):
    """Write one step of ``module`` as an ONNX graph to ``path`` (a file name or a binary buffer).

    ``module`` is a ``Policy`` (inputs image, dt, state_i; outputs output, next_state_i), a bare
    core such as ``CfC``/``LTC`` (the same, with ``x`` for ``image``), or with ``head_only`` a
    policy's ``ConvHead`` (image -> features). Every axis 0 is a dynamic batch axis.
    """
    was_training = module.training
    module = module.eval()
    input_name, example_input = _input_example(module)
    if head_only:
        wrapper, example, names_in, names_out = _Head(module), (example_input,), [input_name], ["features"]
        switches = []
    else:
        state = module.initial_state(1)
        states = _state_tensors(state)
        example = (example_input, torch.full((1,), 0.05), *states)
        names_in = [input_name, "dt", *[f"state_{i}" for i in range(len(states))]]
        names_out = ["output", *[f"next_state_{i}" for i in range(len(states))]]
        wrapper = _Step(module, isinstance(state, tuple))
        # Value checks cannot be traced; the exported graph trusts its inputs.
        switches = [m for m in (module, getattr(module, "core", None)) if m is not None and hasattr(m, "check_inputs")]
    saved = [m.check_inputs for m in switches]
    for m in switches:
        m.check_inputs = False
    target = str(path) if isinstance(path, (str, os.PathLike)) else path
    # torch.onnx.export restores the wrapper's training flag afterwards, and a fresh wrapper is in
    # training mode: put it in eval first, and give the module its own mode back at the end.
    wrapper.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
            torch.onnx.export(wrapper, example, target, input_names=names_in, output_names=names_out,
                              dynamic_axes={name: {0: "batch"} for name in names_in + names_out},
                              opset_version=opset, dynamo=False)
    finally:
        for m, value in zip(switches, saved):
            m.check_inputs = value
        module.train(was_training)
    return Path(path) if isinstance(path, (str, os.PathLike)) else path


def check_onnx(module: nn.Module, path: str | os.PathLike, steps: int = 20, batch: int = 3, seed: int = 0) -> dict:
    """Largest |torch - ONNX Runtime| over a rollout of random inputs (frames for a policy, features
    for a core) with irregular elapsed times."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    accepted = {graph_input.name for graph_input in session.get_inputs()}
    input_name, example = _input_example(module)
    generator = torch.Generator().manual_seed(seed)
    state = module.initial_state(batch)
    onnx_states = [s.numpy() for s in _state_tensors(state)]
    worst_output = worst_state = 0.0
    with torch.no_grad():
        for _ in range(steps):
            inputs = torch.randn(batch, *example.shape[1:], generator=generator)
            dt = 0.01 + 0.2 * torch.rand(batch, generator=generator)
            output, state = module.step(inputs, dt, state)
            feeds = {input_name: inputs.numpy(), "dt": dt.numpy()}
            feeds.update({f"state_{i}": s for i, s in enumerate(onnx_states)})
            # A core that ignores the elapsed time (LSTM, feed-forward) exports a graph without dt.
            results = session.run(None, {name: value for name, value in feeds.items() if name in accepted})
            onnx_states = results[1:]
            worst_output = max(worst_output, float(np.abs(results[0] - output.numpy()).max()))
            for ours, theirs in zip(_state_tensors(state), onnx_states):
                worst_state = max(worst_state, float(np.abs(ours.numpy() - theirs).max()))
    return {"steps": steps, "batch": batch, "max_abs_output_error": worst_output, "max_abs_state_error": worst_state}
