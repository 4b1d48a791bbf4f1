"""Scenes and the drone world: layouts from seeds, domains, the camera, determinism, collisions,
wind, perturbations, termination."""

import math

import numpy as np
import pytest

from liquid_control.sim.drone.autopilot import VelocityCommand
from liquid_control.sim.drone.scene import DOMAINS, SceneSpec, _segment_distance, family_of, make_scene
from liquid_control.sim.drone.world import DroneWorld, DroneWorldConfig
from liquid_control.sim.perturbations import PerturbationConfig


def _red_pixels(frame: np.ndarray) -> int:
    f = frame.astype(int)
    return int(((f[..., 0] > 120) & (f[..., 0] > 2.2 * f[..., 1]) & (f[..., 0] > 2.2 * f[..., 2])).sum())


@pytest.fixture(scope="module")
def world():
    w = DroneWorld(1000)
    yield w
    w.close()


# ------------------------------------------------------------------ scenes
def test_same_seed_same_layout_in_every_domain_and_different_seeds_differ():
    scenes = [make_scene(1003, domain) for domain in DOMAINS]
    for scene in scenes[1:]:
        assert scene.start == scenes[0].start and scene.target == scenes[0].target
        assert ([(o.position[:2], o.radius) for o in scene.obstacles]
                == [(o.position[:2], o.radius) for o in scenes[0].obstacles])
    assert {o.kind for o in scenes[DOMAINS.index("urban")].obstacles} <= {"building", "hedge", "block"}
    assert make_scene(1004).start != scenes[0].start
    assert make_scene(1003) == scenes[0]  # and a seed always gives the same scene
    assert family_of(999) == "train" and family_of(1000) == "held_out" == scenes[0].family


@pytest.mark.parametrize("seed", [0, 7, 1000, 1017, 1042])
def test_the_corridor_is_clear_the_target_faces_the_start_and_obstacles_stand_near_it(seed):
    spec = SceneSpec()
    scene = make_scene(seed, spec=spec)
    sx, sy, sz, yaw = scene.start
    assert spec.start_distance_m[0] <= scene.start_distance <= spec.start_distance_m[1]
    assert spec.start_altitude_m[0] <= sz <= spec.start_altitude_m[1]
    bearing = (math.atan2(scene.target[1] - sy, scene.target[0] - sx) - yaw + math.pi) % (2 * math.pi) - math.pi
    assert abs(bearing) <= math.radians(spec.max_yaw_offset_deg) + 1e-9
    segment = ((sx, sy), scene.target[:2])
    for o in scene.obstacles:
        gap = _segment_distance(o.position[0], o.position[1], segment) - o.radius
        assert gap >= -1e-9, "nothing stands on the straight line"  # intruders come close, never onto it
        assert math.hypot(*o.position[:2]) >= spec.clearing_radius_m - 1e-9 or o.kind == "tree"
    assert len(scene.obstacles) >= 10


def test_distractors_and_bad_scene_settings():
    scene = make_scene(5, spec=SceneSpec(distractors=3))
    assert sum(o.kind == "distractor" for o in scene.obstacles) == 3
    with pytest.raises(ValueError, match="domain"):
        make_scene(0, "mars")
    with pytest.raises(ValueError, match="start_distance_m"):
        make_scene(0, spec=SceneSpec(start_distance_m=(10.0, 5.0)))
    with pytest.raises(ValueError, match="seed"):
        make_scene(-1)
    with pytest.raises(ValueError, match="domain"):
        DroneWorld(0, DroneWorldConfig(domain="moon"))
    with pytest.raises(ValueError, match="whole number"):
        DroneWorld(0, DroneWorldConfig(camera_rate_hz=30.0, physics_dt=0.004))


# ------------------------------------------------------------------ camera
def test_the_first_frame_shows_the_red_target_and_its_intrinsics_are_reachable(world):
    observation = world.reset()
    config = world.config
    assert observation.frame.shape == (config.camera_height, config.camera_width, 3)
    assert observation.frame.dtype == np.uint8
    assert observation.frame_time == 0.0 and observation.target.in_view
    assert _red_pixels(observation.frame) >= 3
    intrinsics = config.camera_intrinsics()
    assert intrinsics["width"] == 128 and intrinsics["height"] == 72
    assert world.model.camera("front").fovy[0] == pytest.approx(config.camera_fovy_deg, abs=1e-3)
    hfov_deg = 2 * math.degrees(math.atan(config.camera_width / 2 / intrinsics["fx"]))
    assert hfov_deg == pytest.approx(config.camera_hfov_deg)


def test_the_target_is_in_view_at_the_start_of_every_scene_and_domain():
    for domain in DOMAINS:
        world = DroneWorld(1010, DroneWorldConfig(domain=domain))
        observation = world.reset()
        assert observation.target.in_view and _red_pixels(observation.frame) >= 3, domain
        world.close()


