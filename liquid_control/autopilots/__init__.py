"""Flight-controller adapters without ROS: frames, the policy watchdog, PX4 offboard, twist profiles.

The nodes in ``liquid_control.nodes.autopilots`` connect these to topics; everything that decides
what a flight controller is sent lives here and is tested without rclpy (docs/autopilots.md).
"""

from .frames import HOVER, BodyVelocity, WorldVelocity, body_flu_to_enu, body_flu_to_ned, yaw_from_quaternion
from .policy_watch import PolicyState, PolicyTimeouts, PolicyWatch
from .px4_offboard import (
    ARM_REQUEST,
    HOVER_SETPOINT,
    SWITCH_TO_OFFBOARD,
    CommandRequest,
    OffboardBridge,
    OffboardSettings,
    Phase,
    Setpoint,
    Tick,
    VehicleState,
)
from .twist_profiles import PROFILES, TwistProfile, TwistRelay, TwistValues, profile

__all__ = [
    "ARM_REQUEST", "HOVER", "HOVER_SETPOINT", "PROFILES", "SWITCH_TO_OFFBOARD", "BodyVelocity", "CommandRequest",
    "OffboardBridge", "OffboardSettings", "Phase", "PolicyState", "PolicyTimeouts", "PolicyWatch", "Setpoint", "Tick",
    "TwistProfile", "TwistRelay", "TwistValues", "VehicleState", "WorldVelocity", "body_flu_to_enu", "body_flu_to_ned",
    "profile", "yaw_from_quaternion",
]
