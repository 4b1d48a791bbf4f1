"""lane_sim_node: the MuJoCo lane world of ``liquid_control.sim`` as a ROS 2 node.

Topic names are relative, so namespaces and remapping work; only /clock is absolute.

publishes   camera/image_raw    sensor_msgs/Image, rgb8, sensor-data QoS, stamped with the frame's
                                capture time (a perturbed camera may deliver late frames, or none)
            camera/camera_info  sensor_msgs/CameraInfo, pinhole model of the MuJoCo camera, same
                                stamp and QoS as the image it belongs to
            odom                nav_msgs/Odometry, odom -> base_link, ground truth
            lane_metrics        diagnostic_msgs/DiagnosticStatus ``lane_sim``: lane errors now,
                                the episode's metrics, episode counters, the command applied
            /clock              rosgraph_msgs/Clock, lockstep mode only
subscribes  cmd_vel             geometry_msgs/Twist (TwistStamped if cmd_vel_stamped):
                                linear.x = speed, angular.z = yaw rate
service     ~/reset             std_srvs/Trigger: restart the episode on the same track

Modes (parameter ``mode``):

* ``lockstep``: the simulator is the clock. Each tick publishes /clock, then the frame, odometry
  and metrics, then waits (wall time, at most ``lockstep_timeout_s``) for a cmd_vel received after
  that publish, applies it and steps the world one camera period. Without a controller every wait
  times out, so the world keeps stepping (and the last command goes stale, see below).
* ``realtime``: a wall-clock timer steps the world at ``camera_rate_hz`` with the newest command;
  stamps come from the node clock and /clock is not published.

A cmd_vel older than ``cmd_timeout_s`` of sim time stops the car. When the car leaves the road
(or reaches the end of an open road) the episode restarts by itself.

The ROS time published in lockstep mode is continuous over episodes: every published observation
is exactly one camera period after the previous one, restarts included, although the world's own
time starts again at 0 each episode. /clock going backwards would make subscribers that use sim
time drop their TF buffers and fire their timers wrongly.
"""

from __future__ import annotations

import math
import sys
import time
from collections import Counter

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock as ClockMessage
from sensor_msgs.msg import CameraInfo, Image
from std_srvs.srv import Trigger

from liquid_control.nodes.settings import (
    ParameterError,
    Setting,
    declare_settings,
    run_node,
)

# Nothing here imports mujoco itself: liquid_control.sim.lane.world sets MUJOCO_GL=egl (headless
# rendering) before it does, whatever order these imports run in.
from liquid_control.sim.lane.car import Command
from liquid_control.sim.perturbations import PerturbationConfig
from liquid_control.sim.lane.track import TrackSpec
from liquid_control.sim.lane.world import LaneWorld, Observation, WorldConfig

NODE_NAME = 'lane_sim_node'
MODES = ('lockstep', 'realtime')
ODOM_FRAME = 'odom'
BASE_FRAME = 'base_link'
# Repeated warnings (bad or stale commands arrive at the control rate) are logged at most this often.
WARN_THROTTLE_S = 2.0
RESET_REASON = 'reset requested'


