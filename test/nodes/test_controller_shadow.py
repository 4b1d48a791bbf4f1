"""controller_node in shadow mode, in a real process: the policy runs on the frames but never
publishes on cmd_vel; it listens to the cmd_vel that drives the robot and reports the agreement.

The probe plays the robot's driver: it publishes a constant driving command on cmd_vel before
each frame, so every command the policy would have sent pairs with it, and the reported errors
can be recomputed from the shadow commands received.
"""

import os

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image

from liquid_control.data.images import float_image_fields
from liquid_control.nets import save_model
from liquid_control.nets.policy import make_policy

from .harness import NodeProcess, Probe, ros_time

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

SHAPE = (3, 64, 64)
STARTUP_S = 60.0
DRIVING_YAW_RATE = 0.3  # rad/s, what the "person" commands
TOLERANCE = 0.05


class ShadowProbe(Probe):
    def __init__(self, node_process):
        super().__init__(node_process, "shadow_probe")
        node = self.node
        self.shadow_commands, self.diagnostics = [], []
        node.create_subscription(Twist, "controller_node/shadow/cmd_vel", self.shadow_commands.append, 50)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.driving = node.create_publisher(Twist, "cmd_vel", 10)
        self.images = node.create_publisher(Image, "image_preprocessed", qos_profile_sensor_data)
        self.clock = node.create_publisher(Clock, "/clock", 10)
        self.now = 100.0
        self.driven = 0  # driving commands published

    def drive(self) -> None:
        """Advance the clock 0.05 s and publish the driving command; wait until the node has it
        (its /diagnostics count it), so that it is in force at the next frame's step."""
        self.now += 0.05
        self.clock.publish(Clock(clock=ros_time(self.now)))
        command = Twist()
        command.linear.x, command.angular.z = 1.5, DRIVING_YAW_RATE
        self.driving.publish(command)
        self.driven += 1
        self.spin_until(lambda: self.diagnostics and int(_diagnostic_values(self.diagnostics[-1]).get(
            "shadow_driving_commands", 0)) >= self.driven, "the node to hear the driving command")

    def send_frame(self, image: np.ndarray) -> Image:
        message = Image(**float_image_fields(image))
        message.header.stamp = ros_time(self.now)
        self.images.publish(message)
        return message


def _diagnostic_values(array) -> dict:
    return {kv.key: kv.value for status in array.status if status.name.startswith("controller_node")
            for kv in status.values}


@pytest.fixture(scope="module")
def shadow(tmp_path_factory):
    torch.manual_seed(3)
    folder = tmp_path_factory.mktemp("shadow")
    model = folder / "steering"
    save_model(make_policy("ncp-cfc", image_shape=SHAPE, outputs=1).eval(), model,
               preprocessing={"size": list(SHAPE[1:]), "mean": [0.5] * 3, "std": [0.1] * 3},
               outputs={"mode": "steering", "names": ["yaw_rate"], "units": ["rad/s"]})
    node_process = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ), folder / "node.log", None,
                               [f"model_path:={model}", "use_sim_time:=true", "trigger:=frame", "backend:=torch",
                                "shadow:=true", f"shadow_tolerance:={TOLERANCE}", "speed:=1.5",
                                "max_angular_accel:=1000.0", "max_linear_accel:=1000.0", "diagnostics_rate_hz:=20.0"])
    probe = ShadowProbe(node_process)
    try:
        probe.spin_until(lambda: probe.images.get_subscription_count() > 0
                         and probe.driving.get_subscription_count() > 0,
                         "the shadow controller to come up", STARTUP_S)
        # The node's sim clock starts at 0: until it has taken a /clock, a driving command would be
        # timed at 0 (its diagnostics are stamped on that clock).
        probe.spin_until(lambda: probe.diagnostics and probe.diagnostics[-1].header.stamp.sec >= 100,
                         "the node to take the sim clock",
                         resend=lambda: probe.clock.publish(Clock(clock=ros_time(probe.now))))
        yield probe
    finally:
        probe.close()
        node_process.interrupt()


def test_shadow_mode_never_drives_and_reports_its_agreement_with_the_driver(shadow):
    rng = np.random.default_rng(0)
    frames = [(0.5 + 0.3 * rng.normal(size=(SHAPE[1], SHAPE[2], SHAPE[0]))).astype(np.float32) for _ in range(30)]
    for image in frames:
        count = len(shadow.shadow_commands)
        shadow.drive()
        message = shadow.send_frame(image)
        shadow.spin_until(lambda: len(shadow.shadow_commands) > count and shadow.shadow_commands[-1].linear.x != 0.0,
                          "the shadow command of the frame", resend=lambda m=message: shadow.images.publish(m),
                          resend_every=1.0, resend_now=False)
    # Nothing but the driver publishes cmd_vel: the controller only listens there.
    publishers = shadow.node.get_publishers_info_by_topic("/cmd_vel")
    assert [p.node_name for p in publishers] == ["shadow_probe"]
    assert any(s.node_name == "controller_node" for s in shadow.node.get_subscriptions_info_by_topic("/cmd_vel"))

    moving = [c.angular.z for c in shadow.shadow_commands if c.linear.x != 0.0]
    shadow.spin_until(lambda: shadow.diagnostics and int(_diagnostic_values(shadow.diagnostics[-1]).get(
        "shadow_pairs", 0)) + int(_diagnostic_values(shadow.diagnostics[-1]).get("shadow_unpaired", 0)) >= len(moving),
        "a diagnostics message counting every shadow command")
    values = _diagnostic_values(shadow.diagnostics[-1])
    errors = np.abs(np.array(moving) - DRIVING_YAW_RATE)
    assert (values["shadow"], values["shadow_pairs"], values["shadow_unpaired"]) == ("true", str(len(moving)), "0"), \
        values
    assert float(values["shadow_angular.z_error_p50"]) == pytest.approx(np.percentile(errors, 50), abs=2e-4)
    assert float(values["shadow_angular.z_error_p95"]) == pytest.approx(np.percentile(errors, 95), abs=2e-4)
    assert float(values["shadow_angular.z_within_tolerance"]) == pytest.approx(np.mean(errors <= TOLERANCE), abs=1e-4)
    assert float(values["shadow_angular.z_sign_agreement"]) == pytest.approx(np.mean(np.array(moving) > 0), abs=1e-4)
