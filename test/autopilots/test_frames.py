"""Body (FLU, REP 103) velocity into PX4's NED and ROS's ENU world frames, for several headings."""
import math

import pytest

from liquid_control.autopilots import BodyVelocity, body_flu_to_enu, body_flu_to_ned, yaw_from_quaternion


def ned_quaternion(yaw: float):
    """PX4's attitude quaternion (w, x, y, z) of a level vehicle heading ``yaw`` from north towards east."""
    return (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))


@pytest.mark.parametrize("yaw", [0.0, 0.3, math.pi / 2, 2.5, -math.pi / 2, -3.0])
def test_heading_read_back_from_px4s_quaternion(yaw):
    assert yaw_from_quaternion(*ned_quaternion(yaw)) == pytest.approx(yaw)


def test_heading_ignores_roll_and_pitch():
    yaw, roll = 1.0, 0.4  # yaw then roll (Z-Y-X): q = q_yaw * q_roll
    q_yaw, q_roll = ned_quaternion(yaw), (math.cos(roll / 2), math.sin(roll / 2), 0.0, 0.0)
    w1, x1, y1, z1 = q_yaw
    w2, x2, y2, z2 = q_roll
    product = (w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
               w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2)
    assert yaw_from_quaternion(*product) == pytest.approx(yaw)


@pytest.mark.parametrize("yaw, forward_ned, left_ned", [
    (0.0, (1, 0), (0, -1)),  # facing north: forward is north, left is west
    (math.pi / 2, (0, 1), (1, 0)),  # facing east: forward is east, left is north
    (math.pi, (-1, 0), (0, 1)),  # facing south: forward is south, left is east
    (-math.pi / 2, (0, -1), (-1, 0)),  # facing west: forward is west, left is south
    (math.pi / 4, (math.sqrt(0.5), math.sqrt(0.5)), (math.sqrt(0.5), -math.sqrt(0.5))),  # north-east: left is NW
])
def test_body_velocity_in_ned_for_headings(yaw, forward_ned, left_ned):
    forward = body_flu_to_ned(BodyVelocity(forward=2.0), yaw)
    assert (forward.x, forward.y, forward.z) == pytest.approx((2 * forward_ned[0], 2 * forward_ned[1], 0.0), abs=1e-9)
    left = body_flu_to_ned(BodyVelocity(left=1.0), yaw)
    assert (left.x, left.y, left.z) == pytest.approx((left_ned[0], left_ned[1], 0.0), abs=1e-9)


def test_up_and_counter_clockwise_yaw_rate_are_negative_in_ned():
    ned = body_flu_to_ned(BodyVelocity(up=0.5, yaw_rate=0.3), 1.2)
    assert ned.z == pytest.approx(-0.5)  # z points down
    assert ned.yaw_rate == pytest.approx(-0.3)  # counter-clockwise seen from above = negative about down


@pytest.mark.parametrize("yaw", [0.0, 0.7, math.pi / 2, -2.0])
def test_ned_and_enu_agree(yaw):
    """The same command through both frames: ENU is NED with x/y swapped and z, yaw rate negated,
    and an ENU heading is pi/2 minus the NED one."""
    command = BodyVelocity(forward=1.3, left=-0.4, up=0.2, yaw_rate=0.5)
    ned = body_flu_to_ned(command, yaw)
    enu = body_flu_to_enu(command, math.pi / 2 - yaw)
    assert (enu.x, enu.y, enu.z, enu.yaw_rate) == pytest.approx((ned.y, ned.x, -ned.z, -ned.yaw_rate))


def test_speed_is_kept():
    command = BodyVelocity(forward=1.5, left=-0.8)
    ned = body_flu_to_ned(command, 2.2)
    assert math.hypot(ned.x, ned.y) == pytest.approx(math.hypot(1.5, 0.8))
