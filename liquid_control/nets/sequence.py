"""Sequence modules (``CfC``, ``LTC``) with the ncps calling convention, and single-step stepping.

``forward(x, hx=None, timespans=None)`` takes (batch, time, features) with ``batch_first`` (or
(time, batch, features), or (time, features) unbatched) and returns ``(outputs, final_state)``,
like ``ncps.torch.CfC``/``LTC``. ``timespans`` gives the elapsed time of every step: a number, or
a (batch, time) tensor that is applied per sample (ncps 1.0.1 mis-broadcasts it for batch > 1).

``step(x, dt, state) -> (y, state)`` advances one step with an explicit elapsed time: what a
controller does at each tick. The state is plain tensors; ``initial_state`` makes a fresh one and
``describe_state`` names its parts by neuron role.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .cfc import CfCCell, WiredCfCCell
from .lstm import LSTMCell
from .ltc import LTCCell
from .ncps_wiring import wiring_from_ncps
from .validation import check_finite, elapsed_column, sequence_timespans
from .wirings import FullyConnected, Wiring

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class LiquidSequence(nn.Module):
    """What CfC and LTC share: input/state handling, the time loop, stepping and description."""

    kind = ""
    allow_zero_elapsed = True  # may a step have dt == 0?
    rnn_cell: nn.Module

    def __init__(self, input_size: int, return_sequences: bool, batch_first: bool, mixed_memory: bool):
        super().__init__()
        if isinstance(input_size, bool) or int(input_size) != input_size or input_size < 1:
            raise ValueError(f"input_size must be a positive integer, got {input_size!r}")
        self.input_size = int(input_size)
        self.return_sequences = bool(return_sequences)
        self.batch_first = bool(batch_first)
        self.use_mixed = bool(mixed_memory)
        # One NaN check per call; set False in a hot loop whose inputs are already checked.
        self.check_inputs = True

    # ----------------------------------------------------------------- sizes and state
    @property
    def state_size(self) -> int:
        return self.rnn_cell.state_size

    @property
    def output_size(self) -> int:
        raise NotImplementedError

    def initial_state(self, batch_size: int | None = 1, device=None, dtype=None) -> State:
        """A zero state for ``batch_size`` samples (``None``: unbatched, one sample without a batch axis)."""
        reference = next(self.parameters())
        shape = (self.state_size,) if batch_size is None else (int(batch_size), self.state_size)
        device = reference.device if device is None else device
        dtype = reference.dtype if dtype is None else dtype
        h = torch.zeros(shape, device=device, dtype=dtype)
        return (h, torch.zeros_like(h)) if self.use_mixed else h

    def state_roles(self) -> list[str]:
        """The role (motor/command/inter) of the neuron at each position of the state vector."""
        wiring = self.wiring
        return [wiring.get_type_of_neuron(i) for i in self.rnn_cell.state_neuron_ids()]

    def describe_state(self, state: State) -> dict[str, Any]:
        """Split a state into named parts: per role, the neuron ids and their values."""
        h = state[0] if self.use_mixed else state
        roles = self.state_roles()
        ids = self.rnn_cell.state_neuron_ids()
        description: dict[str, Any] = {}
        for role in dict.fromkeys(roles):
            positions = [i for i, r in enumerate(roles) if r == role]
            description[role] = {"neurons": [ids[i] for i in positions], "values": h[..., positions]}
        if self.use_mixed:
            description["lstm_memory"] = {"values": state[1]}
        return description

    # ----------------------------------------------------------------- forward over a sequence
    def forward(self, input: torch.Tensor, hx: State | None = None, timespans=None):
        if not isinstance(input, torch.Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(
                f"input has shape {tuple(input.shape)}; expected (batch, time, {self.input_size}) with batch_first, "
                f"(time, batch, {self.input_size}) without, or (time, {self.input_size}) unbatched"
            )
        self._check_features(input)
        batched = input.dim() == 3
        x = input if batched else input.unsqueeze(0 if self.batch_first else 1)
        if not self.batch_first:
            x = x.transpose(0, 1)
        batch, seq_len = x.shape[0], x.shape[1]
        if seq_len == 0:
            raise ValueError("input has no time steps")
        if self.check_inputs:
            check_finite(x, "input")
        if not batched and isinstance(timespans, torch.Tensor) and timespans.dim() >= 1:
            timespans = timespans.unsqueeze(0 if self.batch_first else 1)
        ts = sequence_timespans(timespans, batch, seq_len, self.batch_first, x, self.allow_zero_elapsed)
        h, c = self._unpack_state(hx, batch, batched, x)

        prepared = self.rnn_cell.prepare()
        drive = self.rnn_cell.precompute(x, prepared)
        memory_drive = self.lstm.precompute(x) if self.use_mixed else None
        outputs = []
        for t in range(seq_len):
            dt = 1.0 if ts is None else ts if isinstance(ts, float) else ts[:, t : t + 1]
            if self.use_mixed:
                h, c = self.lstm.step(memory_drive[:, t], (h, c))
            y, h = self.rnn_cell.step(drive[:, t], h, dt, prepared)
            if self.return_sequences:
                outputs.append(y)
        readout = self._readout(torch.stack(outputs, dim=1) if self.return_sequences else y)
        if self.return_sequences and not self.batch_first:
            readout = readout.transpose(0, 1)
        final = (h, c) if self.use_mixed else h
        if not batched:
            readout = readout.squeeze(0 if (self.batch_first or not self.return_sequences) else 1)
            final = (h[0], c[0]) if self.use_mixed else h[0]
        return readout, final

    # ----------------------------------------------------------------- one step
    def step(self, x: torch.Tensor, dt=1.0, state: State | None = None):
        """Advance one step of ``dt`` seconds: x is (batch, features) or (features,); returns (y, state)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() not in (1, 2):
            raise ValueError(f"x has shape {tuple(x.shape)}; expected (batch, {self.input_size}) or "
                             f"({self.input_size},)")
        self._check_features(x)
        batched = x.dim() == 2
        xb = x if batched else x.unsqueeze(0)
        if self.check_inputs:
            check_finite(xb, "input")
        dt = elapsed_column(dt, xb.shape[0], xb, allow_zero=self.allow_zero_elapsed)
        h, c = self._unpack_state(state, xb.shape[0], batched, xb)
        prepared = self.rnn_cell.prepare()
        if self.use_mixed:
            h, c = self.lstm.step(self.lstm.precompute(xb), (h, c))
        y, h = self.rnn_cell.step(self.rnn_cell.precompute(xb, prepared), h, dt, prepared)
        y = self._readout(y)
        if not batched:
            return y[0], ((h[0], c[0]) if self.use_mixed else h[0])
        return y, ((h, c) if self.use_mixed else h)

    # ----------------------------------------------------------------- helpers
    def _readout(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def _check_features(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input has {x.shape[-1]} features in its last axis; this network expects "
                             f"{self.input_size}")

    def _unpack_state(self, hx, batch: int, batched: bool, like: torch.Tensor):
        if hx is None:
            h = torch.zeros(batch, self.state_size, device=like.device, dtype=like.dtype)
            return h, (torch.zeros_like(h) if self.use_mixed else None)
        if self.use_mixed:
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise ValueError("with mixed_memory=True the state is a pair (h, c) of tensors")
            h, c = hx
        else:
            if not isinstance(hx, torch.Tensor):
                raise ValueError("the state must be a tensor (a pair (h, c) only with mixed_memory=True)")
            h, c = hx, None
        expected = (batch, self.state_size) if batched else (self.state_size,)
        for name, tensor in (("h", h), ("c", c)):
            if tensor is not None and tuple(tensor.shape) != expected:
                raise ValueError(f"state {name} has shape {tuple(tensor.shape)}, expected {expected}")
        if not batched:
            h = h.unsqueeze(0)
            c = c.unsqueeze(0) if c is not None else None
        return h, c

    # ----------------------------------------------------------------- description
    def architecture(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_architecture(cls, spec: dict[str, Any]) -> "LiquidSequence":
        spec = dict(spec)
        kind = spec.pop("kind", cls.kind)
        if kind != cls.kind:
            raise ValueError(f"architecture kind {kind!r} cannot build a {cls.__name__}")
        units = spec.pop("units")
        if isinstance(units, dict):
            units = Wiring.from_config(units["wiring"])
        try:
            return cls(units=units, **spec)
        except TypeError as exc:
            raise ValueError(f"architecture for {cls.kind!r} has an unknown or missing field: {exc}") from exc


def _units_spec(units) -> Any:
    return {"wiring": units.to_config()} if isinstance(units, Wiring) else int(units)


def _as_wiring(units):
    """Accept our Wiring, an ncps wiring (converted) or an int."""
    if isinstance(units, Wiring) or isinstance(units, int):
        return units
    if hasattr(units, "adjacency_matrix") and hasattr(units, "get_neurons_of_layer"):
        return wiring_from_ncps(units)
    raise TypeError(f"units must be an int or a Wiring, got {type(units).__name__}")


class CfC(LiquidSequence):
    """A CfC network over sequences; ``units`` is a neuron count (dense cell with backbone) or a Wiring."""

    kind = "cfc"
    allow_zero_elapsed = True

    def __init__(
        self,
        input_size: int,
        units,
        proj_size: int | None = None,
        return_sequences: bool = True,
        batch_first: bool = True,
        mixed_memory: bool = False,
        mode: str = "default",
        activation: str = "lecun_tanh",
        backbone_units: int | None = None,
        backbone_layers: int | None = None,
        backbone_dropout: float | None = None,
    ):
        super().__init__(input_size, return_sequences, batch_first, mixed_memory)
        units = _as_wiring(units)
        self.proj_size = proj_size
        self.mode = mode
        self.activation = activation
        self.wired = isinstance(units, Wiring)
        if self.wired:
            backbone = (("backbone_units", backbone_units), ("backbone_layers", backbone_layers),
                        ("backbone_dropout", backbone_dropout))
            for name, value in backbone:
                if value is not None:
                    raise ValueError(f"{name} does not apply to a wired CfC (the wiring decides the structure); "
                                     "leave it unset")
            self.wiring = units
            self.rnn_cell = WiredCfCCell(input_size, units, mode)
            self.backbone_units = self.backbone_layers = self.backbone_dropout = None
            cell_output = self.rnn_cell.output_size
            readout_features = units.output_dim
            if proj_size is not None and cell_output != readout_features:
                raise ValueError(
                    f"a wired CfC outputs its last layer ({cell_output} neurons) but the wiring declares "
                    f"output_dim={readout_features}; give the wiring output_dim={cell_output} to use proj_size"
                )
        else:
            self.backbone_units = 128 if backbone_units is None else int(backbone_units)
            self.backbone_layers = 1 if backbone_layers is None else int(backbone_layers)
            self.backbone_dropout = 0.0 if backbone_dropout is None else float(backbone_dropout)
            # A dense CfC is all-to-all; this wiring only describes it (roles, pictures).
            self.wiring = FullyConnected(int(units))
            self.wiring.build(self.input_size)
            self.rnn_cell = CfCCell(
                input_size, int(units), mode, activation, self.backbone_units, self.backbone_layers,
                self.backbone_dropout)
            readout_features = int(units)
        if self.use_mixed:
            self.lstm = LSTMCell(input_size, self.state_size)
        self.fc = nn.Identity() if proj_size is None else nn.Linear(readout_features, int(proj_size))
        self._units = units

    @property
    def output_size(self) -> int:
        return self.rnn_cell.output_size if self.proj_size is None else int(self.proj_size)

    def _readout(self, y: torch.Tensor) -> torch.Tensor:
        return self.fc(y)

    def architecture(self) -> dict[str, Any]:
        spec = {
            "kind": self.kind,
            "input_size": self.input_size,
            "units": _units_spec(self._units),
            "proj_size": self.proj_size,
            "return_sequences": self.return_sequences,
            "batch_first": self.batch_first,
            "mixed_memory": self.use_mixed,
            "mode": self.mode,
            "activation": self.activation,
        }
        if not self.wired:
            spec.update(backbone_units=self.backbone_units, backbone_layers=self.backbone_layers,
                        backbone_dropout=self.backbone_dropout)
        return spec


class LTC(LiquidSequence):
    """An LTC network over sequences; ``units`` is a neuron count (fully connected) or a Wiring."""

    kind = "ltc"
    allow_zero_elapsed = False  # the solver divides by the step length

    def __init__(
        self,
        input_size: int,
        units,
        return_sequences: bool = True,
        batch_first: bool = True,
        mixed_memory: bool = False,
        input_mapping: str = "affine",
        output_mapping: str = "affine",
        ode_unfolds: int = 6,
        epsilon: float = 1e-8,
        implicit_param_constraints: bool = True,
        time_scale: float = 1.0,
    ):
        super().__init__(input_size, return_sequences, batch_first, mixed_memory)
        units = _as_wiring(units)
        self._units = units
        self.wiring = units if isinstance(units, Wiring) else FullyConnected(int(units))
        self.rnn_cell = LTCCell(
            self.wiring,
            in_features=input_size,
            input_mapping=input_mapping,
            output_mapping=output_mapping,
            ode_unfolds=ode_unfolds,
            epsilon=epsilon,
            implicit_param_constraints=implicit_param_constraints,
            time_scale=time_scale,
        )
        if self.use_mixed:
            self.lstm = LSTMCell(input_size, self.state_size)

    @property
    def output_size(self) -> int:
        return self.rnn_cell.output_size

    def apply_weight_constraints(self) -> None:
        self.rnn_cell.apply_weight_constraints()

    def architecture(self) -> dict[str, Any]:
        cell = self.rnn_cell
        return {
            "kind": self.kind,
            "input_size": self.input_size,
            "units": _units_spec(self._units),
            "return_sequences": self.return_sequences,
            "batch_first": self.batch_first,
            "mixed_memory": self.use_mixed,
            "input_mapping": cell.input_mapping,
            "output_mapping": cell.output_mapping,
            "ode_unfolds": cell.ode_unfolds,
            "epsilon": cell.epsilon,
            "implicit_param_constraints": cell.implicit_param_constraints,
            "time_scale": cell.time_scale,
        }
