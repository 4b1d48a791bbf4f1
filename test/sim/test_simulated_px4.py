"""The simulated PX4's offboard rules (liquid_control/sim/drone/simulated_px4.py), without ROS.

Proof of life before the switch, the setpoint rules (mode flags, NaN fields, NED frame, yaw-rate
sign), the offboard-loss failsafe and its recovery, arming and disarming, and the frame
conversions checked against rotation matrices built independently.
"""
import math

import numpy as np
import pytest

from liquid_control.sim.drone.autopilot import VelocityCommand
from liquid_control.sim.drone.simulated_px4 import (
    ARMING_STATE_ARMED,
    ARMING_STATE_DISARMED,
    FORCE_DISARM,
    NAVIGATION_STATE_AUTO_LAND,
    NAVIGATION_STATE_AUTO_LOITER,
    NAVIGATION_STATE_OFFBOARD,
    NAVIGATION_STATE_POSCTL,
    VEHICLE_CMD_COMPONENT_ARM_DISARM,
    VEHICLE_CMD_DO_SET_MODE,
    CommandValues,
    ControlModeFlags,
    MotorSwitch,
    Px4Parameters,
    SetpointValues,
    SimulatedPx4,
    frd_to_ned_euler,
    heading_ned,
)

NAN = math.nan
VELOCITY = ControlModeFlags(velocity=True)
OFFBOARD = CommandValues(VEHICLE_CMD_DO_SET_MODE, 1.0, 6.0)
ARM = CommandValues(VEHICLE_CMD_COMPONENT_ARM_DISARM, 1.0)
EAST = 0.0  # REP 103 yaw of a vehicle facing east
NORTH = math.pi / 2


def velocity(north=0.0, east=0.0, down=0.0, yawspeed=NAN, yaw=NAN) -> SetpointValues:
    return SetpointValues(velocity=(north, east, down), yaw=yaw, yawspeed=yawspeed)


def in_offboard(armed=True, **parameters) -> SimulatedPx4:
    """A vehicle that got the proof of life at 0.0 s and switched to offboard at 0.1 s."""
    px4 = SimulatedPx4(Px4Parameters(**parameters), armed=armed)
    px4.control_mode_received(VELOCITY, 0.0)
    assert px4.command_received(OFFBOARD, 0.1).accepted
    return px4


def assert_command(actual: VelocityCommand, expected: VelocityCommand) -> None:
    assert actual.to_twist() == pytest.approx(expected.to_twist(), abs=1e-9)


def test_starts_in_hold_armed_or_not():
    armed = SimulatedPx4(Px4Parameters(), armed=True).status
    assert (armed.arming_state, armed.nav_state, armed.failsafe) == (ARMING_STATE_ARMED, NAVIGATION_STATE_AUTO_LOITER,
                                                                     False)
    assert SimulatedPx4(Px4Parameters(), armed=False).status.arming_state == ARMING_STATE_DISARMED


def test_offboard_is_refused_without_proof_of_life_and_accepted_after():
    px4 = SimulatedPx4(Px4Parameters(), armed=True)
    refused = px4.command_received(OFFBOARD, 0.0)
    assert not refused.accepted and 'no offboard signal' in refused.text
    assert px4.status.nav_state == NAVIGATION_STATE_AUTO_LOITER
    px4.control_mode_received(ControlModeFlags(), 0.1)  # no flag set: no proof of life
    assert not px4.command_received(OFFBOARD, 0.2).accepted
    px4.control_mode_received(VELOCITY, 0.3)
    assert px4.command_received(OFFBOARD, 0.4).accepted
    assert px4.status.nav_state == px4.status.nav_state_user_intention == NAVIGATION_STATE_OFFBOARD


def test_a_stale_stream_is_no_proof_of_life():
    px4 = SimulatedPx4(Px4Parameters(com_of_loss_t=1.0), armed=True)
    px4.control_mode_received(VELOCITY, 0.0)
    assert not px4.command_received(OFFBOARD, 1.5).accepted


def test_before_offboard_and_without_a_setpoint_it_holds():
    px4 = SimulatedPx4(Px4Parameters(), armed=True)
    px4.control_mode_received(VELOCITY, 0.0)
    assert px4.setpoint_received(velocity(north=2.0), 0.0) == ''
    command, why = px4.velocity_command(EAST)
    assert_command(command, VelocityCommand())
    assert 'Hold' in why
    command, why = in_offboard().velocity_command(EAST)
    assert_command(command, VelocityCommand())
    assert 'without a TrajectorySetpoint' in why


