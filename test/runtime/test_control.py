"""The control loop without ROS: stepping, elapsed time, timeouts, resets, shaping and safety."""

import math

import numpy as np
import pytest
import torch

from liquid_control.nets.policy import make_policy
from liquid_control.runtime.control import (CommandShaper, ControlConfig, ControlLoop, Twist, choose_device,
                                            output_kind_from_card)

FRAME = np.zeros((66, 200, 3), np.float32)


@pytest.fixture
def policy():
    torch.manual_seed(0)
    return make_policy("ncp-cfc").eval()


def _image(seed=0):
    return np.random.default_rng(seed).normal(size=(66, 200, 3)).astype(np.float32)


def test_steps_on_the_newest_frame_with_the_real_elapsed_time(policy):
    loop = ControlLoop(policy, ControlConfig(), nominal_dt=0.05)
    assert loop.on_frame(_image(), stamp=10.0) == ""
    first = loop.tick(10.02)
    assert first.status == "ok" and first.dt == pytest.approx(0.05), "the first step uses the nominal period"
    loop.on_frame(_image(1), stamp=10.05)
    second = loop.tick(10.09)
    assert second.dt == pytest.approx(0.07) and second.input_age == pytest.approx(0.04)
    # The same two steps by hand give the same outputs.
    with torch.no_grad():
        y1, state = policy.step(torch.from_numpy(_image()).permute(2, 0, 1), 0.05)
        y2, _ = policy.step(torch.from_numpy(_image(1)).permute(2, 0, 1), 0.07, state)
    assert np.allclose(first.outputs, y1.numpy(), atol=1e-6) and np.allclose(second.outputs, y2.numpy(), atol=1e-6)


def test_no_input_and_stale_input_command_a_stop_and_reset(policy):
    loop = ControlLoop(policy, ControlConfig(input_timeout_s=0.3))
    result = loop.tick(1.0)
    assert result.status == "no_input" and result.twist.is_stop()
    loop.on_frame(_image(), stamp=1.0)
    assert loop.tick(1.1).status == "ok" and loop.state is not None
    stale = loop.tick(1.5)
    assert stale.status == "stale_input" and stale.twist.is_stop() and stale.reset == "stale input"
    assert loop.state is None


def test_time_going_backwards_resets_the_state(policy):
    loop = ControlLoop(policy, ControlConfig())
    loop.on_frame(_image(), stamp=5.0)
    loop.tick(5.05)
    result = loop.tick(1.0)  # a bag looped
    assert result.reset == "time went backwards" and result.status == "no_input"
    loop.on_frame(_image(), stamp=1.0)
    after = loop.tick(1.05)
    assert after.status == "ok" and after.dt == pytest.approx(loop.nominal_dt)


def test_a_long_gap_resets_before_stepping(policy):
    loop = ControlLoop(policy, ControlConfig(max_gap_s=0.5, input_timeout_s=5.0))
    loop.on_frame(_image(), stamp=0.0)
    loop.tick(0.05)
    loop.on_frame(_image(), stamp=2.0)
    result = loop.tick(2.0)
    assert result.status == "ok" and "since the last step" in result.reset and result.dt == pytest.approx(loop.nominal_dt)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "native"])
def test_non_finite_network_output_stops_and_resets(policy, backend):
    healthy = ControlLoop(policy, ControlConfig(), backend=backend)
    healthy.on_frame(_image(), stamp=0.0)
    assert healthy.tick(0.05).status == "ok" and healthy.state is not None
    # The engine reads the weights when it is built: a network whose weights went bad.
    with torch.no_grad():
        for parameter in policy.core.parameters():
            parameter.fill_(float("nan"))
    loop = ControlLoop(policy, ControlConfig(), backend=backend)
    loop.on_frame(_image(), stamp=0.0)
    result = loop.tick(0.05)
    assert result.status == "fault" and result.twist.is_stop() and loop.state is None
    assert "NaN" in result.message and loop.resets == 1
@pytest.mark.parametrize("image,match", [
    (np.zeros((66, 200, 3), np.uint8), "float32"),
    (np.zeros((60, 200, 3), np.float32), "the policy needs 66x200x3"),
    (np.full((66, 200, 3), np.nan, np.float32), "NaN"),
])
def test_bad_frames_are_refused_and_not_kept(policy, image, match):
    loop = ControlLoop(policy, ControlConfig())
    assert match in loop.on_frame(image, 0.0)
    assert loop.frame is None


@pytest.mark.parametrize("kind,output,expected", [
    ("curvature", 0.2, 2.0 * 0.2),
    ("yaw_rate", 0.3, 0.3),
    ("steering_angle", 0.1, 2.0 * math.tan(0.1) / 0.5),
])
def test_steering_outputs_become_yaw_rates(kind, output, expected):
    shaper = CommandShaper(ControlConfig(speed=2.0, wheelbase=0.5, max_linear_accel=100, max_angular_accel=100), kind)
    twist = shaper.shape(np.array([output]), dt=1.0)
    assert twist.linear_x == pytest.approx(2.0) and twist.angular_z == pytest.approx(expected)


def test_clamps_and_slew_rate_limits():
    config = ControlConfig(speed=2.0, max_angular=1.0, max_linear_accel=1.0, max_angular_accel=2.0)
    shaper = CommandShaper(config, "yaw_rate")
    first = shaper.shape(np.array([5.0]), dt=0.1)
    assert first.linear_x == pytest.approx(0.1) and first.angular_z == pytest.approx(0.2)
    for _ in range(50):
        last = shaper.shape(np.array([5.0]), dt=0.1)
    assert last.linear_x == pytest.approx(2.0) and last.angular_z == pytest.approx(1.0)


def test_velocity_mode_maps_outputs_to_twist_fields():
    config = ControlConfig(output_mode="velocity", velocity_outputs=("linear.x", "linear.z", "angular.z"),
                           velocity_gains=(1.0, 0.5, -1.0), max_linear_accel=100, max_angular_accel=100)
    twist = CommandShaper(config, "curvature").shape(np.array([1.0, 0.4, 0.3]), dt=1.0)
    assert twist == Twist(linear_x=1.0, linear_y=0.0, linear_z=0.2, angular_z=-0.3)
    with pytest.raises(ValueError, match="has 2 outputs"):
        CommandShaper(config, "curvature").shape(np.array([1.0, 2.0]), dt=1.0)


@pytest.mark.parametrize("config,match", [
    (ControlConfig(output_mode="fly"), "output_mode"),
    (ControlConfig(output_kind="torque"), "output_kind"),
    (ControlConfig(velocity_outputs=("angular.x",)), "velocity_outputs"),
    (ControlConfig(velocity_gains=(1.0,)), "one gain per"),
    (ControlConfig(input_timeout_s=0), "input_timeout_s"),
    (ControlConfig(speed=9.0, max_linear=3.0), "within max_linear"),
])
def test_bad_control_configs(config, match):
    with pytest.raises(ValueError, match=match):
        config.validate()


def test_output_kind_comes_from_the_card():
    assert output_kind_from_card({"outputs": {"names": ["steering_angle"]}}) == "steering_angle"
    assert output_kind_from_card({"outputs": None}) == "curvature"


def test_device_choice():
    assert choose_device("cpu") == "cpu"
    assert choose_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="cpu"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            choose_device("cuda")
