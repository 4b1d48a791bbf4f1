"""drone_sim_node with ``flight_controller: px4``: the simulated PX4 as an offboard bridge meets it.

The node is a real process over DDS and the probe plays the companion computer: it publishes
OffboardControlMode (the heartbeat) and TrajectorySetpoints on each camera frame and sends
VehicleCommands, and reads fmu/out/vehicle_odometry and fmu/out/vehicle_status_v4. Checked: PX4's
topics and frames, offboard refused without the proof of life and accepted after it, a north
setpoint flying north whatever the heading, NaN axes holding, the failsafe when the heartbeat
stops, and a disarmed vehicle that does not fly. The rules in detail: test/sim/test_px4_offboard.py.
"""
import math
import os
import sys
from pathlib import Path

import numpy as np
import px4_msgs.msg as px4_msgs  # built from msgs/ into both test venvs (make): fail loudly, never skip
import pytest
from nav_msgs.msg import Odometry
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from liquid_control.sim.drone.scene import make_scene

from . import harness

pytestmark = [
    pytest.mark.ros,
    pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / 'config' / 'drone_sim.yaml'
MODULE = 'liquid_control.nodes.drone_sim_node'
STARTUP_S = 60.0
NAN3 = [math.nan] * 3
HOLD, POSITION, OFFBOARD = 4, 2, 14  # VehicleStatus.nav_state
DISARMED, ARMED = 1, 2  # VehicleStatus.arming_state
EAST_HEADING = math.pi / 2  # NED heading of a vehicle facing east


class Px4Probe(harness.Probe):
    """The companion computer: heartbeat and setpoint (when set) answer every camera frame."""

    def __init__(self, node_process: harness.NodeProcess, name: str):
        super().__init__(node_process, name)
        self.odom, self.px4_odometry, self.status = [], [], []
        self.frames = 0
        self.heartbeat = False
        self.setpoint = None  # (velocity NED, yaw): published on each frame when set
        node = self.node
        node.create_subscription(Image, 'camera/image_raw', self._on_image, qos_profile_sensor_data)
        node.create_subscription(Odometry, 'odom', self.odom.append, 10)
        # PX4 publishes best effort: so must a subscriber ask.
        node.create_subscription(px4_msgs.VehicleOdometry, 'fmu/out/vehicle_odometry', self.px4_odometry.append,
                                 qos_profile_sensor_data)
        node.create_subscription(px4_msgs.VehicleStatus, 'fmu/out/vehicle_status_v4', self.status.append,
                                 qos_profile_sensor_data)
        self.control_mode = node.create_publisher(px4_msgs.OffboardControlMode, 'fmu/in/offboard_control_mode', 10)
        self.trajectory = node.create_publisher(px4_msgs.TrajectorySetpoint, 'fmu/in/trajectory_setpoint', 10)
        self.command = node.create_publisher(px4_msgs.VehicleCommand, 'fmu/in/vehicle_command', 10)

    def _on_image(self, image: Image) -> None:
        self.frames += 1
        if self.heartbeat:
            self.control_mode.publish(px4_msgs.OffboardControlMode(velocity=True))
        if self.setpoint is not None:
            velocity, yaw = self.setpoint
            self.trajectory.publish(px4_msgs.TrajectorySetpoint(
                position=NAN3, velocity=[float(v) for v in velocity], acceleration=NAN3, jerk=NAN3, yaw=float(yaw),
                yawspeed=math.nan))

    def send(self, command: int, param1: float, param2: float = 0.0) -> None:
        self.command.publish(px4_msgs.VehicleCommand(command=command, param1=param1, param2=param2, target_system=1,
                                                     target_component=1, from_external=True))

    def frames_pass(self, count: int) -> None:
        start = self.frames
        self.spin_until(lambda: self.frames >= start + count, f'{count} more camera frames')

    def wait_status(self, what: str, condition, timeout: float = harness.WAIT_S):
        self.spin_until(lambda: self.status and condition(self.status[-1]), what, timeout)
        return self.status[-1]

    def position(self) -> np.ndarray:
        p = self.odom[-1].pose.pose.position
        return np.array([p.x, p.y, p.z])

    def yaw(self) -> float:
        q = self.odom[-1].pose.pose.orientation
        return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))

    def switch_to_offboard(self) -> None:
        self.heartbeat = True
        self.frames_pass(3)
        self.send(176, 1.0, 6.0)
        self.wait_status('offboard', lambda s: s.nav_state == OFFBOARD)


def start(tmp_path_factory, name: str, *parameters: str):
    # Each vehicle in a namespace of its own (as PX4_UXRCE_DDS_NS gives), as both run at once.
    node_process = harness.NodeProcess(MODULE, dict(os.environ), tmp_path_factory.mktemp(name) / 'node.log',
                                       PARAMS_FILE, ('seed:=1000', 'lockstep_timeout_s:=0.05', 'flight_controller:=px4',
                                                     *parameters), namespace=f'/{name}')
    probe = Px4Probe(node_process, f'{name}_probe')
    probe.spin_until(lambda: probe.odom and probe.px4_odometry and probe.status, 'the first PX4 messages', STARTUP_S)
    return probe


@pytest.fixture(scope='module')
def vehicle(tmp_path_factory):
    probe = start(tmp_path_factory, 'px4_armed')
    try:
        yield probe
    finally:
        probe.close()
        probe.node_process.interrupt()


@pytest.fixture(scope='module')
def disarmed(tmp_path_factory):
    probe = start(tmp_path_factory, 'px4_disarmed', 'armed_at_start:=false')
    try:
        yield probe
    finally:
        probe.close()
        probe.node_process.interrupt()


