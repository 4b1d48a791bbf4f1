"""The control loop's safety invariants (docs/safety.md), one test per hole they close, without ROS."""

import math

import numpy as np
import pytest
import torch

from liquid_control.nets.policy import make_policy
from liquid_control.runtime.commands import ControlConfig, Twist
from liquid_control.runtime.loop import ControlLoop, input_bounds

CARD = {"preprocessing": {"input_encoding": "rgb8", "scale": 1 / 255, "mean": [0.5] * 3, "std": [0.25] * 3},
        "outputs": {"names": ["curvature"]}}


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return make_policy("ncp-cfc").eval()


def frame(seed=0):
    """A frame the card's normalisation can produce: (pixel / 255 - 0.5) / 0.25, in [-2, 2]."""
    return ((np.random.default_rng(seed).integers(0, 256, (66, 200, 3)) / 255 - 0.5) / 0.25).astype(np.float32)


def loop_of(policy, **config):
    return ControlLoop(policy, ControlConfig(**config), CARD, nominal_dt=0.05)


# S1 ------------------------------------------------------------------------------------------
def test_s1_the_frame_watchdog_commands_stops_once_frames_stop(policy):
    loop = loop_of(policy, input_timeout_s=0.3)
    assert loop.watchdog(0.0).status == "no_input", "no frame yet: a stop"
    loop.on_frame(frame(), 1.0)
    assert loop.tick(1.0).status == "ok"
    assert loop.watchdog(1.2) is None, "a fresh frame: the next frame steps, the watchdog stays quiet"
    stop = loop.watchdog(1.31)
    assert stop.status == "stale_input" and stop.twist.is_stop() and loop.state is None
    assert loop.watchdog(1.36).twist.is_stop(), "and again at every watchdog tick"
    # On a simulator's clock, a frame newer than the node's /clock (its /clock message still on the
    # way) is not stale and not a clock skew: no stop. Older than input_timeout_s is.
    loop.on_frame(frame(1), 2.0)
    assert loop.watchdog(1.5, stamps_are_the_clock=True) is None
    assert loop.watchdog(1.5).status == "future_input"
    loop.on_frame(frame(2), 2.0)
    assert loop.watchdog(2.31, stamps_are_the_clock=True).status == "stale_input"
    # On that clock, the stop waits input_timeout_s after the last frame's arrival (or the first
    # watchdog tick): a lock-step simulator's /clock overtakes the frame it goes with, and every
    # extra command steps its world. A frame that arrived stale is answered by its own tick.
    assert loop.watchdog(2.31, stamps_are_the_clock=True, quiet_since=2.1) is None
    assert loop.watchdog(2.41, stamps_are_the_clock=True, quiet_since=2.1).status == "stale_input"
    fresh = loop_of(policy, input_timeout_s=0.3)
    assert fresh.watchdog(5.0, stamps_are_the_clock=True, quiet_since=5.0) is None, "no frame yet, none due"
    assert fresh.watchdog(5.31, stamps_are_the_clock=True, quiet_since=5.0).status == "no_input"


# S2 ------------------------------------------------------------------------------------------
def test_s2_a_frame_from_the_future_is_invalid_counted_and_named(policy):
    loop = loop_of(policy, max_future_s=0.1)
    loop.on_frame(frame(), 10.05)
    assert loop.tick(10.0).status == "ok", "50 ms ahead is within max_future_s"
    loop.on_frame(frame(1), 10.0 + 3600)  # a camera host an hour ahead
    result = loop.tick(10.1)
    assert result.status == "future_input" and result.twist.is_stop() and loop.state is None
    assert "clock skew" in result.message and "3599.900 s ahead" in result.message
    assert loop.future_frames == 1 and loop.frame is None, "dropped: it cannot keep the robot moving later"
    assert loop.tick(10.2).status == "no_input"
    assert loop.watchdog(10.2).twist.is_stop()


# S3 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, problem", [(1e30, "outside what the card's normalisation produces"),
                                            (-2.5, "outside what the card's normalisation produces"),
                                            (float("inf"), "NaN or Inf"), (float("nan"), "NaN or Inf")])
def test_s3_frames_no_preprocessing_can_produce_are_refused(policy, value, problem):
    loop = loop_of(policy)
    image = frame()
    image[3, 4, 1] = value
    assert problem in loop.on_frame(image, 1.0)
    assert loop.frame is None and loop.tick(1.0).status == "no_input"


def test_s3_input_bounds_follow_the_card():
    low, high = input_bounds(CARD)
    assert np.allclose(low, -2.0, atol=0.01) and np.allclose(high, 2.0, atol=0.01)
    assert input_bounds({"preprocessing": {"input_encoding": "mono16", "scale": 1.0, "mean": [0.0], "std": [1.0]}})[1] \
        == pytest.approx(65535, rel=1e-2)
    assert input_bounds({}) is None


@pytest.mark.parametrize("gains", [(math.nan, 1.0), (1.0, math.inf)])
def test_s3_non_finite_gains_are_refused(gains):
    with pytest.raises(ValueError, match="gains must be finite"):
        ControlConfig(output_mode="velocity", velocity_gains=gains).validate()
    with pytest.raises(ValueError, match="gains must be finite"):
        ControlConfig(steering_gain=math.nan).validate()


