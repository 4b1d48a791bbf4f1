"""drone_sim_node: the MuJoCo drone world of ``liquid_control.sim.drone`` as a ROS 2 node.

Topic names are relative, so namespaces and remapping work; only /clock is absolute. The topics,
the lockstep and realtime modes and the clock are those of every sim node (``nodes/sim_node.py``);
what is the drone world's:

publishes   drone_metrics       diagnostic_msgs/DiagnosticStatus ``drone_sim``: distance and
                                bearing to the target now, the flight's metrics, episode counters,
                                the command applied
            odom                the drone's pose (x, y, altitude, full attitude) and its velocity
                                in the body's heading frame
subscribes  cmd_vel             body frame (REP 103): linear.x forward, linear.y left, linear.z up,
                                angular.z counter-clockwise yaw rate, as a flight controller's
                                velocity ("offboard", "joystick") mode takes them; the world's
                                autopilot flies them within its limits (speed, climb, yaw rate, tilt)

A cmd_vel older than ``cmd_timeout_s`` of sim time is replaced by a zero velocity command: the
autopilot holds the drone in a hover, it never cuts the motors. An episode ends on reaching the
target, a collision, leaving the flight area or the time limit, and restarts by itself in the same
scene.
"""

from __future__ import annotations

import math
import sys

from diagnostic_msgs.msg import DiagnosticStatus

from liquid_control.nodes.settings import ParameterError, Setting, run_node
from liquid_control.nodes.sim_node import SimNode, checked, common_settings, odometry_message, perturbation_config

# Nothing here imports mujoco itself: liquid_control.sim.drone.world sets MUJOCO_GL=egl first.
from liquid_control.sim.drone.autopilot import VelocityCommand
from liquid_control.sim.drone.scene import DOMAINS, TRAINING_DOMAIN
from liquid_control.sim.drone.world import DroneWorld, DroneWorldConfig

NODE_NAME = 'drone_sim_node'
_DEFAULTS = DroneWorldConfig()

SETTINGS = (
    Setting('seed', 0, 'Scene seed: the same seed draws the same forest (or town), target and start. Seeds below '
            '1000 are the training family, from 1000 on held out.', 0, 2**31 - 1),
    Setting('domain', TRAINING_DOMAIN, f"What the camera sees: {', '.join(DOMAINS)} ({TRAINING_DOMAIN} is the "
            'training domain; the others change the looks, not the task).'),
    Setting('wind_gust_n', 0.0, 'Wind gusts: standard deviation of the random horizontal force, newtons (0 = calm).',
            0.0, 100.0),
    *common_settings(_DEFAULTS.camera_width, _DEFAULTS.camera_height, _DEFAULTS.camera_rate_hz,
                     'the drone hovers (zero velocity command)'),
)


def world_config(values: dict) -> DroneWorldConfig:
    """The simulator's configuration from the parameter values, checked by the simulator itself."""
    if values['domain'] not in DOMAINS:
        raise ParameterError(f"parameter 'domain' must be one of {', '.join(DOMAINS)}, got {values['domain']!r}")
    return checked(DroneWorldConfig(
        domain=values['domain'],
        perturbations=perturbation_config(values),
        camera_width=values['camera_width'],
        camera_height=values['camera_height'],
        camera_rate_hz=values['camera_rate_hz'],
        physics_dt=values['physics_dt'],
        wind_gust_n=values['wind_gust_n'],
    ), values)


def quaternion_wxyz(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """The orientation of Z-Y-X (yaw, pitch, roll) Euler angles as a unit quaternion (w, x, y, z)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy)


class DroneSimNode(SimNode):
    """The drone world behind ROS topics (see ``SimNode``)."""

    NODE_NAME = NODE_NAME
    METRICS_TOPIC = 'drone_metrics'
    METRICS_NAME = 'drone_sim'
    LIMITS = "the drone's limits"
    SETTINGS = SETTINGS

    def make_world(self, values: dict):
        config = world_config(values)  # refused parameters end the node before anything is built
        self.get_logger().info(f"building the drone world: scene seed {values['seed']}, domain {config.domain}")
        world = DroneWorld(values['seed'], config)
        self._limits = config.limits
        return world, f"scene {world.seed} ({config.domain}), target {world.scene.start_distance:.1f} m away"

    def command_from_twist(self, twist):
        return VelocityCommand.from_twist(twist.linear.x, twist.linear.y, twist.linear.z,
                                          twist.angular.z).clamped(self._limits)

    def stop_command(self) -> VelocityCommand:
        return VelocityCommand()  # hover: the autopilot holds zero velocity

    def odometry(self, observation, stamp):
        state = observation.state
        # The twist in base_link: the velocity in the heading frame, which differs from the body
        # frame only by the (small, limited) roll and pitch.
        return odometry_message(stamp, (state.x, state.y, state.z), quaternion_wxyz(state.roll, state.pitch, state.yaw),
                                (state.forward, state.left, state.up), (0.0, 0.0, state.yaw_rate))

    def episode_account(self, summary: dict) -> str:
        return (f"{'reached the target' if summary['success'] else 'target not reached'}, final distance "
                f"{summary['final_distance_m']} m, {summary['sim_time_s']} s")

    def metrics(self, observation):
        target, command = observation.target, self._world.command
        summary = self._world.metrics.summary()
        values = {
            'target_distance_m': f'{target.distance:.3f}',
            'target_bearing_rad': f'{target.bearing:.4f}',
            'target_height_error_m': f'{target.height_error:.3f}',
            'target_in_view': str(target.in_view).lower(),
            'altitude_m': f'{observation.state.z:.3f}',
            'success': str(observation.success).lower(),
            'collision': str(summary['collision']).lower(),
            'start_distance_m': summary['start_distance_m'],
            'target_in_view_fraction': summary['target_in_view_fraction'],
            'domain': self._world.config.domain,
            'command_forward_mps': f'{command.forward:.4f}',
            'command_left_mps': f'{command.left:.4f}',
            'command_up_mps': f'{command.up:.4f}',
            'command_yaw_rate': f'{command.yaw_rate:.4f}',
        }
        if not target.in_view:
            return DiagnosticStatus.WARN, 'the target is out of view', values
        return DiagnosticStatus.OK, 'the target is in view', values


def main(args=None) -> int:
    """Run the node until Ctrl-C; exit code 0, or 2 when a parameter is invalid."""
    return run_node(DroneSimNode, NODE_NAME, finish=DroneSimNode.close, args=args)


if __name__ == '__main__':
    sys.exit(main())
