"""From a policy's outputs to a velocity command: what the outputs mean, the settings, and the shaping.

``output_semantics_from_card`` reads what a model's outputs mean (steering, or the twist fields they
drive) from its card; ``ControlConfig`` holds the output mode, gains, limits and timeouts (its 'auto'
settings resolved against a card); ``CommandShaper`` turns outputs into a ``Twist`` within the limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

OUTPUT_KINDS = ("curvature", "yaw_rate", "steering_angle")
TWIST_FIELDS = ("linear.x", "linear.y", "linear.z", "angular.z")
OUTPUT_MODES = ("steering", "velocity")
TWIST_UNITS = {"linear.x": "m/s", "linear.y": "m/s", "linear.z": "m/s", "angular.z": "rad/s"}  # REP 103
# Velocity mode set explicitly for a model whose card names no twist fields: what its outputs drive.
DEFAULT_VELOCITY_OUTPUTS = ("linear.x", "angular.z")


def output_semantics_from_card(card: dict[str, Any] | None) -> tuple[str, str | tuple[str, ...]]:
    """What a model's outputs mean, from its card's ``outputs`` section: ``("steering", kind)``, the
    first output being a curvature, yaw_rate or steering_angle, or ``("velocity", fields)``, the
    twist field each output drives, in order.

    ``outputs.mode`` says which; a card without it is velocity when all its ``names`` are twist
    fields, else steering. A steering card whose first name is no kind (or no card, or no names)
    means curvature. A velocity card must name a twist field (``linear.x``, ``linear.y``,
    ``linear.z``, ``angular.z``) per output, each once; ``units``, when given, are m/s and rad/s,
    and ``frame``, when given, is ``body`` (cmd_vel is in the robot's body frame, REP 103).
    Raises ValueError saying what to fix in the card.
    """
    section = (card or {}).get("outputs") or {}
    if not isinstance(section, dict):
        raise ValueError(f"the model card's outputs section must be a mapping (mode, names, units, frame), "
                         f"got {section!r}")
    names = section.get("names") or []
    names = [names] if isinstance(names, str) else list(names)
    mode = section.get("mode")
    if mode is None:
        mode = "velocity" if names and all(name in TWIST_FIELDS for name in names) else "steering"
    if mode == "steering":
        return "steering", names[0] if names and names[0] in OUTPUT_KINDS else "curvature"
    if mode != "velocity":
        raise ValueError(f"the model card's outputs.mode must be one of {OUTPUT_MODES}, got {mode!r}: fix card.yaml")
    unknown = [name for name in names if name not in TWIST_FIELDS]
    if not names or unknown:
        raise ValueError(f"the model card says outputs.mode velocity, so outputs.names must give the twist field of "
                         f"each output, in order, from {', '.join(TWIST_FIELDS)} (e.g. [linear.x, angular.z]); got "
                         f"{names or 'none'}"
                         + (f" ({', '.join(map(str, unknown))} unknown)" if unknown and names else "")
                         + ": fix card.yaml")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"the model card's outputs.names {names} give {', '.join(repeated)} more than once: "
                         "each twist field is driven by one output; fix card.yaml")
    units = section.get("units")
    if units is not None:
        units = [units] if isinstance(units, str) else list(units)
        expected = [TWIST_UNITS[name] for name in names]
        if [str(unit) for unit in units] != expected:
            raise ValueError(f"the model card's outputs.units {units} do not match its velocity outputs {names}: "
                             f"cmd_vel takes {expected} (m/s linear, rad/s angular, REP 103); scale the outputs to "
                             "those units, or fix card.yaml")
    frame = section.get("frame")
    if frame is not None and frame != "body":
        raise ValueError(f"the model card's outputs.frame is {frame!r}: cmd_vel is a velocity in the robot's body "
                         "frame (REP 103), so a velocity model's outputs must be too (frame: body)")
    return "velocity", tuple(names)


@dataclass
class ControlConfig:
    # auto: from the model card (output_semantics_from_card); steering: forward speed + turn from the
    # policy; velocity: outputs -> twist fields
    output_mode: str = "auto"
    speed: float = 2.0  # m/s, forward speed in steering mode
    output_kind: str = "auto"  # steering mode: what the first output means (auto: from the model card)
    wheelbase: float = 0.5  # m, to turn a steering angle into a yaw rate
    steering_gain: float = 1.0
    # velocity mode: the twist field of each output; () or ("auto",): the card's outputs.names
    # (DEFAULT_VELOCITY_OUTPUTS when the card names no twist fields)
    velocity_outputs: tuple[str, ...] = ()
    velocity_gains: tuple[float, ...] = ()  # per output (empty: all 1)
    max_linear: float = 3.0  # m/s, per axis
    max_angular: float = 2.0  # rad/s
    max_linear_accel: float = 3.0  # m/s^2: slew-rate limit
    max_angular_accel: float = 8.0  # rad/s^2
    input_timeout_s: float = 0.5
    max_gap_s: float = 1.0
    # Frames may be stamped this far ahead of the clock (hosts' clocks a few ms apart; a lock-step
    # simulator's frame can overtake its /clock message by one period) before they are refused.
    max_future_s: float = 0.1

    def check_for(self, outputs: int | None, period: float | None = None) -> str:
        """'' when this config can drive a network with `outputs` outputs (None: not known yet)
        stepped every `period` seconds (None: on frames), else why not."""
        if self.output_mode == "velocity" and outputs is not None and outputs < len(self.velocity_outputs):
            return (f"output_mode velocity maps {len(self.velocity_outputs)} outputs "
                    f"({', '.join(self.velocity_outputs)}) "
                    f"but the model has {outputs}")
        if period is not None and self.max_gap_s < 2 * period:
            # Steps are a period apart, and a tick can come up to a period late: a shorter max_gap_s
            # would reset a healthy loop on jitter alone. (input_timeout_s is about the frames,
            # which need not come at the control rate.)
            return (f"max_gap_s {self.max_gap_s:g} s is shorter than two control periods "
                    f"({2 * period:g} s at {1 / period:g} Hz): raise it or the rate")
        return ""

    @property
    def velocity_outputs_from_card(self) -> bool:
        return tuple(self.velocity_outputs) in ((), ("auto",))

    def resolve(self, card: dict[str, Any] | None) -> "tuple[ControlConfig, str]":
        """(this config with output_mode and velocity_outputs made concrete, the steering kind).

        'auto' (and empty velocity_outputs) take the model card's meaning (``output_semantics_from_card``);
        explicit settings override the card. The config comes back unchanged (the same object) when
        nothing was 'auto'; output_kind stays as set, its resolution is the second value. Raises
        ValueError for a card that says nonsense, or gains that do not match the card's outputs.
        """
        card_mode, meaning = output_semantics_from_card(card)
        kind = self.output_kind if self.output_kind != "auto" else meaning if card_mode == "steering" else "curvature"
        mode = card_mode if self.output_mode == "auto" else self.output_mode
        if not self.velocity_outputs_from_card:
            return (self if mode == self.output_mode else replace(self, output_mode=mode)), kind
        fields = meaning if card_mode == "velocity" else DEFAULT_VELOCITY_OUTPUTS
        # Checked in steering mode too: the gains must fit the moment the mode switches to velocity.
        if self.velocity_gains and len(self.velocity_gains) != len(fields):
            source = "the model card's outputs.names" if card_mode == "velocity" else "the default"
            raise ValueError(f"velocity_gains has {len(self.velocity_gains)} gains but the velocity outputs, from "
                             f"{source}, are {len(fields)} ({', '.join(fields)}): give one gain per output, or [] "
                             "for all 1")
        if mode == "steering":
            return (self if mode == self.output_mode else replace(self, output_mode=mode)), kind
        return replace(self, output_mode=mode, velocity_outputs=tuple(fields)), kind

    def validate(self) -> None:
        if self.output_mode not in ("auto", *OUTPUT_MODES):
            raise ValueError(f"output_mode must be 'auto' (from the model card), 'steering' or 'velocity', "
                             f"got {self.output_mode!r}")
        if self.output_kind not in ("auto", *OUTPUT_KINDS):
            raise ValueError(f"output_kind must be 'auto' or one of {OUTPUT_KINDS}, got {self.output_kind!r}")
        unknown = [] if self.velocity_outputs_from_card else [f for f in self.velocity_outputs if f not in TWIST_FIELDS]
        if unknown:
            raise ValueError(f"velocity_outputs may only name {TWIST_FIELDS} (or be [] for the model card's); "
                             f"got {unknown}")
        if (self.velocity_gains and not self.velocity_outputs_from_card
                and len(self.velocity_gains) != len(self.velocity_outputs)):
            raise ValueError(f"velocity_gains needs one gain per velocity output ({len(self.velocity_outputs)}), "
                             f"got {len(self.velocity_gains)}")
        if not all(math.isfinite(gain) for gain in (*self.velocity_gains, self.steering_gain)):
            raise ValueError(f"gains must be finite numbers, got steering_gain {self.steering_gain}, "
                             f"velocity_gains {list(self.velocity_gains)}")
        if not (math.isfinite(self.max_future_s) and self.max_future_s >= 0):
            raise ValueError(f"max_future_s must be a number >= 0, got {self.max_future_s}")
        for name in ("wheelbase", "max_linear", "max_angular", "max_linear_accel", "max_angular_accel",
                     "input_timeout_s", "max_gap_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        if not math.isfinite(self.speed) or abs(self.speed) > self.max_linear:
            raise ValueError(f"speed {self.speed} must be finite and within max_linear {self.max_linear}")


@dataclass(frozen=True)
class Twist:
    linear_x: float = 0.0
    linear_y: float = 0.0
    linear_z: float = 0.0
    angular_z: float = 0.0

    def is_stop(self) -> bool:
        return self == Twist()


def output_kind_from_card(card: dict[str, Any] | None) -> str:
    """The meaning of a steering policy's first output, from the card (curvature for a velocity card)."""
    mode, meaning = output_semantics_from_card(card)
    return meaning if mode == "steering" else "curvature"


class CommandShaper:
    """Network outputs -> a Twist within limits, changing no faster than the slew-rate limits."""

    def __init__(self, config: ControlConfig, output_kind: str):
        self.config = config
        self.output_kind = output_kind
        self.previous = Twist()

    def reset(self) -> None:
        self.previous = Twist()

    def raw(self, outputs: np.ndarray) -> Twist:
        cfg = self.config
        if cfg.output_mode == "auto" or (cfg.output_mode == "velocity" and cfg.velocity_outputs_from_card):
            cfg, _ = cfg.resolve(None)  # not resolved against a card (ControlLoop does): what no card means
        if cfg.output_mode == "steering":
            value = float(outputs[0]) * cfg.steering_gain
            if self.output_kind == "curvature":
                yaw_rate = cfg.speed * value
            elif self.output_kind == "yaw_rate":
                yaw_rate = value
            else:
                yaw_rate = cfg.speed * math.tan(value) / cfg.wheelbase
            return Twist(linear_x=cfg.speed, angular_z=yaw_rate)
        if len(outputs) < len(cfg.velocity_outputs):
            raise ValueError(f"the policy has {len(outputs)} outputs but velocity_outputs names "
                             f"{len(cfg.velocity_outputs)}")
        gains = cfg.velocity_gains or (1.0,) * len(cfg.velocity_outputs)
        values = {name.replace(".", "_"): float(outputs[i]) * gains[i] for i, name in enumerate(cfg.velocity_outputs)}
        return Twist(**values)

    def held(self) -> Twist:
        """The last command again, within the limits in force now (they may have been lowered since)."""
        cfg = self.config
        self.previous = Twist(*(min(max(getattr(self.previous, name), -bound), bound) for name, bound in (
            ("linear_x", cfg.max_linear), ("linear_y", cfg.max_linear), ("linear_z", cfg.max_linear),
            ("angular_z", cfg.max_angular))))
        return self.previous

    def shape(self, outputs: np.ndarray, dt: float) -> Twist:
        """Clamp and slew-limit; raises ValueError for a target that is not finite (the caller stops)."""
        cfg = self.config
        target = self.raw(outputs)
        if not all(map(math.isfinite, (target.linear_x, target.linear_y, target.linear_z, target.angular_z))):
            raise ValueError(f"the command computed from the outputs is not finite ({target})")
        limited = []
        for name in ("linear_x", "linear_y", "linear_z", "angular_z"):
            angular = name == "angular_z"
            bound = cfg.max_angular if angular else cfg.max_linear
            step = (cfg.max_angular_accel if angular else cfg.max_linear_accel) * dt
            value = min(max(getattr(target, name), -bound), bound)
            previous = getattr(self.previous, name)
            slewed = min(max(value, previous - step), previous + step)
            # The limit wins over the slew rate: a bound lowered while running holds at once.
            limited.append(min(max(slewed, -bound), bound))
        self.previous = Twist(*limited)
        return self.previous