def test_s3_a_command_that_is_not_finite_is_a_fault_and_a_stop(policy):
    loop = loop_of(policy, output_kind="steering_angle")
    loop.on_frame(frame(), 1.0)
    pending = loop.begin_tick(1.0)
    result = loop.end_tick(pending, np.array([math.pi / 2], np.float32), loop.engine.initial_state(1), 0.0)
    assert result.status == "ok" and math.isfinite(result.twist.angular_z), "tan(pi/2) is huge, and clamped"
    loop.shaper.config = ControlConfig(output_kind="steering_angle", speed=math.inf)  # bypasses validation
    result = loop.end_tick(loop.begin_tick(1.05), np.array([0.1], np.float32), loop.engine.initial_state(1), 0.0)
    assert result.status == "fault" and result.twist.is_stop() and "not finite" in result.message


# S4 ------------------------------------------------------------------------------------------
def test_s4_velocity_mode_needs_as_many_outputs_as_it_maps(policy):
    loop = loop_of(policy)
    assert loop.outputs == 1
    with pytest.raises(ValueError, match="maps 2 outputs .* but the model has 1"):
        loop.set_config(ControlConfig(output_mode="velocity"))
    assert loop.config.output_mode == "steering", "the refused config did not replace the running one"
    assert ControlConfig(output_mode="velocity", velocity_outputs=("linear.x",)).check_for(1) == ""


def test_s4_max_gap_must_cover_two_control_periods():
    assert "max_gap_s 1 s is shorter than two control periods (2 s at 1 Hz)" in ControlConfig().check_for(1, 1.0)
    assert ControlConfig(max_gap_s=2.0).check_for(1, 1.0) == ""
    assert "max_gap_s 1 s" in ControlConfig().check_for(1, 1 / 1.5)
    assert ControlConfig().check_for(1, None) == "", "stepped on frames: no control period"


def test_s4_output_kind_back_to_auto_takes_the_cards_again(policy):
    loop = loop_of(policy)
    loop.set_config(ControlConfig(output_kind="yaw_rate"))
    assert loop.output_kind == loop.shaper.output_kind == "yaw_rate"
    loop.set_config(ControlConfig(output_kind="auto"))
    assert loop.output_kind == loop.shaper.output_kind == "curvature"


# S6 ------------------------------------------------------------------------------------------
def test_s6_no_time_passed_means_no_step_and_the_last_command_held(policy):
    loop = loop_of(policy)
    loop.on_frame(frame(), 1.0)
    first = loop.tick(1.0)
    state = loop.state
    again = loop.tick(1.0)  # a duplicate stamp, or the sim clock paused
    assert again.status == "hold" and again.outputs is None and again.dt is None
    assert again.twist == first.twist and loop.state is state, "the network was not stepped by invented time"
    assert loop.tick(1.05).dt == pytest.approx(0.05)


def test_s6_the_first_step_after_a_reset_uses_the_current_period(policy):
    loop = loop_of(policy)
    loop.nominal_dt = 0.1  # what the node sets when control_rate_hz changes to 10 Hz
    loop.on_frame(frame(), 1.0)
    assert loop.tick(1.0).dt == pytest.approx(0.1)


# S7 ------------------------------------------------------------------------------------------
S7_SCRIPT = """
import json, torch
from liquid_control.nets.policy import make_policy
from liquid_control.runtime.commands import ControlConfig
from liquid_control.runtime.engines import NativeEngine, load_engine
from liquid_control.runtime.fleet import FleetLoop
from liquid_control.runtime.loop import ControlLoop
torch.manual_seed(0)
policy = make_policy("ncp-cfc").eval()
engine = load_engine(policy, backend="native")
seen = {"before": len(engine.packed.kernel.signatures)}
ControlLoop(policy, ControlConfig(), None, engine=engine)
seen["loop"] = len(engine.packed.kernel.signatures)
seen["batch_before"] = len(engine.packed.batch_kernel.signatures)
FleetLoop([ControlLoop(policy, ControlConfig(), None, engine=engine) for _ in range(NativeEngine.batch_kernel_from)])
seen["fleet"] = len(engine.packed.batch_kernel.signatures)
print(json.dumps(seen))
"""


def test_s7_the_native_kernels_are_compiled_before_the_first_tick():
    """In a fresh interpreter (the kernels are module-wide: another test may have compiled them)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", S7_SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == 0 and seen["loop"] > 0, f"compiled when the loop is made, not on a tick: {seen}"
    assert seen["batch_before"] == 0 and seen["fleet"] > 0, f"a fleet compiles its batch kernel when made: {seen}"


def test_no_command_ever_leaves_the_limits(policy):
    loop = loop_of(policy, max_linear=1.0, speed=1.0, max_angular=0.5, output_kind="yaw_rate")
    loop.on_frame(frame(), 1.0)
    pending = loop.begin_tick(1.0)
    for value in (1e30, -1e30, 3.0):
        twist = loop.end_tick(pending, np.array([value], np.float32), loop.engine.initial_state(1), 0.0).twist
        assert abs(twist.angular_z) <= 0.5 and abs(twist.linear_x) <= 1.0
    assert Twist() == Twist(0.0, 0.0, 0.0, 0.0)
