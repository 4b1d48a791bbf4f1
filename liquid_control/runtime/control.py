"""The fixed-rate control loop of a camera policy, without ROS: what ``controller_node`` wraps.

``ControlLoop`` keeps the newest preprocessed frame, and at every tick of the control timer
steps the policy on it with the real elapsed time since the previous step, then turns the
outputs into a velocity command through ``CommandShaper`` (output semantics, gains, clamps,
slew-rate limits). Safety comes first:

- no frame yet, or the newest frame older than ``input_timeout_s``: command a stop and reset the
  network state (a continuous-time network must not integrate over a gap it never saw);
- a frame stamped more than ``max_future_s`` ahead of the clock (a camera host whose clock runs
  ahead): invalid, dropped, and a stop; otherwise its age would stay negative and hide the
  camera's death for as long as the clocks disagree;
- frames are only stepped when they are finite and within the values the model card's
  normalisation can produce (``input_bounds``): anything else is a bad frame, not an input;
- time going backwards (a bag looping, a simulator restarting) or a gap longer than
  ``max_gap_s`` between steps: reset the state;
- no time since the last step (a duplicate stamp, a paused sim clock): the network is not
  stepped (it would be stepped by time that did not pass); the last command is held;
- a non-finite output or state, or a command that is not finite: stop, reset, and report a fault.
  Every command leaving ``tick`` is finite and within the configured limits.

The first step after a reset has no elapsed time to go by: it uses ``nominal_dt``, the control
period, which the node keeps equal to the live ``control_rate_hz``.

All times are seconds on one clock (the node clock: wall time, or /clock with use_sim_time).
docs/safety.md states these as invariants, each with the tests that prove it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

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
                         f"{names or 'none'}" + (f" ({', '.join(map(str, unknown))} unknown)" if unknown and names else "")
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
            return (f"output_mode velocity maps {len(self.velocity_outputs)} outputs ({', '.join(self.velocity_outputs)}) "
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
        if mode == "steering":
            if mode == self.output_mode:
                return self, kind
            return replace(self, output_mode=mode), kind
        if not self.velocity_outputs_from_card:
            return (self if mode == self.output_mode else replace(self, output_mode=mode)), kind
        fields = meaning if card_mode == "velocity" else DEFAULT_VELOCITY_OUTPUTS
        if self.velocity_gains and len(self.velocity_gains) != len(fields):
            source = "the model card's outputs.names" if card_mode == "velocity" else "the default"
            raise ValueError(f"velocity_gains has {len(self.velocity_gains)} gains but the velocity outputs, from "
                             f"{source}, are {len(fields)} ({', '.join(fields)}): give one gain per output, or [] "
                             "for all 1")
        return replace(self, output_mode=mode, velocity_outputs=tuple(fields)), kind

    def validate(self) -> None:
        if self.output_mode not in ("auto", *OUTPUT_MODES):
            raise ValueError(f"output_mode must be 'auto' (from the model card), 'steering' or 'velocity', "
                             f"got {self.output_mode!r}")
        if self.output_kind not in ("auto", *OUTPUT_KINDS):
            raise ValueError(f"output_kind must be 'auto' or one of {OUTPUT_KINDS}, got {self.output_kind!r}")
        unknown = [] if self.velocity_outputs_from_card else [f for f in self.velocity_outputs if f not in TWIST_FIELDS]
        if unknown:
            raise ValueError(f"velocity_outputs may only name {TWIST_FIELDS} (or be [] for the model card's); got {unknown}")
        if self.velocity_gains and not self.velocity_outputs_from_card and len(self.velocity_gains) != len(self.velocity_outputs):
            raise ValueError(f"velocity_gains needs one gain per velocity output ({len(self.velocity_outputs)}), got {len(self.velocity_gains)}")
        if not all(math.isfinite(gain) for gain in (*self.velocity_gains, self.steering_gain)):
            raise ValueError(f"gains must be finite numbers, got steering_gain {self.steering_gain}, "
                             f"velocity_gains {list(self.velocity_gains)}")
        if not (math.isfinite(self.max_future_s) and self.max_future_s >= 0):
            raise ValueError(f"max_future_s must be a number >= 0, got {self.max_future_s}")
        for name in ("wheelbase", "max_linear", "max_angular", "max_linear_accel", "max_angular_accel", "input_timeout_s", "max_gap_s"):
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


def input_bounds(card: dict[str, Any] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-channel (low, high) of what the card's normalisation, (pixel * scale - mean) / std, can
    produce from 8- or 16-bit pixels; None when the card says nothing of its preprocessing."""
    pre = (card or {}).get("preprocessing")
    if not pre:
        return None
    encoding = str(pre.get("input_encoding", "rgb8"))
    top = 65535.0 if "16" in encoding else 255.0
    scale = float(pre.get("scale", 1 / 255))
    mean = np.asarray(pre.get("mean", (0.0, 0.0, 0.0)), dtype=np.float64)
    std = np.asarray(pre.get("std", (1.0, 1.0, 1.0)), dtype=np.float64)
    ends = np.stack([(0.0 * scale - mean) / std, (top * scale - mean) / std])
    low, high = ends.min(axis=0), ends.max(axis=0)
    margin = 1e-3 * np.maximum(high - low, 1e-6)  # float32 rounding of the preprocessing
    return (low - margin).astype(np.float32), (high + margin).astype(np.float32)


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
            raise ValueError(f"the policy has {len(outputs)} outputs but velocity_outputs names {len(cfg.velocity_outputs)}")
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


