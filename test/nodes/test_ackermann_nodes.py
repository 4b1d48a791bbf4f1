"""Ackermann commands between real node processes: controller_node publishes ackermann_msgs/AckermannDriveStamped
on ``drive`` (command_type ackermann), lane_sim_node drives its car with them.

The controller's probe drives its clock and triggers its steps with frames (as test_controller_node does),
so each published steering angle can be checked against the policy output of the same step.
"""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from ackermann_msgs.msg import AckermannDriveStamped
from builtin_interfaces.msg import Time
from lifecycle_msgs.msg import Transition
from nav_msgs.msg import Odometry

from liquid_control.nodes.controller.messages import COMMAND_BUILDERS, command_values
from liquid_control.nodes.controller.settings import check_startup, default_values
from liquid_control.runtime.commands import Twist

from . import harness
from .test_controller_node import RESEND_S, ControllerProbe, _frame, _model

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

STARTUP_S = 60.0
SPEED, WHEELBASE, MAX_ANGULAR = 1.5, 0.33, 2.0  # WHEELBASE: an F1TENTH car's, not the controller's default


class AckermannProbe(ControllerProbe):
    def __init__(self, node_process):
        super().__init__(node_process)
        self.drives = []
        self.node.create_subscription(AckermannDriveStamped, "drive", self.drives.append, 50)

    def ackermann_step(self, image: np.ndarray, expected_steering) -> AckermannDriveStamped:
        """Send a frame; wait for the policy's output of its step, then for the drive command whose steering
        angle is ``expected_steering(output)`` (commands and outputs travel on two topics: either may come first)."""
        drives, outputs = len(self.drives), len(self.outputs)
        message = self.send_frame(image)
        # A best-effort frame lost on a busy machine goes again (same stamp), as in ControllerProbe.step.
        self.spin_until(lambda: len(self.outputs) > outputs, "the policy output of the frame's step",
                        resend=lambda: self.images.publish(message), resend_every=RESEND_S, resend_now=False)
        expected = expected_steering(self.outputs[-1].data[0])
        matching = lambda: [d for d in self.drives[drives:]  # noqa: E731
                            if d.drive.speed != 0.0 and abs(d.drive.steering_angle - expected) < 1e-6]
        self.spin_until(matching, f"a drive command steering {expected:.6f} rad (got "
                        f"{[round(d.drive.steering_angle, 6) for d in self.drives[drives:]]} so far)")
        return matching()[-1]


@pytest.fixture(scope="module")
def controller(tmp_path_factory):
    folder = tmp_path_factory.mktemp("controller_ackermann")
    _model(folder / "model")
    node_process = harness.NodeProcess("liquid_control.nodes.controller.main", dict(os.environ), folder / "node.log",
                                       None, [f"model_path:={folder / 'model'}", "use_sim_time:=true",
                                              "trigger:=frame", "command_type:=ackermann", f"speed:={SPEED}",
                                              f"wheelbase:={WHEELBASE}", f"max_angular:={MAX_ANGULAR}",
                                              "max_linear_accel:=100.0", "max_angular_accel:=1000.0",
                                              "frame_id:=car_base"])
    probe = AckermannProbe(node_process)
    try:
        probe.spin_until(lambda: probe.images.get_subscription_count() > 0 and probe.node.count_publishers("drive"),
                         "the controller to come up", STARTUP_S)
        probe.first_step()
        yield probe
    finally:
        probe.close()
        node_process.interrupt()


def test_the_controller_steers_by_atan_of_wheelbase_times_curvature(controller):
    assert controller.node.count_publishers("cmd_vel") == 0, "ackermann replaces cmd_vel"
    def steering(curvature: float) -> float:
        yaw_rate = min(max(SPEED * curvature, -MAX_ANGULAR), MAX_ANGULAR)  # the shaped Twist, within its limits
        return math.atan(WHEELBASE * yaw_rate / SPEED)

    for index in range(4):
        message = controller.ackermann_step(_frame(20 + index), steering)
        assert message.drive.speed == SPEED and message.header.frame_id == "car_base"
        assert message.drive.steering_angle != 0.0


def test_deactivation_stops_with_straight_wheels(controller):
    drives = len(controller.drives)
    assert controller.transition(Transition.TRANSITION_DEACTIVATE)
    controller.spin_until(lambda: len(controller.drives) > drives, "the stop")
    stop = controller.drives[-1].drive
    assert (stop.speed, stop.steering_angle) == (0.0, 0.0)
    assert controller.transition(Transition.TRANSITION_ACTIVATE)


