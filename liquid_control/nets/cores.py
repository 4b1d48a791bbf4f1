"""The cores a ``Policy``'s conv head feeds, built from their architecture dict (``build_core``):
the liquid ``CfC``/``LTC`` sequences, and the baselines written here with the same stepping
interface: torch's LSTM and GRU (elapsed time ignored), a continuous-time RNN advanced by the real
elapsed time, and a feed-forward readout without state."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .sequence import LTC, CfC
from .validation import elapsed_column, sequence_timespans


def _map_state(state, function):
    """``function`` applied to a state's tensor, or to each tensor of an (h, c) state."""
    return tuple(function(s) for s in state) if isinstance(state, tuple) else function(state)


class _TorchRNNCore(nn.Module):
    """One of torch's discrete-time RNNs with the stepping interface of the liquid cores (elapsed
    time accepted and ignored) and a linear readout. The state is (h, c) for an LSTM, h for a GRU."""

    kind = ""
    rnn_class: type[nn.Module] = nn.Module

    def __init__(self, input_size: int, hidden_size: int, outputs: int):
        super().__init__()
        self.input_size, self.hidden_size, self.outputs = int(input_size), int(hidden_size), int(outputs)
        # Named after the kind ("lstm", "gru"): the name the weights are saved under.
        setattr(self, self.kind, self.rnn_class(input_size, hidden_size, batch_first=True))
        self.readout = nn.Linear(hidden_size, outputs)

    @property
    def output_size(self) -> int:
        return self.outputs

    def initial_state(self, batch_size: int | None, device=None, dtype=None):
        shape = (self.hidden_size,) if batch_size is None else (int(batch_size), self.hidden_size)
        h = torch.zeros(shape, device=device, dtype=dtype)
        return (h, torch.zeros_like(h)) if self.kind == "lstm" else h

    def forward(self, x, hx=None, timespans=None):
        """x (batch, time, features) -> outputs (batch, time, outputs), final state."""
        y, final = getattr(self, self.kind)(x, None if hx is None else _map_state(hx, lambda s: s.unsqueeze(0)))
        return self.readout(y), _map_state(final, lambda s: s[0])

    def step(self, x, dt=1.0, state=None):
        batched = x.dim() == 2
        xb = x if batched else x.unsqueeze(0)
        hx = None if state is None or batched else _map_state(state, lambda s: s.unsqueeze(0))
        y, new = self.forward(xb.unsqueeze(1), state if batched else hx)
        y = y[:, 0]
        return (y, new) if batched else (y[0], _map_state(new, lambda s: s[0]))

    def describe_state(self, state) -> dict[str, Any]:
        return {self.kind: {"values": state[0] if self.kind == "lstm" else state}}

    def architecture(self) -> dict[str, Any]:
        return {"kind": self.kind, "input_size": self.input_size, "hidden_size": self.hidden_size,
                "outputs": self.outputs}


class _LSTMCore(_TorchRNNCore):
    kind, rnn_class = "lstm", nn.LSTM


class _GRUCore(_TorchRNNCore):
    kind, rnn_class = "gru", nn.GRU


