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

With ``flight_controller: px4`` the drone is flown the way a PX4 multicopter is, through PX4's ROS 2
offboard interface instead of cmd_vel: it takes ``fmu/in/offboard_control_mode``,
``fmu/in/trajectory_setpoint`` and ``fmu/in/vehicle_command``, publishes
``fmu/out/vehicle_odometry`` and ``fmu/out/vehicle_status_v<N>``, and enforces PX4's offboard rules
(``liquid_control.sim.drone.simulated_px4``; docs/px4_sim.md). px4_msgs is imported only then.

A cmd_vel older than ``cmd_timeout_s`` of sim time is replaced by a zero velocity command: the
autopilot holds the drone in a hover, it never cuts the motors. An episode ends on reaching the
target, a collision, leaving the flight area or the time limit, and restarts by itself in the same
scene.
"""

from __future__ import annotations

import math
import sys

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from liquid_control.nodes import qos
from liquid_control.nodes.camera_perturbations import perturbation_config
from liquid_control.nodes.settings import ParameterError, Setting, run_node
from liquid_control.nodes.sim_node import SimNode, checked, common_settings, odometry_message

# Nothing here imports mujoco itself: liquid_control.sim.drone.world sets MUJOCO_GL=egl first.
from liquid_control.sim.drone.autopilot import VelocityCommand
from liquid_control.sim.drone.scene import DOMAINS, TRAINING_DOMAIN
from liquid_control.sim.drone.simulated_px4 import (
    NAVIGATION_STATE_NAMES,
    CommandValues,
    ControlModeFlags,
    MotorSwitch,
    Px4Parameters,
    SetpointValues,
    SimulatedPx4,
    enu_to_ned,
    frd_to_ned_euler,
)
from liquid_control.sim.drone.world import DroneWorld, DroneWorldConfig

NODE_NAME = 'drone_sim_node'
FLIGHT_CONTROLLERS = ('none', 'px4')
_DEFAULTS = DroneWorldConfig()
_PX4_DEFAULTS = Px4Parameters()
# What PX4's uXRCE-DDS bridge offers on fmu/out: best effort, the newest sample kept for late joiners.
PX4_OUT = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.TRANSIENT_LOCAL)

SETTINGS = (
    Setting('seed', 0, 'Scene seed: the same seed draws the same forest (or town), target and start. Seeds below '
            '1000 are the training family, from 1000 on held out.', 0, 2**31 - 1),
    Setting('domain', TRAINING_DOMAIN, f"What the camera sees: {', '.join(DOMAINS)} ({TRAINING_DOMAIN} is the "
            'training domain; the others change the looks, not the task).'),
    Setting('wind_gust_n', 0.0, 'Wind gusts: standard deviation of the random horizontal force, newtons (0 = calm).',
            0.0, 100.0),
    Setting('flight_controller', 'none', 'none: the drone flies cmd_vel (body frame). px4: it is flown through '
            "PX4's ROS 2 offboard interface (fmu/in/offboard_control_mode, fmu/in/trajectory_setpoint, "
            'fmu/in/vehicle_command; fmu/out/vehicle_odometry, fmu/out/vehicle_status_v<N>) under PX4\'s '
            'offboard rules, and takes no cmd_vel; in lockstep mode each trajectory setpoint steps the world.'),
    Setting('armed_at_start', True, 'flight_controller px4: the vehicle starts armed, hovering in Hold mode as after '
            'a takeoff; false: disarmed (motors off, the drone falls) until a VehicleCommand arms it.'),
    Setting('px4.com_of_loss_t', _PX4_DEFAULTS.com_of_loss_t, "PX4's COM_OF_LOSS_T: seconds without an "
            'OffboardControlMode after which the offboard signal is lost (the failsafe in offboard).', 0.01, 60.0),
    Setting('px4.com_obl_rc_act', _PX4_DEFAULTS.com_obl_rc_act, "PX4's COM_OBL_RC_ACT, the offboard-loss action: "
            '0 Position mode (no pilot: holds), 4 Land mode, 5 Hold mode.', 0, 7),
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


def px4_parameters(values: dict) -> Px4Parameters:
    """The simulated PX4's parameters from the ``px4.*`` node parameters, checked."""
    parameters = Px4Parameters(com_of_loss_t=values['px4.com_of_loss_t'], com_obl_rc_act=values['px4.com_obl_rc_act'])
    try:
        parameters.validate()
    except ValueError as error:
        raise ParameterError(f"parameter 'px4.{str(error).split()[0]}' rejected: {error}") from None
    return parameters


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
        if values['flight_controller'] not in FLIGHT_CONTROLLERS:
            raise ParameterError(f"parameter 'flight_controller' must be one of {', '.join(FLIGHT_CONTROLLERS)}, "
                                 f"got {values['flight_controller']!r}")
        self._px4 = None
        if values['flight_controller'] == 'px4':
            self._px4 = Px4Link(self, SimulatedPx4(px4_parameters(values), values['armed_at_start']))
        self.get_logger().info(f"building the drone world: scene seed {values['seed']}, domain {config.domain}")
        world = DroneWorld(values['seed'], config)
        if self._px4 is not None:
            # A disarmed PX4's outputs: zero thrust, whatever the autopilot asks for.
            world.autopilot = MotorSwitch(world.autopilot, lambda: self._px4.vehicle.armed)
        self._limits = config.limits
        return world, f"scene {world.seed} ({config.domain}), target {world.scene.start_distance:.1f} m away"

    def create_command_inputs(self, commands) -> str:
        if self._px4 is None:
            return super().create_command_inputs(commands)
        return self._px4.connect()

    def command_at_step(self) -> VelocityCommand:
        if self._px4 is None:
            return super().command_at_step()
        return self._px4.command(self._sim_ns(), self._world.drone_state().yaw)

    def command_from_twist(self, twist):
        return VelocityCommand.from_twist(twist.linear.x, twist.linear.y, twist.linear.z,
                                          twist.angular.z).clamped(self._limits)

    def stop_command(self) -> VelocityCommand:
        return VelocityCommand()  # hover: the autopilot holds zero velocity

    def odometry(self, observation, stamp):
        state = observation.state
        if self._px4 is not None:  # the same state in PX4's terms, published with every observation
            self._px4.publish_state(state, self._sim_ns())
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
            'flight_controller': 'px4' if self._px4 is not None else 'none',
        }
        if self._px4 is not None:
            values.update(self._px4.metrics())
        if not target.in_view:
            return DiagnosticStatus.WARN, 'the target is out of view', values
        return DiagnosticStatus.OK, 'the target is in view', values


