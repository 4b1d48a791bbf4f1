"""The Closed-form Continuous-time (CfC) cell (Hasani et al., Nature Machine Intelligence 2022).

A CfC replaces the LTC's numerical ODE solve by a learned closed-form approximation of its
solution at elapsed time ``t``. From the input and the current state (optionally through a
"backbone" MLP) it computes two candidate states ``f1``, ``f2`` and a time gate:

    default:  h' = tanh(f1) * (1 - s) + s * tanh(f2),   s = sigmoid(a * t + b)
    no_gate:  h' = tanh(f1) + s * tanh(f2)
    pure:     h' = -A * exp(-t * (|w_tau| + |f1|)) * f1 + A        (the direct solution form)

``WiredCfCCell`` stacks one small CfC per wiring layer (inter -> command -> motor for an NCP) with
the wiring's synapses as a mask on the ``f1``/``f2`` weights.

Parameter names, layout, initialisation and its order of random draws follow ``ncps.torch``
1.0.1, so weights move between the libraries unchanged. The computation is reorganised for
speed: the four heads (f1, f2, a, b) are one fused matrix product, and the part of the first
linear map that sees the input is computed for a whole sequence at once (``precompute``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .validation import elapsed_column
from .wirings import Wiring, layered_order

MODES = ("default", "pure", "no_gate")


class LeCunTanh(nn.Module):
    """LeCun's scaled tanh, 1.7159 * tanh(0.666 x): keeps unit variance for unit-variance input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(0.666 * x)


