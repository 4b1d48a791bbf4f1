"""controller_node's parameter table and the checks of its values, without ROS running."""

import pytest

from liquid_control.nodes.controller.settings import (
    SETTINGS,
    check_startup,
    control_config,
    control_period,
    default_values,
)


def test_the_defaults_start():
    values = default_values()
    check_startup(values)
    assert control_period(values) == pytest.approx(1 / 20.0)
    assert control_config(values).output_mode == "auto"


def test_every_setting_is_described_once():
    names = [setting.name for setting in SETTINGS]
    assert len(names) == len(set(names))
    assert all(setting.description.strip() for setting in SETTINGS)


@pytest.mark.parametrize("name, value, message", [
    ("backend", "tensorrt", "backend must be"),
    ("input", "lidar", "input must be"),
    ("trigger", "clock", "trigger must be"),
    ("device", "tpu", "device must be"),
    ("velocity_outputs", ["linear.w"], "velocity_outputs may only name"),
    ("speed", 5.0, "within max_linear"),
])
def test_values_the_node_cannot_start_with_are_refused_with_the_reason(name, value, message):
    with pytest.raises(ValueError, match=message):
        check_startup({**default_values(), name: value})


def test_frame_triggered_steps_have_no_period_and_unset_lists_mean_the_card():
    values = {**default_values(), "trigger": "frame", "velocity_outputs": None, "velocity_gains": []}
    assert control_period(values) is None
    config = control_config(values)
    assert config.velocity_outputs == () and config.velocity_gains == ()