@dataclass
class TickResult:
    twist: Twist
    status: str  # "ok", "hold" (no time passed: last command held), "no_input", "stale_input", "future_input", "fault"
    outputs: np.ndarray | None = None  # raw network outputs when it stepped
    dt: float | None = None  # elapsed time fed to the network
    input_age: float | None = None  # now - stamp of the frame used (s)
    step_seconds: float | None = None  # compute time of the network step at this tick (the core for a policy)
    head_seconds: float | None = None  # compute time of the conv head on the frame used (run when it arrived)
    frame_stamp: float | None = None
    reset: str = ""  # why the state was reset at this tick, if it was
    message: str = ""


@dataclass
class PendingStep:
    """A step ``ControlLoop.begin_tick`` decided to take: the network input and its elapsed time."""

    now: float
    dt: float
    age: float
    inputs: np.ndarray  # (1, F) conv-head features of the frame, or (1, C, H, W) the frame itself
    frame_stamp: float
    reset: str
    head_seconds: float | None


@dataclass
class _Frame:
    image: np.ndarray  # (H, W, C) float32, preprocessed
    stamp: float
    inputs: np.ndarray  # what the tick feeds the engine: (1, F) features, or (1, C, H, W)
    head_seconds: float | None = None


class ControlLoop:
    """``backend``: how the network is stepped (``runtime.engine``: torch, onnxruntime, native or
    auto, which times them and keeps the fastest); ``policy`` stays the torch module (saliency,
    state description)."""

    def __init__(self, policy: torch.nn.Module, config: ControlConfig, card: dict[str, Any] | None = None,
                 device: str = "cpu", nominal_dt: float = 0.05, backend: str = "torch", engine=None):
        from .engine import load_engine

        config.validate()
        self.card = card or {}
        # The config in force: output_mode and velocity_outputs resolved against the card ('auto'
        # takes its meaning); output_kind 'auto' is resolved into self.output_kind.
        self.requested_config = config
        self.config, self.output_kind = config.resolve(self.card)
        self.policy = policy.to(device).eval()
        self.device = torch.device(device)
        self.engine = engine if engine is not None else load_engine(self.policy, backend=backend, device=str(device))
        self.engine.warm_up()  # compile and allocate now: nothing of the kind on the first tick
        self._split = self.engine.kind == "policy"  # conv head at frame arrival, core at the tick
        self.shaper = CommandShaper(self.config, self.output_kind)
        self.output_text = self._describe_output()
        self.nominal_dt = nominal_dt
        self.frame: _Frame | None = None
        self.state = None
        self.last_step_time: float | None = None
        self.last_tick_time: float | None = None
        self.resets = 0
        self.expected_shape = getattr(policy, "image_shape", None)  # (C, H, W)
        self.bounds = input_bounds(card) if self.expected_shape is not None else None
        self.future_frames = 0  # frames refused for a stamp ahead of the clock

    @property
    def outputs(self) -> int:
        return int(self.engine.output_size)

    def set_config(self, config: ControlConfig) -> None:
        """Apply a new (validated) config: limits, gains, timeouts and the output mode, kind and
        velocity fields, which 'auto' takes from the card again."""
        config.validate()
        resolved, kind = config.resolve(self.card)
        problem = resolved.check_for(self.outputs)
        if problem:
            raise ValueError(problem)
        self.requested_config, self.config, self.output_kind = config, resolved, kind
        self.shaper.config, self.shaper.output_kind = resolved, kind
        self.output_text = self._describe_output()

    def _describe_output(self) -> str:
        """The resolved output semantics and where they came from, for the log and /diagnostics."""
        requested, config = self.requested_config, self.config
        card_mode, _ = output_semantics_from_card(self.card)
        sources = []
        if requested.output_mode == "auto":
            sources.append("mode from the model card")
        if config.output_mode == "steering":
            text = f"steering: first output is {self.output_kind}"
            if requested.output_kind == "auto":
                sources.append("kind from the model card" if card_mode == "steering" else "kind: the default")
        else:
            text = f"velocity: outputs drive {', '.join(config.velocity_outputs)}"
            if requested.velocity_outputs_from_card:
                sources.append("fields from the model card" if card_mode == "velocity"
                               else "fields: the default, the card names no twist fields")
        return text + (f" ({'; '.join(sources)})" if sources else "")

    # ----------------------------------------------------------------- input
    def check_frame(self, image: np.ndarray) -> str:
        """'' if the frame fits the policy, else what is wrong with it."""
        return self._checked(image)[0]

    def _checked(self, image: np.ndarray) -> "tuple[str, np.ndarray | None]":
        """(what is wrong with the frame or '', the frame as a contiguous (1, C, H, W) array when it fits)."""
        if image.dtype != np.float32 or image.ndim != 3:
            return f"expected a float32 (H, W, C) preprocessed image, got {image.dtype} {image.shape}", None
        if self.expected_shape is not None:
            channels, height, width = self.expected_shape
            if image.shape != (height, width, channels):
                return (f"image is {image.shape[0]}x{image.shape[1]}x{image.shape[2]}, the policy needs "
                        f"{height}x{width}x{channels}"), None
        chw = np.ascontiguousarray(image.transpose(2, 0, 1))[None]  # (1, C, H, W): what the engines take
        # Per-channel extremes, one pass each over the channel-first copy (reducing the (H, W, C)
        # frame over its first two axes took ~50x longer: 1.2 ms a 66x200 frame). NaN propagates
        # into them and Inf is one, so they also tell whether the frame is finite.
        planes = chw.reshape(chw.shape[1], -1)
        lowest, highest = planes.min(axis=1), planes.max(axis=1)
        if not (np.isfinite(lowest).all() and np.isfinite(highest).all()):
            return "image holds NaN or Inf", None
        if self.bounds is not None and image.shape[-1] == self.bounds[0].shape[0]:
            low, high = self.bounds
            if (lowest < low).any() or (highest > high).any():
                return (f"values {float(lowest.min()):.4g}..{float(highest.max()):.4g} are outside what the card's "
                        f"normalisation produces ({float(low.min()):.4g}..{float(high.max()):.4g}): not a "
                        "preprocessed frame of this model"), None
        return "", chw

    def on_frame(self, image: np.ndarray, stamp: float) -> str:
        """Keep ``image`` as the newest frame unless it is bad; returns the problem ('' if none).

        A camera policy's conv head runs here, when the frame arrives; the tick then steps only
        the liquid core (microseconds), so the commands leave on a regular beat and soon after
        the tick. A frame the head fails on is dropped like any bad frame. ``on_frame`` is
        ``prepare_frame`` (the slow part, no loop state touched: may run in another thread than
        the ticks) + ``accept_frame``.
        """
        frame, problem = self.prepare_frame(image, stamp)
        if frame is not None:
            self.accept_frame(frame)
        return problem

    def prepare_frame(self, image: np.ndarray, stamp: float) -> "tuple[_Frame | None, str]":
        problem, chw = self._checked(image)
        if problem:
            return None, problem
        if not self._split:
            return _Frame(image, stamp, chw), ""
        started = time.perf_counter()
        try:
            features = self.engine.features(chw)
        except Exception as error:  # a backend failure on one frame: drop it, stay alive
            return None, f"the conv head failed on this frame ({error})"
        return _Frame(image, stamp, features, time.perf_counter() - started), ""

    def accept_frame(self, frame: "_Frame") -> None:
        self.frame = frame

    # ----------------------------------------------------------------- control
    def reset(self, reason: str = "requested") -> str:
        self.state = None
        self.last_step_time = None
        self.shaper.reset()
        self.resets += 1
        return reason

    def tick(self, now: float) -> TickResult:
        """One control tick at time ``now``: step the network on the newest frame, or command a stop."""
        pending = self.begin_tick(now)
        if isinstance(pending, TickResult):
            return pending
        started = time.perf_counter()
        try:
            outputs, state = self._engine_step(pending.inputs, pending.dt, self.state)
        except Exception as error:  # whatever a backend raises, the robot gets a stop
            return self.fail_tick(pending, error)
        return self.end_tick(pending, outputs[0], state, time.perf_counter() - started)

    def _engine_step(self, inputs, dt, state):
        return _engine_step(self.engine, inputs, dt, state)

    def begin_tick(self, now: float) -> "TickResult | PendingStep":
        """The checks before a step: a ``TickResult`` (stop) when no step is due, else the step to take.

        ``tick`` is ``begin_tick`` + ``engine.step`` + ``end_tick``; a fleet (``FleetLoop``) runs
        the middle part for many loops in one batched call.
        """
        reset = ""
        if self.last_tick_time is not None and now < self.last_tick_time:
            if self.frame is not None and self.frame.stamp - now > self.config.max_future_s:
                self.frame = None  # stamped in the abandoned timeline: meaningless now (a frame of the new one stays)
            reset = self.reset("time went backwards")
        self.last_tick_time = now
        if self.frame is not None and now - self.frame.stamp < -self.config.max_future_s:
            ahead = self.frame.stamp - now
            self.frame = None
            self.future_frames += 1
            if self.state is not None or self.last_step_time is not None:
                reset = self.reset("frame from the future")
            return TickResult(Twist(), "future_input", input_age=-ahead, reset=reset,
                              message=f"frame stamped {ahead:.3f} s ahead of this node's clock (max_future_s "
                                      f"{self.config.max_future_s:g}): clock skew between the camera's host and "
                                      "this one? (Or a lock-step simulator's step is longer than max_future_s, "
                                      "and its frame overtook its /clock: raise max_future_s.) Dropped it and "
                                      "commanded a stop")
        if self.frame is None:
            if self.state is not None:
                reset = self.reset("no input")
            return TickResult(Twist(), "no_input", reset=reset, message="waiting for a preprocessed frame")
        age = now - self.frame.stamp
        if age > self.config.input_timeout_s:
            if self.state is not None or self.last_step_time is not None:
                reset = self.reset("stale input")
            return TickResult(Twist(), "stale_input", input_age=age, reset=reset,
                              message=f"newest frame is {age:.3f} s old (input_timeout_s {self.config.input_timeout_s})")
        if self.last_step_time is not None and now - self.last_step_time > self.config.max_gap_s:
            reset = self.reset(f"{now - self.last_step_time:.2f} s since the last step")
        dt = self.nominal_dt if self.last_step_time is None else now - self.last_step_time
        if dt <= 0:  # a duplicate stamp or a paused sim clock: no time passed, so the network does not step
            return TickResult(self.shaper.held(), "hold", input_age=age, frame_stamp=self.frame.stamp, reset=reset,
                              message="no time passed since the last step: held the last command")
        return PendingStep(now, float(dt), age, self.frame.inputs, self.frame.stamp, reset, self.frame.head_seconds)

    def watchdog(self, now: float, stamps_are_the_clock: bool = False) -> "TickResult | None":
        """For loops stepped on frames: the stop to command when the input has gone stale (or never
        came), else None (the next frame will step). ``stamps_are_the_clock``: the frames' stamps
        come from the clock ``now`` is read from (a simulator's /clock), so a frame newer than
        ``now`` is one whose /clock message has not arrived yet, not another host's clock."""
        if self.frame is not None:
            age = now - self.frame.stamp
            earliest = -math.inf if stamps_are_the_clock else -self.config.max_future_s
            if earliest <= age <= self.config.input_timeout_s:
                return None
        result = self.begin_tick(now)
        return result if isinstance(result, TickResult) and result.status != "hold" else None

    def fail_tick(self, pending: "PendingStep", error: Exception) -> TickResult:
        self.reset("the network failed")
        return TickResult(Twist(), "fault", dt=pending.dt, input_age=pending.age, frame_stamp=pending.frame_stamp,
                          reset="the network failed", message=f"the network step failed ({error}): commanded a stop")

    def end_tick(self, pending: "PendingStep", outputs: np.ndarray, state, step_seconds: float) -> TickResult:
        """Check and shape one agent's network outputs (and keep its new state)."""
        values = np.asarray(outputs, dtype=np.float64).reshape(-1)
        if not (np.isfinite(values).all() and self.engine.is_finite(state)):
            self.reset("non-finite output or state")
            return TickResult(Twist(), "fault", outputs=values, dt=pending.dt, input_age=pending.age,
                              step_seconds=step_seconds, frame_stamp=pending.frame_stamp, reset="non-finite output or state",
                              message="the network produced NaN/Inf: commanded a stop and reset its state")
        try:
            twist = self.shaper.shape(values, pending.dt)
        except ValueError as error:
            self.reset("the command was not finite")
            return TickResult(Twist(), "fault", outputs=values, dt=pending.dt, input_age=pending.age,
                              step_seconds=step_seconds, frame_stamp=pending.frame_stamp,
                              reset="the command was not finite", message=f"{error}: commanded a stop")
        self.state = state
        self.last_step_time = pending.now
        return TickResult(twist, "ok", outputs=values, dt=pending.dt, input_age=pending.age, step_seconds=step_seconds,
                          head_seconds=pending.head_seconds, frame_stamp=pending.frame_stamp, reset=pending.reset)

    def inspect_state(self) -> dict[str, Any]:
        if self.state is None:
            return {}
        return self.engine.describe_state(self.state)


