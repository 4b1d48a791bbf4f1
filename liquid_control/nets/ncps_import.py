"""Bring models trained with the reference library ``ncps`` (1.0.1, torch) into liquid_control.

``from_ncps(module)`` reads the constructor settings off a live ``ncps.torch`` module and copies
its weights; ``from_ncps_state_dict(state_dict, ...)`` does the same from a plain ``state_dict``
given the constructor arguments. Either way the sparsity masks and reversal potentials come from
the checkpoint, never from regenerating a wiring, and the returned module's wiring is updated to
the synapses the checkpoint actually holds. ``ncps`` itself is only needed for ``from_ncps``
(the module is inspected, not imported from).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from .cfc import CfCCell, WiredCfCCell
from .ltc import LTCCell
from .ncps_wiring import wiring_from_ncps
from .sequence import LTC, CfC
from .weights import load_weights
from .wirings import Wiring

_ACTIVATION_NAMES = {"LeCun": "lecun_tanh", "SiLU": "silu", "ReLU": "relu", "Tanh": "tanh", "GELU": "gelu"}


def from_ncps(module: nn.Module) -> nn.Module:
    """Our equivalent of an ``ncps.torch`` CfC, LTC, CfCCell, WiredCfCCell or LTCCell, with its weights."""
    name = type(module).__name__
    if not type(module).__module__.startswith("ncps."):
        raise TypeError(f"from_ncps expects a module from ncps.torch, got {type(module).__module__}.{name}")
    if name == "CfC":
        ours = CfC(input_size=module.input_size, units=_units_of(module.wiring_or_units), **_cfc_settings(module))
    elif name == "LTC":
        ours = LTC(input_size=module.input_size, units=_units_of(module.wiring_or_units), **_ltc_settings(module))
    elif name == "CfCCell":
        ours = CfCCell(module.input_size, module.hidden_size, **_cfc_cell_settings(module))
    elif name == "WiredCfCCell":
        ours = WiredCfCCell(None, wiring_from_ncps(module._wiring), mode=module._layers[0].mode)
    elif name == "LTCCell":
        ours = LTCCell(wiring_from_ncps(module._wiring), **_ltc_cell_settings(module))
    else:
        raise TypeError(f"no liquid_control equivalent for ncps module {name}; supported: CfC, LTC, CfCCell, "
                        "WiredCfCCell, LTCCell")
    reference = next(module.parameters())
    ours = ours.to(device=reference.device, dtype=reference.dtype)
    load_weights(ours, module.state_dict(), source=f"ncps {name}")
    adopt_checkpoint_masks(ours)
    return ours.train(module.training)


def from_ncps_state_dict(state_dict: Mapping[str, torch.Tensor], kind: str, input_size: int, units,
                         **settings) -> nn.Module:
    """Build our ``CfC``/``LTC`` from ncps constructor arguments and load an ncps ``state_dict`` into it.

    ``units`` is an int, an ncps wiring or one of ours; its synapses are replaced by the masks
    in ``state_dict``. A state dict of a bare cell (keys without ``rnn_cell.``) is accepted too.
    """
    kinds = {"cfc": CfC, "ltc": LTC}
    if kind not in kinds:
        raise ValueError(f"kind must be one of {sorted(kinds)}, got {kind!r}")
    if not isinstance(units, (int, Wiring)):
        if getattr(units, "input_dim", None) is None:
            units.build(input_size)
        units = wiring_from_ncps(units)
    ours = kinds[kind](input_size=input_size, units=units, **settings)
    state = dict(state_dict)
    if state and not any(key.startswith("rnn_cell.") for key in state):
        state = {f"rnn_cell.{key}": value for key, value in state.items()}
    load_weights(ours, state, source="ncps state_dict")
    adopt_checkpoint_masks(ours)
    return ours


def adopt_checkpoint_masks(module: nn.Module) -> None:
    """Make ``module.wiring`` list exactly the synapses its (loaded) masks hold.

    A synapse kept from the wiring keeps its sign; a synapse only the checkpoint has takes the
    sign of its reversal potential (LTC) or +1 (CfC, which ignores signs).
    """
    cell = module.rnn_cell if hasattr(module, "rnn_cell") else module
    if isinstance(cell, LTCCell):
        wiring = cell.wiring
        wiring.adjacency_matrix = _signed(cell.sparsity_mask, wiring.adjacency_matrix, cell.erev)
        wiring.sensory_adjacency_matrix = _signed(cell.sensory_sparsity_mask, wiring.sensory_adjacency_matrix,
                                                  cell.sensory_erev)
    elif isinstance(cell, WiredCfCCell):
        wiring = cell.wiring
        for index, (layer, neurons) in enumerate(zip(cell.layers, wiring.layers)):
            incoming = layer.sparsity_mask.t()[: layer.input_size]  # (sources, this layer)
            if index == 0:
                block = wiring.sensory_adjacency_matrix[:, neurons]
                wiring.sensory_adjacency_matrix[:, neurons] = _signed(incoming, block, None)
            else:
                rows = np.ix_(wiring.layers[index - 1], neurons)
                wiring.adjacency_matrix[rows] = _signed(incoming, wiring.adjacency_matrix[rows], None)


def _signed(mask: torch.Tensor, polarity: np.ndarray, erev: torch.Tensor | None) -> np.ndarray:
    present = mask.detach().cpu().numpy() != 0
    fallback = np.ones_like(polarity) if erev is None else np.where(erev.detach().cpu().numpy() < 0, -1, 1)
    signs = np.where(polarity != 0, np.sign(polarity), fallback)
    return np.where(present, signs, 0).astype(np.int32)


def _units_of(wiring_or_units):
    return int(wiring_or_units) if isinstance(wiring_or_units, int) else wiring_from_ncps(wiring_or_units)


def _cfc_settings(module) -> dict[str, Any]:
    cell = module.rnn_cell
    settings: dict[str, Any] = {
        "proj_size": module.proj_size,
        "return_sequences": module.return_sequences,
        "batch_first": module.batch_first,
        "mixed_memory": module.use_mixed,
    }
    if type(cell).__name__ == "WiredCfCCell":
        settings["mode"] = cell._layers[0].mode
    else:
        cell_settings = _cfc_cell_settings(cell)
        settings.update(
            mode=cell_settings["mode"],
            activation=cell_settings["backbone_activation"],
            backbone_units=cell_settings["backbone_units"],
            backbone_layers=cell_settings["backbone_layers"],
            backbone_dropout=cell_settings["backbone_dropout"],
        )
    return settings


def _cfc_cell_settings(cell) -> dict[str, Any]:
    backbone = list(cell.backbone) if cell.backbone is not None else []
    activation = next((_ACTIVATION_NAMES[type(m).__name__] for m in backbone if type(m).__name__ in _ACTIVATION_NAMES),
                      "lecun_tanh")
    dropout = next((m.p for m in backbone if isinstance(m, nn.Dropout)), 0.0)
    sparsity = cell.sparsity_mask
    return {
        "mode": cell.mode,
        "backbone_activation": activation,
        "backbone_units": backbone[0].out_features if backbone else 0,
        "backbone_layers": cell.backbone_layers,
        "backbone_dropout": dropout,
        "sparsity_mask": None if sparsity is None else sparsity.detach().cpu().numpy().T,
    }


def _ltc_cell_settings(cell) -> dict[str, Any]:
    return {
        "input_mapping": _mapping(cell._input_mapping),
        "output_mapping": _mapping(cell._output_mapping),
        "ode_unfolds": cell._ode_unfolds,
        "epsilon": cell._epsilon,
        "implicit_param_constraints": cell._implicit_param_constraints,
    }


def _ltc_settings(module) -> dict[str, Any]:
    return {
        "return_sequences": module.return_sequences,
        "batch_first": module.batch_first,
        "mixed_memory": module.use_mixed,
        **_ltc_cell_settings(module.rnn_cell),
    }


def _mapping(value) -> str:
    # ncps applies no mapping for any value other than "affine" or "linear".
    return value if value in ("affine", "linear") else "none"
