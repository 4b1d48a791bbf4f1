"""The TwistStamped autopilot profiles: topic, frame_id and fields as MAVROS and ArduPilot document them."""
import math

import pytest

from liquid_control.autopilots import PROFILES, BodyVelocity, PolicyTimeouts, TwistRelay, profile

COMMAND = BodyVelocity(forward=1.5, left=-0.5, up=0.25, yaw_rate=0.3)


def test_ardupilot_takes_the_body_frame_on_ap_cmd_vel_as_base_link():
    ardupilot = profile("ardupilot")
    assert ardupilot.topic == "ap/cmd_vel" and not ardupilot.needs_heading
    twist = ardupilot.twist(COMMAND)
    assert twist.frame_id == "base_link"
    assert twist.linear == (1.5, -0.5, 0.25) and twist.yaw_rate == 0.3


def test_mavros_body_ned_passes_the_body_frame():
    mavros = profile("mavros")
    assert mavros.topic == "mavros/setpoint_velocity/cmd_vel" and not mavros.needs_heading
    twist = mavros.twist(COMMAND)
    assert twist.linear == (1.5, -0.5, 0.25) and twist.yaw_rate == 0.3


def test_mavros_local_ned_takes_an_enu_velocity_rotated_by_the_heading():
    local = profile("mavros_local")
    assert local.heading_topic == "mavros/local_position/pose"
    twist = local.twist(COMMAND, heading=math.pi / 2)  # facing north in ENU
    assert twist.frame_id == "map"
    # forward 1.5 is north (+y), left -0.5 is east (+0.5 x); up and the CCW yaw rate are unchanged in ENU
    assert twist.linear == pytest.approx((0.5, 1.5, 0.25)) and twist.yaw_rate == pytest.approx(0.3)
    with pytest.raises(ValueError, match="heading"):
        local.twist(COMMAND)


def test_unknown_autopilot_names_the_known_ones():
    with pytest.raises(ValueError, match="known: " + ", ".join(PROFILES)):
        profile("betaflight")


def test_every_topic_is_relative():
    assert all(not p.topic.startswith("/") and not (p.heading_topic or "").startswith("/") for p in PROFILES.values())


def test_relay_streams_the_command_then_zero_then_stops():
    relay = TwistRelay(profile("ardupilot"), PolicyTimeouts(cmd_timeout_s=0.5, failsafe_after_s=1.0), start_time=0.0)
    assert relay.tick(0.1).linear == (0.0, 0.0, 0.0)  # nothing heard yet: zero velocity
    relay.heard_command(COMMAND, 1.0)
    assert relay.tick(1.2).linear == (1.5, -0.5, 0.25)
    stale = relay.tick(1.7)
    assert stale.linear == (0.0, 0.0, 0.0) and stale.yaw_rate == 0.0 and stale.frame_id == "base_link"
    assert relay.tick(2.6) is None


def test_relay_in_a_world_frame_holds_still_without_a_heading():
    relay = TwistRelay(profile("mavros_local"), PolicyTimeouts(), start_time=0.0, heading_timeout_s=0.5)
    relay.heard_command(COMMAND, 0.0)
    assert relay.tick(0.1).linear == (0.0, 0.0, 0.0)
    relay.heard_orientation(math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4), 0.1)  # ENU heading: north
    relay.heard_command(COMMAND, 0.1)
    assert relay.tick(0.2).linear == pytest.approx((0.5, 1.5, 0.25))
    relay.heard_command(COMMAND, 0.7)
    assert relay.tick(0.7).linear == (0.0, 0.0, 0.0)  # the heading is 0.6 s old