# The ranges are those the simulator accepts (liquid_control.sim validates again, and catches the
# combinations a range cannot express, e.g. physics_dt must divide the camera period); where the
# simulator has no upper bound the range takes a generous one, since a ROS range needs both ends.
SETTINGS = (
    Setting('seed', 0, 'Track seed: the same seed draws the same road. Seeds below 1000 are the training '
            'family, from 1000 on the held-out family (unseen shapes and colours).', 0, 2**31 - 1),
    Setting('closed_track', True, 'true: a closed loop; false: an open road (the episode restarts at its end).'),
    Setting('camera_width', 200, 'Camera image width, pixels.', 16, 2048),
    Setting('camera_height', 66, 'Camera image height, pixels.', 16, 2048),
    Setting('camera_rate_hz', 20.0, 'Camera frames per second of sim time; each step of the world lasts one '
            'camera period, which must be a whole number of physics_dt steps.', 1.0, 200.0),
    Setting('physics_dt', 0.005, 'MuJoCo physics step, seconds of sim time.', 0.0002, 0.01),
    Setting('mode', 'lockstep', 'lockstep: the simulator is the clock: it publishes /clock and waits for a '
            'cmd_vel after each frame. realtime: a wall-clock timer steps the world at camera_rate_hz; stamps '
            'come from the node clock, no /clock.'),
    Setting('lockstep_timeout_s', 0.5, 'lockstep mode: wall seconds to wait for a cmd_vel after each frame '
            'before stepping anyway, so the simulation never stalls without a controller.', 0.001, 60.0),
    Setting('cmd_timeout_s', 0.5, 'Seconds of sim time after which the last cmd_vel is stale and the car '
            'is stopped (speed 0, steering 0).', 0.0, 3600.0),
    Setting('frame_id', 'camera', 'frame_id of camera/image_raw and camera/camera_info.'),
    Setting('cmd_vel_stamped', False, 'Subscribe to cmd_vel as geometry_msgs/TwistStamped instead of Twist.'),
    Setting('perturbations.noise_std', 0.0, 'Gaussian pixel noise, standard deviation in 0..255 pixel units.',
            0.0, 255.0),
    Setting('perturbations.brightness', 0.0, 'Brightness offset, fraction of full scale (0.2 adds 51).', -1.0, 1.0),
    Setting('perturbations.contrast', 1.0, 'Contrast: multiplies the distance from mid-grey (1 = unchanged).',
            0.0, 10.0),
    Setting('perturbations.blur_sigma', 0.0, 'Gaussian blur sigma, pixels (0 = off).', 0.0, 50.0),
    Setting('perturbations.occlusion_blobs', 0, 'Opaque dark blobs drawn anew on every frame.', 0, 100),
    Setting('perturbations.occlusion_radius', 0.15, 'Largest blob half-axis, fraction of the image height '
            '(must be > 0).', 0.0, 1.0),
    Setting('perturbations.drop_probability', 0.0, 'Chance that a frame is never delivered (must be < 1).',
            0.0, 1.0),
    Setting('perturbations.latency_s', 0.0, 'Seconds of sim time from capture to delivery; the image keeps '
            'its capture stamp.', 0.0, 10.0),
    Setting('perturbations.light_intensity', 1.0, 'Scene lighting scale (1 = normal).', 0.0, 3.0),
    Setting('perturbations.texture_seed', -1, 'Road and ground texture variant; -1 = the track\'s own.',
            -1, 2**31 - 1),
)
PERTURBATION_PREFIX = 'perturbations.'


def declare_lane_sim_settings(node: Node) -> dict:
    """Declare the parameters and check what their ranges cannot express."""
    values = declare_settings(node, SETTINGS)
    if values['mode'] not in MODES:
        raise ParameterError(f"parameter 'mode' must be one of {', '.join(MODES)}, got {values['mode']!r}")
    if not values['frame_id']:
        raise ParameterError("parameter 'frame_id' must not be empty")
    return values


def world_config(values: dict) -> WorldConfig:
    """The simulator's configuration from the parameter values, checked by the simulator itself."""
    perturbations = {name[len(PERTURBATION_PREFIX):]: value for name, value in values.items()
                     if name.startswith(PERTURBATION_PREFIX)}
    if perturbations['texture_seed'] < 0:
        perturbations['texture_seed'] = None
    try:
        perturbation_config = PerturbationConfig.from_dict(perturbations)
    except ValueError as error:
        # The simulator's message names the field (PerturbationConfig.<field>); name the parameter.
        named = [field for field in perturbations if f'PerturbationConfig.{field} ' in str(error)]
        parameter = PERTURBATION_PREFIX + (named[0] if named else '*')
        raise ParameterError(f"parameter '{parameter}' rejected: {error}") from None
    config = WorldConfig(
        track=TrackSpec(closed=values['closed_track']),
        perturbations=perturbation_config,
        camera_width=values['camera_width'],
        camera_height=values['camera_height'],
        camera_rate_hz=values['camera_rate_hz'],
        physics_dt=values['physics_dt'],
    )
    try:
        config.validate()
    except ValueError as error:
        names = ('camera_width', 'camera_height', 'camera_rate_hz', 'physics_dt')
        raise ParameterError(f"parameters {', '.join(f'{n}={values[n]}' for n in names)} rejected: {error}") from None
    return config


def time_message(nanoseconds: int) -> Time:
    nanoseconds = max(0, nanoseconds)
    return Time(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)


def camera_info_message(config: WorldConfig, frame_id: str) -> CameraInfo:
    """Pinhole model of the simulated camera: square pixels, focal length from the vertical field of view."""
    width, height = config.camera_width, config.camera_height
    focal = (height / 2) / math.tan(math.radians(config.car.camera_fovy_deg) / 2)
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