ACTIVATIONS = {"lecun_tanh": LeCunTanh, "silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


class CfCPrepared(NamedTuple):
    """The weights of one step, fused and masked; computed once per sequence."""

    first_input_w: torch.Tensor  # first linear map, columns that see the input
    first_state_w: torch.Tensor  # first linear map, columns that see the state
    first_b: torch.Tensor
    heads_w: torch.Tensor | None  # heads after a backbone (None: the first map *is* the heads)
    heads_b: torch.Tensor | None


class CfCCell(nn.Module):
    """One CfC step: ``forward(inputs, hx, ts) -> (output, next_hx)`` (output == next_hx)."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        mode: str = "default",
        backbone_activation: str = "lecun_tanh",
        backbone_units: int = 128,
        backbone_layers: int = 1,
        backbone_dropout: float = 0.0,
        sparsity_mask: np.ndarray | None = None,
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown CfC mode {mode!r}; choose one of {MODES}")
        if backbone_activation not in ACTIVATIONS:
            raise ValueError(f"unknown backbone activation {backbone_activation!r}; "
                             f"choose one of {sorted(ACTIVATIONS)}")
        if backbone_layers < 0 or (backbone_layers > 0 and backbone_units < 1):
            raise ValueError("backbone needs layers >= 0 and units >= 1 "
                             f"(got {backbone_layers} layers of {backbone_units})")
        if not 0.0 <= backbone_dropout < 1.0:
            raise ValueError(f"backbone_dropout must be in [0, 1), got {backbone_dropout}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.mode = mode
        self.backbone_activation = backbone_activation
        self.backbone_units = int(backbone_units)
        self.backbone_layers = int(backbone_layers)
        self.backbone_dropout = float(backbone_dropout)
        if sparsity_mask is None:
            self.sparsity_mask = None
        else:
            mask = np.abs(np.asarray(sparsity_mask, dtype=np.float32))
            expected = (self.input_size + self.hidden_size, self.hidden_size)
            if mask.shape != expected:
                raise ValueError(f"sparsity_mask has shape {mask.shape}, "
                                 f"expected (inputs + hidden, hidden) = {expected}")
            # Stored as (hidden, inputs + hidden), the layout of the Linear weights it masks.
            self.register_buffer("sparsity_mask", torch.from_numpy(np.ascontiguousarray(mask.T)))

        self.backbone = None
        if backbone_layers > 0:
            activation = ACTIVATIONS[backbone_activation]
            layers: list[nn.Module] = [nn.Linear(self.input_size + self.hidden_size, backbone_units), activation()]
            for _ in range(1, backbone_layers):
                layers += [nn.Linear(backbone_units, backbone_units), activation()]
                if backbone_dropout > 0.0:
                    layers.append(nn.Dropout(backbone_dropout))
            self.backbone = nn.Sequential(*layers)
        # What follows the first backbone Linear (which precompute/step split in two), kept as a
        # plain list so a step does not rebuild it.
        self._backbone_rest = list(self.backbone)[1:] if self.backbone is not None else []
        head_inputs = self.backbone_units if backbone_layers > 0 else self.input_size + self.hidden_size
        self.ff1 = nn.Linear(head_inputs, hidden_size)
        if mode == "pure":
            self.w_tau = nn.Parameter(torch.zeros(1, hidden_size))
            self.A = nn.Parameter(torch.ones(1, hidden_size))
        else:
            self.ff2 = nn.Linear(head_inputs, hidden_size)
            self.time_a = nn.Linear(head_inputs, hidden_size)
            self.time_b = nn.Linear(head_inputs, hidden_size)
        for param in self.parameters():
            if param.dim() == 2 and param.requires_grad:
                nn.init.xavier_uniform_(param)

    @property
    def state_size(self) -> int:
        return self.hidden_size

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def state_neuron_ids(self) -> list[int]:
        return list(range(self.hidden_size))

    # ----------------------------------------------------------------- computation
    def _heads(self) -> tuple[torch.Tensor, torch.Tensor]:
        mask = self.sparsity_mask
        ff1_w = self.ff1.weight if mask is None else self.ff1.weight * mask
        if self.mode == "pure":
            return ff1_w, self.ff1.bias
        ff2_w = self.ff2.weight if mask is None else self.ff2.weight * mask
        weight = torch.cat((ff1_w, ff2_w, self.time_a.weight, self.time_b.weight), dim=0)
        bias = torch.cat((self.ff1.bias, self.ff2.bias, self.time_a.bias, self.time_b.bias), dim=0)
        return weight, bias

    def prepare(self) -> CfCPrepared:
        heads_w, heads_b = self._heads()
        if self.backbone is None:
            first_w, first_b = heads_w, heads_b
            heads_w = heads_b = None
        else:
            first_w, first_b = self.backbone[0].weight, self.backbone[0].bias
        return CfCPrepared(
            first_input_w=first_w[:, : self.input_size],
            first_state_w=first_w[:, self.input_size :],
            first_b=first_b,
            heads_w=heads_w,
            heads_b=heads_b,
        )

    def precompute(self, inputs: torch.Tensor, prepared: CfCPrepared) -> torch.Tensor:
        """The input's share of the first linear map (bias included), for any leading shape."""
        return nn.functional.linear(inputs, prepared.first_input_w, prepared.first_b)

    def step(self, drive: torch.Tensor, hx: torch.Tensor, ts, prepared: CfCPrepared):
        z = drive + hx.matmul(prepared.first_state_w.t())
        if self.backbone is not None:
            for layer in self._backbone_rest:
                z = layer(z)
            z = nn.functional.linear(z, prepared.heads_w, prepared.heads_b)
        if self.mode == "pure":
            new_hidden = -self.A * torch.exp(-ts * (torch.abs(self.w_tau) + torch.abs(z))) * z + self.A
            return new_hidden, new_hidden
        ff1, ff2, t_a, t_b = z.chunk(4, dim=-1)
        ff1 = torch.tanh(ff1)
        ff2 = torch.tanh(ff2)
        gate = torch.sigmoid(t_a * ts + t_b)
        if self.mode == "no_gate":
            new_hidden = ff1 + gate * ff2
        else:
            new_hidden = ff1 * (1.0 - gate) + gate * ff2
        return new_hidden, new_hidden

    def forward(self, inputs: torch.Tensor, hx: torch.Tensor, ts=1.0):
        ts = elapsed_column(ts, inputs.shape[0], inputs, allow_zero=True)
        prepared = self.prepare()
        return self.step(self.precompute(inputs, prepared), hx, ts, prepared)


class WiredCfCCell(nn.Module):
    """A CfC whose neurons are wired by a ``Wiring``: one masked CfC per layer, computed in order.

    The state vector holds the layers one after another (for an NCP: inter, command, motor);
    the output is the last layer's state.
    """

    def __init__(self, input_size: int | None, wiring: Wiring, mode: str = "default"):
        super().__init__()
        if input_size is not None:
            wiring.build(input_size)
        if not wiring.is_built():
            raise ValueError("the wiring does not know its input size: pass input_size or call wiring.build(input_dim)")
        self.wiring = wiring
        self.mode = mode
        self.layer_sizes = [len(layer) for layer in wiring.layers]
        in_features = wiring.input_dim
        for index, neurons in enumerate(wiring.layers):
            if index == 0:
                incoming = wiring.sensory_adjacency_matrix[:, neurons]
            else:
                incoming = wiring.adjacency_matrix[np.ix_(wiring.layers[index - 1], neurons)]
            # A layer's own neurons feed each other densely; the wiring masks only what comes in.
            mask = np.concatenate([incoming, np.ones((len(neurons), len(neurons)))], axis=0)
            cell = CfCCell(in_features, len(neurons), mode, "lecun_tanh", 0, 0, 0.0, sparsity_mask=mask)
            self.add_module(f"layer_{index}", cell)
            in_features = len(neurons)
        # Registered above as layer_0, layer_1, ... (the ncps state-dict names); also kept in order here.
        self.layers: list[CfCCell] = [getattr(self, f"layer_{i}") for i in range(len(self.layer_sizes))]

    @property
    def input_size(self) -> int:
        return self.wiring.input_dim

    @property
    def state_size(self) -> int:
        return self.wiring.units

    @property
    def output_size(self) -> int:
        return self.layer_sizes[-1]

    def state_neuron_ids(self) -> list[int]:
        return list(layered_order(self.wiring))

    def prepare(self) -> list[CfCPrepared]:
        return [layer.prepare() for layer in self.layers]

    def precompute(self, inputs: torch.Tensor, prepared: list[CfCPrepared]) -> torch.Tensor:
        return self.layers[0].precompute(inputs, prepared[0])

    def step(self, drive: torch.Tensor, hx: torch.Tensor, ts, prepared: list[CfCPrepared]):
        states = torch.split(hx, self.layer_sizes, dim=-1)
        layers = self.layers
        h, _ = layers[0].step(drive, states[0], ts, prepared[0])
        new_states = [h]
        for layer, state, weights in zip(layers[1:], states[1:], prepared[1:]):
            h, _ = layer.step(layer.precompute(h, weights), state, ts, weights)
            new_states.append(h)
        return h, torch.cat(new_states, dim=-1)

    def forward(self, inputs: torch.Tensor, hx: torch.Tensor, ts=1.0):
        ts = elapsed_column(ts, inputs.shape[0], inputs, allow_zero=True)
        prepared = self.prepare()
        return self.step(self.precompute(inputs, prepared), hx, ts, prepared)
