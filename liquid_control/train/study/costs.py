"""What a trained policy costs to run: its parameters (stored, and wired where an NCP masks them) and
the arithmetic of one control step, counted by torch's ``FlopCounterMode``.

``FlopCounterMode`` counts matrix products and convolutions only (2 FLOPs a multiply-add). A liquid
cell is mostly element-wise arithmetic (an LTC's synapses are broadcast products summed, once per ODE
unfold), and torch's LSTM is one fused op it cannot see into. So the count here also runs ops that
have no FLOP formula through torch's reference decompositions (``torch._decomp``: the LSTM becomes
its matrix products and gates), and counts every op torch tags pointwise as one FLOP per output
element and every reduction as one per element folded. What is counted is what the ``torch``
runtime backend runs per step: the head on the frame, the core on its features (weights prepared
once at load, as the engine does).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch._decomp import decomposition_table
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

OUTPUT_MAPS = ("readout", "fc", "output_w", "output_b")  # a core's parameters that map its state to commands
# Tagged pointwise by torch, but data movement, no arithmetic.
COPIES = frozenset({"clone", "_to_copy", "copy", "lift_fresh_copy", "detach", "alias"})


# ====================================================================== parameters
def _mask_for(name: str, shape: torch.Size, masks: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """The sparsity mask that gates parameter ``name``: one of the same shape in its module or the
    module above (the LTC's synapse tensors, a wired CfC layer's weights); sensory_* by the sensory mask."""
    parts = name.split(".")
    leaf = parts[-1] if parts[-1] not in ("weight", "bias") else parts[-2]
    for depth in (len(parts) - 1, len(parts) - 2):
        prefix = ".".join(parts[:depth])
        kinds = ("sensory_sparsity_mask",) if leaf.startswith("sensory_") else ("sparsity_mask",)
        for kind in kinds:
            mask = masks.get(f"{prefix}.{kind}" if prefix else kind)
            if mask is not None and mask.shape == shape:
                return mask
    return None


def _counts(module: torch.nn.Module | None, skip: Callable[[str], bool] = lambda name: False) -> tuple[int, int]:
    """(stored, wired) parameter counts of ``module``, leaving out the parameters ``skip`` names."""
    if module is None:
        return 0, 0
    masks = {name: buffer for name, buffer in module.named_buffers() if name.endswith("sparsity_mask")}
    stored = wired = 0
    for name, parameter in module.named_parameters():
        if skip(name):
            continue
        stored += parameter.numel()
        mask = _mask_for(name, parameter.shape, masks)
        wired += parameter.numel() if mask is None else int((mask != 0).sum())
    return stored, wired


def _is_output_map(name: str) -> bool:
    return any(part in OUTPUT_MAPS for part in name.split("."))


def parameter_counts(module: torch.nn.Module) -> dict[str, int]:
    """Parameters of a camera ``Policy`` (or a bare core) by part: the conv head, the recurrent core
    without its output map, the output map, and the total; ``*_wired`` count an NCP's masked weights
    by their synapses only (equal to the stored count for dense networks)."""
    head = getattr(module, "head", None)
    core = getattr(module, "core", module)
    head_stored, head_wired = _counts(head)
    recurrent = _counts(core, _is_output_map)
    output = _counts(core, lambda name: not _is_output_map(name))
    total = _counts(module)
    return {"head": head_stored, "recurrent": recurrent[0], "recurrent_wired": recurrent[1], "output": output[0],
            "total": total[0], "total_wired": total[1]}


# ====================================================================== FLOPs
def _numel(shape) -> int:
    return math.prod(shape) if isinstance(shape, torch.Size) else sum(_numel(s) for s in shape)


def _pointwise_flops(*args, out_shape=None, **kwargs) -> int:
    return _numel(out_shape)


def _reduction_flops(*args, out_shape=None, **kwargs) -> int:
    folded = next((arg for arg in args if isinstance(arg, torch.Size)), None)
    return 0 if folded is None else max(_numel(folded) - _numel(out_shape), 0)


def _kind(packet) -> str | None:
    if packet.__name__ in COPIES:
        return None
    tags = set().union(*(getattr(packet, overload).tags for overload in packet.overloads()))
    if torch.Tag.reduction in tags:
        return "reduction"
    return "pointwise" if torch.Tag.pointwise in tags else None


class _Decomposing(TorchDispatchMode):
    """Runs ops that have no FLOP formula through torch's reference decompositions, or their composite
    parts (recursively), so that the counter sees their arithmetic; records the element-wise ops it meets."""

    def __init__(self):
        super().__init__()
        self.elementwise: dict = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func._overloadpacket
        kind = _kind(packet)
        if kind is not None:
            self.elementwise[packet] = kind
        elif packet not in flop_registry:
            with self:
                if func in decomposition_table:
                    return decomposition_table[func](*args, **kwargs)
                result = func.decompose(*args, **kwargs)  # a composite op (layer_norm) into its parts
                if result is not NotImplemented:
                    return result
        return func(*args, **kwargs)


@dataclass
class FlopCount:
    """The arithmetic of one call: multiply-adds of matrix products and convolutions, element-wise
    operations, and FLOPs = 2 x multiply-adds + element-wise; ``by_op`` gives FLOPs per aten op."""

    multiply_adds: int
    elementwise: int
    by_op: dict[str, int] = field(default_factory=dict)

    @property
    def flops(self) -> int:
        return 2 * self.multiply_adds + self.elementwise

    def as_dict(self) -> dict:
        return {"flops": self.flops, "multiply_adds": self.multiply_adds, "elementwise": self.elementwise,
                "by_op": dict(sorted(self.by_op.items()))}


def count_flops(call: Callable[[], object]) -> FlopCount:
    """The FLOPs of ``call()``, run twice: once to find the element-wise ops it uses, once to count."""
    finder = _Decomposing()
    # Without oneDNN, torch's LSTM decomposes into matrix products and gates rather than one fused op.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the oneDNN flags' note about TF32 on Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False):
            with finder:
                call()
            mapping = {packet: _pointwise_flops if kind == "pointwise" else _reduction_flops
                       for packet, kind in finder.elementwise.items() if packet not in flop_registry}
            counter = FlopCounterMode(display=False, custom_mapping=mapping)
            with counter, _Decomposing():
                call()
    by_op: dict[str, int] = defaultdict(int)
    multiply_adds = elementwise = 0
    for packet, flops in counter.get_flop_counts().get("Global", {}).items():
        by_op[str(packet).removeprefix("aten.")] += flops
        if packet in mapping:
            elementwise += flops
        else:
            multiply_adds += flops // 2
    return FlopCount(multiply_adds, elementwise, dict(by_op))


def policy_step_flops(module: torch.nn.Module, dt: float = 0.05) -> dict[str, dict]:
    """FLOPs of one control step of ``module`` (a camera ``Policy`` or a bare core) as the ``torch``
    runtime backend runs it at batch 1: ``head`` (frame -> features), ``core`` (features -> commands,
    the output map included) and ``step`` (both)."""
    from liquid_control.runtime.engines import TorchEngine

    engine = TorchEngine(module, threads=1)
    inputs = np.zeros((1, *engine.input_shape), dtype=np.float32)
    state = engine.initial_state(1)
    engine.step(inputs, dt, state)  # anything built on first use is built outside the count
    result = {"step": count_flops(lambda: engine.step(inputs, dt, state))}
    if engine.kind == "policy":
        features = engine.features(inputs)
        result["head"] = count_flops(lambda: engine.features(inputs))
        result["core"] = count_flops(lambda: engine.step_features(features, dt, state))
    else:
        result["core"] = result["step"]
    return {part: count.as_dict() for part, count in result.items()}