def test_north_velocity_facing_east_flies_north():
    """NED north is the world's +y; facing east (+x), north is to the left."""
    px4 = in_offboard()
    px4.setpoint_received(velocity(north=2.0), 0.2)
    command, why = px4.velocity_command(EAST)
    assert why == ''
    assert_command(command, VelocityCommand(forward=0.0, left=2.0))
    assert_command(px4.velocity_command(NORTH)[0], VelocityCommand(forward=2.0))


def test_east_down_and_yawspeed_signs():
    px4 = in_offboard()
    px4.setpoint_received(velocity(east=1.0, down=0.5, yawspeed=0.3), 0.2)
    command, _ = px4.velocity_command(NORTH)  # facing north, east is to the right
    assert_command(command, VelocityCommand(forward=0.0, left=-1.0, up=-0.5, yaw_rate=-0.3))


def test_a_heading_setpoint_turns_towards_it():
    px4 = in_offboard()
    px4.setpoint_received(velocity(yaw=math.pi / 2), 0.2)  # face east (NED heading 90 deg)
    command, _ = px4.velocity_command(NORTH)
    assert command.yaw_rate < 0, 'from north to east is a clockwise (negative REP 103) turn'
    assert px4.velocity_command(EAST)[0].yaw_rate == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize('setpoint, reason', [
    (SetpointValues(velocity=(1.0, NAN, 0.0)), 'controls nothing on the E axis'),
    (SetpointValues(), 'controls nothing on the N axis'),
    (SetpointValues(position=(1.0, 2.0, -3.0), velocity=(0.0, 0.0, 0.0)), 'position setpoints are not simulated'),
    (SetpointValues(acceleration=(0.5, 0.0, 0.0), velocity=(NAN, 0.0, 0.0)), 'acceleration setpoints'),
])
def test_nan_fields_mean_not_controlled(setpoint, reason):
    px4 = in_offboard()
    px4.setpoint_received(setpoint, 0.2)
    command, why = px4.velocity_command(EAST)
    assert_command(command, VelocityCommand())
    assert reason in why


def test_nan_yaw_and_yawspeed_hold_the_heading():
    px4 = in_offboard()
    px4.setpoint_received(velocity(north=1.0), 0.2)
    assert px4.velocity_command(EAST)[0].yaw_rate == 0.0


def test_setpoints_whose_mode_flags_do_not_match_are_ignored():
    px4 = in_offboard()
    px4.setpoint_received(velocity(north=1.0), 0.2)
    px4.control_mode_received(ControlModeFlags(attitude=True), 0.3)
    assert 'asks for attitude' in px4.setpoint_received(velocity(north=3.0), 0.3)
    command, why = px4.velocity_command(NORTH)
    assert_command(command, VelocityCommand())
    assert 'attitude control is not simulated' in why
    px4.control_mode_received(VELOCITY, 0.4)
    assert_command(px4.velocity_command(NORTH)[0], VelocityCommand(forward=1.0))  # the last setpoint taken


@pytest.mark.parametrize('action, mode, expected', [
    (0, NAVIGATION_STATE_POSCTL, VelocityCommand()),
    (5, NAVIGATION_STATE_AUTO_LOITER, VelocityCommand()),
    (4, NAVIGATION_STATE_AUTO_LAND, VelocityCommand(up=-0.7)),
])
def test_heartbeat_loss_triggers_the_failsafe_and_its_end_resumes_offboard(action, mode, expected):
    px4 = in_offboard(com_obl_rc_act=action)
    px4.setpoint_received(velocity(north=2.0), 0.1)
    assert px4.update(1.0) == '', 'within COM_OF_LOSS_T of the last heartbeat'
    assert px4.status.nav_state == NAVIGATION_STATE_OFFBOARD
    assert 'offboard signal lost' in px4.update(1.05)
    status = px4.status
    assert (status.nav_state, status.nav_state_user_intention, status.failsafe) == (mode, NAVIGATION_STATE_OFFBOARD,
                                                                                    True)
    assert_command(px4.velocity_command(EAST)[0], expected)
    px4.control_mode_received(VELOCITY, 2.0)
    assert 'offboard signal back' in px4.update(2.0)
    assert not px4.status.failsafe
    assert_command(px4.velocity_command(NORTH)[0], VelocityCommand(forward=2.0))


