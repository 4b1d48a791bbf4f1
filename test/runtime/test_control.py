"""The control loop without ROS: stepping, elapsed time, timeouts, resets, shaping and safety."""

import math

import numpy as np
import pytest
import torch

from liquid_control.nets.policy import make_policy
from liquid_control.runtime.commands import (
    CommandShaper,
    ControlConfig,
    Twist,
    output_kind_from_card,
    output_semantics_from_card,
)
from liquid_control.runtime.device import choose_device
from liquid_control.runtime.loop import ControlLoop

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
    assert result.status == "ok" and "since the last step" in result.reset
    assert result.dt == pytest.approx(loop.nominal_dt)


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
    (ControlConfig(velocity_outputs=("linear.x", "angular.z"), velocity_gains=(1.0,)), "one gain per"),
    (ControlConfig(velocity_outputs=("auto", "linear.x")), "velocity_outputs"),
    (ControlConfig(input_timeout_s=0), "input_timeout_s"),
    (ControlConfig(speed=9.0, max_linear=3.0), "within max_linear"),
])
def test_bad_control_configs(config, match):
    with pytest.raises(ValueError, match=match):
        config.validate()


def test_output_kind_comes_from_the_card():
    assert output_kind_from_card({"outputs": {"names": ["steering_angle"]}}) == "steering_angle"
    assert output_kind_from_card({"outputs": None}) == "curvature"


FOUR = ["linear.x", "linear.y", "linear.z", "angular.z"]
VELOCITY_CARD = {"outputs": {"mode": "velocity", "names": FOUR, "units": ["m/s", "m/s", "m/s", "rad/s"],
                             "frame": "body"}}
STEERING_CARD = {"outputs": {"mode": "steering", "names": ["yaw_rate"]}}
FAST = {"max_linear_accel": 1000.0, "max_angular_accel": 1000.0}  # no slew limit within a step


@pytest.fixture(scope="module")
def velocity_policy():
    torch.manual_seed(3)
    return make_policy("ncp-cfc", outputs=4).eval()


@pytest.mark.parametrize("outputs,expected", [
    (None, ("steering", "curvature")),
    ({"names": ["steering_angle"]}, ("steering", "steering_angle")),
    ({"names": ["throttle"]}, ("steering", "curvature")),
    ({"mode": "steering", "names": ["yaw_rate"]}, ("steering", "yaw_rate")),
    ({"names": ["linear.x", "angular.z"]}, ("velocity", ("linear.x", "angular.z"))),  # no mode: all twist fields
    ({"names": ["linear.x", "throttle"]}, ("steering", "curvature")),  # no mode, not all twist fields
    (VELOCITY_CARD["outputs"], ("velocity", tuple(FOUR))),
])
def test_output_semantics_from_the_card(outputs, expected):
    assert output_semantics_from_card({"outputs": outputs}) == expected
    assert output_kind_from_card({"outputs": outputs}) == (expected[1] if expected[0] == "steering" else "curvature")


@pytest.mark.parametrize("outputs,match", [
    ({"mode": "velocity", "names": ["vx", "linear.y", "wz"]},
     r"from linear.x, linear.y, linear.z, angular.z .*vx, wz unknown.*fix card.yaml"),
    ({"mode": "velocity", "names": ["curvature"]}, "curvature unknown"),
    ({"mode": "velocity"}, "got none"),
    ({"mode": "velocity", "names": ["linear.x", "linear.x"]}, "linear.x more than once"),
    ({"mode": "velocity", "names": ["linear.x", "angular.z"], "units": ["m/s", "deg/s"]},
     r"cmd_vel takes \['m/s', 'rad/s'\]"),
    ({"mode": "velocity", "names": ["linear.x"], "frame": "odom"}, "frame: body"),
    ({"mode": "fly", "names": ["linear.x"]}, "outputs.mode must be one of"),
])
def test_a_card_with_unusable_velocity_semantics_is_refused_with_what_to_fix(policy, outputs, match):
    with pytest.raises(ValueError, match=match):
        output_semantics_from_card({"outputs": outputs})
    with pytest.raises(ValueError, match=match):
        ControlLoop(policy, ControlConfig(), {"outputs": outputs})


def test_auto_takes_steering_and_its_kind_from_a_steering_card(policy):
    loop = ControlLoop(policy, ControlConfig(speed=1.5, **FAST), STEERING_CARD)
    assert ControlConfig().output_mode == "auto" and ControlConfig().velocity_outputs == ()
    assert (loop.config.output_mode, loop.output_kind) == ("steering", "yaw_rate")
    assert "steering: first output is yaw_rate" in loop.output_text and "mode from the model card" in loop.output_text
    loop.on_frame(_image(), 0.0)
    result = loop.tick(0.05)
    assert result.status == "ok"
    assert result.twist == Twist(linear_x=1.5, angular_z=pytest.approx(float(result.outputs[0])))


