"""The Ackermann conversion against the lane world's car: the same command both ways, and the same drive."""

import math

import numpy as np
import pytest

from liquid_control.runtime.ackermann import (
    AckermannCommand,
    ackermann_from_twist,
    resolve_command_type,
    twist_from_ackermann,
)
from liquid_control.runtime.commands import CommandShaper, ControlConfig, Twist
from liquid_control.sim.lane.car import CarSpec, Command
from liquid_control.sim.lane.drive import drive
from liquid_control.sim.lane.expert import ExpertDriver
from liquid_control.sim.lane.world import LaneWorld, WorldConfig

CAR = CarSpec()


@pytest.mark.parametrize("speed", [3.0, 0.5, -0.8, 1e-3, 5e-4, 0.0])
@pytest.mark.parametrize("yaw_rate", [0.0, 0.7, -1.9, 12.0])
def test_the_steering_angle_is_the_one_the_car_makes_of_the_twist(speed, yaw_rate):
    command = ackermann_from_twist(Twist(linear_x=speed, angular_z=yaw_rate), CAR.wheelbase)
    car = Command.from_twist(speed, yaw_rate, CAR)
    assert (command.speed, command.steering_angle) == (car.speed, car.steering)


def test_steering_angle_is_atan_of_wheelbase_times_curvature_and_back():
    curvature, speed, wheelbase = 0.4, 2.5, 0.33  # left turn of 2.5 m radius, an F1TENTH car's wheelbase
    command = ackermann_from_twist(Twist(linear_x=speed, angular_z=speed * curvature), wheelbase)
    assert command.steering_angle == pytest.approx(math.atan(wheelbase * curvature), abs=1e-15)
    assert command.steering_angle > 0 and command.speed == speed  # positive left, REP 103
    back = twist_from_ackermann(command, wheelbase)
    assert back == Twist(linear_x=speed, angular_z=pytest.approx(speed * curvature, abs=1e-12))
    assert twist_from_ackermann(AckermannCommand(speed, -0.2), CAR.wheelbase).angular_z < 0  # right turn


def test_a_steering_angle_policy_comes_out_as_its_own_angle():
    config = ControlConfig(output_mode="steering", speed=2.0, wheelbase=0.5)
    twist = CommandShaper(config, "steering_angle").raw(np.array([0.3]))
    assert ackermann_from_twist(twist, 0.5).steering_angle == pytest.approx(0.3, abs=1e-12)


def test_a_stop_stands_with_straight_wheels():
    assert ackermann_from_twist(Twist(), CAR.wheelbase) == AckermannCommand(0.0, 0.0)
    assert ackermann_from_twist(Twist(angular_z=1.5), CAR.wheelbase) == AckermannCommand(0.0, 0.0)


def test_the_command_type_and_the_older_stamped_switch():
    assert resolve_command_type("ackermann", False, "twist_stamped") == "ackermann"
    assert resolve_command_type("twist", True, "twist_stamped") == "twist_stamped"
    assert resolve_command_type("twist_stamped", True, "cmd_vel_stamped") == "twist_stamped"
    with pytest.raises(ValueError, match="cmd_vel_stamped is true .* command_type is ackermann"):
        resolve_command_type("ackermann", True, "cmd_vel_stamped")
    with pytest.raises(ValueError, match="must be one of twist, twist_stamped, got .ackermann.$"):
        resolve_command_type("ackermann", False, "cmd_vel_stamped", allowed=("twist", "twist_stamped"))
    with pytest.raises(ValueError, match="got 'drive'"):
        resolve_command_type("drive", False, "twist_stamped")


class _ThroughACommandMessage:
    """The expert's command sent as a Twist, or as an AckermannDriveStamped (float32 fields) made of it."""

    name = "expert"

    def __init__(self, ackermann: bool):
        self.expert = ExpertDriver(CAR)
        self.ackermann = ackermann

    def reset(self, world) -> None:
        self.expert.reset(world)

    def act(self, observation, dt: float) -> Command:
        linear_x, angular_z = self.expert.act(observation, dt).to_twist(CAR)
        if not self.ackermann:
            return Command.from_twist(linear_x, angular_z, CAR)  # what lane_sim_node does with a Twist
        command = ackermann_from_twist(Twist(linear_x=linear_x, angular_z=angular_z), CAR.wheelbase)
        speed, steering = np.float32(command.speed), np.float32(command.steering_angle)  # the message's fields
        return Command(float(speed), float(steering))  # what lane_sim_node does with an AckermannDriveStamped


def test_a_drive_through_ackermann_commands_is_the_drive_through_twists():
    reports = []
    for ackermann in (False, True):
        world = LaneWorld(1000, WorldConfig(render=False))
        try:
            reports.append(drive(world, _ThroughACommandMessage(ackermann), 100.0).report)
        finally:
            world.close()
    twist, ackermann = reports
    assert ackermann["stop_reason"] == twist["stop_reason"] == "distance reached"
    assert ackermann["departures"] == twist["departures"] == 0
    for key in ("mean_abs_lateral_m", "max_abs_lateral_m", "sim_time_s"):
        assert ackermann[key] == pytest.approx(twist[key], abs=1e-3), key
