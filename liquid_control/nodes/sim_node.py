"""The plumbing every simulated world's node shares: ``SimNode`` (lane_sim_node, drone_sim_node).

A subclass names its world and says how a cmd_vel (or another command message it takes, by
``command_type``: ``COMMAND_READERS``) becomes the world's command, what the stop command is (the
car stands still, the drone hovers) and what its odometry and metrics hold. Here: the camera,
odometry and metrics publishers, the lockstep and realtime modes, stale-command stops,
episode restarts, and a ROS time that stays continuous over episodes (a /clock that went back
would make sim-time subscribers drop their TF buffers). Topics and modes: docs/nodes.md.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rosgraph_msgs.msg import Clock as ClockMessage
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import Trigger

from liquid_control.nodes import qos
from liquid_control.nodes.camera_perturbations import PERTURBATION_SETTINGS
from liquid_control.nodes.command_topics import COMMAND_TOPICS, missing_package
from liquid_control.nodes.settings import ParameterError, Setting, declare_settings
from liquid_control.runtime.ackermann import resolve_command_type

MODES = ('lockstep', 'realtime')
ODOM_FRAME = 'odom'
BASE_FRAME = 'base_link'
# Repeated warnings (bad or stale commands arrive at the control rate) are logged at most this often.
WARN_THROTTLE_S = 2.0
RESET_REASON = 'reset requested'
# command_type -> (node, message) -> (the world's command, what had to change); the lane world adds ackermann.
TWIST_READERS = {
    'twist': lambda node, message: node.command_from_twist(message),
    'twist_stamped': lambda node, message: node.command_from_twist(message.twist),
}


def common_settings(camera_width: int, camera_height: int, camera_rate_hz: float, stop: str,
                    command_types=tuple(TWIST_READERS)) -> tuple[Setting, ...]:
    """The settings of every sim node, with the world's camera defaults; ``stop`` says what the
    stop command does (for the cmd_timeout_s description), ``command_types`` what the node takes."""
    taken = ', '.join(f'{n} ({COMMAND_TOPICS[n].type_name} on {COMMAND_TOPICS[n].topic})' for n in command_types)
    # The ranges are those the simulator accepts (liquid_control.sim validates again, and catches
    # the combinations a range cannot express, e.g. physics_dt must divide the camera period); where
    # the simulator has no upper bound the range takes a generous one, since a ROS range needs both ends.
    return (
        Setting('camera_width', camera_width, 'Camera image width, pixels.', 16, 2048),
        Setting('camera_height', camera_height, 'Camera image height, pixels.', 16, 2048),
        Setting('camera_rate_hz', camera_rate_hz, 'Camera frames per second of sim time; each step of the world lasts '
                'one camera period, which must be a whole number of physics_dt steps.', 1.0, 200.0),
        Setting('physics_dt', 0.005, 'MuJoCo physics step, seconds of sim time.', 0.0002, 0.01),
        Setting('mode', 'lockstep', 'lockstep: the simulator is the clock: it publishes /clock and waits for a '
                'cmd_vel after each frame. realtime: a wall-clock timer steps the world at camera_rate_hz; stamps '
                'come from the node clock, no /clock.'),
        Setting('lockstep_timeout_s', 0.5, 'lockstep mode: wall seconds to wait for a cmd_vel after each frame '
                'before stepping anyway, so the simulation never stalls without a controller.', 0.001, 60.0),
        Setting('cmd_timeout_s', 0.5, f'Seconds of sim time after which the last cmd_vel is stale and {stop}.',
                0.0, 3600.0),
        Setting('frame_id', 'camera', 'frame_id of camera/image_raw and camera/camera_info.'),
        Setting('cmd_vel_stamped', False, 'Subscribe to cmd_vel as geometry_msgs/TwistStamped instead of Twist '
                '(the same as command_type twist_stamped).'),
        Setting('command_type', 'twist', f'The command message taken: {taken}.'),
        *PERTURBATION_SETTINGS,
    )


def declare_sim_settings(node: Node, settings) -> dict:
    """Declare the parameters and check what their ranges cannot express."""
    values = declare_settings(node, settings)
    if values['mode'] not in MODES:
        raise ParameterError(f"parameter 'mode' must be one of {', '.join(MODES)}, got {values['mode']!r}")
    if not values['frame_id']:
        raise ParameterError("parameter 'frame_id' must not be empty")
    return values


def checked(config, values: dict):
    """``config`` after the simulator's own validation, its refusal naming the camera parameters."""
    try:
        config.validate()
    except ValueError as error:
        names = ('camera_width', 'camera_height', 'camera_rate_hz', 'physics_dt')
        raise ParameterError(f"parameters {', '.join(f'{n}={values[n]}' for n in names)} rejected: {error}") from None
    return config


