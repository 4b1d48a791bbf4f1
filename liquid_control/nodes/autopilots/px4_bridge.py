"""px4_bridge: the policy's body-frame cmd_vel flown through PX4's offboard mode (px4_msgs over DDS).

subscribes  cmd_vel                          geometry_msgs/Twist (TwistStamped with twist_stamped:=true)
            fmu/out/vehicle_odometry         px4_msgs/VehicleOdometry: the heading (q, FRD body in NED)
            fmu/out/vehicle_status_v4        px4_msgs/VehicleStatus (optional: status_topic '' skips it)
publishes   fmu/in/offboard_control_mode     OffboardControlMode, velocity=true: the proof of life
            fmu/in/trajectory_setpoint       TrajectorySetpoint: NED velocity and yaw rate, the rest NaN
            fmu/in/vehicle_command           VehicleCommand: offboard mode, arming only with arm:=true

Every name is relative, so a namespace (/px4_1/...) or a remap picks the vehicle. The rules and the
state machine are ``liquid_control.autopilots.px4_offboard``; docs/autopilots.md has the facts and
sources. px4_msgs is imported here only, so the rest of the package runs without it.
"""

from __future__ import annotations

from geometry_msgs.msg import Twist, TwistStamped
from rclpy.node import Node

from liquid_control.autopilots import (
    BodyVelocity,
    OffboardBridge,
    OffboardSettings,
    Phase,
    PolicyTimeouts,
    VehicleState,
)
from liquid_control.nodes import qos
from liquid_control.nodes.settings import Setting, declare_settings, run_node

NODE_NAME = 'px4_bridge'

SETTINGS = (
    Setting('twist_stamped', False, 'Take cmd_vel as geometry_msgs/TwistStamped instead of Twist.'),
    Setting('rate_hz', 20.0, 'Rate of the heartbeat (OffboardControlMode) and the setpoints, Hz of the node clock; '
            'PX4 wants more than 2 Hz.', 10.0, 250.0),
    Setting('cmd_timeout_s', 0.5, 'Seconds without a cmd_vel after which the policy is stale: a hover setpoint '
            '(zero velocity, heading kept) replaces it.', 0.0, 60.0),
    Setting('failsafe_after_s', 2.0, 'Seconds of hovering on a stale policy after which the heartbeat stops, so '
            "that PX4's own offboard-loss failsafe (COM_OF_LOSS_T, COM_OBL_RC_ACT) takes over. Once offboard was "
            'requested, the bridge then stays silent until restarted.', 0.0, 3600.0),
    Setting('setpoints_before_switch', 10, 'Heartbeats streamed (with the policy live and the heading known) before '
            'the switch to offboard is requested.', 1, 10000),
    Setting('arm', False, 'Also send the arm command with the offboard request. Never arms otherwise.'),
    Setting('odometry_timeout_s', 0.5, 'Seconds after which the last VehicleOdometry is too old to give the heading: '
            'the bridge hovers until a new one comes.', 0.01, 60.0),
    Setting('command_retry_s', 1.0, 'With a status topic: seconds between repeats of the offboard request until '
            'PX4 reports offboard (never repeated afterwards). Without one it is sent once.', 0.1, 60.0),
    Setting('odometry_topic', 'fmu/out/vehicle_odometry', 'VehicleOdometry topic (relative: namespaces apply).'),
    Setting('status_topic', 'fmu/out/vehicle_status_v4', "VehicleStatus topic; PX4 1.16+ names it with the message's "
            "version (_v4 in release 1.18). '' skips it: setpoints then stream from the start and the offboard "
            'request goes out once.'),
    Setting('target_system', 1, "VehicleCommand.target_system: the vehicle's MAV_SYS_ID.", 0, 255),
    Setting('target_component', 1, 'VehicleCommand.target_component (0: all components).', 0, 255),
)