def test_disarmed_motors_off_until_armed():
    px4 = in_offboard(armed=False)
    px4.setpoint_received(velocity(north=2.0), 0.2)
    assert px4.velocity_command(EAST) == (None, 'disarmed: motors off')
    px4.update(5.0)  # no heartbeat since 0.0: a disarmed vehicle has no failsafe
    assert px4.status.nav_state == NAVIGATION_STATE_OFFBOARD and not px4.status.failsafe
    assert not px4.command_received(ARM, 5.0).accepted, 'arming in offboard needs the offboard signal'
    px4.control_mode_received(VELOCITY, 5.1)
    assert px4.command_received(ARM, 5.1).accepted
    assert px4.status.arming_state == ARMING_STATE_ARMED and px4.status.armed_time_s == 5.1
    assert_command(px4.velocity_command(EAST)[0], VelocityCommand(left=2.0))


def test_disarming_in_the_air_needs_force():
    px4 = SimulatedPx4(Px4Parameters(), armed=True)
    refused = px4.command_received(CommandValues(VEHICLE_CMD_COMPONENT_ARM_DISARM, 0.0), 1.0)
    assert not refused.accepted and 'not landed' in refused.text
    assert px4.command_received(CommandValues(VEHICLE_CMD_COMPONENT_ARM_DISARM, 0.0, FORCE_DISARM), 1.0).accepted
    assert px4.velocity_command(EAST)[0] is None


def test_commands_for_another_vehicle_or_not_simulated_are_refused():
    px4 = SimulatedPx4(Px4Parameters(), armed=True)
    px4.control_mode_received(VELOCITY, 0.0)
    other = CommandValues(VEHICLE_CMD_DO_SET_MODE, 1.0, 6.0, target_system=2)
    assert not px4.command_received(other, 0.0).accepted
    assert not px4.command_received(CommandValues(VEHICLE_CMD_DO_SET_MODE, 0.0, 6.0), 0.0).accepted, 'no custom mode'
    assert not px4.command_received(CommandValues(VEHICLE_CMD_DO_SET_MODE, 1.0, 5.0), 0.0).accepted, 'acro'
    assert not px4.command_received(CommandValues(511), 0.0).accepted
    assert px4.command_received(CommandValues(VEHICLE_CMD_DO_SET_MODE, 1.0, 6.0, target_system=0), 0.0).accepted


@pytest.mark.parametrize('field, value', [('com_of_loss_t', 0.0), ('com_obl_rc_act', 3), ('mpc_land_speed', -1.0)])
def test_invalid_parameters_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        SimulatedPx4(Px4Parameters(**{field: value}), armed=True)


def test_motor_switch_cuts_thrust_while_disarmed():
    class Autopilot:
        resets = 0

        def update(self, *args):
            return [2.5] * 4

        def reset(self):
            self.resets += 1

    armed = [False]
    switch = MotorSwitch(Autopilot(), lambda: armed[0])
    assert switch.update(VelocityCommand(), [], [], []) == [0.0] * 4
    armed[0] = True
    assert switch.update(VelocityCommand(), [], [], []) == [2.5] * 4
    switch.reset()
    assert switch.autopilot.resets == 1


def _rotation(roll, pitch, yaw) -> np.ndarray:
    """Z-Y-X Euler angles as a rotation matrix (body to world)."""
    cr, sr, cp, sp, cy, sy = math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch), math.cos(yaw), \
        math.sin(yaw)
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    return rz @ ry @ rx


@pytest.mark.parametrize('seed', range(5))
def test_frd_ned_attitude_is_the_flu_enu_one_seen_from_the_other_frames(seed):
    roll, pitch, yaw = np.random.default_rng(seed).uniform([-0.5, -0.5, -math.pi], [0.5, 0.5, math.pi])
    ned_from_enu = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]])
    flu_from_frd = np.diag([1, -1, -1])
    expected = ned_from_enu @ _rotation(roll, pitch, yaw) @ flu_from_frd
    assert _rotation(*frd_to_ned_euler(roll, pitch, yaw)) == pytest.approx(expected, abs=1e-12)


def test_heading_ned():
    assert heading_ned(NORTH) == pytest.approx(0.0)
    assert heading_ned(EAST) == pytest.approx(math.pi / 2)
    assert heading_ned(math.pi) == pytest.approx(-math.pi / 2)
