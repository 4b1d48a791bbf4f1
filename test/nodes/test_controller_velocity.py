"""controller_node takes its output mode from the model card: a 4-output velocity policy, started with no
output setting at all (output_mode, velocity_outputs and velocity_gains at their defaults, the two lists
given as [] through a params file), drives linear.x, linear.y, linear.z and angular.z with its outputs.

The probe drives the node's clock (use_sim_time) and triggers the steps with frames (trigger:=frame), so
the elapsed times are exactly known and the commands can be compared with the policy stepped here.
"""

import os
import time

import numpy as np
import pytest
import torch
from std_srvs.srv import Trigger

from liquid_control.nets import save_model
from liquid_control.nets.policy import make_policy

from .harness import NodeProcess
from .test_controller_node import ControllerProbe

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

FIELDS = ["linear.x", "linear.y", "linear.z", "angular.z"]
SHAPE = (3, 64, 64)  # about the smallest image the conv head takes (five 5x5/3x3 convolutions)
STARTUP_S = 60.0
LIMITS = np.array([3.0, 3.0, 3.0, 2.0])  # the default max_linear (each axis) and max_angular


def _frame(seed: int) -> np.ndarray:
    return (0.5 * np.random.default_rng(seed).normal(size=(SHAPE[1], SHAPE[2], SHAPE[0]))).astype(np.float32)


def _twist(message) -> list[float]:
    return [message.linear.x, message.linear.y, message.linear.z, message.angular.z]


@pytest.fixture(scope="module")
def velocity_model(tmp_path_factory):
    torch.manual_seed(7)
    policy = make_policy("ncp-cfc", image_shape=SHAPE, outputs=4).eval()
    folder = tmp_path_factory.mktemp("velocity_model") / "drone"
    # Normalised to mean 0.5, std 0.1: the frames above (within about +-2.5) are ones it can produce.
    save_model(policy, folder, preprocessing={"size": list(SHAPE[1:]), "mean": [0.5] * 3, "std": [0.1] * 3},
               outputs={"mode": "velocity", "names": FIELDS, "units": ["m/s", "m/s", "m/s", "rad/s"], "frame": "body"})
    return folder, policy


@pytest.fixture(scope="module")
def controller(velocity_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("controller_velocity")
    # Empty lists through a params file: rcl reads them as unset, which is "from the card" / "all 1".
    params = folder / "params.yaml"
    params.write_text("/**/controller_node:\n  ros__parameters:\n    velocity_outputs: []\n    velocity_gains: []\n")
    node_process = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ), folder / "node.log", params,
                               [f"model_path:={velocity_model[0]}", "use_sim_time:=true", "trigger:=frame",
                                "backend:=torch", "max_linear_accel:=1000.0", "max_angular_accel:=1000.0",
                                "diagnostics_rate_hz:=20.0"])
    probe = ControllerProbe(node_process)
    try:
        probe.spin_until(lambda: probe.images.get_subscription_count() > 0
                         and probe.node.count_publishers("cmd_vel") > 0,
                         "the controller to come up", STARTUP_S)
        # Discovery is not symmetric: a best-effort frame may be lost until the node's reader sees ours.
        deadline = time.monotonic() + STARTUP_S
        while not probe.outputs and time.monotonic() < deadline:
            probe.send_frame(_frame(0))
            end = time.monotonic() + 0.2
            probe.spin_until(lambda: probe.outputs or time.monotonic() > end, "a first step")
        assert probe.outputs, "the controller never stepped on a frame"
        yield probe
    finally:
        probe.close()
        node_process.interrupt()


def _step(probe, image, dt):
    """Send a frame; wait for its policy_output and the (moving) command of that step."""
    commands, outputs = len(probe.commands), len(probe.outputs)
    probe.send_frame(image, dt)
    moving = lambda: [c for c in probe.commands[commands:] if any(_twist(c))]  # noqa: E731 - not a watchdog stop
    probe.spin_until(lambda: len(probe.outputs) > outputs and moving(), "the command of the frame's step")
    return moving()[-1], list(probe.outputs[-1].data)


def test_velocity_mode_and_fields_come_from_the_card(controller, velocity_model):
    policy = velocity_model[1]
    text = ("velocity: outputs drive linear.x, linear.y, linear.z, angular.z "
            "(mode from the model card; fields from the model card)")
    controller.wait_for_log(f"output {text}")
    controller.spin_until(lambda: controller.latest_diagnostics().get("output") == text,
                          "the output mode in /diagnostics")

    assert controller.call(controller.reset_client, Trigger.Request(), "reset").success  # a fresh state, as here
    state, dts = None, [0.05, 0.07, 0.04, 0.05, 0.09]
    for index, dt in enumerate(dts):
        command, outputs = _step(controller, _frame(10 + index), dt)
        with torch.no_grad():  # the first step after a reset uses the nominal period (20 Hz)
            image = torch.from_numpy(_frame(10 + index)).permute(2, 0, 1)
            y, state = policy.step(image, 0.05 if index == 0 else dt, state)
        expected = y.numpy().astype(np.float64)
        assert np.allclose(outputs, expected, atol=1e-5), (outputs, expected)
        # Each output drives its own twist field (within the clamps): no speed parameter, no steering.
        assert np.allclose(_twist(command), np.clip(expected, -LIMITS, LIMITS), atol=1e-5), (_twist(command), expected)
        assert min(abs(value) for value in _twist(command)) > 0, "every field is driven"
