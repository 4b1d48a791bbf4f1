"""The quadrotor and its velocity autopilot, in real MuJoCo: the model built from the spec, hover,
velocity steps, yaw rate, the tilt limit, command clamping."""

import math
from dataclasses import replace

import numpy as np
import pytest

from liquid_control.sim.drone.autopilot import AutopilotGains, VelocityCommand, VelocityLimits
from liquid_control.sim.drone.quadrotor import QuadSpec
from liquid_control.sim.drone.scene import SceneSpec
from liquid_control.sim.drone.world import DroneWorld, DroneWorldConfig

# An open field: no obstacles to run into while the autopilot is put through its paces.
OPEN_FIELD = SceneSpec(band_m=0.0, max_intruders=0, start_distance_m=(20.0, 20.0))


@pytest.fixture(scope="module")
def world():
    w = DroneWorld(1000, DroneWorldConfig(render=False, scene=OPEN_FIELD))
    assert w.scene.obstacles == ()
    yield w
    w.close()


def _fly(world, command, seconds):
    world.reset()
    states = [world.drone_state()]
    for _ in range(int(round(seconds * world.config.camera_rate_hz))):
        states.append(world.step(command).state)
    return states


def test_the_model_carries_the_specs_mass_inertia_and_rotors():
    quad = QuadSpec(mass=1.3, inertia=(0.011, 0.012, 0.02), max_thrust_n=7.0, yaw_torque_m=0.02, motor_tau_s=0.05)
    world = DroneWorld(3, DroneWorldConfig(quad=quad, render=False))
    model, body = world.model, world.model.body("drone").id
    assert model.body_mass[body] == pytest.approx(1.3)
    assert np.allclose(model.body_inertia[body], (0.011, 0.012, 0.02))
    assert model.nu == 4 and model.na == 4  # four rotors, each with first-order (motor) dynamics
    assert np.allclose(model.actuator_ctrlrange, [[0.0, 7.0]] * 4)
    assert np.allclose(model.actuator_dynprm[:, 0], 0.05)
    assert np.allclose(np.abs(model.actuator_gear[:, 5]), 0.02) and model.actuator_gear[:, 5].sum() == pytest.approx(0)
    assert model.opt.timestep == 0.005
    assert model.geom("drone_hull").size[0] == pytest.approx(quad.collision_radius)
    # The yaw-rotated allocation is invertible and hover is a quarter of the weight on each rotor.
    assert np.linalg.matrix_rank(quad.allocation()) == 4
    assert quad.hover_thrust_n == pytest.approx(1.3 * 9.81 / 4)


def test_motor_lag_is_the_spec_time_constant(world):
    world.reset()
    hover = world.config.quad.hover_thrust_n
    world.data.ctrl[:] = hover + 1.0
    import mujoco
    steps = int(round(world.config.quad.motor_tau_s / world.config.physics_dt))
    mujoco.mj_step(world.model, world.data, nstep=steps)
    # after one time constant a first-order lag has covered 1 - 1/e of the step
    assert world.data.act[0] - hover == pytest.approx(1 - math.exp(-1), abs=0.05)


def test_zero_command_hovers_in_place(world):
    states = _fly(world, VelocityCommand(), 10.0)
    start, end = states[0], states[-1]
    assert math.hypot(end.x - start.x, end.y - start.y) < 0.3
    assert max(abs(s.z - start.z) for s in states) < 0.1
    assert abs(end.yaw - start.yaw) < 0.05


@pytest.mark.parametrize("command, field, value", [
    (VelocityCommand(forward=2.5), "forward", 2.5),
    (VelocityCommand(left=-2.0), "left", -2.0),
    (VelocityCommand(up=1.0), "up", 1.0),
])
def test_a_velocity_step_is_reached_within_two_seconds(world, command, field, value):
    states = _fly(world, command, 4.0)
    rate = world.config.camera_rate_hz
    reached = [i for i, s in enumerate(states) if abs(getattr(s, field) - value) <= 0.1 * abs(value)]
    assert reached and reached[0] / rate < 2.0
    assert all(abs(getattr(s, field) - value) <= 0.1 * abs(value) for s in states[int(2.0 * rate):])
    # the tilt limit holds through the acceleration
    tilt = max(math.degrees(math.acos(min(1.0, math.cos(s.roll) * math.cos(s.pitch)))) for s in states)
    assert tilt <= world.config.limits.max_tilt_deg + 2.0