def test_px4_odometry_and_status_in_px4_frames(vehicle):
    status = vehicle.wait_status('a status', lambda s: True)
    assert (status.arming_state, status.nav_state, status.failsafe) == (ARMED, HOLD, False)
    def pair():  # the odom and the VehicleOdometry of one step (both carry its sim time)
        by_time = {message.timestamp: message for message in vehicle.px4_odometry[-5:]}
        for odom in reversed(vehicle.odom[-5:]):
            px4 = by_time.get((odom.header.stamp.sec * 10**9 + odom.header.stamp.nanosec) // 1000)
            if px4 is not None:
                return odom, px4
        return None

    vehicle.spin_until(pair, 'odom and VehicleOdometry of the same step')
    odom, px4 = pair()
    p = odom.pose.pose.position
    assert list(px4.position) == pytest.approx([p.y, p.x, -p.z], abs=1e-4), 'NED: north, east, down'
    assert (px4.pose_frame, px4.velocity_frame) == (1, 1)
    w, x, y, z = px4.q
    heading = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    q = odom.pose.pose.orientation
    yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
    assert math.remainder(heading - (math.pi / 2 - yaw), 2 * math.pi) == pytest.approx(0.0, abs=1e-4), 'NED heading'
    c, s = math.cos(yaw), math.sin(yaw)
    v = odom.twist.twist.linear  # heading frame
    assert list(px4.velocity) == pytest.approx([s * v.x + c * v.y, c * v.x - s * v.y, -v.z], abs=1e-4)


def test_offboard_is_refused_without_proof_of_life_and_accepted_after(vehicle):
    assert not vehicle.heartbeat
    vehicle.send(176, 1.0, 6.0)
    vehicle.wait_for_log('offboard rejected: no offboard signal')
    vehicle.frames_pass(2)
    assert vehicle.status[-1].nav_state == HOLD
    vehicle.switch_to_offboard()
    assert vehicle.status[-1].nav_state_user_intention == OFFBOARD


def test_a_north_setpoint_facing_east_flies_north(vehicle):
    vehicle.setpoint = ((0.0, 0.0, 0.0), EAST_HEADING)  # turn to face east, in place
    vehicle.spin_until(lambda: abs(vehicle.yaw()) < 0.05, 'the drone facing east', 30.0)
    start, north_start = vehicle.position(), vehicle.px4_odometry[-1].position[0]
    vehicle.setpoint = ((1.0, 0.0, 0.0), EAST_HEADING)
    vehicle.spin_until(lambda: vehicle.position()[1] - start[1] > 0.6, 'the drone 0.6 m further north', 30.0)
    moved = vehicle.position() - start
    assert abs(moved[0]) < 0.25, f'flew {moved[0]:.2f} m east while flying north'
    assert abs(vehicle.yaw()) < 0.1, 'still facing east'
    assert vehicle.px4_odometry[-1].position[0] - north_start > 0.5
    assert vehicle.px4_odometry[-1].velocity[0] > 0.5, 'NED velocity: north'


def test_an_uncontrolled_axis_holds(vehicle):
    vehicle.setpoint = ((1.0, math.nan, 0.0), EAST_HEADING)
    vehicle.wait_for_log('TrajectorySetpoint controls nothing on the E axis')
    vehicle.frames_pass(15)
    assert np.hypot(*vehicle.px4_odometry[-1].velocity[:2]) < 0.3, 'slowed to a hover'


def test_heartbeat_loss_is_the_failsafe_and_its_return_resumes_offboard(vehicle):
    vehicle.setpoint = ((1.0, 0.0, 0.0), EAST_HEADING)
    vehicle.spin_until(lambda: vehicle.px4_odometry[-1].velocity[0] > 0.5, 'flying north again')
    vehicle.heartbeat = False  # the setpoints go on: only the proof of life stops
    status = vehicle.wait_status('the offboard-loss failsafe', lambda s: s.failsafe)
    assert (status.nav_state, status.nav_state_user_intention) == (POSITION, OFFBOARD), 'COM_OBL_RC_ACT 0'
    vehicle.frames_pass(20)
    assert np.hypot(*vehicle.px4_odometry[-1].velocity[:2]) < 0.3, 'the failsafe hovers'
    vehicle.setpoint = ((0.0, 0.0, 0.0), EAST_HEADING)
    vehicle.heartbeat = True
    vehicle.wait_status('offboard again', lambda s: s.nav_state == OFFBOARD and not s.failsafe)


def test_a_disarmed_vehicle_does_not_fly(disarmed):
    """Motors off: a climb setpoint in offboard never lifts it above the start pose (from which it
    drops, crashes and restarts); armed, the same setpoint climbs."""
    start_altitude = make_scene(1000, 'summer').start[2]
    assert disarmed.status[-1].arming_state == DISARMED
    disarmed.switch_to_offboard()
    disarmed.setpoint = ((0.0, 0.0, -1.0), math.nan)
    first = len(disarmed.odom)
    disarmed.frames_pass(20)
    heights = [odometry.pose.pose.position.z for odometry in disarmed.odom[first:]]
    assert max(heights) <= start_altitude + 0.02, 'a disarmed vehicle climbed'
    assert min(heights) < start_altitude - 0.3, 'motors off: it drops'
    assert disarmed.status[-1].arming_state == DISARMED
    disarmed.send(400, 1.0)
    disarmed.wait_status('armed', lambda s: s.arming_state == ARMED)
    disarmed.spin_until(lambda: disarmed.position()[2] > start_altitude + 0.3, 'the armed drone climbing')


def test_an_unknown_flight_controller_is_refused(tmp_path):
    result = harness.run_to_exit([sys.executable, '-m', MODULE, '--ros-args', '-p', 'flight_controller:=ardupilot'],
                                 dict(os.environ), cwd=REPO_ROOT)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "parameter 'flight_controller' must be one of none, px4" in result.stdout + result.stderr
