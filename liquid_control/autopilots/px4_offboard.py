"""PX4 offboard control as a state machine without ROS: what to publish to PX4 at each tick.

PX4's rules (docs/autopilots.md cites them): ``OffboardControlMode`` streamed at more than 2 Hz is
the proof of life, before the switch to offboard and all through it; a velocity setpoint is a
``TrajectorySetpoint`` in the NED world frame with position, acceleration and jerk NaN (a non-NaN
position would make PX4 run its position controller); mode and arming are ``VehicleCommand``s;
setpoints belong on the bus only while PX4 is in offboard, as its internal modes write the same
topic. Our rules on top: the switch is requested only once the policy is live, the heading known
and ``setpoints_before_switch`` heartbeats have gone out; arming only with ``arm`` true; a stale
policy hovers, a lost one stops the heartbeat (``policy_watch``) and, once offboard was asked
for, the bridge stays silent until it is restarted: after PX4's failsafe, a pilot decides.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from .frames import BodyVelocity, body_flu_to_ned, yaw_from_quaternion
from .policy_watch import PolicyState, PolicyTimeouts, PolicyWatch

# VehicleCommand.msg (PX4 release 1.18) and MAVLink's MAV_MODE_FLAG / PX4_CUSTOM_MAIN_MODE values.
VEHICLE_CMD_DO_SET_MODE = 176
VEHICLE_CMD_COMPONENT_ARM_DISARM = 400
MODE_FLAG_CUSTOM_MODE_ENABLED = 1.0
PX4_CUSTOM_MAIN_MODE_OFFBOARD = 6.0
ARM = 1.0
# VehicleStatus.msg (PX4 release 1.18).
NAVIGATION_STATE_OFFBOARD = 14
ARMING_STATE_ARMED = 2

NAN3 = (math.nan, math.nan, math.nan)


class Phase(enum.Enum):
    WAITING = "waiting"  # streaming the heartbeat; offboard not asked for yet
    REQUESTED = "requested"  # offboard (and arming) asked for; PX4 has not confirmed it
    OFFBOARD = "offboard"  # PX4 reports offboard, or (without a status topic) it was asked for
    FAILSAFE = "failsafe"  # the policy was lost after offboard was asked for: silent until restarted


@dataclass(frozen=True)
class Setpoint:
    """The fields of a px4_msgs/TrajectorySetpoint (NED), without its timestamp."""

    velocity: tuple[float, float, float]
    yawspeed: float
    position: tuple[float, float, float] = NAN3
    acceleration: tuple[float, float, float] = NAN3
    jerk: tuple[float, float, float] = NAN3
    yaw: float = math.nan


@dataclass(frozen=True)
class CommandRequest:
    """A px4_msgs/VehicleCommand: the command id and its first two parameters."""

    command: int
    param1: float
    param2: float = 0.0


@dataclass(frozen=True)
class Tick:
    """What to publish at one tick of the bridge's timer."""

    phase: Phase
    heartbeat: bool  # publish OffboardControlMode (velocity=true)
    setpoint: Setpoint | None = None  # publish this TrajectorySetpoint
    commands: tuple[CommandRequest, ...] = ()


@dataclass(frozen=True)
class OffboardSettings:
    setpoints_before_switch: int = 10
    arm: bool = False
    odometry_timeout_s: float = 0.5
    command_retry_s: float = 1.0
    status_expected: bool = False  # a VehicleStatus topic is subscribed: wait for it before setpoints and requests
    timeouts: PolicyTimeouts = field(default_factory=PolicyTimeouts)


@dataclass(frozen=True)
class VehicleState:
    nav_state: int
    arming_state: int

    @property
    def offboard(self) -> bool:
        return self.nav_state == NAVIGATION_STATE_OFFBOARD

    @property
    def armed(self) -> bool:
        return self.arming_state == ARMING_STATE_ARMED


def velocity_setpoint(command: BodyVelocity, yaw_ned: float) -> Setpoint:
    ned = body_flu_to_ned(command, yaw_ned)
    return Setpoint(velocity=(ned.x, ned.y, ned.z), yawspeed=ned.yaw_rate)