class FleetLoop:
    """Many ``ControlLoop``s (one per agent: a car in its own world) sharing one engine.

    ``tick(now)`` runs every loop's checks, then one batched engine call for all agents that step
    (their states stacked), then each loop's output checks and shaping: each agent gets exactly
    what its own ``ControlLoop.tick`` would give it. (The conv heads run per frame as frames
    arrive, in ``ControlLoop.on_frame``; the batched call is the liquid core.)
    """

    def __init__(self, loops: list[ControlLoop]):
        if not loops:
            raise ValueError("a fleet needs at least one control loop")
        engine = loops[0].engine
        if any(loop.engine is not engine for loop in loops):
            raise ValueError("the loops of a fleet must share one engine (pass engine= to ControlLoop)")
        self.loops = loops
        self.engine = engine
        engine.warm_up(len(loops))  # the batched kernels for this many agents, compiled before the first tick

    def tick(self, now: float | list[float], active: list[bool] | None = None) -> list[TickResult | None]:
        """Tick every loop (``active``: only those marked; the others get None) at its time ``now``."""
        times = list(now) if isinstance(now, (list, tuple, np.ndarray)) else [now] * len(self.loops)
        active = active if active is not None else [True] * len(self.loops)
        begun = [loop.begin_tick(t) if on else None for loop, t, on in zip(self.loops, times, active)]
        stepping = [i for i, item in enumerate(begun) if isinstance(item, PendingStep)]
        results: list[TickResult | None] = [item if isinstance(item, TickResult) else None for item in begun]
        if stepping:
            engine = self.engine
            inputs = np.concatenate([begun[i].inputs for i in stepping])
            dts = np.asarray([begun[i].dt for i in stepping], dtype=np.float32)
            states = [self.loops[i].state or engine.initial_state(1) for i in stepping]
            started = time.perf_counter()
            try:
                outputs, state = _engine_step(engine, inputs, dts, engine.stack(states))
            except Exception as error:
                for i in stepping:
                    results[i] = self.loops[i].fail_tick(begun[i], error)
                return results
            seconds = time.perf_counter() - started
            for row, (i, agent_state) in enumerate(zip(stepping, engine.unstack(state))):
                results[i] = self.loops[i].end_tick(begun[i], outputs[row], agent_state, seconds)
        return results


def _engine_step(engine, inputs, dt, state):
    """The step a tick takes: the core on conv-head features for a camera policy (its head ran
    when the frame arrived), else the whole network."""
    return (engine.step_features if engine.kind == "policy" else engine.step)(inputs, dt, state)


def choose_device(requested: str) -> str:
    """'cpu', 'cuda' (an error if there is none) or 'auto' (cuda when available)."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device; use 'cpu' or 'auto'")
    if requested not in ("cpu", "cuda") and not requested.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {requested!r}")
    return requested


@dataclass
class RollingStats:
    """Percentiles over the last ``size`` samples (for diagnostics)."""

    size: int = 500
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)
        if len(self.values) > self.size:
            del self.values[: len(self.values) - self.size]

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.values, q)) if self.values else None