class Px4BridgeNode(Node):
    """cmd_vel + PX4 odometry/status in, offboard heartbeat, setpoints and commands out, at rate_hz."""

    def __init__(self, **node_options):
        super().__init__(NODE_NAME, **node_options)
        from px4_msgs.msg import (  # only this adapter needs px4_msgs
            OffboardControlMode,
            TrajectorySetpoint,
            VehicleCommand,
            VehicleOdometry,
            VehicleStatus,
        )
        self._messages = OffboardControlMode, TrajectorySetpoint, VehicleCommand
        values = declare_settings(self, SETTINGS)
        self._values = values
        self._bridge = OffboardBridge(OffboardSettings(
            setpoints_before_switch=values['setpoints_before_switch'], arm=values['arm'],
            odometry_timeout_s=values['odometry_timeout_s'], command_retry_s=values['command_retry_s'],
            status_expected=bool(values['status_topic']),
            timeouts=PolicyTimeouts(values['cmd_timeout_s'], values['failsafe_after_s'])), self._now())
        self._phase = self._bridge.phase
        self._heartbeat = True
        self._mode_publisher = qos.publisher(self, OffboardControlMode, 'fmu/in/offboard_control_mode', qos.RELIABLE)
        self._setpoint_publisher = qos.publisher(self, TrajectorySetpoint, 'fmu/in/trajectory_setpoint', qos.RELIABLE)
        self._command_publisher = qos.publisher(self, VehicleCommand, 'fmu/in/vehicle_command', qos.RELIABLE)
        command_type = TwistStamped if values['twist_stamped'] else Twist
        qos.subscription(self, command_type, 'cmd_vel', self._on_cmd_vel, qos.RELIABLE)
        # PX4 publishes best effort (its uXRCE-DDS writers): a RELIABLE subscription would receive nothing.
        qos.subscription(self, VehicleOdometry, values['odometry_topic'], self._on_odometry, qos.SENSOR_SUBSCRIPTION)
        if values['status_topic']:
            qos.subscription(self, VehicleStatus, values['status_topic'], self._on_status, qos.SENSOR_SUBSCRIPTION)
        self.create_timer(1.0 / values['rate_hz'], self._tick)
        self.get_logger().info(
            f"streaming the offboard heartbeat at {values['rate_hz']:g} Hz; arming "
            f"{'on request (arm: true)' if values['arm'] else 'never (arm: false)'}; status from "
            f"{values['status_topic'] or 'nowhere'}")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _microseconds(self) -> int:
        return self.get_clock().now().nanoseconds // 1000

    def _on_cmd_vel(self, message) -> None:
        twist = message.twist if isinstance(message, TwistStamped) else message
        self._bridge.heard_command(BodyVelocity(twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.z),
                                   self._now())

    def _on_odometry(self, message) -> None:
        self._bridge.heard_attitude(tuple(float(value) for value in message.q), self._now())

    def _on_status(self, message) -> None:
        self._bridge.heard_status(VehicleState(nav_state=message.nav_state, arming_state=message.arming_state))

    def _tick(self) -> None:
        tick = self._bridge.tick(self._now())
        OffboardControlMode, TrajectorySetpoint, VehicleCommand = self._messages
        timestamp = self._microseconds()
        if tick.heartbeat:
            self._mode_publisher.publish(OffboardControlMode(timestamp=timestamp, velocity=True))
        if tick.setpoint is not None:
            setpoint = tick.setpoint
            self._setpoint_publisher.publish(TrajectorySetpoint(
                timestamp=timestamp, position=setpoint.position, velocity=setpoint.velocity,
                acceleration=setpoint.acceleration, jerk=setpoint.jerk, yaw=setpoint.yaw, yawspeed=setpoint.yawspeed))
        for request in tick.commands:
            self._command_publisher.publish(VehicleCommand(
                timestamp=timestamp, command=request.command, param1=request.param1, param2=request.param2,
                target_system=self._values['target_system'], target_component=self._values['target_component'],
                source_system=1, source_component=1, from_external=True))
            self.get_logger().info(f'sent VehicleCommand {request.command} ({request.param1:g}, {request.param2:g})')
        self._log_changes(tick)

    def _log_changes(self, tick) -> None:
        if tick.phase is not self._phase:
            self.get_logger().info(f'offboard: {self._phase.value} -> {tick.phase.value}')
            self._phase = tick.phase
        if tick.heartbeat != self._heartbeat:
            if tick.heartbeat:
                self.get_logger().info('policy back: heartbeat streaming')
            elif tick.phase is Phase.WAITING:
                self.get_logger().info('no policy yet: heartbeat paused until cmd_vel comes (offboard not requested)')
            else:
                self.get_logger().warning("policy lost: heartbeat stopped, PX4's offboard-loss failsafe takes over; "
                                          'silent until restarted')
            self._heartbeat = tick.heartbeat


def main(args=None) -> int:
    """Run the node until Ctrl-C; exit code 0, or 2 when a parameter is invalid."""
    return run_node(Px4BridgeNode, NODE_NAME, args=args)


if __name__ == '__main__':
    raise SystemExit(main())
