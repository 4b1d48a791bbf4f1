"""The fixed-rate control loop of a camera policy, without ROS: what controller_node wraps.

``ControlLoop`` keeps the newest preprocessed frame and at every tick steps the policy on it with the
real elapsed time since the previous step, then shapes the outputs into a command (``CommandShaper``).
Safety comes first: no frame, a stale frame or one stamped in the future, a bad frame (not finite, or
outside what the card's normalisation produces), time going backwards or a long gap all command a stop
and/or reset the network state; no elapsed time holds the last command; a non-finite output or command
stops, resets and reports a fault. Every command leaving ``tick`` is finite and within the limits.
docs/safety.md states these as invariants, each with its tests. All times are seconds on one clock
(the node clock: wall time, or /clock with use_sim_time).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .commands import CommandShaper, ControlConfig, Twist, output_semantics_from_card


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
    """``backend``: how the network is stepped (``runtime.engines``: torch, onnxruntime, native or
    auto, which times them and keeps the fastest); ``policy`` stays the torch module (saliency,
    state description)."""

    def __init__(self, policy: torch.nn.Module, config: ControlConfig, card: dict[str, Any] | None = None,
                 device: str = "cpu", nominal_dt: float = 0.05, backend: str = "torch", engine=None):
        from .engines import load_engine

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
        # Per-channel extremes, one pass each over the channel-first copy (much faster than reducing
        # the (H, W, C) frame over its first two axes). NaN propagates
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
        the liquid core, so the commands leave on a regular beat and soon after
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
            outputs, state = engine_step(self.engine, pending.inputs, pending.dt, self.state)
        except Exception as error:  # whatever a backend raises, the robot gets a stop
            return self.fail_tick(pending, error)
        return self.end_tick(pending, outputs[0], state, time.perf_counter() - started)

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
                              message=f"newest frame is {age:.3f} s old "
                                      f"(input_timeout_s {self.config.input_timeout_s})")
        if self.last_step_time is not None and now - self.last_step_time > self.config.max_gap_s:
            reset = self.reset(f"{now - self.last_step_time:.2f} s since the last step")
        dt = self.nominal_dt if self.last_step_time is None else now - self.last_step_time
        if dt <= 0:  # a duplicate stamp or a paused sim clock: no time passed, so the network does not step
            return TickResult(self.shaper.held(), "hold", input_age=age, frame_stamp=self.frame.stamp, reset=reset,
                              message="no time passed since the last step: held the last command")
        return PendingStep(now, float(dt), age, self.frame.inputs, self.frame.stamp, reset, self.frame.head_seconds)

    def watchdog(self, now: float, stamps_are_the_clock: bool = False,
                 quiet_since: float | None = None) -> "TickResult | None":
        """For loops stepped on frames: the stop to command when the input has gone stale (or never
        came), else None (the next frame will step). ``stamps_are_the_clock``: the frames' stamps
        come from the clock ``now`` is read from (a simulator's /clock), so a frame newer than
        ``now`` is one whose /clock message has not arrived yet, not another host's clock.

        ``quiet_since`` (on that clock): when the last good frame arrived, or the watchdog first ran.
        A lock-step simulator's /clock reaches the node before the frame it goes with (the frame goes
        through perception), and every command steps its world; so on its clock the input counts as
        stale only once input_timeout_s has passed since then, and a frame on its way is not
        overtaken by an extra stop (an old frame arriving is answered by its own tick)."""
        if quiet_since is not None and now - quiet_since <= self.config.input_timeout_s:
            return None
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
                              step_seconds=step_seconds, frame_stamp=pending.frame_stamp,
                              reset="non-finite output or state",
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



def engine_step(engine, inputs, dt, state):
    """The step a tick takes: the core on conv-head features for a camera policy (its head ran
    when the frame arrived), else the whole network."""
    return (engine.step_features if engine.kind == "policy" else engine.step)(inputs, dt, state)