SWITCH_TO_OFFBOARD = CommandRequest(VEHICLE_CMD_DO_SET_MODE, MODE_FLAG_CUSTOM_MODE_ENABLED,
                                    PX4_CUSTOM_MAIN_MODE_OFFBOARD)
ARM_REQUEST = CommandRequest(VEHICLE_CMD_COMPONENT_ARM_DISARM, ARM)
HOVER_SETPOINT = Setpoint(velocity=(0.0, 0.0, 0.0), yawspeed=0.0)  # yaw NaN, yawspeed 0: the heading is kept


class OffboardBridge:
    """Feed it the policy's commands, PX4's odometry and status; ``tick(now)`` says what to publish."""

    def __init__(self, settings: OffboardSettings, start_time: float):
        self.settings = settings
        self.policy = PolicyWatch(settings.timeouts, start_time)
        self._yaw: float | None = None
        self._yaw_at = -math.inf
        self._vehicle: VehicleState | None = None
        self._phase = Phase.WAITING
        self._heartbeats = 0  # since the heartbeat last (re)started
        self._requested_at: float | None = None

    @property
    def phase(self) -> Phase:
        return self._phase

    def heard_command(self, command: BodyVelocity, now: float) -> None:
        self.policy.heard(command, now)

    def heard_attitude(self, q: tuple[float, float, float, float], now: float) -> None:
        """VehicleOdometry.q (w, x, y, z; body FRD to NED). PX4 marks an unknown attitude with NaN."""
        if all(math.isfinite(value) for value in q):
            self._yaw, self._yaw_at = yaw_from_quaternion(*q), now

    def heard_status(self, vehicle: VehicleState) -> None:
        self._vehicle = vehicle

    def heading(self, now: float) -> float | None:
        """The vehicle's heading (rad from north towards east), or None if unknown or too old."""
        if self._yaw is None or now - self._yaw_at > self.settings.odometry_timeout_s:
            return None
        return self._yaw

    def tick(self, now: float) -> Tick:
        if self._phase is Phase.FAILSAFE:
            return Tick(self._phase, heartbeat=False)
        state = self.policy.state(now)
        if state is PolicyState.LOST:
            self._heartbeats = 0
            if self._phase is not Phase.WAITING:
                self._phase = Phase.FAILSAFE
            return Tick(self._phase, heartbeat=False)
        self._heartbeats += 1
        yaw = self.heading(now)
        if state is PolicyState.LIVE and yaw is not None:
            setpoint = velocity_setpoint(self.policy.command(now), yaw)
        else:
            setpoint = HOVER_SETPOINT  # zero velocity needs no heading
        commands = self._mode_commands(now, state is PolicyState.LIVE and yaw is not None)
        # Setpoints only where PX4 takes them from us; without a status topic, as PX4's own example does.
        on_bus = self._vehicle.offboard if self._vehicle is not None else not self.settings.status_expected
        return Tick(self._phase, heartbeat=True, setpoint=setpoint if on_bus else None, commands=commands)

    def _mode_commands(self, now: float, ready: bool) -> tuple[CommandRequest, ...]:
        vehicle = self._vehicle
        if self._phase is Phase.REQUESTED and vehicle is not None and vehicle.offboard:
            self._phase = Phase.OFFBOARD
        if self._phase is Phase.OFFBOARD or not ready or self._heartbeats < self.settings.setpoints_before_switch:
            return ()
        if vehicle is None and self.settings.status_expected:
            return ()
        if self._requested_at is not None:
            # Without a status topic the request goes out once (PX4's example does the same); with
            # one it is repeated until PX4 confirms, and never after: a pilot's mode change stands.
            if vehicle is None or now - self._requested_at < self.settings.command_retry_s:
                return ()
        self._requested_at = now
        self._phase = Phase.OFFBOARD if vehicle is None else Phase.REQUESTED
        commands = [SWITCH_TO_OFFBOARD]
        if self.settings.arm and not (vehicle is not None and vehicle.armed):
            commands.append(ARM_REQUEST)
        return tuple(commands)