def test_the_older_twist_stamped_switch_cannot_contradict_command_type():
    values = {**default_values(), "command_type": "ackermann", "twist_stamped": True}
    with pytest.raises(ValueError, match="twist_stamped is true .* command_type is ackermann"):
        check_startup(values)
    check_startup({**values, "command_type": "twist_stamped"})


def test_drive_messages_built_and_read_back_as_a_twist():
    """What controller_node publishes (and, in shadow mode, reads of the command that drives the car)."""
    build = COMMAND_BUILDERS["ackermann"]
    message = build(Twist(linear_x=2.0, angular_z=0.8), Time(sec=4), "base_link", 0.5)
    assert message.header.stamp == Time(sec=4) and message.header.frame_id == "base_link"
    assert message.drive.speed == 2.0 and message.drive.steering_angle == pytest.approx(math.atan(0.5 * 0.4), abs=1e-7)
    assert command_values(message, ("linear.x", "angular.z"), 0.5) == pytest.approx([2.0, 0.8], abs=1e-6)
    stop = build(Twist(), Time(sec=5), "base_link", 0.5).drive
    assert (stop.speed, stop.steering_angle, stop.acceleration, stop.steering_angle_velocity) == (0.0, 0.0, 0.0, 0.0)


class SimProbe(harness.Probe):
    def __init__(self, node_process):
        super().__init__(node_process, "lane_sim_ackermann_probe")
        self.odometry = []
        self.node.create_subscription(Odometry, "odom", self.odometry.append, 10)
        self.drive = self.node.create_publisher(AckermannDriveStamped, "drive", 10)

    def send(self, speed: float, steering_angle: float) -> None:
        message = AckermannDriveStamped()
        message.header.stamp = self.node.get_clock().now().to_msg()
        message.drive.speed, message.drive.steering_angle = speed, steering_angle
        self.drive.publish(message)


def test_the_lane_sim_drives_the_car_with_ackermann_commands(tmp_path):
    """Speed and steering angle as the car takes them: the yaw rate is speed * tan(steering) / wheelbase."""
    node_process = harness.NodeProcess("liquid_control.nodes.lane_sim_node", dict(os.environ), tmp_path / "node.log",
                                       harness.REPO_ROOT / "config" / "lane_sim.yaml",
                                       ["mode:=realtime", "command_type:=ackermann"])
    probe = SimProbe(node_process)
    speed, steering, wheelbase = 1.0, 0.2, 0.5  # CarSpec's wheelbase
    try:
        probe.spin_until(lambda: probe.odometry and probe.drive.get_subscription_count() > 0,
                         "the simulator to come up", STARTUP_S)
        turning = lambda: abs(probe.odometry[-1].twist.twist.angular.z - speed * math.tan(steering) / wheelbase) < 0.05  # noqa: E731,E501
        probe.spin_until(lambda: probe.odometry[-1].twist.twist.linear.x > 0.9 and turning(),
                         "the car to turn as the command says", resend=lambda: probe.send(speed, steering),
                         resend_every=0.1)
    finally:
        probe.close()
        node_process.interrupt()


@pytest.mark.parametrize("module, parameters, named", [
    ("lane_sim_node", ["command_type:=ackermann", "cmd_vel_stamped:=true"],
     "cmd_vel_stamped is true (TwistStamped) but command_type is ackermann"),
    ("drone_sim_node", ["command_type:=ackermann"], "command_type must be one of twist, twist_stamped, got"),
])
def test_a_sim_node_refuses_a_command_type_it_cannot_take(ros_env, module, parameters, named):
    node = harness.run_to_exit([sys.executable, "-m", f"liquid_control.nodes.{module}", "--ros-args",
                                *[arg for parameter in parameters for arg in ("-p", parameter)]], ros_env)
    output = (node.stdout + node.stderr).strip()
    assert node.returncode == 2 and named in output and len(output.splitlines()) == 1, output


def test_without_ackermann_msgs_only_command_type_ackermann_is_refused(ros_env):
    """A pip install has no ackermann_msgs: the nodes import and run without it; asked for it, they say why."""
    hide = "import sys; sys.modules['ackermann_msgs'] = None; "
    imports = subprocess.run([sys.executable, "-c", hide + "import liquid_control.nodes.controller.node, "
                              "liquid_control.nodes.lane_sim_node, liquid_control.cli.program"],
                             env=ros_env, capture_output=True, text=True, timeout=60)
    assert imports.returncode == 0, imports.stderr
    node = harness.run_to_exit([sys.executable, "-c", hide + "from liquid_control.nodes.lane_sim_node import main; "
                                "sys.exit(main())", "--ros-args", "-p", "command_type:=ackermann"], ros_env)
    output = (node.stdout + node.stderr).strip()
    assert node.returncode == 2 and "needs the ackermann_msgs message package" in output, output
    assert len(output.splitlines()) == 1, output
