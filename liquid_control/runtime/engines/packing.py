"""Packing a trained liquid core's weights for the native kernels (``runtime.kernels``), once at load.

``pack_core`` reads a CfC or LTC core (the masked and fused weights its cell prepares, in float64)
and returns a ``PackedCore``: the arrays the kernels take and which kernels step it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .base import BackendUnavailable


@dataclass
class PackedCore:
    """A core's weights in the kernels' layout. ``kind``: ltc, cfc_layers or cfc_backbone."""

    kind: str
    state_size: int
    output_slice: slice  # the outputs within the state
    mixed: bool = False
    lstm: tuple | None = None  # mixed memory: (input_w, input_b, recurrent_w)
    packed: tuple | None = None  # ltc and cfc_layers: (float64 weights, int layout) for ``kernel``
    packed32: np.ndarray | None = None  # the same weights in float32 for ``batch_kernel``
    kernel: Callable | None = None
    batch_kernel: Callable | None = None
    mode: int = 0  # CfC mode code
    pure: tuple = ()  # CfC pure mode: (taus, amps)
    backbone: tuple | None = None  # cfc_backbone: the backbone's arrays and activation code
    readout: tuple | None = None  # ltc: (output_w, output_b)
    fc: tuple | None = None  # a CfC's output layer: (weight, bias)


def _f64(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().double().numpy())


def pack_core(core, kernels: Any) -> PackedCore:
    """The weights of ``core`` (a CfC or LTC sequence module) for ``kernels`` (the kernels module)."""
    from liquid_control.nets.sequence import LTC, CfC

    if not isinstance(core, (CfC, LTC)):
        raise BackendUnavailable(f"the native backend runs CfC and LTC cores, not {type(core).__name__}")
    lstm = None
    if core.use_mixed:
        memory = core.lstm
        lstm = (_f64(memory.input_map.weight), _f64(memory.input_map.bias), _f64(memory.recurrent_map.weight))
    with torch.no_grad():
        if isinstance(core, LTC):
            packed = _pack_ltc(core.rnn_cell, core.state_size, kernels)
        else:
            packed = _pack_cfc(core, kernels)
    packed.mixed, packed.lstm = core.use_mixed, lstm
    return packed


def _pack_ltc(cell, state_size: int, k) -> PackedCore:
    prepared = cell.prepare()
    inputs, outputs = cell.input_size, cell.output_size
    packed = k.pack_ltc(
        cell.sensory_sparsity_mask.numpy(), cell.sparsity_mask.numpy(), cell.ode_unfolds, cell.epsilon,
        input_w=_f64(cell.input_w) if cell.input_mapping in ("affine", "linear") else np.ones(inputs),
        input_b=_f64(cell.input_b) if cell.input_mapping == "affine" else np.zeros(inputs),
        s_sigma=_f64(cell.sensory_sigma), s_mu=_f64(cell.sensory_mu), s_w=_f64(prepared.sensory_w),
        s_w_erev=_f64(prepared.sensory_w_erev), r_sigma=_f64(cell.sigma), r_mu=_f64(cell.mu), r_w=_f64(prepared.w),
        r_w_erev=_f64(prepared.w_erev), cm=_f64(prepared.cm), gleak=_f64(prepared.gleak),
        gleak_vleak=_f64(prepared.gleak_vleak))
    readout = (_f64(cell.output_w) if cell.output_mapping in ("affine", "linear") else np.ones(outputs),
               _f64(cell.output_b) if cell.output_mapping == "affine" else np.zeros(outputs))
    return PackedCore("ltc", state_size, slice(0, outputs), packed=packed, packed32=packed[0].astype(np.float32),
                      kernel=k.ltc_step, batch_kernel=k.ltc_step_batch, readout=readout)


def _pack_cfc(core, k) -> PackedCore:
    from liquid_control.nets.cfc import CfCCell, WiredCfCCell

    cell = core.rnn_cell
    cells = cell.layers if isinstance(cell, WiredCfCCell) else [cell]
    mode = k.MODE_CODES[cells[0].mode]
    pure = mode == k.MODE_CODES["pure"]
    taus = np.concatenate([_f64(c.w_tau).reshape(-1) for c in cells]) if pure else np.zeros(1)
    amps = np.concatenate([_f64(c.A).reshape(-1) for c in cells]) if pure else np.zeros(1)
    state_size, outputs = core.state_size, cell.output_size
    fc = None if isinstance(core.fc, torch.nn.Identity) else (_f64(core.fc.weight), _f64(core.fc.bias))
    packed = PackedCore("cfc_layers", state_size, slice(state_size - outputs, state_size), mode=mode, pure=(taus, amps),
                        fc=fc)
    if isinstance(cell, CfCCell) and cell.backbone is not None:
        prepared = cell.prepare()
        linears = [m for m in cell._backbone_rest if isinstance(m, torch.nn.Linear)]
        units = cell.backbone_units
        hidden_w = np.stack([_f64(m.weight) for m in linears]) if linears else np.zeros((0, units, units))
        hidden_b = np.stack([_f64(m.bias) for m in linears]) if linears else np.zeros((0, units))
        packed.kind = "cfc_backbone"
        packed.backbone = (np.concatenate([_f64(prepared.first_input_w), _f64(prepared.first_state_w)], axis=1),
                           _f64(prepared.first_b), hidden_w, hidden_b, _f64(prepared.heads_w), _f64(prepared.heads_b),
                           k.ACTIVATION_CODES[cell.backbone_activation])
        return packed
    blocks = []
    for layer in cells:
        prepared = layer.prepare()
        blocks.append((np.concatenate([_f64(prepared.first_input_w), _f64(prepared.first_state_w)], axis=1),
                       _f64(prepared.first_b)))
    packed.packed = k.pack_cfc_layers(blocks, mode, taus, amps)
    packed.packed32 = packed.packed[0].astype(np.float32)
    packed.kernel, packed.batch_kernel = k.cfc_layers_step, k.cfc_layers_step_batch
    return packed
