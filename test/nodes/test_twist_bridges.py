"""twist_bridge as MAVROS and ArduPilot meet it: real node processes, read the way each autopilot reads.

One bridge per profile, started together in namespaces of their own: the probe plays the policy
(cmd_vel; TwistStamped for mavros_local) and, for MAVROS in LOCAL_NED, MAVROS's pose. It reads the
setpoints best effort with the depth each autopilot's reader has (MAVROS: the sensor-data profile;
ArduPilot's /ap/cmd_vel reader: best effort, keep last 5), so a QoS the autopilot could not match
would show here as silence.
"""
import math
import os
import sys
import time
from pathlib import Path

import pytest
from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from . import harness

pytestmark = [
    pytest.mark.ros,
    pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / 'config' / 'twist_bridge.yaml'
MODULE = 'liquid_control.nodes.autopilots.twist_bridge'
STARTUP_S = 30.0
COMMAND = (1.5, -0.5, 0.25, 0.3)  # forward, left, up (m/s), yaw rate (rad/s, counter-clockwise)
ARDUPILOT_READER = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)
# autopilot -> (namespace, setpoint topic, how the autopilot reads it, cmd_vel as TwistStamped)
BRIDGES = {
    'ardupilot': ('/copter', 'ap/cmd_vel', ARDUPILOT_READER, False),
    'mavros': ('/uav1', 'mavros/setpoint_velocity/cmd_vel', qos_profile_sensor_data, False),
    'mavros_local': ('/uav2', 'mavros/setpoint_velocity/cmd_vel', qos_profile_sensor_data, True),
}


class Probe(harness.Probe):
    def __init__(self, node_process: harness.NodeProcess, topic: str, reader: QoSProfile, stamped: bool):
        super().__init__(node_process, 'twist_bridge_probe')
        self.setpoints = []
        self.command = COMMAND  # None: the policy is silent
        self.stamped = stamped
        self.node.create_subscription(TwistStamped, topic, self.setpoints.append, reader)
        self.cmd_vel = self.node.create_publisher(TwistStamped if stamped else Twist, 'cmd_vel', 10)
        self.pose = self.node.create_publisher(PoseStamped, 'mavros/local_position/pose', qos_profile_sensor_data)
        self.node.create_timer(0.05, self._send)

    def _send(self) -> None:
        pose = PoseStamped()
        pose.header.frame_id = 'map'
        pose.pose.orientation.w = pose.pose.orientation.z = math.sqrt(0.5)  # ENU heading: north
        self.pose.publish(pose)
        if self.command is not None:
            message = TwistStamped() if self.stamped else Twist()
            twist = message.twist if self.stamped else message
            twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.z = self.command
            self.cmd_vel.publish(message)

    def latest(self):
        twist = self.setpoints[-1].twist
        return [twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.z]


@pytest.fixture(scope='module')
def bridges(tmp_path_factory):
    folder = tmp_path_factory.mktemp('twist_bridge')
    probes = {}
    for autopilot, (namespace, topic, reader, stamped) in BRIDGES.items():
        node_process = harness.NodeProcess(MODULE, dict(os.environ), folder / f'{autopilot}.log', PARAMS_FILE,
                                           (f'autopilot:={autopilot}', 'cmd_timeout_s:=0.3', 'failsafe_after_s:=0.6',
                                            f'twist_stamped:={str(stamped).lower()}'), namespace=namespace)
        probes[autopilot] = Probe(node_process, topic, reader, stamped)
    try:
        wait_for_setpoints(probes.values())
        yield probes
    finally:
        for probe in probes.values():
            probe.close()
            probe.node_process.interrupt()


def test_ardupilot_gets_a_body_frame_twist_as_base_link_on_ap_cmd_vel(bridges):
    probe = bridges['ardupilot']
    assert probe.node.resolve_topic_name('ap/cmd_vel') == '/copter/ap/cmd_vel'
    setpoint = probe.setpoints[-1]
    assert setpoint.header.frame_id == 'base_link'
    assert probe.latest() == pytest.approx(list(COMMAND))
    assert setpoint.header.stamp.sec > 0


def test_mavros_body_ned_gets_the_body_frame_twist(bridges):
    probe = bridges['mavros']
    assert probe.setpoints[-1].header.frame_id == 'base_link'
    assert probe.latest() == pytest.approx(list(COMMAND))


def test_mavros_local_ned_gets_an_enu_twist_rotated_by_the_heading(bridges):
    probe = bridges['mavros_local']  # its cmd_vel is TwistStamped (twist_stamped:=true)
    assert probe.setpoints[-1].header.frame_id == 'map'
    # Facing north: forward 1.5 is +y (north), left -0.5 is +x (east); up and the yaw rate are kept in ENU.
    assert probe.latest() == pytest.approx([0.5, 1.5, 0.25, 0.3])


def test_a_stale_policy_becomes_zero_velocity_then_the_stream_stops(bridges):
    probe = bridges['ardupilot']
    probe.wait_for_more(probe.setpoints, 5, 'setpoints')  # the policy (this probe) was not spun meanwhile
    probe.spin_until(lambda: probe.latest() != [0.0] * 4, 'the policy flown again')
    stops_logged = stops(probe)  # there may be one from the start-up, before the probe's first command
    probe.command = None
    probe.spin_until(lambda: probe.latest() == [0.0] * 4, 'a zero-velocity setpoint')
    assert probe.setpoints[-1].header.frame_id == 'base_link'
    probe.spin_until(lambda: stops(probe) > stops_logged, 'the stop in the log')
    spin_for(probe, 0.3)  # what was in flight when the log line was written
    stopped_at = len(probe.setpoints)
    spin_for(probe, 1.0)  # 20 periods of the stream
    assert len(probe.setpoints) == stopped_at
    probe.command = COMMAND  # the policy is back: so is the stream
    probe.spin_until(lambda: len(probe.setpoints) > stopped_at and probe.latest() != [0.0] * 4, 'setpoints again')


def test_unknown_autopilot_stops_the_node_with_one_line(ros_env):
    result = harness.run_to_exit([sys.executable, '-m', MODULE, '--ros-args', '-p', 'autopilot:=betaflight'], ros_env,
                                 cwd=REPO_ROOT)
    assert result.returncode == 2
    assert "parameter 'autopilot' must be one of mavros, mavros_local, ardupilot, got 'betaflight'" in result.stderr


def wait_for_setpoints(probes) -> None:
    """Spin every probe in turn (each plays its bridge's policy) until each has a setpoint of its command."""
    deadline = time.monotonic() + STARTUP_S
    while not all(probe.setpoints and probe.latest() != [0.0] * 4 for probe in probes):
        if time.monotonic() > deadline:
            pytest.fail('timed out waiting for the first setpoints: ' + ' | '.join(
                probe.node_process.output()[-1000:] for probe in probes))
        for probe in probes:
            probe.node_process.check_alive()
            probe.executor.spin_once(timeout_sec=0.01)


def stops(probe: Probe) -> int:
    """How often the node logged that it stopped streaming."""
    return probe.node_process.output().count('setpoints stopped')


def spin_for(probe: Probe, seconds: float) -> None:
    """Watch the topic for a while: for what must NOT arrive there is no condition to wait for."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        probe.node_process.check_alive()
        probe.executor.spin_once(timeout_sec=0.02)
