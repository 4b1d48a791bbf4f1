"""drone_sim_node as a ROS user meets it: a real node process started like `ros2 run`, over DDS.

As in test_lane_sim_node.py the node is a child process with the package's params file and the
probe an rclpy node in the test process; nothing sleeps a fixed time. The lane world's node shares
the plumbing (nodes/sim_node.py: modes, clock, restarts) and its tests cover it in depth; these
check what is the drone's: the body-frame velocity command flies it, a stale command hovers it
(never free fall), and its topics and metrics.
"""
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image

from . import harness

pytestmark = [
    pytest.mark.ros,
    pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / 'config' / 'drone_sim.yaml'
MODULE = 'liquid_control.nodes.drone_sim_node'
WIDTH, HEIGHT, PERIOD_NS = 128, 72, 100_000_000  # config/drone_sim.yaml: 128x72 at 10 Hz
STARTUP_S = 60.0
METRIC_KEYS = {'target_distance_m', 'target_bearing_rad', 'target_in_view', 'altitude_m', 'success', 'collision',
               'start_distance_m', 'domain', 'episode', 'seed', 'stop_reasons', 'command_fresh'}


def nanoseconds(stamp) -> int:
    return stamp.sec * 10**9 + stamp.nanosec


class Probe(harness.Probe):
    def __init__(self, node_process: harness.NodeProcess):
        super().__init__(node_process, 'drone_sim_probe')
        self.images, self.camera_infos, self.odometry, self.metrics, self.clock = [], [], [], [], []
        self.answer = None  # when set, every image is answered on cmd_vel with this (x, y, z, yaw rate)
        node = self.node
        node.create_subscription(Image, 'camera/image_raw', self._on_image, qos_profile_sensor_data)
        node.create_subscription(CameraInfo, 'camera/camera_info', self.camera_infos.append, qos_profile_sensor_data)
        node.create_subscription(Odometry, 'odom', self.odometry.append, 10)
        node.create_subscription(DiagnosticStatus, 'drone_metrics', self.metrics.append, 10)
        node.create_subscription(Clock, '/clock', lambda m: self.clock.append(nanoseconds(m.clock)), 10)
        self.cmd_vel = node.create_publisher(Twist, 'cmd_vel', 10)

    def _on_image(self, image: Image) -> None:
        self.images.append(image)
        if self.answer is not None:
            twist = Twist()
            twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.z = (float(v) for v in self.answer)
            self.cmd_vel.publish(twist)

    def latest_metrics(self) -> dict:
        return {pair.key: pair.value for pair in self.metrics[-1].values}


@pytest.fixture(scope='module')
def drone(tmp_path_factory):
    env = dict(os.environ)
    node_process = harness.NodeProcess(MODULE, env, tmp_path_factory.mktemp('drone') / 'node.log', PARAMS_FILE,
                                       ('seed:=1000', 'lockstep_timeout_s:=0.2', 'cmd_timeout_s:=0.3',
                                        'use_sim_time:=true'))
    probe = Probe(node_process)
    try:
        probe.spin_until(lambda: probe.images and probe.odometry and probe.metrics, 'the first frame', STARTUP_S)
        yield probe
    finally:
        probe.close()
        node_process.interrupt()


def position(odometry: Odometry) -> np.ndarray:
    p = odometry.pose.pose.position
    return np.array([p.x, p.y, p.z])


def test_publishes_camera_camera_info_odometry_metrics_and_clock(drone):
    images = drone.wait_for_more(drone.images, 3, 'images')
    for image in images:
        assert (image.width, image.height, image.encoding, image.step) == (WIDTH, HEIGHT, 'rgb8', WIDTH * 3)
    pixels = np.frombuffer(images[-1].data, np.uint8).reshape(HEIGHT, WIDTH, 3)
    assert pixels.std() > 5, 'the frame looks blank: nothing was rendered'
    drone.spin_until(lambda: drone.camera_infos, 'camera_info')
    info = drone.camera_infos[-1]
    focal = info.k[0]
    assert math.isclose(2 * math.degrees(math.atan((WIDTH / 2) / focal)), 90.0, abs_tol=0.5), \
        'the 90 deg horizontal FOV'
    ticks = drone.wait_for_more(drone.clock, 3, '/clock ticks')
    assert all(later - earlier == PERIOD_NS for earlier, later in zip(ticks, ticks[1:])), ticks
    odometry = drone.odometry[-1]
    assert (odometry.header.frame_id, odometry.child_frame_id) == ('odom', 'base_link')
    q = odometry.pose.pose.orientation
    assert math.isclose(q.w**2 + q.x**2 + q.y**2 + q.z**2, 1.0, rel_tol=1e-9)
    assert odometry.pose.pose.position.z > 1.0, 'the drone starts in the air'
    assert drone.metrics[-1].name == 'drone_sim'
    metrics = drone.latest_metrics()
    assert METRIC_KEYS <= metrics.keys(), METRIC_KEYS - metrics.keys()
    assert (metrics['seed'], metrics['domain'], metrics['episode']) == ('1000', 'summer', '1')
    assert 5.0 <= float(metrics['start_distance_m']) <= 20.0


def test_without_commands_the_drone_hovers(drone):
    """No cmd_vel at all: the world keeps stepping on the lock-step timeout with the stop command,
    which is a hover: the altitude holds and the drone barely drifts (no free fall)."""
    assert drone.answer is None
    first = len(drone.odometry)
    drone.wait_for_more(drone.odometry, 15, 'odometry while nobody commands')
    start, end = position(drone.odometry[first]), position(drone.odometry[-1])
    assert abs(end[2] - start[2]) < 0.15, f'altitude {start[2]:.2f} -> {end[2]:.2f} m without commands'
    assert np.linalg.norm(end[:2] - start[:2]) < 0.3
    assert drone.latest_metrics()['command_fresh'] == 'false'


def test_body_frame_velocity_commands_fly_it(drone):
    """Climb at 0.5 m/s and slide left at 0.8 m/s: the odometry's body-frame velocity follows, and
    a stale command afterwards brings it back to a hover."""
    drone.spin_until(lambda: drone.cmd_vel.get_subscription_count() > 0, 'the node to match cmd_vel')
    drone.answer = (0.0, 0.8, 0.5, 0.0)
    try:
        first = len(drone.odometry)
        drone.wait_for_more(drone.odometry, 25, 'odometry while flying')  # 2.5 s of sim time
    finally:
        drone.answer = None
    twist = drone.odometry[-1].twist.twist
    assert abs(twist.linear.y - 0.8) < 0.15 and abs(twist.linear.z - 0.5) < 0.15, twist
    climbed = position(drone.odometry[-1])[2] - position(drone.odometry[first])[2]
    assert 0.6 < climbed < 1.4, f'climbed {climbed:.2f} m in 2.5 s at 0.5 m/s'
    assert drone.latest_metrics()['command_fresh'] == 'true'
    drone.wait_for_more(drone.odometry, 20, 'odometry after the commands stopped')
    twist = drone.odometry[-1].twist.twist
    assert math.hypot(twist.linear.x, twist.linear.y) < 0.2 and abs(twist.linear.z) < 0.1, f'not hovering: {twist}'
    assert drone.latest_metrics()['command_fresh'] == 'false'


@pytest.mark.parametrize('parameter, named', [
    ('domain:=mars', "parameter 'domain' must be one of summer, autumn, winter, urban, dusk"),
    ('physics_dt:=0.007', 'physics_dt=0.007'),
])
def test_invalid_parameter_stops_the_node_with_one_line(ros_env, parameter, named):
    node = harness.run_to_exit([sys.executable, '-m', MODULE, '--ros-args', '--params-file', str(PARAMS_FILE),
                                '-p', parameter], ros_env)
    output = (node.stdout + node.stderr).strip()
    assert node.returncode != 0, output
    assert named in output and 'Traceback' not in output
    assert len(output.splitlines()) == 1, output
