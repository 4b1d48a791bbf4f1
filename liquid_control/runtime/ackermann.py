"""The message a command goes out in (Twist, TwistStamped, AckermannDriveStamped) and the Ackermann conversion.

A car-like robot (ackermann_msgs/AckermannDrive: F1TENTH, most RC and Ackermann car drivers) takes a
forward speed (m/s) and the steering angle of a virtual wheel at the middle of the front axle (rad,
positive left, REP 103). The controller shapes a Twist (limits, slew rates), and its Ackermann command
is made from that shaped Twist by the bicycle relation: the path's curvature is angular.z / linear.x
and ``steering_angle = atan(wheelbase * curvature)``. The lane world's car turns a Twist into its
(speed, steering) command by the same relation (``liquid_control.sim.lane.car.Command.from_twist``),
so a Twist and the Ackermann command made from it drive that car the same; the way back,
``yaw_rate = speed * tan(steering_angle) / wheelbase``, is ``twist_from_ackermann``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from liquid_control.runtime.commands import Twist

# What a node may speak, by the name of its command_type parameter.
COMMAND_TYPES = ("twist", "twist_stamped", "ackermann")
# Below this speed (m/s) a yaw rate says nothing about the path's curvature: the wheels are kept straight.
STANDSTILL_SPEED = 1e-3


@dataclass(frozen=True)
class AckermannCommand:
    """An AckermannDrive's speed (m/s, forward positive) and steering angle (rad, positive left)."""

    speed: float = 0.0
    steering_angle: float = 0.0


def ackermann_from_twist(twist: Twist, wheelbase: float) -> AckermannCommand:
    """The speed and steering angle that drive the path of ``twist`` (linear.x, angular.z).

    A stop (speed 0) keeps the wheels straight: the stops the controller commands (stale frames, a
    fault, deactivation) come when its last steering is no longer to be trusted, and a standing car
    needs none; it is what a Twist stop means to a car, and what the lane world's stale-command stop does.
    """
    if abs(twist.linear_x) < STANDSTILL_SPEED:
        return AckermannCommand(float(twist.linear_x), 0.0)
    return AckermannCommand(float(twist.linear_x), math.atan(wheelbase * twist.angular_z / twist.linear_x))


def twist_from_ackermann(command: AckermannCommand, wheelbase: float) -> Twist:
    """The Twist (linear.x, angular.z) an Ackermann command drives: the bicycle relation the other way."""
    return Twist(linear_x=float(command.speed),
                 angular_z=float(command.speed) * math.tan(command.steering_angle) / wheelbase)


def resolve_command_type(command_type: str, stamped: bool, stamped_parameter: str,
                         allowed: tuple[str, ...] = COMMAND_TYPES) -> str:
    """The command type a node speaks: ``command_type``, or twist_stamped when the older boolean
    ``stamped_parameter`` (twist_stamped, cmd_vel_stamped) is true. ValueError, naming both
    parameters, for an unknown type or a contradiction."""
    if command_type not in allowed:
        raise ValueError(f"command_type must be one of {', '.join(allowed)}, got {command_type!r}")
    if not stamped:
        return command_type
    if command_type not in ("twist", "twist_stamped"):
        raise ValueError(f"{stamped_parameter} is true (TwistStamped) but command_type is {command_type}: set "
                         f"command_type only (twist_stamped is command_type twist_stamped)")
    return "twist_stamped"
