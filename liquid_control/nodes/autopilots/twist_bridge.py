"""twist_bridge: the policy's body-frame cmd_vel as the TwistStamped velocity setpoint an autopilot takes.

subscribes  cmd_vel         geometry_msgs/Twist (TwistStamped with twist_stamped:=true)
            the profile's heading topic, if its frame needs one (mavros_local: mavros/local_position/pose)
publishes   the profile's setpoint topic (geometry_msgs/TwistStamped) at rate_hz:
              mavros        mavros/setpoint_velocity/cmd_vel, body frame (MAVROS mav_frame: BODY_NED)
              mavros_local  mavros/setpoint_velocity/cmd_vel, ENU world frame (mav_frame: LOCAL_NED)
              ardupilot     ap/cmd_vel, frame_id base_link (body frame)

The profiles and the stale -> zero velocity -> silence rule are ``liquid_control.autopilots``; the
node looks its profile up by name. Relative names: a namespace or a remap picks the vehicle.
"""

from __future__ import annotations

from geometry_msgs.msg import PoseStamped, Twist, TwistStamped
from rclpy.node import Node

from liquid_control.autopilots import PROFILES, BodyVelocity, PolicyTimeouts, TwistRelay
from liquid_control.nodes import qos
from liquid_control.nodes.settings import ParameterError, Setting, declare_settings, run_node

NODE_NAME = 'twist_bridge'

SETTINGS = (
    Setting('autopilot', 'mavros', f"Which autopilot's velocity setpoint to publish: {', '.join(PROFILES)}."),
    Setting('twist_stamped', False, 'Take cmd_vel as geometry_msgs/TwistStamped instead of Twist.'),
    Setting('rate_hz', 20.0, 'Rate of the setpoint stream, Hz of the node clock (PX4 through MAVROS wants more '
            'than 2 Hz in offboard mode).', 2.5, 250.0),
    Setting('cmd_timeout_s', 0.5, 'Seconds without a cmd_vel after which the policy is stale: zero velocity is '
            'sent instead.', 0.0, 60.0),
    Setting('failsafe_after_s', 2.0, "Seconds of zero velocity on a stale policy after which the stream stops, so "
            "that the autopilot's own failsafe (PX4's offboard loss, ArduPilot's guided timeout) takes over.",
            0.0, 3600.0),
    Setting('heading_timeout_s', 0.5, 'Profiles in a world frame: seconds after which the last pose is too old '
            'to give the heading; zero velocity is sent until a new one comes.', 0.01, 60.0),
)


class TwistBridgeNode(Node):
    """cmd_vel in, the profile's TwistStamped out at rate_hz."""

    def __init__(self, **node_options):
        super().__init__(NODE_NAME, **node_options)
        values = declare_settings(self, SETTINGS)
        if values['autopilot'] not in PROFILES:
            raise ParameterError(f"parameter 'autopilot' must be one of {', '.join(PROFILES)}, "
                                 f"got {values['autopilot']!r}")
        autopilot = PROFILES[values['autopilot']]
        self._relay = TwistRelay(autopilot, PolicyTimeouts(values['cmd_timeout_s'], values['failsafe_after_s']),
                                 self._now(), values['heading_timeout_s'])
        self._streaming = True
        # MAVROS and ArduPilot read best effort; a RELIABLE publisher serves them and RELIABLE tools alike.
        self._publisher = qos.publisher(self, TwistStamped, autopilot.topic, qos.RELIABLE)
        command_type = TwistStamped if values['twist_stamped'] else Twist
        qos.subscription(self, command_type, 'cmd_vel', self._on_cmd_vel, qos.RELIABLE)
        if autopilot.needs_heading:  # MAVROS publishes its pose best effort
            qos.subscription(self, PoseStamped, autopilot.heading_topic, self._on_pose, qos.SENSOR_SUBSCRIPTION)
        self.create_timer(1.0 / values['rate_hz'], self._tick)
        self.get_logger().info(f"{autopilot.name}: {autopilot.description} Publishing on "
                               f"{self._publisher.topic_name} at {values['rate_hz']:g} Hz.")

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_cmd_vel(self, message) -> None:
        twist = message.twist if isinstance(message, TwistStamped) else message
        self._relay.heard_command(BodyVelocity(twist.linear.x, twist.linear.y, twist.linear.z, twist.angular.z),
                                  self._now())

    def _on_pose(self, message: PoseStamped) -> None:
        q = message.pose.orientation
        self._relay.heard_orientation(q.w, q.x, q.y, q.z, self._now())

    def _tick(self) -> None:
        values = self._relay.tick(self._now())
        if (values is not None) != self._streaming:
            self._streaming = values is not None
            if self._streaming:
                self.get_logger().info('policy back: setpoints streaming')
            else:
                self.get_logger().warning("policy lost: setpoints stopped, the autopilot's own failsafe takes over")
        if values is None:
            return
        message = TwistStamped()
        message.header.stamp = self.get_clock().now().to_msg()
        message.header.frame_id = values.frame_id
        message.twist.linear.x, message.twist.linear.y, message.twist.linear.z = values.linear
        message.twist.angular.z = values.yaw_rate
        self._publisher.publish(message)


def main(args=None) -> int:
    """Run the node until Ctrl-C; exit code 0, or 2 when a parameter is invalid."""
    return run_node(TwistBridgeNode, NODE_NAME, args=args)


if __name__ == '__main__':
    raise SystemExit(main())
