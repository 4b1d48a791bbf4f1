"""Blackouts and frame-interval jitter: the camera conditions that need memory and continuous time."""

import math
import re

import numpy as np
import pytest

from liquid_control.sim.perturbations import FramePerturber, PerturbationConfig

BLACKOUTS = PerturbationConfig(blackout_rate_hz=1.0, blackout_min_s=0.3, blackout_max_s=1.5)


def road_image(height=66, width=200):
    image = np.full((height, width, 3), 90, np.uint8)
    image[:, width // 2 - 4: width // 2 + 4] = 230
    return image


def delivered_black(config, seed, n_frames=400, period=0.05):
    perturber = FramePerturber(config, seed=seed)
    black = []
    for k in range(n_frames):
        frame = perturber(road_image(), k * period)
        black.append(frame is not None and not frame.image.any())
    return perturber, black


def test_defaults_change_nothing_and_each_new_setting_breaks_identity():
    assert PerturbationConfig().is_identity()
    assert not PerturbationConfig(blackout_rate_hz=0.1).is_identity()
    assert not PerturbationConfig(frame_interval_jitter=2.0).is_identity()
    perturber = FramePerturber(PerturbationConfig(), seed=0)
    assert perturber.frame_period_steps(10) == 10 and not perturber.is_blacked_out(5.0) and not perturber.blackouts


def test_blackouts_cover_exactly_the_frames_inside_their_windows():
    perturber, black = delivered_black(BLACKOUTS, seed=7)
    windows = perturber.blackouts
    assert len(windows) >= 3
    for (start, end), (next_start, _) in zip(windows, windows[1:]):
        assert 0 < start < end <= next_start  # in order, apart
    for start, end in windows:
        assert 0.3 <= end - start <= 1.5
    expected = [any(start <= k * 0.05 < end for start, end in windows) for k in range(len(black))]
    assert black == expected
    assert 0 < sum(black) < len(black)
    # The same seed gives the same windows; another seed other ones.
    assert delivered_black(BLACKOUTS, seed=7)[0].blackouts == windows
    assert delivered_black(BLACKOUTS, seed=8)[0].blackouts != windows


def test_blackout_windows_do_not_depend_on_the_frame_times_nor_change_the_drops():
    dense = FramePerturber(BLACKOUTS, seed=3)
    sparse = FramePerturber(BLACKOUTS, seed=3)
    for k in range(200):
        dense.is_blacked_out(k * 0.01)
    sparse.is_blacked_out(1.99)
    assert sparse.blackouts == dense.blackouts
    drops = PerturbationConfig(drop_probability=0.3)
    with_blackouts = PerturbationConfig(drop_probability=0.3, blackout_rate_hz=1.0)
    delivered = [[FramePerturber(config, seed=5)(road_image(), k * 0.05) is None for k in range(100)]
                 for config in (drops, with_blackouts)]
    assert delivered[0] == delivered[1]


def test_a_blacked_out_frame_still_gets_the_sensor_noise():
    perturber = FramePerturber(PerturbationConfig(blackout_rate_hz=10.0, blackout_min_s=60.0, blackout_max_s=60.0,
                                                  noise_std=10.0), seed=0)
    frames = [perturber(road_image(), k * 0.05) for k in range(40)]
    dark = [f.image for f in frames if f.capture_time >= perturber.blackouts[0][0]]
    assert dark and all(image.mean() < 6 and image.max() > 0 for image in dark)  # noise on black, no road


@pytest.mark.parametrize("nominal,jitter", [(10, 3.0), (40, 3.0), (1, 2.0), (10, 1.5)])
def test_jittered_periods_stay_within_their_bounds_around_the_nominal_one(nominal, jitter):
    perturber = FramePerturber(PerturbationConfig(frame_interval_jitter=jitter), seed=2)
    steps = [perturber.frame_period_steps(nominal) for _ in range(2000)]
    assert min(steps) >= max(1, math.floor(nominal / jitter)) and max(steps) <= math.ceil(nominal * jitter)
    if nominal >= 10:
        assert min(steps) < nominal < max(steps)
        assert np.median(steps) == pytest.approx(nominal, rel=0.1)  # log-uniform: the nominal period is the median
    again = FramePerturber(PerturbationConfig(frame_interval_jitter=jitter), seed=2)
    assert [again.frame_period_steps(nominal) for _ in range(2000)] == steps


@pytest.mark.parametrize("field,value,allowed", [
    ("blackout_rate_hz", -0.1, "in [0, 10]"), ("blackout_rate_hz", math.nan, "in [0, 10]"),
    ("blackout_rate_hz", 11.0, "in [0, 10]"), ("blackout_min_s", 0.0, "in (0, 60]"),
    ("blackout_max_s", -1.0, "in (0, 60]"), ("frame_interval_jitter", 0.5, "in [1, 10]"),
    ("frame_interval_jitter", math.inf, "in [1, 10]"), ("frame_interval_jitter", "3", "in [1, 10]"),
])
def test_invalid_settings_are_refused_naming_the_field_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError, match=rf"PerturbationConfig\.{field} must be a finite number {re.escape(allowed)}"):
        PerturbationConfig(**{field: value})


def test_a_blackout_shorter_at_most_than_at_least_is_refused():
    with pytest.raises(ValueError, match=r"blackout_min_s must be <= blackout_max_s, got 1\.0 > 0\.5"):
        PerturbationConfig.from_dict({"blackout_min_s": 1.0, "blackout_max_s": 0.5})
    with pytest.raises(ValueError, match="nominal_steps must be an integer >= 1"):
        FramePerturber(PerturbationConfig(frame_interval_jitter=2.0), seed=0).frame_period_steps(0)


def _check_jittered_world(world, nominal_s):
    """Step ``world`` with its null command: times and frame stamps increase, intervals within 3x."""
    times, stamps = [world.time], []
    for _ in range(60):
        observation = world.step(world.command_from_twist(0.0))
        times.append(observation.time)
        stamps.append(observation.frame_time)
    intervals = np.diff(times)
    step = world.config.physics_dt
    assert intervals.min() > 0 and intervals.min() >= nominal_s / 3 - step and intervals.max() <= 3 * nominal_s + step
    assert len(set(np.round(intervals, 6))) > 3  # jittered, not one period
    assert stamps == times[1:] and all(np.diff(stamps) > 0)  # every frame stamped when it was captured
    return intervals


def test_the_lane_world_steps_jittered_periods_and_its_metrics_count_real_time():
    from liquid_control.sim.lane.world import LaneWorld, WorldConfig

    world = LaneWorld(1000, WorldConfig(perturbations=PerturbationConfig(frame_interval_jitter=3.0)))
    try:
        intervals = _check_jittered_world(world, 0.05)
        assert world.metrics.sim_time == pytest.approx(float(intervals.sum()))
    finally:
        world.close()


def test_the_drone_world_steps_jittered_periods_and_blacks_out_its_camera():
    from liquid_control.sim.drone.world import DroneWorld
    from liquid_control.train.simulate import drone_config

    config = drone_config(perturbations={"frame_interval_jitter": 3.0, "blackout_rate_hz": 10.0,
                                         "blackout_min_s": 60.0, "blackout_max_s": 60.0})
    world = DroneWorld(1000, config)
    try:
        _check_jittered_world(world, 1.0 / config.camera_rate_hz)
        assert world.perturber.blackouts[0][0] < world.time
        assert not world.step(world.command_from_twist(0.0)).frame.any()  # the lens covered: a black frame
    finally:
        world.close()
