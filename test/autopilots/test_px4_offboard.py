"""PX4 offboard as a state machine: heartbeat, the mode/arming sequence, NaN fields, hover, failsafe."""
import math

import pytest

from liquid_control.autopilots import (
    ARM_REQUEST,
    HOVER_SETPOINT,
    SWITCH_TO_OFFBOARD,
    BodyVelocity,
    OffboardBridge,
    OffboardSettings,
    Phase,
    PolicyTimeouts,
    VehicleState,
)
from liquid_control.autopilots.px4_offboard import ARMING_STATE_ARMED, NAVIGATION_STATE_OFFBOARD

DT = 0.05  # a 20 Hz timer
EAST = (math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4))  # heading 90 degrees: facing east
COMMAND = BodyVelocity(forward=2.0, left=0.5, up=0.3, yaw_rate=0.4)
POSCTL, DISARMED = 2, 1


def settings(**changes) -> OffboardSettings:
    return OffboardSettings(**{"timeouts": PolicyTimeouts(cmd_timeout_s=0.5, failsafe_after_s=1.0), **changes})


def run(bridge: OffboardBridge, start: float, seconds: float, policy=True, attitude=True):
    """Tick the bridge every DT, feeding it a live policy and odometry; return [(time, tick)]."""
    ticks = []
    for step in range(round(seconds / DT)):
        now = start + step * DT
        if policy:
            bridge.heard_command(COMMAND, now)
        if attitude:
            bridge.heard_attitude(EAST, now)
        ticks.append((now, bridge.tick(now)))
    return ticks


def commands(ticks):
    return [command for _, tick in ticks for command in tick.commands]


def test_setpoint_is_ned_velocity_with_nan_in_unused_fields():
    bridge = OffboardBridge(settings(), start_time=0.0)
    _, tick = run(bridge, 0.0, 0.2)[-1]
    assert tick.heartbeat
    setpoint = tick.setpoint
    # facing east: forward 2 is east, left 0.5 is north, up 0.3 is -0.3 down, CCW 0.4 is -0.4 about down
    assert setpoint.velocity == pytest.approx((0.5, 2.0, -0.3))
    assert setpoint.yawspeed == pytest.approx(-0.4)
    assert all(math.isnan(value) for value in (*setpoint.position, *setpoint.acceleration, *setpoint.jerk))
    assert math.isnan(setpoint.yaw)


def test_offboard_is_requested_once_after_the_heartbeats_and_never_arms_by_default():
    bridge = OffboardBridge(settings(setpoints_before_switch=10), start_time=0.0)
    ticks = run(bridge, 0.0, 3.0)
    assert all(tick.heartbeat for _, tick in ticks)
    first = next(index for index, (_, tick) in enumerate(ticks) if tick.commands)
    assert first == 9  # the tenth heartbeat
    assert commands(ticks) == [SWITCH_TO_OFFBOARD]
    assert SWITCH_TO_OFFBOARD.command == 176 and (SWITCH_TO_OFFBOARD.param1, SWITCH_TO_OFFBOARD.param2) == (1.0, 6.0)
    assert bridge.phase is Phase.OFFBOARD


def test_arms_only_when_told():
    bridge = OffboardBridge(settings(arm=True), start_time=0.0)
    assert commands(run(bridge, 0.0, 1.0)) == [SWITCH_TO_OFFBOARD, ARM_REQUEST]
    assert ARM_REQUEST.command == 400 and ARM_REQUEST.param1 == 1.0


def test_no_switch_without_policy_or_heading():
    silent = OffboardBridge(settings(), start_time=0.0)
    ticks = run(silent, 0.0, 1.0, policy=False)
    assert commands(ticks) == [] and all(tick.setpoint == HOVER_SETPOINT for _, tick in ticks)
    blind = OffboardBridge(settings(), start_time=0.0)
    ticks = run(blind, 0.0, 1.0, attitude=False)
    assert commands(ticks) == [] and all(tick.setpoint == HOVER_SETPOINT for _, tick in ticks)