def test_yaw_rate_is_tracked_and_altitude_kept(world):
    states = _fly(world, VelocityCommand(yaw_rate=1.0), 3.0)
    late = states[int(world.config.camera_rate_hz):]
    assert all(s.yaw_rate == pytest.approx(1.0, abs=0.05) for s in late)
    turned = sum((b.yaw - a.yaw + math.pi) % (2 * math.pi) - math.pi for a, b in zip(states, states[1:]))
    assert 2.5 < turned < 3.0  # 3 s at 1 rad/s, less the spin-up
    assert max(abs(s.z - states[0].z) for s in states) < 0.1


def test_forward_is_along_the_heading_after_a_turn(world):
    world.reset()
    for _ in range(15):
        world.step(VelocityCommand(yaw_rate=1.0))
    for _ in range(25):
        observation = world.step(VelocityCommand(forward=2.0))
    assert observation.state.forward == pytest.approx(2.0, abs=0.2) and abs(observation.state.left) < 0.2


def test_commands_are_clamped_to_the_limits_and_non_finite_values_become_zero():
    limits = VelocityLimits()
    command, problems = VelocityCommand(4.0, 3.0, -5.0, 9.0).clamped(limits)
    assert math.hypot(command.forward, command.left) == pytest.approx(3.0)
    assert command.forward / command.left == pytest.approx(4 / 3)  # the direction is kept
    assert command.up == -1.5 and command.yaw_rate == 1.5 and len(problems) == 3
    command, problems = VelocityCommand(float("nan"), float("inf"), 0.5, float("-inf")).clamped(limits)
    assert command == VelocityCommand(0.0, 0.0, 0.5, 0.0) and len(problems) == 3
    command, problems = VelocityCommand(1.0, -0.5, 0.2, 0.3).clamped(limits)
    assert command == VelocityCommand(1.0, -0.5, 0.2, 0.3) and problems == []
    assert VelocityCommand.from_twist(1, 2, 3, 4).to_twist() == (1.0, 2.0, 3.0, 4.0)


def test_the_world_clamps_what_it_is_told(world):
    world.reset()
    world.step(VelocityCommand(float("nan"), 0.0, 9.0, 0.0))
    assert world.command == VelocityCommand(0.0, 0.0, 1.5, 0.0) and len(world.command_problems) == 2
    with pytest.raises(ValueError, match="VelocityCommand"):
        world.step((1.0, 0.0, 0.0, 0.0))


@pytest.mark.parametrize("make", [
    lambda: QuadSpec(mass=0.0),
    lambda: QuadSpec(inertia=(0.001, 0.001, 0.01)),
    lambda: QuadSpec(max_thrust_n=2.0),
    lambda: QuadSpec(drag_coefficient=float("nan")),
    lambda: VelocityLimits(max_tilt_deg=70.0),
    lambda: VelocityLimits(max_horizontal_mps=-1.0),
    lambda: AutopilotGains(attitude_p=0.0),
])
def test_bad_specs_are_refused(make):
    with pytest.raises(ValueError):
        make().validate()


def test_the_world_validates_its_parts():
    with pytest.raises(ValueError, match="mass"):
        DroneWorld(0, DroneWorldConfig(render=False, quad=QuadSpec(mass=-1.0)))
    with pytest.raises(ValueError, match="max_tilt_deg"):
        DroneWorld(0, DroneWorldConfig(render=False, limits=VelocityLimits(max_tilt_deg=80.0)))


def test_a_heavier_drone_still_hovers():
    config = DroneWorldConfig(render=False, quad=replace(QuadSpec(), mass=1.6, max_thrust_n=7.0))
    world = DroneWorld(1001, config)
    start = world.reset().state
    for _ in range(50):
        end = world.step(VelocityCommand()).state
    assert abs(end.z - start.z) < 0.1 and math.hypot(end.x - start.x, end.y - start.y) < 0.3
