"""Property-based tests of the control loop (hypothesis): random interleavings of frames (stamps
forward, backward, duplicated, far in the future; NaN, Inf, huge values, wrong shapes), ticks,
watchdog ticks, parameter changes and model outputs (NaN, Inf, huge), with every invariant of
docs/safety.md checked after every event against an independent account kept by the test.

Examples per run: the `ci` profile (default, 1,500 sequences of up to 40 events); nightly-style:
``make test-nightly`` (the `nightly` profile, 30,000 sequences).
"""

import math
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from liquid_control.nets.policy import make_policy
from liquid_control.runtime.commands import ControlConfig
from liquid_control.runtime.loop import ControlLoop

settings.register_profile("ci", max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("nightly", max_examples=30000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SHAPE = (66, 66, 1)  # (H, W, C): a small camera policy keeps thousands of sequences fast
CARD = {"preprocessing": {"input_encoding": "mono8", "scale": 1 / 255, "mean": [0.5], "std": [0.25]},
        "outputs": {"names": ["curvature"]}}
LOW, HIGH = -2.0, 2.0  # (0/255 - 0.5) / 0.25 and (255/255 - 0.5) / 0.25
NOMINAL_DT = 0.05

torch.manual_seed(0)
POLICY = make_policy("ncp-cfc", image_shape=(1, 66, 66), outputs=2).eval()


class DrawnOutputs:
    """A real engine whose outputs are replaced, when the test says so, by drawn values (NaN, Inf, huge)."""

    def __init__(self, engine):
        self.engine = engine
        self.next_outputs = None

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def step_features(self, features, dt, state=None):
        outputs, state = self.engine.step_features(features, dt, state)
        if self.next_outputs is not None:
            outputs = np.asarray([self.next_outputs], dtype=np.float32)
            self.next_outputs = None
        return outputs, state


def _loop():
    from liquid_control.runtime.engines import load_engine

    engine = DrawnOutputs(load_engine(POLICY, backend="torch"))
    loop = ControlLoop(POLICY, ControlConfig(), CARD, nominal_dt=NOMINAL_DT, engine=engine)
    return loop, engine


finite = st.floats(-3.0, 3.0, allow_nan=False)
weird = st.sampled_from([math.nan, math.inf, -math.inf, 1e30, -1e30, 3.0, -2.1, 2.0, 0.0])
frames = st.tuples(
    st.just("frame"),
    st.one_of(st.floats(-0.2, 0.2), st.sampled_from([0.0, -5.0, 3600.0, 0.11, 0.099])),  # stamp - clock
    st.sampled_from(["valid", "valid", "valid", "nan", "inf", "huge", "edge", "shape", "dtype"]),
    st.integers(0, 2**16),
)
ticks = st.tuples(st.just("tick"), st.one_of(st.floats(0.0, 0.2), st.sampled_from([0.0, -1.0, 2.0, 0.6])))
watchdogs = st.tuples(st.just("watchdog"), st.floats(0.0, 0.6))
outputs = st.tuples(st.just("outputs"), st.lists(st.one_of(finite, weird), min_size=2, max_size=2))
configs = st.tuples(
    st.just("config"),
    st.sampled_from(["steering", "velocity", "velocity3"]),
    st.floats(-5.0, 5.0),  # speed
    st.floats(0.1, 5.0),  # max_linear
    st.floats(0.1, 5.0),  # max_angular
    st.one_of(finite, weird),  # a gain
    st.sampled_from([0.05, 0.3, 0.5]),  # input_timeout_s
    st.sampled_from([0.0, 0.1, 1.0]),  # max_future_s
    st.sampled_from(["auto", "curvature", "yaw_rate", "steering_angle"]),
)
events = st.lists(st.one_of(frames, ticks, ticks, watchdogs, outputs, configs), max_size=40)


def _image(kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = ((rng.integers(0, 256, SHAPE) / 255 - 0.5) / 0.25).astype(np.float32)
    spot = (seed % SHAPE[0], (seed // 7) % SHAPE[1], 0)
    if kind == "nan":
        image[spot] = np.nan
    elif kind == "inf":
        image[spot] = np.inf
    elif kind == "huge":
        image[spot] = 1e30
    elif kind == "edge":
        image[spot] = HIGH  # the brightest pixel: valid
    elif kind == "shape":
        image = image[:60]
    elif kind == "dtype":
        image = image.astype(np.float64)
    return image


def _valid(image: np.ndarray) -> bool:
    """The test's own account of a frame the card's normalisation can produce."""
    return (image.dtype == np.float32 and image.shape == SHAPE and bool(np.isfinite(image).all())
            and float(image.min()) >= LOW - 1e-3 and float(image.max()) <= HIGH + 1e-3)


def _config(mode, speed, max_linear, max_angular, gain, timeout, future, kind) -> ControlConfig:
    velocity = {"velocity": ("linear.x", "angular.z"), "velocity3": ("linear.x", "linear.y", "angular.z")}
    return ControlConfig(output_mode="steering" if mode == "steering" else "velocity", speed=speed,
                         max_linear=max_linear, max_angular=max_angular, steering_gain=gain,
                         velocity_outputs=velocity.get(mode, ("linear.x", "angular.z")),
                         velocity_gains=(gain,) * len(velocity.get(mode, ("linear.x", "angular.z"))),
                         input_timeout_s=timeout, max_future_s=future, output_kind=kind)


class Account:
    """What the test expects, kept independently of the loop's own bookkeeping."""

    def __init__(self, loop: ControlLoop):
        self.loop = loop
        self.clock = 100.0
        self.newest: float | None = None  # stamp of the newest valid frame still usable
        self.last_tick: float | None = None
        self.last_step: float | None = None  # clock of the last network step, None after a reset

    def check(self, result, now: float) -> None:
        config = self.loop.config
        twist = result.twist
        values = (twist.linear_x, twist.linear_y, twist.linear_z, twist.angular_z)
        # S3: every command is finite and within the limits in force.
        assert all(map(math.isfinite, values)), result
        assert max(abs(v) for v in values[:3]) <= config.max_linear + 1e-9, (result, config)
        assert abs(twist.angular_z) <= config.max_angular + 1e-9, (result, config)
        fresh = self.newest is not None and -config.max_future_s <= now - self.newest <= config.input_timeout_s
        if not fresh:
            # S1/S2: no valid, current frame: a stop.
            assert twist.linear_x == twist.linear_y == twist.linear_z == twist.angular_z == 0.0, (result, self.newest)
            assert result.status in ("no_input", "stale_input", "future_input"), result
        if result.status == "ok":
            assert fresh and result.frame_stamp == self.newest
            # S6: the elapsed time is the real one; after a reset, the nominal period.
            expected = NOMINAL_DT if (self.last_step is None or result.reset) else now - self.last_step
            assert result.dt > 0 and result.dt == pytest.approx(expected, abs=1e-9), (result, self.last_step)
            assert result.outputs is not None and np.isfinite(result.outputs).all()
        if result.status == "hold":
            assert self.last_step == now and result.outputs is None
        if result.status == "future_input":
            self.newest = None  # dropped
        if result.reset or result.status in ("no_input", "stale_input", "future_input", "fault"):
            self.last_step = None
        if result.status == "ok":
            self.last_step = now

    def _went_back(self, now: float) -> None:
        """Time went backwards: the state is reset, and a frame of the abandoned timeline dropped."""
        self.last_step = None
        if self.newest is not None and self.newest - now > self.loop.config.max_future_s:
            self.newest = None

    def tick(self, now: float, watchdog: bool = False) -> None:
        config = self.loop.config
        fresh = self.newest is not None and -config.max_future_s <= now - self.newest <= config.input_timeout_s
        if watchdog and fresh:
            assert self.loop.watchdog(now) is None, "a fresh frame: the watchdog stays quiet"
            return
        if self.last_tick is not None and now < self.last_tick:
            self._went_back(now)
        result = self.loop.watchdog(now) if watchdog else self.loop.tick(now)
        self.last_tick = now
        self.check(result, now)


@given(events)
def test_every_invariant_holds_after_every_event(sequence):
    loop, engine = _loop()
    account = Account(loop)
    for event in sequence:
        kind = event[0]
        if kind == "frame":
            _, offset, quality, seed = event
            image = _image(quality, seed)
            problem = loop.on_frame(image, account.clock + offset)
            assert (problem == "") == _valid(image), (quality, problem)
            if not problem:
                account.newest = account.clock + offset
        elif kind == "tick":
            account.clock += event[1]
            account.tick(account.clock)
        elif kind == "watchdog":
            account.tick(account.clock + event[1], watchdog=True)
        elif kind == "outputs":
            engine.next_outputs = event[1]
        else:
            before = loop.config
            config = _config(*event[1:])
            try:
                config.validate()
            except ValueError:
                continue  # refused before it reaches the loop (the node answers with the reason)
            try:
                loop.set_config(config)
            except ValueError as error:
                # S4: refused with the reason, and the running config stays.
                assert "maps 3 outputs" in str(error) and loop.config is before
                continue
            assert loop.config is config
            if config.output_kind == "auto":
                assert loop.output_kind == "curvature"
