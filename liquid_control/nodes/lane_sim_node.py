"""lane_sim_node: the MuJoCo lane world of ``liquid_control.sim.lane`` as a ROS 2 node.

Topic names are relative, so namespaces and remapping work; only /clock is absolute. The topics,
the lockstep and realtime modes and the clock are those of every sim node (``nodes/sim_node.py``);
what is the lane world's:

publishes   lane_metrics        diagnostic_msgs/DiagnosticStatus ``lane_sim``: lane errors now,
                                the episode's metrics, episode counters, the command applied
            odom                the car on the ground (z = 0), its forward and sideways speed
subscribes  cmd_vel             linear.x = speed, angular.z = yaw rate (the bicycle relation
                                turns them into a steering angle); or with command_type ackermann
            drive               ackermann_msgs/AckermannDriveStamped: speed and steering_angle, applied
                                as they are (the car's own command; docs/ackermann.md)

A command older than ``cmd_timeout_s`` of sim time stops the car (speed 0, steering 0). When the
car leaves the road (or reaches the end of an open road) the episode restarts by itself.
"""

from __future__ import annotations

import math
import sys

from diagnostic_msgs.msg import DiagnosticStatus

from liquid_control.nodes.camera_perturbations import perturbation_config
from liquid_control.nodes.settings import Setting, run_node
from liquid_control.nodes.sim_node import (
    TWIST_READERS,
    SimNode,
    checked,
    common_settings,
    odometry_message,
)

# Nothing here imports mujoco itself: liquid_control.sim.lane.world sets MUJOCO_GL=egl (headless
# rendering) before it does, whatever order these imports run in.
from liquid_control.sim.lane.car import Command
from liquid_control.sim.lane.track import TrackSpec
from liquid_control.sim.lane.world import LaneWorld, WorldConfig

NODE_NAME = 'lane_sim_node'
# The car is an Ackermann car: it also takes AckermannDriveStamped, whose speed and steering angle are its command.
COMMAND_READERS = {**TWIST_READERS, 'ackermann': lambda node, message: node.command_from_ackermann(message.drive)}

SETTINGS = (
    Setting('seed', 0, 'Track seed: the same seed draws the same road. Seeds below 1000 are the training '
            'family, from 1000 on the held-out family (unseen shapes and colours).', 0, 2**31 - 1),
    Setting('closed_track', True, 'true: a closed loop; false: an open road (the episode restarts at its end).'),
    *common_settings(200, 66, 20.0, 'the car is stopped (speed 0, steering 0)', tuple(COMMAND_READERS)),
)


def world_config(values: dict) -> WorldConfig:
    """The simulator's configuration from the parameter values, checked by the simulator itself."""
    return checked(WorldConfig(
        track=TrackSpec(closed=values['closed_track']),
        perturbations=perturbation_config(values),
        camera_width=values['camera_width'],
        camera_height=values['camera_height'],
        camera_rate_hz=values['camera_rate_hz'],
        physics_dt=values['physics_dt'],
    ), values)


class LaneSimNode(SimNode):
    """The lane world behind ROS topics (see ``SimNode``)."""

    NODE_NAME = NODE_NAME
    METRICS_TOPIC = 'lane_metrics'
    METRICS_NAME = 'lane_sim'
    LIMITS = "the car's limits"
    SETTINGS = SETTINGS
    COMMAND_READERS = COMMAND_READERS

    def make_world(self, values: dict):
        config = world_config(values)  # refused parameters end the node before anything is built
        self.get_logger().info(f"building the lane world: track seed {values['seed']}, "
                               f"{'closed' if values['closed_track'] else 'open'} road")
        world = LaneWorld(values['seed'], config)
        self._car = world.config.car
        track = world.track
        return world, (f"track {world.seed} ({track.family} family, {'closed' if track.closed else 'open'}, "
                       f"{track.length:.1f} m)")

    def command_from_twist(self, twist):
        return Command.from_twist(twist.linear.x, twist.angular.z, self._car).clamped(self._car)

    def command_from_ackermann(self, drive):
        """An AckermannDrive's speed and steering angle, within the car's limits. Its rate fields
        (steering_angle_velocity, acceleration, jerk) are not modelled: the car's actuators set the pace."""
        return Command(float(drive.speed), float(drive.steering_angle)).clamped(self._car)

    def stop_command(self) -> Command:
        return Command()

    def odometry(self, observation, stamp):
        car = observation.car
        return odometry_message(stamp, (car.x, car.y, 0.0), (math.cos(car.yaw / 2), 0.0, 0.0, math.sin(car.yaw / 2)),
                                (car.speed, car.lateral_speed, 0.0), (0.0, 0.0, car.yaw_rate))

    def episode_account(self, summary: dict) -> str:
        return (f"{summary['distance_m']} m driven, mean |lateral error| {summary['mean_abs_lateral_m']} m, "
                f"{summary['departures']} lane departures")

    def metrics(self, observation):
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
            'track_family': world.track.family,
            'closed_track': str(world.track.closed).lower(),
            'command_speed_mps': f'{world.command.speed:.4f}',
            'command_steering_rad': f'{world.command.steering:.4f}',
        }
        if check.wheels_out:
            return DiagnosticStatus.WARN, 'a wheel is out of the lane', values
        return DiagnosticStatus.OK, 'in the lane', values


def main(args=None) -> int:
    """Run the node until Ctrl-C; exit code 0, or 2 when a parameter is invalid."""
    return run_node(LaneSimNode, NODE_NAME, finish=LaneSimNode.close, args=args)


if __name__ == '__main__':
    sys.exit(main())
