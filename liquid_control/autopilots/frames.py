"""Turning the policy's body-frame velocity into the frames flight controllers take.

The policy commands REP-103 body velocities: x forward, y left, z up, yaw rate counter-clockwise
(FLU). PX4 flies NED world setpoints (x north, y east, z down) and measures its attitude as a
quaternion that rotates the body FRD frame into NED; MAVROS and ROS tools use ENU worlds with FLU
bodies. Only the heading matters for a velocity setpoint: roll and pitch are the autopilot's means
of following it, so the horizontal velocity is rotated about the vertical and the vertical velocity
and yaw rate only change sign where the frame's z axis points down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class BodyVelocity:
    """A velocity command in the body frame (FLU, REP 103): m/s and rad/s."""

    forward: float = 0.0
    left: float = 0.0
    up: float = 0.0
    yaw_rate: float = 0.0  # counter-clockwise seen from above

    def is_finite(self) -> bool:
        return all(math.isfinite(value) for value in (self.forward, self.left, self.up, self.yaw_rate))


HOVER = BodyVelocity()


@dataclass(frozen=True)
class WorldVelocity:
    """A velocity in a world frame, its axes named by the frame (NED: x north, y east, z down)."""

    x: float
    y: float
    z: float
    yaw_rate: float  # about the world frame's z axis


def yaw_from_quaternion(w: float, x: float, y: float, z: float) -> float:
    """Heading (rad, -pi..pi) of a body whose attitude is the quaternion (w, x, y, z): the Z-Y-X Euler
    yaw, about the world's z axis. For PX4's NED/FRD quaternion that is the angle from north towards
    east; for an ENU/FLU one the angle from east towards north."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def body_flu_to_ned(velocity: BodyVelocity, yaw_ned: float) -> WorldVelocity:
    """The body velocity as a NED world velocity, for a vehicle heading ``yaw_ned`` (from north towards east).

    FLU -> FRD flips y and z (right = -left, down = -up); the horizontal FRD vector is then rotated by
    the heading. A counter-clockwise (ROS) yaw rate is a negative rate about NED's down axis."""
    cos_yaw, sin_yaw = math.cos(yaw_ned), math.sin(yaw_ned)
    right = -velocity.left
    return WorldVelocity(x=cos_yaw * velocity.forward - sin_yaw * right,
                         y=sin_yaw * velocity.forward + cos_yaw * right,
                         z=-velocity.up,
                         yaw_rate=-velocity.yaw_rate)


def body_flu_to_enu(velocity: BodyVelocity, yaw_enu: float) -> WorldVelocity:
    """The body velocity as an ENU world velocity, for a vehicle heading ``yaw_enu`` (from east towards north)."""
    cos_yaw, sin_yaw = math.cos(yaw_enu), math.sin(yaw_enu)
    return WorldVelocity(x=cos_yaw * velocity.forward - sin_yaw * velocity.left,
                         y=sin_yaw * velocity.forward + cos_yaw * velocity.left,
                         z=velocity.up,
                         yaw_rate=velocity.yaw_rate)
