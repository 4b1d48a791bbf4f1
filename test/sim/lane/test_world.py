"""The MuJoCo world: physics, camera, determinism, commands, perturbations, metrics on crafted cases."""

import math

import numpy as np
import pytest

from liquid_control.sim.lane.car import CarSpec, Command, ackermann_angles
from liquid_control.sim.lane.metrics import LaneMetrics, check_lane
from liquid_control.sim.lane.track import LanePosition, make_track
from liquid_control.sim.lane.world import LaneWorld, WorldConfig
from liquid_control.sim.perturbations import PerturbationConfig


@pytest.fixture(scope="module")
def world():
    w = LaneWorld(0)
    yield w
    w.close()


def _drive(world, commands):
    observations = [world.reset()]
    for command in commands:
        observations.append(world.step(command))
    return observations


def test_camera_frames_show_the_road(world):
    observation = world.reset()
    frame = observation.frame
    assert frame.shape == (66, 200, 3) and frame.dtype == np.uint8
    assert observation.frame_time == 0.0
    # The bottom middle of the image is the asphalt right in front of the car; the top rows are sky.
    bottom = frame[-10:, 90:110].reshape(-1, 3).mean(axis=0)
    top = frame[:3].reshape(-1, 3).mean(axis=0)
    assert bottom.max() - bottom.min() < 40, "asphalt is grey"
    assert top[2] > bottom[2] + 40, "the sky is brighter and bluer than the road"


def test_same_seed_and_commands_give_the_same_trajectory_and_frames():
    commands = [Command(2.0, 0.1 * math.sin(k / 5)) for k in range(40)]
    first = _drive(LaneWorld(5), commands)
    second = _drive(LaneWorld(5), commands)
    for a, b in zip(first, second):
        assert a.car == b.car and np.array_equal(a.frame, b.frame)


def test_speed_command_is_tracked_and_the_car_stays_upright(world):
    observations = _drive(world, [Command(3.0, 0.0)] * 60)
    assert observations[-1].car.speed == pytest.approx(3.0, rel=0.05)
    first, last = observations[0].car, observations[-1].car
    travelled = math.hypot(last.x - first.x, last.y - first.y)
    assert 6.0 < travelled < 9.0  # 3 s at up to 3 m/s, after the spin-up
    assert abs(world.data.xpos[world._car_body][2] - (world.config.car.wheel_radius + 0.02)) < 0.03


@pytest.mark.parametrize("steering", [0.2, -0.3])
def test_steering_turns_the_car_as_the_bicycle_model_says(world, steering):
    car = world.config.car
    observations = _drive(world, [Command(2.0, steering)] * 60)
    yaw_rate = observations[-1].car.yaw_rate
    expected = 2.0 * math.tan(steering) / car.wheelbase
    assert math.copysign(1, yaw_rate) == math.copysign(1, steering)
    assert yaw_rate == pytest.approx(expected, rel=0.2)
    assert observations[-1].car.steering == pytest.approx(steering, abs=0.03)


def test_twist_conversion_round_trips():
    car = CarSpec()
    command = Command.from_twist(2.5, 0.8, car)
    assert command.to_twist(car) == pytest.approx((2.5, 0.8))
    assert Command.from_twist(0.0, 1.0, car) == Command(0.0, 0.0), "no steering from a yaw rate at standstill"
    left, right = ackermann_angles(0.3, car)
    assert left > 0.3 > right > 0, "the inner (left) wheel turns more in a left turn"


def test_bad_commands_are_clamped_never_a_crash(world):
    car = world.config.car
    clamped, problems = Command(float("nan"), 5.0).clamped(car)
    assert clamped == Command(0.0, car.max_steer) and len(problems) == 2
    observations = _drive(world, [Command(1e9, float("inf")), Command(float("nan"), float("nan"))])
    assert all(np.isfinite([o.car.x, o.car.y, o.car.yaw]).all() for o in observations)
    assert world.command == Command(0.0, 0.0)


