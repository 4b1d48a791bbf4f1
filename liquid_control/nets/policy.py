"""Camera-to-command policies: a convolutional perception head feeding a recurrent core.

``Policy`` = ``ConvHead`` (camera frame -> a few dozen features, PilotNet-sized: five
convolutions, ~54 MFLOP at 66x200) + a core that carries state over time (``nets.cores``):

- ``cfc`` / ``ltc``: a liquid network (e.g. CfC on an AutoNCP(19, 1) wiring: the NCP lane keeper,
  or a dense CfC of 64 neurons with a linear readout), advanced by the real elapsed time between frames;
- ``ctrnn``: a continuous-time RNN baseline, also advanced by the real elapsed time;
- ``lstm`` / ``gru``: LSTM and GRU baselines (elapsed time ignored);
- ``none``: a feed-forward baseline (a linear readout of the features, no state).

Images go in as float tensors (batch, [time,] channels, height, width), already preprocessed as
the model card's ``preprocessing`` section says (see ``liquid_control.data.images``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from .cores import build_core
from .sequence import LiquidSequence
from .validation import check_finite
from .wirings import AutoNCP, Random

HEAD_ACTIVATIONS = (None, "tanh", "layernorm")


class ConvHead(nn.Module):
    """Five ReLU convolutions and a linear layer: an image becomes ``features`` numbers, unbounded,
    squashed into (-1, 1) with ``activation="tanh"``, or standardised per frame (zero mean and unit
    variance over the features, no learned scale) with ``activation="layernorm"``."""

    def __init__(self, in_channels: int = 3, height: int = 66, width: int = 200, features: int = 32,
                 channels: tuple[int, ...] = (24, 36, 48, 64, 64), dropout: float = 0.0, activation: str | None = None):
        super().__init__()
        if len(channels) != 5:
            raise ValueError(f"the conv head has five convolutions; got {len(channels)} channel counts")
        if activation not in HEAD_ACTIVATIONS:
            raise ValueError(f"the conv head's activation must be one of {HEAD_ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        self.in_channels, self.height, self.width = int(in_channels), int(height), int(width)
        self.features, self.channels, self.dropout = int(features), tuple(int(c) for c in channels), float(dropout)
        layers = []
        previous, rows, cols = in_channels, int(height), int(width)
        for index, out in enumerate(channels):
            kernel, stride = (5, 2) if index < 3 else (3, 1)
            layers.append(nn.Conv2d(previous, out, kernel, stride))
            previous, rows, cols = out, (rows - kernel) // stride + 1, (cols - kernel) // stride + 1
            if rows < 1 or cols < 1:
                raise ValueError(f"a {height}x{width} image is too small for the conv head (five 5x5/3x3 convolutions)")
        self.convs = nn.ModuleList(layers)
        flat = previous * rows * cols
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(flat, features)

    def _conv_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for conv in self.convs:
            x = torch.relu(conv(x))
            maps.append(x)
        return maps

    def forward(self, images: torch.Tensor, return_maps: bool = False):
        maps = self._conv_maps(images)
        features = self.fc(self.drop(maps[-1].flatten(1)))
        if self.activation == "tanh":
            features = torch.tanh(features)
        elif self.activation == "layernorm":
            features = nn.functional.layer_norm(features, (self.features,))
        return (features, maps) if return_maps else features

    def architecture(self) -> dict[str, Any]:
        spec = {"in_channels": self.in_channels, "height": self.height, "width": self.width, "features": self.features,
                "channels": list(self.channels), "dropout": self.dropout}
        return spec if self.activation is None else {**spec, "activation": self.activation}


class Policy(nn.Module):
    """Camera frames in, commands out, state carried between frames."""

    kind = "policy"

    def __init__(self, head: dict[str, Any], core: dict[str, Any]):
        super().__init__()
        self.head = ConvHead(**head)
        self.core = build_core(core)
        core_inputs = self.core.input_size
        if core_inputs != self.head.features:
            raise ValueError(f"the core takes {core_inputs} inputs "
                             f"but the conv head makes {self.head.features} features")
        self.check_inputs = True

    @property
    def output_size(self) -> int:
        return self.core.output_size

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.head.in_channels, self.head.height, self.head.width

    @property
    def is_liquid(self) -> bool:
        return isinstance(self.core, LiquidSequence)

    def initial_state(self, batch_size: int | None = 1, device=None, dtype=None):
        reference = next(self.parameters())
        device = reference.device if device is None else device
        dtype = reference.dtype if dtype is None else dtype
        return self.core.initial_state(batch_size, device=device, dtype=dtype)

    def describe_state(self, state) -> dict[str, Any]:
        return self.core.describe_state(state)

    def _check_images(self, images: torch.Tensor, leading: int) -> None:
        expected = self.image_shape
        if images.dim() != leading + 3 or tuple(images.shape[-3:]) != expected:
            raise ValueError(f"images have shape {tuple(images.shape)}; "
                             f"expected (..., {expected[0]}, {expected[1]}, {expected[2]}) "
                             f"with {leading} leading axis/axes, preprocessed as the model card says")
        if self.check_inputs:
            check_finite(images, "image")

    def forward(self, images: torch.Tensor, hx=None, timespans=None):
        """Sequences: images (batch, time, C, H, W) -> outputs (batch, time, outputs), final state."""
        self._check_images(images, 2)
        batch, steps = images.shape[:2]
        features = self.head(images.flatten(0, 1)).reshape(batch, steps, -1)
        # Under autocast (training's bfloat16 conv head) the recurrent core still runs in float32:
        # its state is integrated over the whole sequence, where bfloat16's 8 bits would drift.
        with torch.autocast(device_type=features.device.type, enabled=False):
            return self.core(features.float(), hx, timespans=timespans)

    def step(self, image: torch.Tensor, dt=1.0, state=None):
        """One frame (C, H, W) or a batch (batch, C, H, W) and its elapsed time -> (outputs, state)."""
        batched = image.dim() == 4
        self._check_images(image, 1 if batched else 0)
        features = self.head(image if batched else image.unsqueeze(0))
        return self.core.step(features if batched else features[0], dt, state)

    def architecture(self) -> dict[str, Any]:
        return {"kind": self.kind, "head": self.head.architecture(), "core": self.core.architecture()}

    @classmethod
    def from_architecture(cls, spec: dict[str, Any]) -> "Policy":
        if spec.get("kind", cls.kind) != cls.kind:
            raise ValueError(f"architecture kind {spec.get('kind')!r} is not a policy")
        try:
            return cls(head=dict(spec["head"]), core=dict(spec["core"]))
        except KeyError as exc:
            raise ValueError(f"a policy architecture needs 'head' and 'core' sections (missing {exc})") from exc


PRESETS = ("ncp-cfc", "ncp-ltc", "lstm", "cnn", "gru", "cfc", "ctrnn", "ncp-ltc-tanh", "ncp-ltc-norm", "random-cfc")


def preset_head_activation(preset: str, head_activation: str | None = None) -> str | None:
    """The conv head activation of ``preset`` asked for ``head_activation``: the preset's own for
    ``ncp-ltc-tanh``/``ncp-ltc-norm`` (another is refused), else ``head_activation``."""
    if head_activation not in HEAD_ACTIVATIONS:
        raise ValueError(f"head_activation must be one of {HEAD_ACTIVATIONS}, got {head_activation!r}")
    fixed = {"ncp-ltc-tanh": "tanh", "ncp-ltc-norm": "layernorm"}.get(preset)
    if fixed is not None and head_activation not in (None, fixed):
        raise ValueError(f"the {preset} preset has the {fixed} head; "
                         f"head_activation {head_activation!r} contradicts it "
                         "(for an NCP-LTC behind another head, use ncp-ltc with head_activation)")
    return fixed or head_activation


def make_policy(preset: str, image_shape: tuple[int, int, int] = (3, 66, 200), outputs: int = 1, features: int = 32,
                ncp_units: int = 19, wiring_seed: int = 22222, lstm_units: int = 64,
                channels: tuple[int, ...] = (24, 36, 48, 64, 64), readout: bool = False, rnn_units: int = 64,
                ltc_time_scale: float = 1.0, head_activation: str | None = None) -> Policy:
    """The standard architectures, all on the same conv head (``channels``: its five convolutions):

    - ``ncp-cfc`` / ``ncp-ltc``: CfC/LTC on AutoNCP(ncp_units, outputs), the NCP lane keeper;
      AutoNCP(34, 4) is the drones' 18 inter, 12 command, 4 motor neurons. ``readout``: a linear
      map of the motor neurons to the outputs (a CfC's ``proj_size``), for outputs beyond the motor
      neurons' bounded range, such as a drone's 2.5 m/s forward speed (an LTC has its affine output
      mapping already). ``ltc_time_scale``: the LTC's time units per second of elapsed time (see
      ``nets.ltc``; training sets frames per second);
    - ``ncp-ltc-tanh``: ``ncp-ltc`` behind a conv head whose features pass through tanh, so they
      stay within (-1, 1) where the LTC's sigmoid sensory synapses (mu 0.3-0.8) still pass a
      change (a tried cure, kept because the drone study reports it: docs/study.md);
    - ``ncp-ltc-norm``: ``ncp-ltc`` behind a conv head whose features are standardised per frame
      (layer normalisation without a learned scale), so a common-mode drift of the features is
      removed before the LTC sees them (docs/study.md);
    - ``lstm``: an LSTM of ``lstm_units``; ``gru``: a GRU of ``rnn_units``;
    - ``cfc``: a dense (fully connected) CfC of ``rnn_units`` with the CfC defaults (one backbone
      layer of 128 LeCun-tanh units, default mode) and a linear readout (``proj_size = outputs``);
    - ``ctrnn``: a continuous-time RNN of ``rnn_units`` (6 Euler sub-steps per frame);
    - ``cnn``: feed-forward, a linear readout of the features;
    - ``random-cfc``: the ``ncp-cfc`` control for structure: a CfC of ``ncp_units`` on a sparse
      random wiring (``wiring_seed``) with as many synapses in all as the NCP's, read through a
      linear layer of all its neurons.

    ``gru``, ``ctrnn`` and ``cfc`` read their outputs through a linear layer of their neurons.

    ``head_activation`` (one of ``HEAD_ACTIVATIONS``) puts any preset behind the tanh or the
    normalised head, as a study that gives every architecture the same head needs; the two
    ``ncp-ltc-*`` presets fix their own and refuse another."""
    in_channels, height, width = image_shape
    head = {"in_channels": in_channels, "height": height, "width": width, "features": features,
            "channels": list(channels)}
    activation = preset_head_activation(preset, head_activation)
    if activation is not None:
        head["activation"] = activation
    if preset in ("ncp-cfc", "ncp-ltc", "ncp-ltc-tanh", "ncp-ltc-norm"):
        wiring = AutoNCP(ncp_units, outputs, seed=wiring_seed)
        wiring.build(features)
        core = {"kind": preset[4:7], "input_size": features, "units": {"wiring": wiring.to_config()}}
        if readout and preset == "ncp-cfc":
            core["proj_size"] = outputs
        if preset != "ncp-cfc":
            core["time_scale"] = float(ltc_time_scale)
    elif preset == "random-cfc":
        wiring = sparse_random_like(AutoNCP(ncp_units, outputs, seed=wiring_seed), features, wiring_seed)
        # One layer, no motor neurons: a linear readout of all of them.
        core = {"kind": "cfc", "input_size": features, "units": {"wiring": wiring.to_config()}, "proj_size": outputs}
    elif preset == "lstm":
        core = {"kind": "lstm", "input_size": features, "hidden_size": lstm_units, "outputs": outputs}
    elif preset in ("gru", "ctrnn"):
        core = {"kind": preset, "input_size": features, "hidden_size": rnn_units, "outputs": outputs}
    elif preset == "cfc":
        core = {"kind": "cfc", "input_size": features, "units": rnn_units, "proj_size": outputs}
    elif preset == "cnn":
        core = {"kind": "none", "input_size": features, "outputs": outputs}
    else:
        raise ValueError(f"unknown policy preset {preset!r}; choose one of {PRESETS}")
    return Policy(head, core)


def sparse_random_like(ncp: AutoNCP, inputs: int, seed: int) -> Random:
    """A random wiring of the NCP's neurons with as many recurrent synapses as the NCP's and as many
    sensory ones, each drawn uniformly among all possible: the NCP without its structure. Every
    neuron is an output (the core reads them through a linear layer)."""
    ncp.build(inputs)
    units = ncp.units
    wiring = Random(units, units, sparsity_level=1.0 - ncp.synapse_count / (units * units), random_seed=seed)
    wiring.build(inputs)
    # Random draws its sensory synapses at its recurrent sparsity; redraw them to the NCP's count.
    rng = np.random.default_rng([seed, 0x5E5])
    wiring.sensory_adjacency_matrix[:] = 0
    for flat in rng.choice(inputs * units, size=ncp.sensory_synapse_count, replace=False):
        wiring.add_sensory_synapse(int(flat) // units, int(flat) % units, int(rng.choice([-1, 1, 1])))
    wiring.params.update(sensory_synapses=int(ncp.sensory_synapse_count))
    return wiring


def set_output_bias(policy: Policy, values) -> bool:
    """Start the policy's final affine layer at ``values`` (e.g. the training labels' means), so
    training begins from the average command instead of zero; False when the core has none."""
    values = torch.as_tensor(values, dtype=torch.float32)
    core = policy.core
    layer = getattr(core, "fc", None) if not isinstance(getattr(core, "fc", None), nn.Identity) else None
    layer = layer if layer is not None else getattr(core, "readout", None)
    bias = getattr(layer, "bias", None)
    if bias is None:
        bias = getattr(getattr(core, "rnn_cell", None), "output_b", None)  # an LTC's affine output mapping
    if bias is None or bias.shape != values.shape:
        return False
    with torch.no_grad():
        bias.copy_(values)
    return True
