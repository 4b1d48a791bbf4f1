"""The simulated PX4: a multicopter's offboard rules as a state machine without ROS.

drone_sim_node's ``flight_controller: px4`` hands it the values of the messages a companion
computer sends PX4 over ROS 2 (OffboardControlMode, TrajectorySetpoint, VehicleCommand) with the
sim time they arrived; each step it says what the world's autopilot flies (a ``VelocityCommand``,
or None: disarmed, motors off) and what PX4 reports (``Px4Status``, VehicleStatus's values).
The rules follow PX4's sources (commander's offboard check, failsafe fallbacks, the position
controller's setpoint validity); docs/px4_sim.md names each. Frames: the world is ENU (x east,
y north, z up, REP 103), PX4's local frame NED, its body frame FRD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .autopilot import VelocityCommand

# MAVLink / PX4 command and mode numbers (VehicleCommand, PX4's custom modes).
VEHICLE_CMD_NAV_LAND = 21
VEHICLE_CMD_DO_SET_MODE = 176
VEHICLE_CMD_COMPONENT_ARM_DISARM = 400
MAV_MODE_FLAG_CUSTOM_MODE_ENABLED = 1
CUSTOM_MAIN_MODE_POSCTL = 3
CUSTOM_MAIN_MODE_AUTO = 4
CUSTOM_MAIN_MODE_OFFBOARD = 6
CUSTOM_SUB_MODE_AUTO_LOITER = 3
CUSTOM_SUB_MODE_AUTO_LAND = 6
FORCE_DISARM = 21196  # param2 of a disarm that PX4 executes in the air too

# VehicleStatus values.
ARMING_STATE_DISARMED = 1
ARMING_STATE_ARMED = 2
NAVIGATION_STATE_POSCTL = 2
NAVIGATION_STATE_AUTO_LOITER = 4
NAVIGATION_STATE_OFFBOARD = 14
NAVIGATION_STATE_AUTO_LAND = 18
NAVIGATION_STATE_NAMES = {NAVIGATION_STATE_POSCTL: 'Position', NAVIGATION_STATE_AUTO_LOITER: 'Hold',
                          NAVIGATION_STATE_OFFBOARD: 'Offboard', NAVIGATION_STATE_AUTO_LAND: 'Land'}

# COM_OBL_RC_ACT values simulated, and the mode each falls back to. Position mode flies the
# pilot's sticks; the simulated vehicle has none (centred sticks), so it holds its position.
OFFBOARD_LOSS_MODES = {0: NAVIGATION_STATE_POSCTL, 4: NAVIGATION_STATE_AUTO_LAND, 5: NAVIGATION_STATE_AUTO_LOITER}

# OffboardControlMode's flags, highest priority first: the first one set picks the control loop.
CONTROL_FLAGS = ('position', 'velocity', 'acceleration', 'attitude', 'body_rate', 'thrust_and_torque',
                 'direct_actuator')
# The loops TrajectorySetpoint feeds (PX4's multicopter position controller).
TRAJECTORY_CONTROLS = ('position', 'velocity', 'acceleration')


@dataclass(frozen=True)
class Px4Parameters:
    com_of_loss_t: float = 1.0  # s without OffboardControlMode before the offboard signal counts as lost
    com_obl_rc_act: int = 0  # offboard-loss action: 0 Position mode, 4 Land mode, 5 Hold mode
    mpc_land_speed: float = 0.7  # m/s, Land mode's descent
    mc_yaw_p: float = 2.8  # 1/s, heading loop gain for a TrajectorySetpoint yaw
    system_id: int = 1  # MAV_SYS_ID
    component_id: int = 1

    def validate(self) -> None:
        if not (math.isfinite(self.com_of_loss_t) and self.com_of_loss_t > 0):
            raise ValueError(f'com_of_loss_t must be > 0 s, got {self.com_of_loss_t}')
        if self.com_obl_rc_act not in OFFBOARD_LOSS_MODES:
            raise ValueError(f'com_obl_rc_act must be one of {sorted(OFFBOARD_LOSS_MODES)} (the simulated '
                             f'offboard-loss actions), got {self.com_obl_rc_act}')
        for name in ('mpc_land_speed', 'mc_yaw_p'):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)}')


@dataclass(frozen=True)
class ControlModeFlags:
    """OffboardControlMode's flags."""

    position: bool = False
    velocity: bool = False
    acceleration: bool = False
    attitude: bool = False
    body_rate: bool = False
    thrust_and_torque: bool = False
    direct_actuator: bool = False

    @property
    def control(self) -> str | None:
        """The control loop asked for: the first flag set, None if none is."""
        return next((name for name in CONTROL_FLAGS if getattr(self, name)), None)