@pytest.mark.parametrize("make,match", [
    (lambda: WorldConfig(camera_rate_hz=0.5), "camera_rate_hz"),
    (lambda: WorldConfig(camera_rate_hz=30.0), "whole number of physics steps"),
    (lambda: WorldConfig(camera_width=4), "camera size"),
    (lambda: WorldConfig(car=CarSpec(max_steer=2.0)), "max_steer"),
    (lambda: WorldConfig(perturbations=PerturbationConfig(drop_probability=2.0)), "drop_probability"),
])
def test_bad_world_configs_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        LaneWorld(0, make())


def test_perturbations_reach_the_camera():
    dark = LaneWorld(0, WorldConfig(perturbations=PerturbationConfig(light_intensity=0.3))).reset().frame
    normal = LaneWorld(0).reset().frame
    assert dark[-20:].mean() < normal[-20:].mean() - 15, "dimmer light, darker road"
    dropped = LaneWorld(0, WorldConfig(perturbations=PerturbationConfig(drop_probability=0.999)))
    observations = _drive(dropped, [Command(1.0, 0.0)] * 5)
    assert all(o.frame is None for o in observations[1:])
    late = LaneWorld(0, WorldConfig(perturbations=PerturbationConfig(latency_s=0.1)))
    observations = _drive(late, [Command(1.0, 0.0)] * 6)
    delivered = [o for o in observations if o.frame is not None]
    assert delivered and all(o.time - o.frame_time == pytest.approx(0.1) for o in delivered)


def test_render_false_gives_no_frames_but_the_same_physics():
    commands = [Command(2.0, 0.1)] * 20
    blind = _drive(LaneWorld(2, WorldConfig(render=False)), commands)
    seeing = _drive(LaneWorld(2), commands)
    assert all(o.frame is None for o in blind)
    assert blind[-1].car == seeing[-1].car


def _lane(track, index, lateral):
    return LanePosition(index, index * track.ds, lateral, float(track.heading[index]), lateral - track.lane_width / 2)


def test_lane_check_on_crafted_poses():
    track = make_track(0)
    car = CarSpec()
    i = 300
    heading = float(track.heading[i])
    for offset, out in ((0.0, False), (0.35, True), (-0.35, True), (0.1, False)):
        x, y = track.lane_centre[i] + track.normal[i] * offset
        check = check_lane(track, car, x, y, heading, track.project(x, y, hint=i), offroad_margin=0.3)
        assert check.wheels_out is out, offset
        assert check.lateral_error == pytest.approx(offset, abs=0.02)
        assert not check.offroad
    x, y = track.lane_centre[i] - track.normal[i] * 2.0
    assert check_lane(track, car, x, y, heading, track.project(x, y, hint=i), 0.3).offroad


def test_lane_metrics_count_departures_as_events():
    track = make_track(0)
    metrics = LaneMetrics(track)
    metrics.reset(_lane(track, 0, 0.0))
    from liquid_control.sim.lane.metrics import LaneCheck

    pattern = [False, True, True, False, False, True, False]
    for k, out in enumerate(pattern, start=1):
        lateral = 0.4 if out else 0.1
        metrics.update(_lane(track, 10 * k, lateral), LaneCheck(lateral, 0.05, out, False), 0.05)
    summary = metrics.summary(wall_time=0.01)
    assert summary["departures"] == 2
    assert summary["time_out_of_lane_s"] == pytest.approx(0.15)
    assert summary["distance_m"] == pytest.approx(70 * track.ds)
    assert summary["max_abs_lateral_m"] == pytest.approx(0.4)
    assert summary["mean_abs_lateral_m"] == pytest.approx((3 * 0.4 + 4 * 0.1) / 7, abs=1e-4)
    assert summary["realtime_factor"] == pytest.approx(0.35 / 0.01)