def test_domains_look_different():
    means = {}
    for domain in DOMAINS:
        world = DroneWorld(1001, DroneWorldConfig(domain=domain))
        means[domain] = world.reset().frame.reshape(-1, 3).mean(axis=0)
        world.close()
    for i, a in enumerate(DOMAINS):
        for b in DOMAINS[i + 1:]:
            assert np.abs(means[a] - means[b]).max() > 8, (a, b, means[a], means[b])
    assert means["winter"].mean() > means["summer"].mean() + 30  # snow
    assert means["dusk"].mean() < means["summer"].mean() - 20  # low light


def test_same_seed_and_commands_give_the_same_trajectory_and_frames():
    commands = [VelocityCommand(1.5, 0.3 * math.sin(k / 4), 0.2, 0.4 * math.cos(k / 5)) for k in range(25)]
    runs = []
    for _ in range(2):
        world = DroneWorld(1002, DroneWorldConfig(wind_gust_n=1.0))
        runs.append([world.reset()] + [world.step(c) for c in commands])
        world.close()
    for a, b in zip(*runs):
        assert a.state == b.state and np.array_equal(a.frame, b.frame)
    assert not np.array_equal(runs[0][0].frame, runs[0][-1].frame)


# ------------------------------------------------------------------ task
def test_flying_into_a_tree_is_a_collision(world):
    world.reset()
    # the tree nearest the drone, and its canopy height
    state = world.drone_state()
    tree = min((o for o in world.scene.obstacles if o.kind == "tree"),
               key=lambda o: math.hypot(o.position[0] - state.x, o.position[1] - state.y))
    for _ in range(150):
        state = world.drone_state()
        bearing = ((math.atan2(tree.position[1] - state.y, tree.position[0] - state.x) - state.yaw + math.pi)
                   % (2 * math.pi) - math.pi)
        observation = world.step(VelocityCommand(2.0 * max(math.cos(bearing), 0.0), 0.0,
                                                 1.5 * (tree.position[2] - state.z), 2.0 * bearing))
        if observation.terminated:
            break
    assert observation.terminated and observation.reason in ("collision with a tree",) and not observation.success
    assert world.metrics.collision and world.metrics.summary()["reason"] == observation.reason
    # it stays ended
    assert world.step(VelocityCommand()).reason == observation.reason


def test_descending_into_the_ground_is_a_collision_and_climbing_out_leaves_the_area():
    world = DroneWorld(1005, DroneWorldConfig(render=False))
    world.reset()
    for _ in range(60):
        observation = world.step(VelocityCommand(up=-1.5))
        if observation.terminated:
            break
    assert observation.reason == "collision with the ground"
    world.reset()
    for _ in range(100):
        observation = world.step(VelocityCommand(up=1.5))
        if observation.terminated:
            break
    assert observation.reason == "left the flight area"


def test_hovering_ends_at_the_time_limit():
    config = DroneWorldConfig(render=False, time_limit_base_s=1.0, time_limit_speed_mps=100.0)
    world = DroneWorld(1006, config)
    world.reset()
    for step in range(100):
        observation = world.step(VelocityCommand())
        if observation.terminated:
            break
    assert observation.reason == "time limit"
    assert observation.time == pytest.approx(world.time_limit_s, abs=0.1 + 1e-9)


def test_wind_gusts_push_the_drone_reproducibly():
    def hover(gust):
        world = DroneWorld(1007, DroneWorldConfig(render=False, wind_gust_n=gust))
        world.reset()
        for _ in range(40):
            state = world.step(VelocityCommand()).state
        return state
    calm, windy, again = hover(0.0), hover(3.0), hover(3.0)
    assert math.hypot(windy.x - calm.x, windy.y - calm.y) > 0.05
    assert windy == again


def test_perturbations_apply_to_the_delivered_frames():
    clean = DroneWorld(1008)
    noisy = DroneWorld(1008, DroneWorldConfig(
        perturbations=PerturbationConfig.from_dict({"noise_std": 10.0, "blur_sigma": 1.0})))
    a, b = clean.reset().frame, noisy.reset().frame
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 3
    late = DroneWorld(1008, DroneWorldConfig(perturbations=PerturbationConfig(latency_s=0.2, drop_probability=0.3)))
    observations = [late.reset()] + [late.step(VelocityCommand()) for _ in range(30)]
    assert observations[0].frame is None and observations[1].frame is None
    delivered = [o for o in observations if o.frame is not None]
    assert 0 < len(delivered) < len(observations) - 2
    assert all(o.frame_time == pytest.approx(o.time - 0.2) for o in delivered)
    dim = DroneWorld(1008, DroneWorldConfig(perturbations=PerturbationConfig(light_intensity=0.4)))
    assert dim.reset().frame.mean() < a.mean() - 10
    for w in (clean, noisy, late, dim):
        w.close()


def test_the_chase_camera_shows_the_drone_and_render_false_has_none():
    world = DroneWorld(1009)
    world.reset()
    assert world.render("chase").shape == world.render().shape
    world.close()
    blind = DroneWorld(1009, DroneWorldConfig(render=False))
    assert blind.reset().frame is None
    with pytest.raises(RuntimeError):
        blind.render()
