"""px4_bridge as PX4 meets it: a real node process fed cmd_vel and VehicleOdometry over DDS.

The probe plays the policy (cmd_vel) and PX4 (VehicleOdometry best effort, as PX4's uXRCE-DDS
bridge publishes it, and VehicleStatus) and records what the bridge sends PX4. Two bridges start
together (their start-ups overlap), in their own namespaces, which also checks that the relative
topic names follow a namespace: /no_status (no status topic, arm false) and /status (arm true,
status from the probe). The state machine's cases are unit-tested in test/autopilots.
"""
import math
import os
import time
from pathlib import Path

import pytest
from geometry_msgs.msg import Twist

from . import harness

pytestmark = [
    pytest.mark.ros,
    pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning"),
]
import px4_msgs.msg as px4_msgs  # built from msgs/ into both test venvs (make): fail loudly, never skip

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / 'config' / 'px4_bridge.yaml'
MODULE = 'liquid_control.nodes.autopilots.px4_bridge'
STARTUP_S = 30.0
EAST = [math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)]  # PX4's q (w, x, y, z): heading east
COMMAND = (1.0, 0.5, 0.2, 0.3)  # forward, left, up (m/s), yaw rate (rad/s, counter-clockwise)
DO_SET_MODE, ARM_DISARM = 176, 400
POSCTL, OFFBOARD, ARMED = 2, 14, 2


class Probe(harness.Probe):
    """The policy and PX4 in one: sends cmd_vel, odometry (and status), records the bridge's output."""

    def __init__(self, node_process: harness.NodeProcess, name: str):
        super().__init__(node_process, name)
        self.modes, self.setpoints, self.commands = [], [], []
        self.command = COMMAND  # None: the policy is silent
        node = self.node
        node.create_subscription(px4_msgs.OffboardControlMode, 'fmu/in/offboard_control_mode', self.modes.append, 10)
        node.create_subscription(px4_msgs.TrajectorySetpoint, 'fmu/in/trajectory_setpoint', self.setpoints.append, 10)
        node.create_subscription(px4_msgs.VehicleCommand, 'fmu/in/vehicle_command', self.commands.append, 10)
        self.cmd_vel = node.create_publisher(Twist, 'cmd_vel', 10)
        self.odometry = node.create_publisher(px4_msgs.VehicleOdometry, 'fmu/out/vehicle_odometry', 10)
        self.status = node.create_publisher(px4_msgs.VehicleStatus, 'fmu/out/vehicle_status_v4', 10)
        self.nav_state, self.arming_state = POSCTL, 1
        node.create_timer(0.05, self._send)  # the policy and PX4 at 20 Hz

    def _send(self) -> None:
        odometry = px4_msgs.VehicleOdometry(pose_frame=1)
        odometry.q = EAST
        self.odometry.publish(odometry)
        self.status.publish(px4_msgs.VehicleStatus(nav_state=self.nav_state, arming_state=self.arming_state))
        if self.command is not None:
            twist = Twist()
            twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.z = self.command
            self.cmd_vel.publish(twist)


@pytest.fixture(scope='module')
def bridges(tmp_path_factory):
    folder = tmp_path_factory.mktemp('px4_bridge')
    timing = ('cmd_timeout_s:=0.3', 'failsafe_after_s:=0.6', 'setpoints_before_switch:=5')
    no_status = harness.NodeProcess(MODULE, dict(os.environ), folder / 'no_status.log', PARAMS_FILE,
                                    (*timing, 'status_topic:=""'), namespace='/no_status')
    with_status = harness.NodeProcess(MODULE, dict(os.environ), folder / 'status.log', PARAMS_FILE,
                                      (*timing, 'arm:=true', 'command_retry_s:=0.5'), namespace='/status')
    probes = Probe(no_status, 'px4_probe'), Probe(with_status, 'px4_status_probe')
    try:
        yield probes
    finally:
        for probe in probes:
            probe.close()
            probe.node_process.interrupt()


def is_nan(values) -> bool:
    return all(math.isnan(value) for value in values)