@dataclass(frozen=True)
class SetpointValues:
    """TrajectorySetpoint's fields (NED; NaN: not controlled)."""

    position: tuple[float, float, float] = (math.nan,) * 3
    velocity: tuple[float, float, float] = (math.nan,) * 3
    acceleration: tuple[float, float, float] = (math.nan,) * 3
    yaw: float = math.nan  # heading, rad from north, clockwise
    yawspeed: float = math.nan  # rad/s about the NED z axis (down)


@dataclass(frozen=True)
class CommandValues:
    """VehicleCommand's fields that the simulated PX4 reads."""

    command: int
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    target_system: int = 1
    target_component: int = 1


@dataclass(frozen=True)
class CommandResult:
    accepted: bool
    text: str


@dataclass(frozen=True)
class Px4Status:
    """VehicleStatus's values (times in s of sim time, None: never)."""

    arming_state: int
    nav_state: int
    nav_state_user_intention: int
    failsafe: bool
    offboard_signal: bool
    armed_time_s: float | None
    nav_state_time_s: float

    @property
    def armed(self) -> bool:
        return self.arming_state == ARMING_STATE_ARMED


def ned_to_enu(north: float, east: float, down: float) -> tuple[float, float, float]:
    return east, north, -down


def enu_to_ned(x: float, y: float, z: float) -> tuple[float, float, float]:
    return y, x, -z


def heading_ned(yaw_enu: float) -> float:
    """A REP 103 yaw (from east, counter-clockwise) as a NED heading (from north, clockwise), -pi..pi."""
    return _wrap(math.pi / 2 - yaw_enu)


def frd_to_ned_euler(roll: float, pitch: float, yaw: float) -> tuple[float, float, float]:
    """The attitude of a FLU body in the ENU world (Z-Y-X Euler) as that of its FRD frame in NED."""
    return roll, -pitch, heading_ned(yaw)