def time_message(nanoseconds: int) -> Time:
    nanoseconds = max(0, nanoseconds)
    return Time(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)


def camera_info_message(width: int, height: int, fovy_deg: float, frame_id: str) -> CameraInfo:
    """Pinhole model of the simulated camera: square pixels, focal length from the vertical field of view."""
    focal = (height / 2) / math.tan(math.radians(fovy_deg) / 2)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    info = CameraInfo(
        width=width, height=height, distortion_model='plumb_bob', d=[0.0] * 5,
        k=[focal, 0.0, cx, 0.0, focal, cy, 0.0, 0.0, 1.0],
        r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        p=[focal, 0.0, cx, 0.0, 0.0, focal, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    )
    info.header.frame_id = frame_id
    return info


def image_message(frame, stamp: Time, frame_id: str) -> Image:
    height, width, channels = frame.shape
    message = Image(height=height, width=width, encoding='rgb8', is_bigendian=0, step=width * channels)
    message.header.stamp = stamp
    message.header.frame_id = frame_id
    message.data = frame.tobytes()  # bytes are taken as they are; a numpy array would be checked per element
    return message


def odometry_message(stamp: Time, position, orientation_wxyz, linear_body, angular_body) -> Odometry:
    """Odometry odom -> base_link; the twist is in the child frame (base_link), as REP 105 and
    nav_msgs/Odometry say."""
    odometry = Odometry(child_frame_id=BASE_FRAME)
    odometry.header.stamp = stamp
    odometry.header.frame_id = ODOM_FRAME
    pose = odometry.pose.pose
    pose.position.x, pose.position.y, pose.position.z = (float(v) for v in position)
    orientation = pose.orientation
    orientation.w, orientation.x, orientation.y, orientation.z = (float(v) for v in orientation_wxyz)
    twist = odometry.twist.twist
    twist.linear.x, twist.linear.y, twist.linear.z = (float(v) for v in linear_body)
    twist.angular.x, twist.angular.y, twist.angular.z = (float(v) for v in angular_body)
    return odometry


class SimNode(Node):
    """A world behind ROS topics; every behaviour is the simulator's, this class only connects it.

    Subclasses set ``NODE_NAME``, ``METRICS_TOPIC``, ``METRICS_NAME``, ``LIMITS``, ``SETTINGS`` and
    implement ``make_world``, ``command_from_twist``, ``stop_command``, ``odometry``, ``metrics`` and
    ``episode_account``.

    Concurrency: there is none. Everything (stepping, publishing, commands, the reset service)
    runs in callbacks of the node's default mutually exclusive callback group, so any executor
    runs them one at a time and the world is never touched from two threads (which also keeps
    the EGL rendering context on the thread that created it).

    The lock-step loop is event-driven instead of a blocking loop, so it never holds up the
    executor: publishing a tick arms a wall-clock (steady) timeout timer; the first cmd_vel that
    arrives afterwards steps the world at once from its own callback, or, if none comes, the
    timer steps it with the last command (which goes stale after cmd_timeout_s). Each step
    publishes the next tick, which re-arms the timer. The timer must run on the steady clock: on
    a ROS-time clock with use_sim_time it would wait for the /clock this node itself publishes.
    """

    NODE_NAME = ''
    METRICS_TOPIC = ''
    METRICS_NAME = ''
    LIMITS = "the world's limits"  # whose limits a clamped command was held to, for the log
    SETTINGS: tuple[Setting, ...] = ()
    COMMAND_READERS = TWIST_READERS  # by command_type: (node, message) -> (the world's command, what had to change)

    # ----------------------------------------------------------------- what a world says
    def make_world(self, values: dict) -> tuple[Any, str]:
        """The world from the parameter values, and a line describing it for the log."""
        raise NotImplementedError

    def command_from_twist(self, twist) -> tuple[Any, list[str]]:
        """A received Twist as the world's command within its limits, and what had to change."""
        raise NotImplementedError

    def stop_command(self) -> Any:
        raise NotImplementedError

    def odometry(self, observation, stamp: Time) -> Odometry:
        raise NotImplementedError

    def metrics(self, observation) -> tuple[int, str, dict[str, Any]]:
        """(DiagnosticStatus level, message, key-values) of the task now."""
        raise NotImplementedError

    def episode_account(self, summary: dict) -> str:
        """What an episode's metrics summary says, in a few words for the log."""
        raise NotImplementedError

    # ----------------------------------------------------------------- set-up
    def __init__(self, **node_options):
        super().__init__(self.NODE_NAME, **node_options)
        values = declare_sim_settings(self, self.SETTINGS)
        self._lockstep = values['mode'] == 'lockstep'
        try:
            command_type = resolve_command_type(values['command_type'], values['cmd_vel_stamped'], 'cmd_vel_stamped',
                                                tuple(self.COMMAND_READERS))
            if missing_package(command_type):
                raise ValueError(missing_package(command_type))
        except ValueError as error:
            raise ParameterError(f"parameter 'command_type' rejected: {error}") from None
        self._read_command = self.COMMAND_READERS[command_type]
        commands = COMMAND_TOPICS[command_type]
        self._frame_id = values['frame_id']
        self._lockstep_timeout_s = values['lockstep_timeout_s']
        self._cmd_timeout_ns = round(values['cmd_timeout_s'] * 1e9)

        self._world, description = self.make_world(values)
        config = self._world.config
        self._period_ns = round(config.physics_steps_per_frame * config.physics_dt * 1e9)
        self._clock_offset_ns = 0  # sim time (on the clock of all episodes) at which this episode started
        self._published_sim_ns = 0  # that sim time of the last observation published
        self._episode = 1
        self._stop_reasons = Counter()
        self._previous_episode: dict[str, str] = {}  # the last ended episode's summary, as metrics values
        self._command = None  # newest cmd_vel, clamped; None when there is none or it went stale
        self._command_sim_ns = 0  # sim time at which it arrived
        self._clamped_commands = 0
        self._lockstep_timeouts = 0
        self._awaiting_command = False
        self._published_at = 0.0  # time.monotonic() of the last tick published in lockstep mode
        self._camera_info = camera_info_message(config.camera_width, config.camera_height, config.camera_fovy_deg,
                                                self._frame_id)

        self._image_publisher = qos.publisher(self, Image, 'camera/image_raw', qos.SENSOR_PUBLISHER)
        self._camera_info_publisher = qos.publisher(self, CameraInfo, 'camera/camera_info', qos.SENSOR_PUBLISHER)
        self._odometry_publisher = qos.publisher(self, Odometry, 'odom', qos.RELIABLE)
        self._metrics_publisher = qos.publisher(self, DiagnosticStatus, self.METRICS_TOPIC, qos.RELIABLE)
        self._clock_publisher = qos.publisher(self, ClockMessage, '/clock', qos.RELIABLE) if self._lockstep else None
        taken = self.create_command_inputs(commands)
        self.create_service(Trigger, '~/reset', self._on_reset)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        if self._lockstep:
            self._timer = self.create_timer(self._lockstep_timeout_s, self._on_lockstep_timeout, clock=steady)
        else:
            self._timer = self.create_timer(1.0 / config.camera_rate_hz, self._step, clock=steady)
        self.get_logger().info(f"{values['mode']} mode: {description}, camera "
                               f'{config.camera_width}x{config.camera_height} at {config.camera_rate_hz:g} Hz, '
                               f'commands: {taken}')
        self._publish(self._world.reset())

    def close(self) -> str:
        """Release the renderer; returns a one-line account of the run for the caller to log."""
        self._world.close()
        timeouts = (f'; lock-step timeouts (steps without an answer): {self._lockstep_timeouts}'
                    if self._lockstep else '')
        return f'stopped in episode {self._episode}; episode ends: {self._stop_reasons_text()}{timeouts}'

    def create_command_inputs(self, commands) -> str:
        """Subscribe to the world's commands; returns what the log says of them. A world flown
        through something else (drone_sim_node's PX4) overrides it, with ``command_at_step``, and
        calls ``step_if_awaiting`` when the input that answers a frame arrives."""
        self._command_topic = qos.subscription(self, commands.message_type(), commands.topic, self._on_cmd_vel,
                                               qos.RELIABLE).topic_name
        return f'{commands.type_name} on {self._command_topic}'

    def command_at_step(self):
        """The command the world steps with: the newest one, or the stop command once it is stale."""
        return self._command_to_apply()

    def step_if_awaiting(self) -> None:
        """Step now if the world (lockstep mode) waits for the answer to its last frame."""
        if self._awaiting_command:
            self._step()

    # ----------------------------------------------------------------- callbacks
    def _on_cmd_vel(self, message) -> None:
        # The age of a command is measured from its arrival in sim time, not from a stamped message's
        # header: a controller may stamp with its own clock, which need not be this node's.
        command, problems = self._read_command(self, message)
        if problems:
            self._clamped_commands += 1
            self.get_logger().warning(f"{self._command_topic} clamped to {self.LIMITS}: {'; '.join(problems)}",
                                      throttle_duration_sec=WARN_THROTTLE_S)
        self._command = command
        self._command_sim_ns = self._sim_ns()
        self.step_if_awaiting()

    def _on_lockstep_timeout(self) -> None:
        # The timer may have been found ready in the same executor wait as a cmd_vel that has
        # since stepped the world and re-armed it; only a full timeout since the last tick counts.
        if self._awaiting_command and time.monotonic() - self._published_at >= self._lockstep_timeout_s:
            self._lockstep_timeouts += 1
            self._step()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._publish(self._restart(RESET_REASON))
        response.success = True
        response.message = f'episode {self._episode} started in scene {self._world.seed}'
        return response

    # ----------------------------------------------------------------- stepping
    def _step(self) -> None:
        self._awaiting_command = False
        observation = self._world.step(self.command_at_step())
        if observation.terminated:
            observation = self._restart(observation.reason)
        self._publish(observation)

    def _command_to_apply(self):
        if self._command is None:
            return self.stop_command()
        age_ns = self._sim_ns() - self._command_sim_ns
        if age_ns > self._cmd_timeout_ns:
            self.get_logger().warning(
                f'{self._command_topic} timed out: the last one is {age_ns / 1e9:.3f} s of sim time old '
                f'(cmd_timeout_s = {self._cmd_timeout_ns / 1e9:g}); applying the stop command',
                throttle_duration_sec=WARN_THROTTLE_S)
            self._command = None
            return self.stop_command()
        return self._command

    def _restart(self, reason: str):
        world = self._world
        account = (f'episode {self._episode} ended after {world.time:.2f} s of sim time: {reason} '
                   f'({self.episode_account(world.metrics.summary())}); restarting in scene {world.seed}')
        # Two call sites: rclpy fixes a logging call site's severity at its first use.
        if reason == RESET_REASON:
            self.get_logger().info(account)
        else:
            self.get_logger().warning(account)
        self._stop_reasons[reason] += 1
        summary = {**world.metrics.summary(), 'episode': self._episode, 'reason': reason}
        self._previous_episode = {f'previous_episode.{key}': _metric_text(value) for key, value in summary.items()}
        # The new episode's first tick takes the next slot on the clock: one period after the last
        # tick published (a terminal observation is replaced by the restart, not published).
        self._clock_offset_ns = self._published_sim_ns + self._period_ns
        self._episode += 1
        return world.reset()

    # ----------------------------------------------------------------- publishing
    def _sim_ns(self) -> int:
        """Sim time on the clock that runs on over episodes (see the module doc), nanoseconds."""
        return self._clock_offset_ns + round(self._world.time * 1e9)

    def _publish(self, observation) -> None:
        self._published_sim_ns = self._sim_ns()
        now_ns = self._published_sim_ns if self._lockstep else self.get_clock().now().nanoseconds
        stamp = time_message(now_ns)
        if self._clock_publisher is not None:
            self._clock_publisher.publish(ClockMessage(clock=stamp))
        if observation.frame is not None:
            frame_stamp = time_message(now_ns - round((observation.time - observation.frame_time) * 1e9))
            self._image_publisher.publish(image_message(observation.frame, frame_stamp, self._frame_id))
            self._camera_info.header.stamp = frame_stamp
            self._camera_info_publisher.publish(self._camera_info)
        self._odometry_publisher.publish(self.odometry(observation, stamp))
        self._metrics_publisher.publish(self._metrics_message(observation))
        if self._lockstep:
            self._awaiting_command = True
            self._published_at = time.monotonic()
            self._timer.reset()

    def _stop_reasons_text(self) -> str:
        return ', '.join(f'{reason}: {count}' for reason, count in sorted(self._stop_reasons.items())) or 'none'

    def _metrics_message(self, observation) -> DiagnosticStatus:
        level, message, task = self.metrics(observation)
        values = {**task, 'episode_time_s': f'{observation.time:.3f}', 'episode': self._episode,
                  'seed': self._world.seed, 'stop_reasons': self._stop_reasons_text(),
                  'command_fresh': str(self._command is not None).lower(),
                  'commands_clamped': self._clamped_commands, 'lockstep_timeouts': self._lockstep_timeouts,
                  **self._previous_episode}
        return DiagnosticStatus(level=level, name=self.METRICS_NAME, message=message,
                                hardware_id=f'{self._world.name}_world/scene_{self._world.seed}',
                                values=[KeyValue(key=key, value=str(value)) for key, value in values.items()])


def _metric_text(value: Any) -> str:
    """A summary value as a metrics string: booleans as true/false, None as n/a."""
    if isinstance(value, bool):
        return str(value).lower()
    return 'n/a' if value is None else str(value)