class _CTRNNCore(nn.Module):
    """A continuous-time RNN (Funahashi & Nakamura 1993, Beer 1995) advanced by the real elapsed time.

    Written here: neither torch nor ncps has one. Every neuron relaxes toward a target set by the
    input and the other neurons, at its own learned speed, and a linear map reads the outputs::

        dh/dt = (-h + tanh(W_in x + W_rec h + b)) / tau,    tau = exp(log_tau) > 0 per neuron
        y     = W_out h + b_out

    A frame of ``dt`` seconds is ``ode_unfolds`` explicit Euler sub-steps of dt / ode_unfolds (as
    an LTC unfolds its ODE), the frame's input held over all of them::

        h <- h + r * (tanh(W_in x + W_rec h + b) - h),    r = min(dt / (ode_unfolds * tau), 1)

    ``r`` is the fraction of the way to the target that one sub-step covers. Plain Euler overshoots
    the target once a sub-step is longer than tau (and diverges past twice tau); capped at 1, a long
    gap (a dropped frame, a stall) lands the neuron on its target instead. dt = 0 leaves the state
    as it is.

    The time constants start spread geometrically over 0.05 s to 1 s: from a frame's reaction
    (20 Hz camera) to a memory of a second.
    """

    def __init__(self, input_size: int, hidden_size: int, outputs: int, ode_unfolds: int = 6):
        super().__init__()
        if int(ode_unfolds) < 1:
            raise ValueError(f"ode_unfolds must be >= 1, got {ode_unfolds}")
        self.input_size, self.hidden_size, self.outputs = int(input_size), int(hidden_size), int(outputs)
        self.ode_unfolds = int(ode_unfolds)
        self.input_map = nn.Linear(input_size, hidden_size)  # W_in, b
        self.recurrent_map = nn.Linear(hidden_size, hidden_size, bias=False)  # W_rec
        self.log_tau = nn.Parameter(torch.linspace(math.log(0.05), math.log(1.0), hidden_size))
        self.readout = nn.Linear(hidden_size, outputs)  # W_out, b_out

    @property
    def output_size(self) -> int:
        return self.outputs

    @property
    def tau(self) -> torch.Tensor:
        return torch.exp(self.log_tau)

    def initial_state(self, batch_size: int | None, device=None, dtype=None):
        shape = (self.hidden_size,) if batch_size is None else (int(batch_size), self.hidden_size)
        return torch.zeros(shape, device=device, dtype=dtype)

    def _advance(self, h: torch.Tensor, drive: torch.Tensor, dt) -> torch.Tensor:
        """``dt`` seconds of the ODE with ``drive`` = W_in x + b; dt a number or a (batch, 1) column."""
        rate = (dt / (self.ode_unfolds * self.tau)).clamp(max=1.0)
        for _ in range(self.ode_unfolds):
            target = torch.tanh(drive + self.recurrent_map(h))
            h = h + rate * (target - h)
        return h

    def forward(self, x, hx=None, timespans=None):
        """x (batch, time, features), timespans a number or (batch, time[, 1]) seconds (None: 1 s each)."""
        if x.dim() != 3:
            raise ValueError(f"input has shape {tuple(x.shape)}; expected (batch, time, {self.input_size})")
        batch, steps = x.shape[:2]
        elapsed = sequence_timespans(timespans, batch, steps, True, x, allow_zero=True)
        h = self.initial_state(batch, x.device, x.dtype) if hx is None else hx
        drive = self.input_map(x)  # the input's share, for the whole sequence at once
        states = []
        for t in range(steps):
            dt = 1.0 if elapsed is None else elapsed if isinstance(elapsed, float) else elapsed[:, t : t + 1]
            h = self._advance(h, drive[:, t], dt)
            states.append(h)
        return self.readout(torch.stack(states, dim=1)), h

    def step(self, x, dt=1.0, state=None):
        """One frame (features,) or a batch (batch, features); dt a number or one per sample, (batch,) or (batch, 1)."""
        batched = x.dim() == 2
        xb = x if batched else x.unsqueeze(0)
        if state is None:
            h = self.initial_state(xb.shape[0], xb.device, xb.dtype)
        else:
            h = state if batched else state.unsqueeze(0)
        h = self._advance(h, self.input_map(xb), elapsed_column(dt, xb.shape[0], xb, allow_zero=True))
        y = self.readout(h)
        return (y, h) if batched else (y[0], h[0])

    def describe_state(self, state) -> dict[str, Any]:
        return {"ctrnn": {"values": state}}

    def architecture(self) -> dict[str, Any]:
        return {"kind": "ctrnn", "input_size": self.input_size, "hidden_size": self.hidden_size,
                "outputs": self.outputs, "ode_unfolds": self.ode_unfolds}


class _FeedForwardCore(nn.Module):
    """No memory: a linear readout of the features (the 'cnn' baseline)."""

    def __init__(self, input_size: int, outputs: int):
        super().__init__()
        self.input_size, self.outputs = int(input_size), int(outputs)
        self.readout = nn.Linear(input_size, outputs)

    @property
    def output_size(self) -> int:
        return self.outputs

    def initial_state(self, batch_size: int | None, device=None, dtype=None):
        return None

    def forward(self, x, hx=None, timespans=None):
        return self.readout(x), None

    def step(self, x, dt=1.0, state=None):
        return self.readout(x), None

    def describe_state(self, state) -> dict[str, Any]:
        return {}

    def architecture(self) -> dict[str, Any]:
        return {"kind": "none", "input_size": self.input_size, "outputs": self.outputs}


def build_core(spec: dict[str, Any]) -> nn.Module:
    kind = spec.get("kind")
    if kind in ("cfc", "ltc"):
        return (CfC if kind == "cfc" else LTC).from_architecture(spec)
    fields = {k: v for k, v in spec.items() if k != "kind"}
    cores = {"lstm": _LSTMCore, "gru": _GRUCore, "ctrnn": _CTRNNCore, "none": _FeedForwardCore}
    if kind not in cores:
        raise ValueError(f"unknown policy core kind {kind!r}; choose cfc, ltc, {', '.join(cores)}")
    try:
        return cores[kind](**fields)
    except TypeError as exc:
        raise ValueError(f"architecture for the {kind!r} core has an unknown or missing field: {exc}") from exc