def test_auto_takes_velocity_and_its_fields_from_a_velocity_card(velocity_policy):
    loop = ControlLoop(velocity_policy, ControlConfig(**FAST), VELOCITY_CARD)
    assert (loop.config.output_mode, loop.config.velocity_outputs) == ("velocity", tuple(FOUR))
    assert loop.output_text == ("velocity: outputs drive linear.x, linear.y, linear.z, angular.z "
                                "(mode from the model card; fields from the model card)")
    loop.on_frame(_image(), 0.0)
    result = loop.tick(0.05)
    assert result.status == "ok" and len(result.outputs) == 4 and np.abs(result.outputs).max() > 0
    with torch.no_grad():
        y, _ = velocity_policy.step(torch.from_numpy(_image()).permute(2, 0, 1), 0.05)
    expected = np.clip(y.numpy().astype(np.float64), [-3, -3, -3, -2], [3, 3, 3, 2])  # the default clamps
    got = [result.twist.linear_x, result.twist.linear_y, result.twist.linear_z, result.twist.angular_z]
    assert np.allclose(got, expected, atol=1e-6), (got, expected)


def test_explicit_settings_override_the_card(policy, velocity_policy):
    steering = ControlLoop(velocity_policy, ControlConfig(output_mode="steering", speed=1.0), VELOCITY_CARD)
    assert (steering.config.output_mode, steering.output_kind) == ("steering", "curvature")
    assert "mode from the model card" not in steering.output_text
    config = ControlConfig(velocity_outputs=("angular.z", "linear.x"), **FAST)
    fields = ControlLoop(velocity_policy, config, VELOCITY_CARD)
    assert (fields.config.output_mode, fields.config.velocity_outputs) == ("velocity", ("angular.z", "linear.x"))
    fields.on_frame(_image(), 0.0)
    result = fields.tick(0.05)
    assert (result.twist.angular_z, result.twist.linear_x, result.twist.linear_y) == (
        pytest.approx(float(result.outputs[0])), pytest.approx(float(result.outputs[1])), 0.0)
    # Velocity mode on a card that names no twist fields: the default fields, which a 1-output model cannot fill.
    loop = ControlLoop(policy, ControlConfig(), STEERING_CARD)
    with pytest.raises(ValueError, match=r"maps 2 outputs \(linear.x, angular.z\) but the model has 1"):
        loop.set_config(ControlConfig(output_mode="velocity"))
    assert loop.config.output_mode == "steering", "the refused config did not replace the running one"
    # Gains are checked against the fields the card gives.
    with pytest.raises(ValueError, match="velocity_gains has 2 gains .* the model card's outputs.names, are 4"):
        ControlLoop(velocity_policy, ControlConfig(velocity_gains=(1.0, 2.0)), VELOCITY_CARD)
    loop = ControlLoop(velocity_policy, ControlConfig(velocity_gains=(1.0,) * 4), VELOCITY_CARD)
    assert loop.config.velocity_gains == (1.0,) * 4
    # ... in steering mode too (issue 24: accepted there, a later switch to velocity failed).
    steering = ControlLoop(velocity_policy, ControlConfig(output_mode="steering"), VELOCITY_CARD)
    with pytest.raises(ValueError, match="velocity_gains has 3 gains .* are 4"):
        steering.set_config(ControlConfig(output_mode="steering", velocity_gains=(1.0, 2.0, 3.0)))
    assert steering.config.velocity_gains == ()


def test_a_velocity_card_naming_more_outputs_than_the_model_has_is_refused():
    torch.manual_seed(0)
    two = make_policy("ncp-cfc", outputs=2).eval()
    config, _ = ControlConfig().resolve(VELOCITY_CARD)
    assert "maps 4 outputs (linear.x, linear.y, linear.z, angular.z) but the model has 2" in config.check_for(2)
    loop = ControlLoop(two, ControlConfig(), {"outputs": {"names": ["linear.x", "angular.z"]}})
    loop.card = VELOCITY_CARD  # as if the card were the 4-output one: set_config resolves against it
    with pytest.raises(ValueError, match="maps 4 outputs .* but the model has 2"):
        loop.set_config(ControlConfig())
    assert loop.config.velocity_outputs == ("linear.x", "angular.z")


def test_set_config_back_to_auto_takes_the_card_again(velocity_policy):
    loop = ControlLoop(velocity_policy, ControlConfig(output_mode="steering", output_kind="yaw_rate"), VELOCITY_CARD)
    assert (loop.config.output_mode, loop.output_kind) == ("steering", "yaw_rate")
    loop.set_config(ControlConfig(output_mode="velocity", velocity_outputs=("linear.x",)))
    assert loop.config.velocity_outputs == ("linear.x",) and loop.shaper.config is loop.config
    loop.set_config(ControlConfig(**FAST))
    assert (loop.config.output_mode, loop.config.velocity_outputs) == ("velocity", tuple(FOUR))
    assert loop.shaper.config is loop.config and "fields from the model card" in loop.output_text
    assert loop.requested_config.output_mode == "auto"
    loop.on_frame(_image(), 0.0)
    result = loop.tick(0.05)
    assert result.twist.linear_z == pytest.approx(float(np.clip(result.outputs[2], -3, 3)))
    assert result.twist.angular_z == pytest.approx(float(np.clip(result.outputs[3], -2, 2)))


def test_device_choice():
    assert choose_device("cpu") == "cpu"
    assert choose_device("auto") in ("cpu", "cuda")
    with pytest.raises(ValueError, match="cpu"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            choose_device("cuda")
