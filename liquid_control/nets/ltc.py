"""The Liquid Time-Constant (LTC) cell (Hasani et al., AAAI 2021).

Each neuron is a leaky membrane whose conductances depend on the presynaptic potentials:

    cm * dv/dt = gleak * (vleak - v) + sum_j w_j * sigmoid(sigma_j * (v_j - mu_j)) * (erev_j - v)

The cell advances this ODE by the elapsed time ``dt`` with ``ode_unfolds`` steps of the fused
semi-implicit Euler scheme: the synaptic terms are evaluated at the current potential and the
leak and synaptic currents are solved implicitly, giving

    v <- (cm/h * v + gleak*vleak + sum w*act*erev) / (cm/h + gleak + sum w*act + eps),  h = dt/unfolds.

``time_scale`` is how many of the ODE's time units one second of elapsed time is (default 1, as in
the reference). The initial ranges (cm about 0.5, gleak up to 1) make a neuron settle within a
few time units, so a network fed real seconds at a 20 Hz camera (0.05 s a frame) moves about a
tenth of the way to its target per frame and cannot follow the images: its training stays at
the level of predicting the mean. Policies trained here set it to frames per second
(``1 / nominal_dt``: one time unit per nominal frame, the convention ncps's examples train with)
while still taking real elapsed seconds, so an irregular frame is still an irregular step. It
enters as ``cm / time_scale`` (the same ODE in other units), so every path that steps the cell,
compiled kernels and ONNX graphs included, gets it from ``prepare``.

Parameter names, shapes, initial ranges and the order of random draws follow ``ncps.torch.LTCCell``
1.0.1, so weights move between the two libraries unchanged. Unlike the reference, the masked
weight products are formed once per call (``prepare``) rather than once per unfold, and the
sensory drive of a whole sequence is computed in one pass (``precompute``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .validation import elapsed_column
from .wirings import Wiring

MAPPINGS = ("affine", "linear", "none")

# Uniform ranges of the initial parameter values (the reference library's).
INIT_RANGES = {
    "gleak": (0.001, 1.0),
    "vleak": (-0.2, 0.2),
    "cm": (0.4, 0.6),
    "w": (0.001, 1.0),
    "sigma": (3.0, 8.0),
    "mu": (0.3, 0.8),
    "sensory_w": (0.001, 1.0),
    "sensory_sigma": (3.0, 8.0),
    "sensory_mu": (0.3, 0.8),
}

# Largest (batch*time*inputs*units) block of sensory activations formed at once in precompute().
_PRECOMPUTE_BLOCK = 1 << 22


class LTCPrepared(NamedTuple):
    """Derived tensors that stay fixed while the weights do: computed once per sequence."""

    sensory_w: torch.Tensor  # (inputs, units) positive, masked
    sensory_w_erev: torch.Tensor  # (inputs, units)
    w: torch.Tensor  # (units, units) positive, masked
    w_erev: torch.Tensor  # (units, units)
    cm: torch.Tensor  # (units,)
    gleak: torch.Tensor  # (units,)
    gleak_vleak: torch.Tensor  # (units,)


class LTCCell(nn.Module):
    """One LTC step: ``forward(inputs, state, elapsed_time) -> (outputs, next_state)``."""

    def __init__(
        self,
        wiring: Wiring,
        in_features: int | None = None,
        input_mapping: str = "affine",
        output_mapping: str = "affine",
        ode_unfolds: int = 6,
        epsilon: float = 1e-8,
        implicit_param_constraints: bool = False,
        time_scale: float = 1.0,
    ):
        super().__init__()
        if in_features is not None:
            wiring.build(in_features)
        if not wiring.is_built():
            raise ValueError("the wiring does not know its input size: "
                             "pass in_features or call wiring.build(input_dim)")
        input_mapping = "none" if input_mapping is None else input_mapping
        output_mapping = "none" if output_mapping is None else output_mapping
        for name, value in (("input_mapping", input_mapping), ("output_mapping", output_mapping)):
            if value not in MAPPINGS:
                raise ValueError(f"{name} must be one of {MAPPINGS}, got {value!r}")
        if isinstance(ode_unfolds, bool) or int(ode_unfolds) != ode_unfolds or ode_unfolds < 1:
            raise ValueError(f"ode_unfolds must be a positive integer, got {ode_unfolds!r}")
        if not epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        if isinstance(time_scale, bool) or not (isinstance(time_scale, (int, float)) and 0 < time_scale < float("inf")):
            raise ValueError(f"time_scale must be a positive number (time units per second), got {time_scale!r}")
        self.wiring = wiring
        self.input_mapping = input_mapping
        self.output_mapping = output_mapping
        self.ode_unfolds = int(ode_unfolds)
        self.epsilon = float(epsilon)
        self.implicit_param_constraints = bool(implicit_param_constraints)
        self.time_scale = float(time_scale)

        units, inputs = wiring.units, wiring.input_dim
        # Same creation order as the reference, so one torch seed gives the same initial weights.
        self.gleak = self._uniform_parameter((units,), "gleak")
        self.vleak = self._uniform_parameter((units,), "vleak")
        self.cm = self._uniform_parameter((units,), "cm")
        self.sigma = self._uniform_parameter((units, units), "sigma")
        self.mu = self._uniform_parameter((units, units), "mu")
        self.w = self._uniform_parameter((units, units), "w")
        self.erev = nn.Parameter(torch.tensor(wiring.erev_initializer(), dtype=torch.float32))
        self.sensory_sigma = self._uniform_parameter((inputs, units), "sensory_sigma")
        self.sensory_mu = self._uniform_parameter((inputs, units), "sensory_mu")
        self.sensory_w = self._uniform_parameter((inputs, units), "sensory_w")
        self.sensory_erev = nn.Parameter(torch.tensor(wiring.sensory_erev_initializer(), dtype=torch.float32))
        self.register_buffer("sparsity_mask", torch.tensor(abs(wiring.adjacency_matrix), dtype=torch.float32))
        self.register_buffer("sensory_sparsity_mask",
                             torch.tensor(abs(wiring.sensory_adjacency_matrix), dtype=torch.float32))
        if input_mapping in ("affine", "linear"):
            self.input_w = nn.Parameter(torch.ones(inputs))
        if input_mapping == "affine":
            self.input_b = nn.Parameter(torch.zeros(inputs))
        if output_mapping in ("affine", "linear"):
            self.output_w = nn.Parameter(torch.ones(wiring.output_dim))
        if output_mapping == "affine":
            self.output_b = nn.Parameter(torch.zeros(wiring.output_dim))

    @staticmethod
    def _uniform_parameter(shape, name: str) -> nn.Parameter:
        low, high = INIT_RANGES[name]
        return nn.Parameter(torch.rand(*shape) * (high - low) + low)

    # ----------------------------------------------------------------- sizes
    @property
    def state_size(self) -> int:
        return self.wiring.units

    @property
    def input_size(self) -> int:
        return self.wiring.input_dim

    @property
    def output_size(self) -> int:
        return self.wiring.output_dim

    def state_neuron_ids(self) -> list[int]:
        """Neuron id held at each position of the state vector (identity for the LTC)."""
        return list(range(self.state_size))

    # ----------------------------------------------------------------- constraints
    def _positive(self, tensor: torch.Tensor) -> torch.Tensor:
        return nn.functional.softplus(tensor) if self.implicit_param_constraints else tensor

    @torch.no_grad()
    def apply_weight_constraints(self) -> None:
        """With explicit constraints, clip w, sensory_w, cm and gleak at 0 (call after each optimiser step)."""
        if not self.implicit_param_constraints:
            for param in (self.w, self.sensory_w, self.cm, self.gleak):
                param.clamp_(min=0.0)

    # ----------------------------------------------------------------- computation
    def prepare(self) -> LTCPrepared:
        sensory_w = self._positive(self.sensory_w) * self.sensory_sparsity_mask
        w = self._positive(self.w) * self.sparsity_mask
        gleak = self._positive(self.gleak)
        return LTCPrepared(
            sensory_w=sensory_w,
            sensory_w_erev=sensory_w * self.sensory_erev,
            w=w,
            w_erev=w * self.erev,
            cm=self._positive(self.cm) / self.time_scale,  # exact at the default 1
            gleak=gleak,
            gleak_vleak=gleak * self.vleak,
        )

    def map_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.input_mapping in ("affine", "linear"):
            inputs = inputs * self.input_w
        if self.input_mapping == "affine":
            inputs = inputs + self.input_b
        return inputs

    @torch.no_grad()
    def sensory_saturation(self, inputs: torch.Tensor, margin: float = 0.01) -> float:
        """The share of (input sample, wired sensory synapse) pairs whose activation
        sigmoid(sigma * (mapped input - mu)) lies within ``margin`` of 0 or 1, for ``inputs`` of
        shape (..., inputs). Near 1, the synapses no longer pass a change of their input, nor a
        gradient back to it: the cell has stopped seeing its input (what an LTC behind an
        unbounded conv head does when the head's features drift to tens; docs/study.md)."""
        mapped = self.map_inputs(inputs.reshape(-1, inputs.shape[-1]).float())
        activation = torch.sigmoid(self.sensory_sigma * (mapped[:, :, None] - self.sensory_mu))
        wired = (self.sensory_sparsity_mask > 0).expand_as(activation)
        saturated = (activation < margin) | (activation > 1.0 - margin)
        return float(saturated[wired].float().mean()) if bool(wired.any()) else 0.0

    def map_outputs(self, state: torch.Tensor) -> torch.Tensor:
        output = state[..., : self.output_size]
        if self.output_mapping in ("affine", "linear"):
            output = output * self.output_w
        if self.output_mapping == "affine":
            output = output + self.output_b
        return output

    def precompute(self, inputs: torch.Tensor, prepared: LTCPrepared) -> torch.Tensor:
        """Sensory drive for inputs of shape (..., inputs): returns (..., 2, units) = (numerator, denominator).

        It does not depend on the state, so a whole sequence is done at once, in blocks that
        bound the memory of the (…, inputs, units) activation tensor.
        """
        lead = inputs.shape[:-1]
        flat = self.map_inputs(inputs).reshape(-1, self.input_size)
        rows_per_block = max(1, _PRECOMPUTE_BLOCK // (self.input_size * self.state_size))
        blocks = []
        for start in range(0, flat.shape[0], rows_per_block):
            x = flat[start : start + rows_per_block]
            act = torch.sigmoid(self.sensory_sigma * (x.unsqueeze(-1) - self.sensory_mu))
            numerator = (act * prepared.sensory_w_erev).sum(dim=1)
            denominator = (act * prepared.sensory_w).sum(dim=1)
            blocks.append(torch.stack((numerator, denominator), dim=1))
        drive = torch.cat(blocks, dim=0) if len(blocks) > 1 else blocks[0]
        return drive.reshape(*lead, 2, self.state_size)

    def step(self, drive: torch.Tensor, state: torch.Tensor, elapsed, prepared: LTCPrepared):
        """Advance ``state`` (batch, units) by ``elapsed`` given a precomputed sensory ``drive``."""
        sensory_numerator, sensory_denominator = drive[:, 0], drive[:, 1]
        # cm / h is the same for every unfold.
        cm_t = prepared.cm / (elapsed / self.ode_unfolds)
        leak_numerator = prepared.gleak_vleak + sensory_numerator
        leak_denominator = cm_t + prepared.gleak + sensory_denominator + self.epsilon
        v = state
        for _ in range(self.ode_unfolds):
            act = torch.sigmoid(self.sigma * (v.unsqueeze(-1) - self.mu))
            numerator = cm_t * v + leak_numerator + (act * prepared.w_erev).sum(dim=1)
            denominator = leak_denominator + (act * prepared.w).sum(dim=1)
            v = numerator / denominator
        return self.map_outputs(v), v

    def forward(self, inputs: torch.Tensor, state: torch.Tensor, elapsed_time=1.0):
        elapsed = elapsed_column(elapsed_time, inputs.shape[0], inputs, allow_zero=False)
        prepared = self.prepare()
        return self.step(self.precompute(inputs, prepared), state, elapsed, prepared)