class Px4Link:
    """The simulated PX4's ROS 2 side: PX4's topic names and QoS, its messages to and from the plain
    values of ``SimulatedPx4``. Topics as PX4's uXRCE-DDS bridge names them (a versioned message's
    topic ends in ``_v<MESSAGE_VERSION>``), relative so that a namespace works as PX4_UXRCE_DDS_NS."""

    def __init__(self, node: DroneSimNode, vehicle: SimulatedPx4):
        self.node = node
        self.vehicle = vehicle
        self._why = ''  # why the vehicle does not fly the offboard setpoint, as last logged
        self._status_publisher = self._odometry_publisher = None

    def connect(self) -> str:
        """Subscribe to PX4's inputs, advertise its outputs; returns what the log says of them."""
        # px4_msgs only here: the package, and drone_sim_node without px4, run where it is not installed.
        try:
            from px4_msgs.msg import (
                OffboardControlMode,
                TrajectorySetpoint,
                VehicleCommand,
                VehicleOdometry,
                VehicleStatus,
            )
        except ImportError:
            raise ParameterError("flight_controller px4 needs the px4_msgs message package, which is not "
                                 'installed (build it from PX4/px4_msgs for your PX4 release)') from None
        self._odometry_type, self._status_type = VehicleOdometry, VehicleStatus
        node = self.node
        # PX4 takes these best effort (its bridge's data readers); a RELIABLE publisher matches.
        qos.subscription(node, OffboardControlMode, 'fmu/in/offboard_control_mode', self._on_control_mode,
                         qos.SENSOR_SUBSCRIPTION)
        qos.subscription(node, TrajectorySetpoint, 'fmu/in/trajectory_setpoint', self._on_setpoint,
                         qos.SENSOR_SUBSCRIPTION)
        qos.subscription(node, VehicleCommand, 'fmu/in/vehicle_command', self._on_command, qos.SENSOR_SUBSCRIPTION)
        self._odometry_publisher = qos.publisher(node, VehicleOdometry, 'fmu/out/vehicle_odometry', PX4_OUT)
        status_topic = versioned('fmu/out/vehicle_status', VehicleStatus)
        self._status_publisher = qos.publisher(node, VehicleStatus, status_topic, PX4_OUT)
        return (f"PX4 offboard (px4_msgs) on {node.resolve_topic_name('fmu/in')}/*, "
                f"{'armed' if self.vehicle.armed else 'disarmed'}, Hold mode; status on {status_topic}")

    # ----------------------------------------------------------------- PX4's inputs
    def _now_s(self) -> float:
        return self.node._sim_ns() / 1e9

    def _on_control_mode(self, message) -> None:
        self.vehicle.control_mode_received(ControlModeFlags(
            position=message.position, velocity=message.velocity, acceleration=message.acceleration,
            attitude=message.attitude, body_rate=message.body_rate, thrust_and_torque=message.thrust_and_torque,
            direct_actuator=message.direct_actuator), self._now_s())

    def _on_setpoint(self, message) -> None:
        ignored = self.vehicle.setpoint_received(SetpointValues(
            position=tuple(float(v) for v in message.position), velocity=tuple(float(v) for v in message.velocity),
            acceleration=tuple(float(v) for v in message.acceleration), yaw=float(message.yaw),
            yawspeed=float(message.yawspeed)), self._now_s())
        if ignored:
            self.node.get_logger().warning(ignored, throttle_duration_sec=2.0)
        # Lock-step: the world steps on each TrajectorySetpoint. PX4 flies a setpoint as it comes and
        # an offboard bridge streams them on a timer of its own (they answer no frame), so their
        # stream paces the world, and the policy's answer to a frame flies with the bridge's next
        # setpoint. Heartbeats and commands only change the vehicle's state: before offboard (no
        # setpoints yet) the world steps on the lock-step timeout.
        self.node.step_if_awaiting()

    def _on_command(self, message) -> None:
        result = self.vehicle.command_received(CommandValues(
            int(message.command), float(message.param1), float(message.param2), float(message.param3),
            int(message.target_system), int(message.target_component)), self._now_s())
        # Two call sites: rclpy fixes a logging call site's severity at its first use.
        if result.accepted:
            self.node.get_logger().info(f'VehicleCommand {message.command} accepted: {result.text}')
        else:
            self.node.get_logger().warning(f'VehicleCommand {message.command} rejected: {result.text}')
        self._publish_status(self.node._sim_ns())

    # ----------------------------------------------------------------- the step
    def command(self, sim_ns: int, yaw: float) -> VelocityCommand:
        """What the world's autopilot flies this step (a hover while disarmed: the motors are off anyway)."""
        change = self.vehicle.update(sim_ns / 1e9)
        if change:
            self.node.get_logger().warning(f'PX4: {change}')
        command, why = self.vehicle.velocity_command(yaw)
        if why != self._why:
            if why:
                self.node.get_logger().info(f'PX4: {why}')
            self._why = why
        return command if command is not None else VelocityCommand()

    # ----------------------------------------------------------------- PX4's outputs
    def publish_state(self, state, sim_ns: int) -> None:
        """VehicleOdometry (NED, FRD) and VehicleStatus of the drone now."""
        odometry = self._odometry_type()
        odometry.timestamp = odometry.timestamp_sample = sim_ns // 1000
        odometry.pose_frame = self._odometry_type.POSE_FRAME_NED
        odometry.position = [float(v) for v in enu_to_ned(state.x, state.y, state.z)]
        odometry.q = [float(v) for v in quaternion_wxyz(*frd_to_ned_euler(state.roll, state.pitch, state.yaw))]
        odometry.velocity_frame = self._odometry_type.VELOCITY_FRAME_NED
        c, s = math.cos(state.yaw), math.sin(state.yaw)
        east, north = c * state.forward - s * state.left, s * state.forward + c * state.left
        odometry.velocity = [float(north), float(east), float(-state.up)]
        # Only the yaw rate is known (about the vertical, close to body z at the small tilts flown).
        odometry.angular_velocity = [math.nan, math.nan, float(-state.yaw_rate)]
        odometry.position_variance = odometry.orientation_variance = odometry.velocity_variance = [0.0] * 3
        odometry.quality = 100
        self._odometry_publisher.publish(odometry)
        self._publish_status(sim_ns)

    def _publish_status(self, sim_ns: int) -> None:
        values = self.vehicle.status
        status = self._status_type()
        status.timestamp = sim_ns // 1000
        status.arming_state = values.arming_state
        status.armed_time = 0 if values.armed_time_s is None else round(values.armed_time_s * 1e6)
        status.nav_state = values.nav_state
        status.nav_state_user_intention = values.nav_state_user_intention
        status.nav_state_timestamp = round(values.nav_state_time_s * 1e6)
        status.failsafe = values.failsafe
        status.vehicle_type = self._status_type.VEHICLE_TYPE_ROTARY_WING
        status.system_id = self.vehicle.parameters.system_id
        status.component_id = self.vehicle.parameters.component_id
        status.pre_flight_checks_pass = True
        self._status_publisher.publish(status)

    def metrics(self) -> dict:
        values = self.vehicle.status
        return {'px4_mode': NAVIGATION_STATE_NAMES[values.nav_state], 'px4_armed': str(values.armed).lower(),
                'px4_failsafe': str(values.failsafe).lower(),
                'px4_offboard_signal': str(values.offboard_signal).lower()}


def versioned(topic: str, message_type) -> str:
    """PX4's name for a topic of ``message_type``: versioned messages end in ``_v<MESSAGE_VERSION>``."""
    version = getattr(message_type, 'MESSAGE_VERSION', 0)
    return f'{topic}_v{version}' if version else topic


def main(args=None) -> int:
    """Run the node until Ctrl-C; exit code 0, or 2 when a parameter is invalid."""
    return run_node(DroneSimNode, NODE_NAME, finish=DroneSimNode.close, args=args)


if __name__ == '__main__':
    sys.exit(main())