class SimulatedPx4:
    """PX4's commander and offboard setpoint handling, as far as the simulated multicopter needs.

    The vehicle starts in Hold, armed or not (``armed``): the world starts it hovering at the
    start pose, as after a takeoff. Nothing here reads a clock: every input comes with its sim
    time, and ``update(now_s)`` applies the offboard-loss rule."""

    def __init__(self, parameters: Px4Parameters, armed: bool, now_s: float = 0.0):
        parameters.validate()
        self.parameters = parameters
        self._armed = bool(armed)
        self._armed_time_s = now_s if armed else None
        self._intended = NAVIGATION_STATE_AUTO_LOITER  # the mode asked for (nav_state_user_intention)
        self._nav_state = NAVIGATION_STATE_AUTO_LOITER
        self._nav_state_time_s = now_s
        self._flags = ControlModeFlags()
        self._heartbeat_s: float | None = None  # arrival of the newest OffboardControlMode with a flag set
        self._setpoint: SetpointValues | None = None
        self._now_s = now_s

    # ----------------------------------------------------------------- inputs
    def control_mode_received(self, flags: ControlModeFlags, now_s: float) -> None:
        """OffboardControlMode: the proof of life, and which loop the setpoints feed."""
        self._now_s = max(self._now_s, now_s)
        self._flags = flags
        if flags.control is not None:
            self._heartbeat_s = now_s

    def setpoint_received(self, setpoint: SetpointValues, now_s: float) -> str:
        """TrajectorySetpoint; returns why it was ignored, '' when it was taken. PX4's position
        controller reads it only while OffboardControlMode asks for one of its loops."""
        self._now_s = max(self._now_s, now_s)
        if self._flags.control not in TRAJECTORY_CONTROLS:
            asked = self._flags.control or 'no control loop'
            return (f'TrajectorySetpoint ignored: the last OffboardControlMode asks for {asked}, '
                    f'not {"/".join(TRAJECTORY_CONTROLS)}')
        self._setpoint = setpoint
        return ''

    def command_received(self, command: CommandValues, now_s: float) -> CommandResult:
        """VehicleCommand: a mode switch, arming or disarming, or a land command."""
        self._now_s = max(self._now_s, now_s)
        p = self.parameters
        if command.target_system not in (0, p.system_id) or command.target_component not in (0, p.component_id):
            return CommandResult(False, f'command {command.command} is for system {command.target_system} '
                                        f'component {command.target_component}, not this vehicle')
        if command.command == VEHICLE_CMD_DO_SET_MODE:
            return self._set_mode(command)
        if command.command == VEHICLE_CMD_COMPONENT_ARM_DISARM:
            return self._arm() if round(command.param1) == 1 else self._disarm(command)
        if command.command == VEHICLE_CMD_NAV_LAND:
            return self._change_mode(NAVIGATION_STATE_AUTO_LAND)
        return CommandResult(False, f'command {command.command} is not simulated')

    def update(self, now_s: float) -> str:
        """Apply the offboard-loss rule at ``now_s``; returns a line when the mode changed."""
        self._now_s = max(self._now_s, now_s)
        wanted = self._intended
        if self._armed and self._intended == NAVIGATION_STATE_OFFBOARD and not self.offboard_signal:
            # The failsafe's mode fallback; it clears when the condition does, so offboard resumes
            # when the proof of life comes back (the user's intention stays offboard).
            wanted = OFFBOARD_LOSS_MODES[self.parameters.com_obl_rc_act]
        if wanted == self._nav_state:
            return ''
        before, self._nav_state, self._nav_state_time_s = self._nav_state, wanted, self._now_s
        if wanted != self._intended:
            return (f'offboard signal lost (no OffboardControlMode for more than {self.parameters.com_of_loss_t:g} s):'
                    f' failsafe, {NAVIGATION_STATE_NAMES[wanted]} mode')
        return f'{NAVIGATION_STATE_NAMES[before]} -> {NAVIGATION_STATE_NAMES[wanted]} mode: offboard signal back'

    # ----------------------------------------------------------------- outputs
    @property
    def offboard_signal(self) -> bool:
        """PX4's offboard check: an OffboardControlMode with a flag set came within COM_OF_LOSS_T."""
        return self._heartbeat_s is not None and self._now_s - self._heartbeat_s <= self.parameters.com_of_loss_t

    @property
    def armed(self) -> bool:
        return self._armed

    @property
    def status(self) -> Px4Status:
        return Px4Status(ARMING_STATE_ARMED if self._armed else ARMING_STATE_DISARMED, self._nav_state,
                         self._intended, self._nav_state != self._intended, self.offboard_signal, self._armed_time_s,
                         self._nav_state_time_s)

    def velocity_command(self, yaw_enu: float) -> tuple[VelocityCommand | None, str]:
        """What the autopilot flies now (None: disarmed, motors off) for a vehicle heading
        ``yaw_enu``, and why, when it is not the offboard setpoint."""
        if not self._armed:
            return None, 'disarmed: motors off'
        if self._nav_state == NAVIGATION_STATE_AUTO_LAND:
            return VelocityCommand(up=-self.parameters.mpc_land_speed), 'Land mode: descending'
        if self._nav_state != NAVIGATION_STATE_OFFBOARD:
            return VelocityCommand(), f'{NAVIGATION_STATE_NAMES[self._nav_state]} mode: holding'
        if self._flags.control not in TRAJECTORY_CONTROLS:
            return VelocityCommand(), f'offboard {self._flags.control} control is not simulated: holding'
        if self._setpoint is None:
            return VelocityCommand(), 'offboard without a TrajectorySetpoint yet: holding'
        return self._fly(self._setpoint, yaw_enu)

    # ----------------------------------------------------------------- internals
    def _fly(self, setpoint: SetpointValues, yaw_enu: float) -> tuple[VelocityCommand, str]:
        finite = [math.isfinite(v) for v in setpoint.velocity]
        if any(math.isfinite(v) for v in setpoint.position):
            return VelocityCommand(), 'position setpoints are not simulated: holding'
        for axis, name in enumerate('NED'):
            if not finite[axis]:
                if math.isfinite(setpoint.acceleration[axis]):
                    return VelocityCommand(), 'acceleration setpoints are not simulated: holding'
                # PX4's position controller needs every axis controlled; otherwise it flies its failsafe setpoint.
                return VelocityCommand(), f'TrajectorySetpoint controls nothing on the {name} axis: holding'
        x, y, z = ned_to_enu(*setpoint.velocity)
        c, s = math.cos(yaw_enu), math.sin(yaw_enu)
        yaw_rate = 0.0 if not math.isfinite(setpoint.yawspeed) else -setpoint.yawspeed
        if math.isfinite(setpoint.yaw):  # a heading: PX4's yaw loop turns to it (yawspeed as feed-forward)
            yaw_rate += self.parameters.mc_yaw_p * _wrap(heading_ned(yaw_enu) - setpoint.yaw)
        return VelocityCommand(c * x + s * y, -s * x + c * y, z, yaw_rate), ''

    def _set_mode(self, command: CommandValues) -> CommandResult:
        base, main, sub = round(command.param1), round(command.param2), round(command.param3)
        if not base & MAV_MODE_FLAG_CUSTOM_MODE_ENABLED:
            return CommandResult(False, f'DO_SET_MODE without a custom mode (param1 {command.param1:g}): not simulated')
        modes = {(CUSTOM_MAIN_MODE_OFFBOARD, None): NAVIGATION_STATE_OFFBOARD,
                 (CUSTOM_MAIN_MODE_POSCTL, None): NAVIGATION_STATE_POSCTL,
                 (CUSTOM_MAIN_MODE_AUTO, CUSTOM_SUB_MODE_AUTO_LOITER): NAVIGATION_STATE_AUTO_LOITER,
                 (CUSTOM_MAIN_MODE_AUTO, CUSTOM_SUB_MODE_AUTO_LAND): NAVIGATION_STATE_AUTO_LAND}
        mode = modes.get((main, None), modes.get((main, sub)))
        if mode is None:
            return CommandResult(False, f'custom mode {main}.{sub} is not simulated')
        return self._change_mode(mode)

    def _change_mode(self, mode: int) -> CommandResult:
        if mode == NAVIGATION_STATE_OFFBOARD and not self.offboard_signal:
            return CommandResult(False, 'offboard rejected: no offboard signal (stream OffboardControlMode with a '
                                        f'control flag set, at most {self.parameters.com_of_loss_t:g} s apart, '
                                        'before switching)')
        self._intended = mode
        self.update(self._now_s)
        return CommandResult(True, f'{NAVIGATION_STATE_NAMES[mode]} mode')

    def _arm(self) -> CommandResult:
        if self._armed:
            return CommandResult(True, 'already armed')
        if self._intended == NAVIGATION_STATE_OFFBOARD and not self.offboard_signal:
            return CommandResult(False, 'arming denied: offboard mode without offboard signal')
        self._armed, self._armed_time_s = True, self._now_s
        self.update(self._now_s)
        return CommandResult(True, 'armed')

    def _disarm(self, command: CommandValues) -> CommandResult:
        if not self._armed:
            return CommandResult(True, 'already disarmed')
        # The simulated vehicle is always in the air (the world has no landed state), where PX4
        # disarms only when forced.
        if round(command.param2) != FORCE_DISARM:
            return CommandResult(False, f'disarming denied: not landed (param2 {FORCE_DISARM} forces it)')
        self._armed, self._armed_time_s = False, None
        self.update(self._now_s)
        return CommandResult(True, 'disarmed (forced): motors off')


class MotorSwitch:
    """The world's autopilot behind PX4's arming: while ``armed()`` is false every rotor gets
    zero thrust (a disarmed PX4's outputs), otherwise the autopilot's thrusts."""

    def __init__(self, autopilot, armed):
        self.autopilot = autopilot
        self._armed = armed

    def reset(self) -> None:
        self.autopilot.reset()

    def update(self, command, rotation, velocity, angular_velocity) -> list[float]:
        if not self._armed():
            return [0.0] * 4
        return self.autopilot.update(command, rotation, velocity, angular_velocity)


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