def odometry_message(observation: Observation, stamp: Time) -> Odometry:
    car = observation.car
    odometry = Odometry(child_frame_id=BASE_FRAME)
    odometry.header.stamp = stamp
    odometry.header.frame_id = ODOM_FRAME
    odometry.pose.pose.position.x = car.x
    odometry.pose.pose.position.y = car.y
    odometry.pose.pose.orientation.z = math.sin(car.yaw / 2)
    odometry.pose.pose.orientation.w = math.cos(car.yaw / 2)
    # The twist is in the child frame (base_link), as REP 105 and nav_msgs/Odometry say.
    odometry.twist.twist.linear.x = car.speed
    odometry.twist.twist.linear.y = car.lateral_speed
    odometry.twist.twist.angular.z = car.yaw_rate
    return odometry


class LaneSimNode(Node):
    """The lane world behind ROS topics; every behaviour is the simulator's, this class only connects it.

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

    def __init__(self, **node_options):
        super().__init__(NODE_NAME, **node_options)
        values = declare_lane_sim_settings(self)
        config = world_config(values)
        self._lockstep = values['mode'] == 'lockstep'
        self._stamped = values['cmd_vel_stamped']
        self._frame_id = values['frame_id']
        self._lockstep_timeout_s = values['lockstep_timeout_s']
        self._cmd_timeout_ns = round(values['cmd_timeout_s'] * 1e9)
        self._car = config.car

        self.get_logger().info(f"building the lane world: track seed {values['seed']}, "
                               f"{'closed' if values['closed_track'] else 'open'} road")
        self._world = LaneWorld(values['seed'], config)
        self._period_ns = round(config.physics_steps_per_frame * config.physics_dt * 1e9)
        self._clock_offset_ns = 0  # sim time (on the clock of all episodes) at which this episode started
        self._published_sim_ns = 0  # that sim time of the last observation published
        self._episode = 1
        self._stop_reasons = Counter()
        self._command = None  # newest cmd_vel, clamped; None when there is none or it went stale
        self._command_sim_ns = 0  # sim time at which it arrived
        self._clamped_commands = 0
        self._lockstep_timeouts = 0
        self._awaiting_command = False
        self._published_at = 0.0  # time.monotonic() of the last tick published in lockstep mode
        self._camera_info = camera_info_message(config, self._frame_id)

        self._image_publisher = self.create_publisher(Image, 'camera/image_raw', qos_profile_sensor_data)
        self._camera_info_publisher = self.create_publisher(CameraInfo, 'camera/camera_info', qos_profile_sensor_data)
        self._odometry_publisher = self.create_publisher(Odometry, 'odom', 10)
        self._metrics_publisher = self.create_publisher(DiagnosticStatus, 'lane_metrics', 10)
        self._clock_publisher = self.create_publisher(ClockMessage, '/clock', 10) if self._lockstep else None
        self.create_subscription(TwistStamped if self._stamped else Twist, 'cmd_vel', self._on_cmd_vel, 10)
        self.create_service(Trigger, '~/reset', self._on_reset)
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        if self._lockstep:
            self._timer = self.create_timer(self._lockstep_timeout_s, self._on_lockstep_timeout, clock=steady)
        else:
            self._timer = self.create_timer(1.0 / config.camera_rate_hz, self._step, clock=steady)

        track = self._world.track
        self.get_logger().info(
            f"{values['mode']} mode: track {self._world.seed} ({track.family} family, "
            f"{'closed' if track.closed else 'open'}, {track.length:.1f} m), camera "
            f'{config.camera_width}x{config.camera_height} at {config.camera_rate_hz:g} Hz')
        self._publish(self._world.reset())

    def close(self) -> str:
        """Release the renderer; returns a one-line account of the run for the caller to log."""
        self._world.close()
        return f'stopped in episode {self._episode}; episode ends: {self._stop_reasons_text()}'

    # ----------------------------------------------------------------- callbacks
    def _on_cmd_vel(self, message: Twist | TwistStamped) -> None:
        # The age of a command is measured from its arrival in sim time, not from a TwistStamped
        # header: a controller may stamp with its own clock, which need not be this node's.
        twist = message.twist if self._stamped else message
        command, problems = Command.from_twist(twist.linear.x, twist.angular.z, self._car).clamped(self._car)
        if problems:
            self._clamped_commands += 1
            self.get_logger().warning(f"cmd_vel clamped to the car's limits: {'; '.join(problems)}",
                                      throttle_duration_sec=WARN_THROTTLE_S)
        self._command = command
        self._command_sim_ns = self._sim_ns()
        if self._awaiting_command:
            self._step()

    def _on_lockstep_timeout(self) -> None:
        # The timer may have been found ready in the same executor wait as a cmd_vel that has
        # since stepped the world and re-armed it; only a full timeout since the last tick counts.
        if self._awaiting_command and time.monotonic() - self._published_at >= self._lockstep_timeout_s:
            self._lockstep_timeouts += 1
            self._step()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._publish(self._restart(RESET_REASON))
        response.success = True
        response.message = f'episode {self._episode} started on track {self._world.seed}'
        return response

    # ----------------------------------------------------------------- stepping
    def _step(self) -> None:
        self._awaiting_command = False
        observation = self._world.step(self._command_to_apply())
        if observation.terminated:
            observation = self._restart(observation.reason)
        self._publish(observation)

    def _command_to_apply(self) -> Command:
        if self._command is None:
            return Command()
        age_ns = self._sim_ns() - self._command_sim_ns
        if age_ns > self._cmd_timeout_ns:
            self.get_logger().warning(
                f'cmd_vel timed out: the last one is {age_ns / 1e9:.3f} s of sim time old '
                f'(cmd_timeout_s = {self._cmd_timeout_ns / 1e9:g}); stopping the car',
                throttle_duration_sec=WARN_THROTTLE_S)
            self._command = None
            return Command()
        return self._command

    def _restart(self, reason: str) -> Observation:
        world = self._world
        summary = world.metrics.summary()
        account = (f'episode {self._episode} ended after {world.time:.2f} s of sim time: {reason} '
                   f"({summary['distance_m']} m driven, mean |lateral error| {summary['mean_abs_lateral_m']} m, "
                   f"{summary['departures']} lane departures); restarting on track {world.seed}")
        # Two call sites: rclpy fixes a logging call site's severity at its first use.
        if reason == RESET_REASON:
            self.get_logger().info(account)
        else:
            self.get_logger().warning(account)
        self._stop_reasons[reason] += 1
        # The new episode's first tick takes the next slot on the clock: one period after the last
        # tick published (a terminal observation is replaced by the restart, not published).
        self._clock_offset_ns = self._published_sim_ns + self._period_ns
        self._episode += 1
        return world.reset()

    # ----------------------------------------------------------------- publishing
    def _sim_ns(self) -> int:
        """Sim time on the clock that runs on over episodes (see the module doc), nanoseconds."""
        return self._clock_offset_ns + round(self._world.time * 1e9)

    def _publish(self, observation: Observation) -> None:
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
        self._odometry_publisher.publish(odometry_message(observation, stamp))
        self._metrics_publisher.publish(self._metrics_message(observation))
        if self._lockstep:
            self._awaiting_command = True
            self._published_at = time.monotonic()
            self._timer.reset()

    def _stop_reasons_text(self) -> str:
        return ', '.join(f'{reason}: {count}' for reason, count in sorted(self._stop_reasons.items())) or 'none'

    def _metrics_message(self, observation: Observation) -> DiagnosticStatus:
        world, check = self._world, observation.check
        summary = world.metrics.summary()
        values = {
            'lateral_error_m': f'{check.lateral_error:.4f}',
            'heading_error_rad': f'{check.heading_error:.4f}',
            'wheels_out': str(check.wheels_out).lower(),
            'distance_m': summary['distance_m'],
            'departures': summary['departures'],
            'mean_abs_lateral_m': summary['mean_abs_lateral_m'],
            'max_abs_lateral_m': summary['max_abs_lateral_m'],
            'episode_time_s': f'{observation.time:.3f}',
            'episode': self._episode,
            'seed': world.seed,
            'track_family': world.track.family,
            'closed_track': str(world.track.closed).lower(),
            'stop_reasons': self._stop_reasons_text(),
            'command_speed_mps': f'{world.command.speed:.4f}',
            'command_steering_rad': f'{world.command.steering:.4f}',
            'command_fresh': str(self._command is not None).lower(),
            'commands_clamped': self._clamped_commands,
            'lockstep_timeouts': self._lockstep_timeouts,
        }
        return DiagnosticStatus(
            level=DiagnosticStatus.WARN if check.wheels_out else DiagnosticStatus.OK,
            name='lane_sim',
            message='a wheel is out of the lane' if check.wheels_out else 'in the lane',
            hardware_id=f'lane_world/track_{world.seed}',
            values=[KeyValue(key=key, value=str(value)) for key, value in values.items()],
        )


def main(args=None) -> int:
    """Run the node until Ctrl-C; exit code 0, or 2 when a parameter is invalid."""
    return run_node(LaneSimNode, NODE_NAME, finish=LaneSimNode.close, args=args)


if __name__ == '__main__':
    sys.exit(main())
