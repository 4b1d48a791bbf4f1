"""The settings of a training run (``TrainConfig``): architecture, schedule, data windows, the
network's input preprocessing, and the conv head's precision, size and activation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from liquid_control.nets.policy import PRESETS, preset_head_activation

DEFAULT_PREPROCESSING = {"input_encoding": "rgb8", "size": [66, 200], "scale": 1 / 255,
                         "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


@dataclass
class TrainConfig:
    arch: str = "ncp-cfc"
    epochs: int = 8
    batch_size: int = 16
    seq_len: int = 24
    stride: int = 12
    lr: float = 2e-3
    weight_decay: float = 1e-5
    grad_clip: float = 1.0
    val_fraction: float = 0.15
    seed: int = 0
    threads: int = 0  # 0: torch's default
    augment: bool = True
    nominal_dt: float = 0.05
    # None: 100 for curvatures (~0.1 1/m), 10 for velocities (~1 m/s): readable numbers.
    loss_scale: float | None = None
    preprocessing: dict = field(default_factory=lambda: dict(DEFAULT_PREPROCESSING))
    # NCP presets: neurons (None: 19 for one output, 34 for more: 18 inter, 12 command, 4 motor).
    ncp_units: int | None = None
    # Study variants (None / 1.0: the defaults, and no part of a study's cache key): the units of a
    # baseline core (LSTM, GRU, dense CfC, CT-RNN; None: 64), the seed of an NCP's or a sparse
    # random wiring (None: 22222), and the share of the training episodes used (the data-efficiency curve).
    units: int | None = None
    wiring_seed: int | None = None
    data_fraction: float = 1.0
    val_seq_len: int | None = None  # validation windows' length (None: seq_len); a tuning scores all trials alike
    head_channels: list = field(default_factory=lambda: [24, 36, 48, 64, 64])  # the conv head's five convolutions
    features: int = 32  # conv head outputs = the core's inputs
    augmentation: dict = field(default_factory=dict)  # overrides of data.sequences.Augmentation's settings
    # The conv head's arithmetic while training: "bf16" (autocast; the core stays float32), "fp32", or
    # "auto": bf16 where the CPU has native bfloat16 (AMX or AVX512-BF16), else fp32. Deployment runs float32.
    head_precision: str = "auto"
    channels_last: bool = True  # the conv head's weights in channels-last layout (faster convolutions on CPU)
    # The conv head's output: None (unbounded features), "tanh" or "layernorm" (standardised per
    # frame), for any arch (make_policy's head_activation; the ncp-ltc-tanh/-norm presets fix theirs).
    head_activation: str | None = None

    @classmethod
    def for_task(cls, task, **settings) -> "TrainConfig":
        """The settings for a policy of ``task`` (a ``tasks.Task``): its input (the default
        normalisation, then the task's preprocessing), its control period, its training defaults,
        then ``settings``. Shift augmentation corrects the label by a constant calibrated for the
        simulated cameras; a task without a simulator has no such calibration, so unless its
        training section sets ``max_shift_px`` the shift is off."""
        training = {key: value for key, value in task.training.items()}
        if task.simulator is None:
            training["augmentation"] = {"max_shift_px": 0, **training.get("augmentation", {})}
        given = {key: value for key, value in settings.items() if value is not None}
        return cls(preprocessing={**DEFAULT_PREPROCESSING, **task.preprocessing}, nominal_dt=task.nominal_dt,
                   **{**training, **given})

    def validate(self) -> None:
        if self.arch not in PRESETS:
            raise ValueError(f"arch must be one of {PRESETS}, got {self.arch!r}")
        for name in ("epochs", "batch_size", "seq_len", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if not 0 < self.data_fraction <= 1:
            raise ValueError(f"data_fraction must be in (0, 1], got {self.data_fraction}")
        if self.units is not None and self.units < 1:
            raise ValueError(f"units must be >= 1 (or None: 64), got {self.units}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.head_precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"head_precision must be auto, bf16 or fp32, got {self.head_precision!r}")
        preset_head_activation(self.arch, self.head_activation)  # refuses an unknown one, or one the arch contradicts
        if self.loss_scale is not None and not self.loss_scale > 0:
            raise ValueError(f"loss_scale must be > 0 (or None: from the labels), got {self.loss_scale}")



def cpu_has_bf16() -> bool:
    """Whether this CPU does bfloat16 natively (AMX or AVX512-BF16); emulated, it is slower than float32."""
    try:
        flags = open("/proc/cpuinfo").read().split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_head_precision(requested: str, device: torch.device | None) -> str:
    if requested != "auto":
        return requested
    return "bf16" if (device is None or device.type == "cpu") and cpu_has_bf16() else "fp32"