def test_stale_policy_hovers_then_the_heartbeat_stops_and_stays_stopped():
    bridge = OffboardBridge(settings(), start_time=0.0)
    last_heard = run(bridge, 0.0, 1.0)[-1][0]
    quiet = run(bridge, last_heard + DT, 2.0, policy=False)
    stale = [tick for now, tick in quiet if now - last_heard <= 0.5 + 1.0 - 1e-9 and now - last_heard > 0.5 + 1e-9]
    assert stale and all(tick.heartbeat and tick.setpoint == HOVER_SETPOINT for tick in stale)
    lost = [tick for now, tick in quiet if now - last_heard > 1.5 + 1e-9]
    assert lost and all(not tick.heartbeat and tick.setpoint is None for tick in lost)
    assert bridge.phase is Phase.FAILSAFE
    # The policy comes back: after a failsafe a pilot decides, the bridge stays silent.
    back = run(bridge, 4.0, 1.0)
    assert all(not tick.heartbeat and not tick.commands for _, tick in back)


def test_a_policy_slow_to_start_does_not_latch_the_failsafe():
    bridge = OffboardBridge(settings(), start_time=0.0)
    early = run(bridge, 0.0, 3.0, policy=False)
    assert not early[-1][1].heartbeat and bridge.phase is Phase.WAITING
    later = run(bridge, 3.0, 1.0)
    assert later[-1][1].heartbeat and commands(later) == [SWITCH_TO_OFFBOARD]


def test_with_status_setpoints_only_in_offboard_and_the_request_repeats_until_confirmed():
    bridge = OffboardBridge(settings(arm=True, command_retry_s=1.0), start_time=0.0)
    bridge.heard_status(VehicleState(nav_state=POSCTL, arming_state=DISARMED))
    ticks = run(bridge, 0.0, 2.6)
    assert all(tick.heartbeat and tick.setpoint is None for _, tick in ticks)  # PX4 is not in offboard
    assert commands(ticks) == [SWITCH_TO_OFFBOARD, ARM_REQUEST] * 3  # at 0.45 s, 1.45 s, 2.45 s
    assert bridge.phase is Phase.REQUESTED
    bridge.heard_status(VehicleState(nav_state=NAVIGATION_STATE_OFFBOARD, arming_state=ARMING_STATE_ARMED))
    ticks = run(bridge, 2.6, 2.0)
    assert commands(ticks) == [] and bridge.phase is Phase.OFFBOARD
    assert all(tick.setpoint is not None for _, tick in ticks)
    # A pilot switches away: setpoints stop, and offboard is not asked for again.
    bridge.heard_status(VehicleState(nav_state=POSCTL, arming_state=ARMING_STATE_ARMED))
    ticks = run(bridge, 4.6, 2.0)
    assert commands(ticks) == [] and all(tick.setpoint is None and tick.heartbeat for _, tick in ticks)


def test_stale_odometry_means_hover():
    bridge = OffboardBridge(settings(odometry_timeout_s=0.5), start_time=0.0)
    run(bridge, 0.0, 1.0)
    ticks = run(bridge, 1.0, 1.0, attitude=False)
    assert ticks[0][1].setpoint != HOVER_SETPOINT and ticks[-1][1].setpoint == HOVER_SETPOINT


def test_unknown_attitude_is_ignored():
    bridge = OffboardBridge(settings(), start_time=0.0)
    bridge.heard_attitude((math.nan, 0.0, 0.0, 0.0), 0.0)
    assert bridge.heading(0.0) is None


def test_an_expected_status_is_waited_for():
    bridge = OffboardBridge(settings(status_expected=True), start_time=0.0)
    ticks = run(bridge, 0.0, 1.0)
    assert all(tick.heartbeat and tick.setpoint is None and not tick.commands for _, tick in ticks)
    bridge.heard_status(VehicleState(nav_state=POSCTL, arming_state=DISARMED))
    assert commands(run(bridge, 1.0, 0.1)) == [SWITCH_TO_OFFBOARD]
