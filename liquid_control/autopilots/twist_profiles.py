"""Autopilots that take a geometry_msgs/TwistStamped velocity setpoint, one profile each.

A profile says where the setpoint goes, in which frame it is expressed and which frame_id names that
frame; the node looks the profile up by name and never branches on it. The policy's command is a
body-frame (FLU) velocity; a profile whose autopilot wants a world frame also names the topic that
gives the heading. docs/autopilots.md has the sources of each profile's facts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .frames import HOVER, BodyVelocity, WorldVelocity, body_flu_to_enu, yaw_from_quaternion
from .policy_watch import PolicyTimeouts, PolicyWatch


@dataclass(frozen=True)
class TwistValues:
    """The fields of a TwistStamped: header.frame_id, twist.linear (x, y, z), twist.angular.z."""

    frame_id: str
    linear: tuple[float, float, float]
    yaw_rate: float


def _as_body(command: BodyVelocity, frame_id: str) -> TwistValues:
    return TwistValues(frame_id, (command.forward, command.left, command.up), command.yaw_rate)


def _as_world(world: WorldVelocity, frame_id: str) -> TwistValues:
    return TwistValues(frame_id, (world.x, world.y, world.z), world.yaw_rate)


@dataclass(frozen=True)
class TwistProfile:
    name: str
    topic: str  # relative, so a namespace (one per vehicle) applies
    frame_id: str
    description: str
    heading_topic: str | None = None  # geometry_msgs/PoseStamped (ENU) giving the heading, if the frame needs it

    @property
    def needs_heading(self) -> bool:
        return self.heading_topic is not None

    def twist(self, command: BodyVelocity, heading: float | None = None) -> TwistValues:
        if self.needs_heading:
            if heading is None:
                raise ValueError(f"profile {self.name!r} needs the vehicle's heading")
            return _as_world(body_flu_to_enu(command, heading), self.frame_id)
        return _as_body(command, self.frame_id)


PROFILES: dict[str, TwistProfile] = {profile.name: profile for profile in (
    TwistProfile(
        name="mavros",
        topic="mavros/setpoint_velocity/cmd_vel",
        frame_id="base_link",
        description="MAVROS setpoint_velocity with its mav_frame parameter set to BODY_NED: the twist is the "
                    "body-frame (FLU) velocity and yaw rate; MAVROS turns it into FRD for the autopilot."),
    TwistProfile(
        name="mavros_local",
        topic="mavros/setpoint_velocity/cmd_vel",
        frame_id="map",
        heading_topic="mavros/local_position/pose",
        description="MAVROS setpoint_velocity with mav_frame LOCAL_NED (its default): the twist is an ENU world "
                    "velocity, so the body command is rotated by the heading from mavros/local_position/pose."),
    TwistProfile(
        name="ardupilot",
        topic="ap/cmd_vel",
        frame_id="base_link",
        description="ArduPilot's DDS interface: /ap/cmd_vel with frame_id base_link is a body-frame (FLU) "
                    "velocity and yaw rate, rotated to NED by ArduPilot's own attitude estimate."),
)}


def profile(name: str) -> TwistProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown autopilot {name!r}; known: {', '.join(PROFILES)}") from None


class TwistRelay:
    """One profile's stream: ``tick(now)`` gives the twist to publish, or None (stop: the policy is lost).

    A live command is sent in the profile's frame; a stale one, or one in a world frame while the
    heading is unknown or older than ``heading_timeout_s``, becomes zero velocity (which needs no
    heading). Times are seconds on one clock.
    """

    def __init__(self, autopilot: TwistProfile, timeouts: PolicyTimeouts, start_time: float,
                 heading_timeout_s: float = 0.5):
        self.profile = autopilot
        self.policy = PolicyWatch(timeouts, start_time)
        self.heading_timeout_s = heading_timeout_s
        self._heading: float | None = None
        self._heading_at = -math.inf

    def heard_command(self, command: BodyVelocity, now: float) -> None:
        self.policy.heard(command, now)

    def heard_orientation(self, w: float, x: float, y: float, z: float, now: float) -> None:
        """The vehicle's orientation in the heading topic's world frame (an ENU pose for MAVROS)."""
        if all(math.isfinite(value) for value in (w, x, y, z)) and (w, x, y, z) != (0.0, 0.0, 0.0, 0.0):
            self._heading, self._heading_at = yaw_from_quaternion(w, x, y, z), now

    def heading(self, now: float) -> float | None:
        if self._heading is None or now - self._heading_at > self.heading_timeout_s:
            return None
        return self._heading

    def tick(self, now: float) -> TwistValues | None:
        command = self.policy.command(now)
        if command is None:
            return None
        heading = self.heading(now)
        if self.profile.needs_heading and heading is None:
            return self.profile.twist(HOVER, 0.0)  # zero is zero in any heading
        return self.profile.twist(command, heading)
