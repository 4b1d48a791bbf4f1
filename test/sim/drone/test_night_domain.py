"""The night domain: dark but for a headlight on the drone, with the red target still in sight; the
other domains carry no headlight."""

import numpy as np
import pytest

from liquid_control.sim.drone.scene import DOMAINS, SceneSpec, make_scene
from liquid_control.sim.drone.world import DroneWorld, DroneWorldConfig, build_mjcf

NEAR = SceneSpec(start_distance_m=(5.0, 10.0))


def _red_pixels(frame: np.ndarray) -> int:
    f = frame.astype(int)
    return int(((f[..., 0] > 120) & (f[..., 0] > 2.2 * f[..., 1]) & (f[..., 0] > 2.2 * f[..., 2])).sum())


@pytest.mark.parametrize("seed", [1000, 1002])
def test_night_is_dark_but_near_the_headlight_and_the_target_stays_in_sight(seed):
    summer = DroneWorld(seed, DroneWorldConfig(scene=NEAR))
    day = summer.reset().frame.astype(float)
    summer.close()
    world = DroneWorld(seed, DroneWorldConfig(domain="night", scene=NEAR))
    try:
        night = world.reset().frame
        assert night.shape == day.shape and 5.0 <= world.scene.start_distance <= 10.0
        top, bottom = slice(0, night.shape[0] // 3), slice(3 * night.shape[0] // 4, None)
        assert night[top].mean() < 0.2 * day[top].mean()  # sky and far trees, out of the headlight's reach
        assert night.mean() < 0.3 * day.mean()
        light = world.model.light("headlight")
        assert light.bodyid[0] == world.model.body("drone").id  # it flies with the drone
        light.active = 0
        unlit = world.render().astype(float)
        assert night[bottom].mean() > 1.5 * unlit[bottom].mean()  # the ground near the drone is lit
        light.active = 1
        assert world.reset().target.in_view and _red_pixels(night) >= 10
        world.model.geom("target").rgba[3] = 0
        assert _red_pixels(world.render()) == 0  # the red is the target's, nothing else looks like it
    finally:
        world.close()


def test_only_the_night_domain_has_a_headlight():
    assert DOMAINS[-1] == "night" and DOMAINS.index("dusk") == 4  # appended: colours keep their seeds
    for domain in DOMAINS:
        mjcf = build_mjcf(make_scene(1001, domain), DroneWorldConfig(domain=domain))
        assert ('name="headlight"' in mjcf) == (domain == "night"), domain
        assert mjcf.count("<light ") == (2 if domain == "night" else 1), domain
