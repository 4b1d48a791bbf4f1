"""lane_sim_node as a ROS user meets it: a real node process, talked to over DDS.

The node runs as a child process started like `ros2 run` would (`--ros-args --params-file ...`);
the probe that talks to it is an rclpy node inside the test process. That works because the
PyPI ROS wheels re-execute every interpreter of the virtual environment at start-up (a .pth
file, before pytest even starts) with LD_LIBRARY_PATH set, so `import rclpy` here is clean. The
probe gets its own rclpy Context without signal handlers, so pytest keeps Ctrl-C.

Nothing sleeps a fixed time: every wait spins the probe until a condition holds, with a deadline.
The node is started twice (lock-step, then real-time with TwistStamped), one class each: a
class-scoped fixture ends its node before the next class starts, so both can use the same
topic names in this test process's ROS domain.
"""
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import Trigger

from . import harness

pytestmark = [
    pytest.mark.ros,
    # rclpy loads message type support through rosidl_parser, whose lark imports sre_parse.
    pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / 'config' / 'lane_sim.yaml'
NODE = [sys.executable, '-m', 'liquid_control.nodes.lane_sim_node']
PERIOD_NS = 50_000_000  # 1 / camera_rate_hz of config/lane_sim.yaml (20 Hz)
WIDTH, HEIGHT, FOVY_DEG = 200, 66, 36.0  # the params file's image size; CarSpec's camera
STARTUP_S = 60.0  # building the world (painting the track) takes seconds on a loaded 2-core machine
WAIT_S = 15.0
METRIC_KEYS = {'lateral_error_m', 'heading_error_rad', 'wheels_out', 'distance_m', 'departures',
               'mean_abs_lateral_m', 'max_abs_lateral_m', 'episode', 'seed', 'track_family', 'stop_reasons'}


def nanoseconds(stamp) -> int:
    return stamp.sec * 10**9 + stamp.nanosec


def NodeProcess(env, log_path: Path, *parameters: str) -> harness.NodeProcess:
    """lane_sim_node with the package's params file and ``parameters`` (name:=value) on top."""
    return harness.NodeProcess('liquid_control.nodes.lane_sim_node', env, log_path, PARAMS_FILE, parameters)


class Probe(harness.Probe):
    """Records what lane_sim_node publishes and talks back."""

    def __init__(self, node_process: harness.NodeProcess, stamped: bool = False):
        super().__init__(node_process, 'lane_sim_probe')
        self.images, self.camera_infos, self.odometry, self.metrics, self.clock = [], [], [], [], []
        self.answer = None  # when set, every image is answered on cmd_vel with this (speed, yaw rate)
        self.stamped = stamped
        node = self.node
        node.create_subscription(Image, 'camera/image_raw', self._on_image, qos_profile_sensor_data)
        node.create_subscription(CameraInfo, 'camera/camera_info', self.camera_infos.append, qos_profile_sensor_data)
        node.create_subscription(Odometry, 'odom', self.odometry.append, 10)
        node.create_subscription(DiagnosticStatus, 'lane_metrics', self.metrics.append, 10)
        node.create_subscription(Clock, '/clock', lambda m: self.clock.append(nanoseconds(m.clock)), 10)
        self.cmd_vel = node.create_publisher(TwistStamped if stamped else Twist, 'cmd_vel', 10)

    def _on_image(self, image: Image) -> None:
        self.images.append(image)
        if self.answer is not None:
            self.send(*self.answer)

    def send(self, speed: float, yaw_rate: float) -> None:
        twist = Twist()
        twist.linear.x, twist.angular.z = float(speed), float(yaw_rate)
        if self.stamped:
            message = TwistStamped(twist=twist)
            message.header.stamp = self.node.get_clock().now().to_msg()
            self.cmd_vel.publish(message)
        else:
            self.cmd_vel.publish(twist)

    def latest_metrics(self) -> dict:
        """The key/value pairs of the newest lane_metrics message."""
        return {pair.key: pair.value for pair in self.metrics[-1].values}


@pytest.fixture(scope='class')
def lockstep(tmp_path_factory):
    env = dict(os.environ)  # the whole environment, as conftest's ros_env gives it (that one is per test)
    # use_sim_time as in launch/sim_demo.launch.xml: the node's own clock then follows the /clock it
    # publishes, and its lock-step timeout must still run (on the steady clock).
    node_process = NodeProcess(env, tmp_path_factory.mktemp('lockstep') / 'node.log',
                               'lockstep_timeout_s:=0.3', 'cmd_timeout_s:=0.1', 'use_sim_time:=true')
    probe = Probe(node_process)
    try:
        probe.spin_until(lambda: probe.images and probe.odometry and probe.metrics, 'the first frame',
                         STARTUP_S)
        yield probe
    finally:
        probe.close()
        node_process.interrupt()


@pytest.fixture(scope='class')
def realtime_stamped(tmp_path_factory):
    env = dict(os.environ)
    node_process = NodeProcess(env, tmp_path_factory.mktemp('realtime') / 'node.log',
                               'mode:=realtime', 'cmd_vel_stamped:=true')
    probe = Probe(node_process, stamped=True)
    try:
        probe.spin_until(lambda: probe.images and probe.odometry, 'the first frame', STARTUP_S)
        yield probe
    finally:
        probe.close()
        node_process.interrupt()


class TestLockstep:
    """One node for the whole class; the tests run in order and the last one stops it."""

    def test_publishes_camera_camera_info_odometry_and_metrics(self, lockstep):
        images = lockstep.wait_for_more(lockstep.images, 3, 'images')
        for image in images:
            assert (image.width, image.height, image.encoding, image.step) == (WIDTH, HEIGHT, 'rgb8', WIDTH * 3)
            assert len(image.data) == WIDTH * HEIGHT * 3 and image.header.frame_id == 'camera'
        stamps = [nanoseconds(image.header.stamp) for image in images]
        assert all(later > earlier for earlier, later in zip(stamps, stamps[1:])), stamps
        pixels = np.frombuffer(images[-1].data, np.uint8).reshape(HEIGHT, WIDTH, 3)
        assert pixels.std() > 5, 'the frame looks blank: nothing was rendered'

        lockstep.spin_until(lambda: lockstep.camera_infos, 'camera_info')
        info = lockstep.camera_infos[-1]
        focal = (HEIGHT / 2) / math.tan(math.radians(FOVY_DEG) / 2)
        assert (info.width, info.height, info.header.frame_id) == (WIDTH, HEIGHT, 'camera')
        assert np.allclose(info.k, [focal, 0, (WIDTH - 1) / 2, 0, focal, (HEIGHT - 1) / 2, 0, 0, 1])
        assert np.allclose(np.reshape(info.p, (3, 4))[:, :3], np.reshape(info.k, (3, 3)))
        image_stamps = {nanoseconds(image.header.stamp) for image in lockstep.images}
        assert nanoseconds(info.header.stamp) in image_stamps

        odometry = lockstep.odometry[-1]
        assert (odometry.header.frame_id, odometry.child_frame_id) == ('odom', 'base_link')
        q = odometry.pose.pose.orientation
        assert math.isclose(q.x**2 + q.y**2 + q.z**2 + q.w**2, 1.0, rel_tol=1e-9)

        assert lockstep.metrics[-1].name == 'lane_sim'
        metrics = lockstep.latest_metrics()
        assert METRIC_KEYS <= metrics.keys(), METRIC_KEYS - metrics.keys()
        assert (metrics['seed'], metrics['track_family'], metrics['episode']) == ('0', 'train', '1')

    def test_clock_advances_one_camera_period_per_command(self, lockstep):
        lockstep.spin_until(lambda: lockstep.cmd_vel.get_subscription_count() > 0, 'the node to match cmd_vel')
        lockstep.answer = (2.0, 0.0)
        try:
            lockstep.wait_for_more(lockstep.clock, 3, '/clock ticks (warm-up)')  # answers are flowing now
            timeouts_before = int(lockstep.latest_metrics()['lockstep_timeouts'])
            first_odometry = len(lockstep.odometry)
            ticks = lockstep.wait_for_more(lockstep.clock, 20, '/clock ticks')
        finally:
            lockstep.answer = None
        # Every tick is one camera period of sim time after the last, and was triggered by an
        # answer, not by the wall-clock timeout: the simulation advanced in lock-step.
        assert [later - earlier for earlier, later in zip(ticks, ticks[1:])] == [PERIOD_NS] * (len(ticks) - 1)
        assert int(lockstep.latest_metrics()['lockstep_timeouts']) == timeouts_before
        lockstep.spin_until(lambda: nanoseconds(lockstep.images[-1].header.stamp) >= ticks[-1], 'the last frame')
        assert set(ticks) <= {nanoseconds(image.header.stamp) for image in lockstep.images}, \
            'frames stamped by the clock'

        start, end = lockstep.odometry[first_odometry], lockstep.odometry[-1]
        moved = math.dist((start.pose.pose.position.x, start.pose.pose.position.y),
                          (end.pose.pose.position.x, end.pose.pose.position.y))
        assert moved > 1.0, f'the car moved {moved:.2f} m in 1 s at 2 m/s'
        assert abs(end.twist.twist.linear.x - 2.0) < 0.2

    def test_bad_commands_are_clamped_and_leaving_the_road_restarts(self, lockstep):
        lockstep.answer = (math.nan, math.nan)
        try:
            lockstep.wait_for_more(lockstep.clock, 3, '/clock ticks after NaN commands')
            lockstep.wait_for_log("cmd_vel clamped to the car's limits: speed nan is not finite")
            assert lockstep.latest_metrics()['command_speed_mps'] == '0.0000'
            # Absurdly fast and straight: clamped to the top speed, the car soon leaves the road.
            lockstep.answer = (1e9, 0.0)
            lockstep.spin_until(lambda: lockstep.latest_metrics()['command_speed_mps'] == '6.0000',
                                'the clamped top speed')
            lockstep.spin_until(lambda: 'off the road' in lockstep.latest_metrics()['stop_reasons'],
                                'the car to leave the road')
            ticks = lockstep.wait_for_more(lockstep.clock, 3, '/clock ticks after the restart')
        finally:
            lockstep.answer = None
        metrics = lockstep.latest_metrics()
        assert int(metrics['episode']) >= 2 and int(metrics['commands_clamped']) > 0
        assert 'off the road' in lockstep.node_process.output()
        # The published clock runs on through the restart.
        diffs = [later - earlier for earlier, later in zip(lockstep.clock, lockstep.clock[1:])]
        assert all(d == PERIOD_NS for d in diffs), [(i, d) for i, d in enumerate(diffs) if d != PERIOD_NS]
        assert ticks

    def test_stale_command_stops_the_car(self, lockstep):
        lockstep.send(2.0, 0.0)  # one command, then silence: each tick now waits out lockstep_timeout_s
        lockstep.spin_until(lambda: lockstep.latest_metrics()['command_fresh'] == 'false'
                            and lockstep.latest_metrics()['command_speed_mps'] == '0.0000',
                            'the command to go stale')
        lockstep.wait_for_log('cmd_vel timed out')

    def test_reset_service_restarts_and_the_car_stays_stopped_without_commands(self, lockstep):
        start = lockstep.odometry[0].pose.pose.position  # at rest on the start line
        episode = int(lockstep.latest_metrics()['episode'])
        client = lockstep.node.create_client(Trigger, '/lane_sim_node/reset')
        lockstep.spin_until(client.service_is_ready, 'the ~/reset service')
        future = client.call_async(Trigger.Request())
        lockstep.spin_until(future.done, 'the ~/reset response')
        assert future.result().success, future.result().message
        lockstep.spin_until(lambda: int(lockstep.latest_metrics()['episode']) == episode + 1, 'the new episode')

        after_reset = lockstep.wait_for_more(lockstep.odometry, 3, 'odometry after the reset')
        for odometry in after_reset:
            position = odometry.pose.pose.position
            assert math.dist((position.x, position.y), (start.x, start.y)) < 0.05
            assert abs(odometry.twist.twist.linear.x) < 0.05
        metrics = lockstep.latest_metrics()
        assert 'reset requested: 1' in metrics['stop_reasons']
        # The ended episode's summary rides on every message of the next one, so a listener that
        # missed its last messages still has it (the drone demo reports a flight's end from it).
        assert metrics['previous_episode.episode'] == str(episode)
        assert metrics['previous_episode.reason'] == 'reset requested'
        assert float(metrics['previous_episode.distance_m']) >= 0.0 and 'previous_episode.departures' in metrics

    def test_ctrl_c_exits_cleanly(self, lockstep):
        exit_code = lockstep.node_process.interrupt()
        output = lockstep.node_process.output()
        assert exit_code == 0, output
        assert 'Traceback' not in output and 'stopped in episode' in output


class TestRealtimeTwistStamped:
    def test_realtime_stamps_from_the_node_clock_and_no_clock_topic(self, realtime_stamped):
        probe = realtime_stamped
        images = probe.wait_for_more(probe.images, 5, 'images')
        now = probe.node.get_clock().now().nanoseconds
        stamps = [nanoseconds(image.header.stamp) for image in images]
        assert all(later > earlier for earlier, later in zip(stamps, stamps[1:]))
        assert abs(now - stamps[-1]) < 5 * 10**9, 'realtime stamps should be wall-clock time'
        assert not probe.clock and probe.node.count_publishers('/clock') == 0

    def test_twist_stamped_commands_drive_the_car(self, realtime_stamped):
        probe = realtime_stamped
        probe.spin_until(lambda: probe.cmd_vel.get_subscription_count() > 0, 'the node to match cmd_vel')
        probe.answer = (2.0, 0.0)
        try:
            probe.spin_until(lambda: probe.odometry[-1].twist.twist.linear.x > 1.5, 'the car to reach 2 m/s')
        finally:
            probe.answer = None


@pytest.mark.parametrize('parameter, named', [
    ('camera_rate_hz:=0.0', "parameter 'camera_rate_hz' must be within [1.0, 200.0], got 0.0"),
    ('physics_dt:=0.007', 'physics_dt=0.007'),
    ('perturbations.drop_probability:=1.0', "parameter 'perturbations.drop_probability'"),
    ('mode:=fast', "parameter 'mode' must be one of lockstep, realtime"),
])
def test_invalid_parameter_stops_the_node_with_one_line(ros_env, parameter, named):
    node = harness.run_to_exit(NODE + ['--ros-args', '--params-file', str(PARAMS_FILE), '-p', parameter], ros_env)
    output = (node.stdout + node.stderr).strip()
    assert node.returncode != 0, output
    assert named in output and 'Traceback' not in output
    assert len(output.splitlines()) == 1, output