def test_offboard_sequence_setpoints_in_ned_and_failsafe(bridges):
    probe = bridges[0]
    probe.spin_until(lambda: probe.commands and len(probe.setpoints) >= 3, 'the offboard request', STARTUP_S)
    # The heartbeat: velocity control, at >= 10 Hz by the timestamps (microseconds) the bridge writes.
    heartbeats = probe.wait_for_more(probe.modes, 20, 'heartbeats')
    assert all(mode.velocity and not mode.position and not mode.acceleration for mode in heartbeats)
    span_s = (heartbeats[-1].timestamp - heartbeats[0].timestamp) * 1e-6
    assert (len(heartbeats) - 1) / span_s >= 10.0
    # Offboard requested once, after the heartbeats; never armed (arm defaults to false).
    assert [(c.command, c.param1, c.param2) for c in probe.commands] == [(DO_SET_MODE, 1.0, 6.0)]
    assert probe.commands[0].target_system == 1 and probe.commands[0].from_external
    # Facing east: forward 1 is east, left 0.5 is north, up 0.2 is -0.2 down, yaw rate CCW 0.3 is -0.3.
    setpoint = probe.setpoints[-1]
    assert list(setpoint.velocity) == pytest.approx([0.5, 1.0, -0.2], abs=1e-6)
    assert setpoint.yawspeed == pytest.approx(-0.3)
    assert is_nan(setpoint.position) and is_nan(setpoint.acceleration) and is_nan(setpoint.jerk)
    assert math.isnan(setpoint.yaw) and setpoint.timestamp > 0
    # The policy stops: hover (zero velocity, heading kept), then the heartbeat stops for good.
    stops_logged = stops(probe)  # there may be one from the start-up, before the probe's first command
    probe.command = None
    probe.spin_until(lambda: list(probe.setpoints[-1].velocity) == [0.0, 0.0, 0.0], 'a hover setpoint')
    hover = probe.setpoints[-1]
    assert hover.yawspeed == 0.0 and math.isnan(hover.yaw) and is_nan(hover.position)
    probe.spin_until(lambda: stops(probe) > stops_logged, 'the stop in the log')
    probe.command = COMMAND  # the policy is back, but after a failsafe the bridge stays silent
    spin_for(probe, 0.3)  # what was in flight when the log line was written
    stopped_at = len(probe.modes), len(probe.setpoints), len(probe.commands)
    spin_for(probe, 1.0)  # 20 heartbeat periods
    assert (len(probe.modes), len(probe.setpoints), len(probe.commands)) == stopped_at


def test_with_status_arms_when_told_and_sends_setpoints_only_in_offboard(bridges):
    probe = bridges[1]
    probe.spin_until(lambda: len(probe.commands) >= 4, 'the offboard request, repeated', STARTUP_S)
    # PX4 stays in Position mode: the request (mode, then arm) repeats; no setpoint is sent outside offboard.
    kinds = [(c.command, c.param1) for c in probe.commands[:4]]
    assert kinds == [(DO_SET_MODE, 1.0), (ARM_DISARM, 1.0)] * 2
    assert probe.modes and not probe.setpoints
    probe.nav_state, probe.arming_state = OFFBOARD, ARMED
    probe.spin_until(lambda: len(probe.setpoints) >= 3, 'setpoints once PX4 reports offboard')
    assert list(probe.setpoints[-1].velocity) == pytest.approx([0.5, 1.0, -0.2], abs=1e-6)
    # A pilot takes over (Position mode): setpoints stop and offboard is not asked for again.
    probe.nav_state = POSCTL
    spin_for(probe, 0.3)
    counts = len(probe.setpoints), len(probe.commands)
    spin_for(probe, 1.0)
    assert (len(probe.setpoints), len(probe.commands)) == counts and probe.modes


def stops(probe: Probe) -> int:
    """How often the node logged that it stopped streaming."""
    return probe.node_process.output().count('heartbeat stopped')


def spin_for(probe: Probe, seconds: float) -> None:
    """Watch the topics for a while: for what must NOT arrive there is no condition to wait for."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        probe.node_process.check_alive()
        probe.executor.spin_once(timeout_sec=0.02)
