"""Episodes from the simulated worlds: an expert drives (or flies) and every delivered frame is kept.

The fast path to training data, with no ROS in between: ``simulate_episode(seed, world=...)`` runs
the world's expert in scene ``seed`` and returns an ``Episode`` whose labels are the expert's
*clean* command, named by the world's ``label_names``, while ``meta['executed']`` holds what the
robot executed (perturbed during recovery bursts). ``SIMULATORS`` holds the worlds' episode
makers by the name a task's ``simulator`` gives.
"""

from __future__ import annotations

import math

import numpy as np

from liquid_control.data.episodes import Episode


def simulate_episode(seed: int, world: str = "lane", distance_m: float = 150.0, speed: float = 3.0,
                     recovery_rate_hz: float = 0.3, perturbations: dict | None = None,
                     camera_rate_hz: float | None = None, domain: str | None = None,
                     start_distance_m: tuple[float, float] | None = None) -> Episode:
    """One expert episode in ``world`` scene ``seed``.

    lane: the pure-pursuit expert drives ``distance_m`` at ``speed``; labels are curvatures.
    drone: the expert flies to the target from ``start_distance_m`` (the world's range by default)
    in ``domain`` (default: the training domain); labels are the body-frame twist fields.
    ``recovery_rate_hz`` is the expert's recovery bursts per second, ``perturbations`` the camera's.
    """
    from liquid_control.tasks import load_task

    task = load_task(world)
    if task.simulator not in SIMULATORS:
        raise ValueError(f"task {task.name!r} has no simulator; the simulated tasks are {', '.join(SIMULATORS)}")
    return SIMULATORS[task.simulator](seed, distance_m=distance_m, speed=speed, recovery_rate_hz=recovery_rate_hz,
                                      perturbations=perturbations,
                                      camera_rate_hz=camera_rate_hz or task.camera_rate_hz,
                                      domain=domain, start_distance_m=start_distance_m)


def simulate_episodes(seeds, world: str = "lane", distance_m: float = 150.0, speed: float = 3.0,
                      recovery_rate_hz: float = 0.3, perturbations: dict | None = None, domain: str | None = None,
                      jobs: int = 1, progress: bool = True) -> list[Episode]:
    """The expert's episodes in ``world``, one per seed (in order), over ``jobs`` processes."""
    from functools import partial

    from tqdm import tqdm

    make = partial(simulate_episode, world=world, distance_m=distance_m, speed=speed, recovery_rate_hz=recovery_rate_hz,
                   perturbations=perturbations, domain=domain)
    seeds = list(seeds)
    bar = dict(total=len(seeds), desc=f"expert in {world}", unit="episode", disable=not progress)
    if jobs <= 1:
        return [make(seed) for seed in tqdm(seeds, **bar)]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    # spawn: each worker builds its own MuJoCo and EGL state, nothing inherited half-made by fork.
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
        return list(tqdm(pool.map(make, seeds), **bar))


class _Recorder:
    """Keeps each delivered frame with the expert's clean label and the executed command."""

    def __init__(self, driver, values):
        self.driver, self.values = driver, values
        self.frames, self.stamps, self.labels, self.executed = [], [], [], []

    def __call__(self, observation, command) -> None:
        if observation.frame is None:
            return
        self.frames.append(observation.frame)
        self.stamps.append(observation.frame_time)
        self.labels.append(self.values(self.driver.label))
        self.executed.append(self.values(command))

    def episode(self, name: str, label_names: tuple[str, ...], meta: dict) -> Episode:
        if not self.frames:
            raise ValueError(f"{name}: the camera delivered no frame")
        return Episode(name=name, frames=np.stack(self.frames), stamps=np.asarray(self.stamps, dtype=np.float64),
                       labels=np.asarray(self.labels, dtype=np.float32), label_names=label_names,
                       meta={**meta, "executed": np.asarray(self.executed, dtype=np.float32)})


def _lane_episode(seed, *, distance_m, speed, recovery_rate_hz, perturbations, camera_rate_hz, **_) -> Episode:
    """The pure-pursuit expert drives ``distance_m`` at ``speed`` (lane worlds have no domain or start distance)."""
    from liquid_control.sim.lane.drive import drive
    from liquid_control.sim.lane.expert import ExpertDriver, RecoveryConfig
    from liquid_control.sim.lane.world import LaneWorld, WorldConfig
    from liquid_control.sim.perturbations import PerturbationConfig

    config = WorldConfig(perturbations=PerturbationConfig.from_dict(perturbations or {}), camera_rate_hz=camera_rate_hz)
    world = LaneWorld(seed, config)
    driver = ExpertDriver(config.car, speed=speed, recovery=RecoveryConfig(rate_hz=recovery_rate_hz))
    wheelbase = config.car.wheelbase
    recorder = _Recorder(driver, lambda command: [math.tan(command.steering) / wheelbase])
    try:
        report = drive(world, driver, distance_m, on_step=recorder).report
    finally:
        world.close()
    return recorder.episode(f"sim-{seed}", world.label_names,
                            {"source": "simulator", "world": "lane", "seed": seed, "family": world.track.family,
                             "speed_mps": speed, "recovery_rate_hz": recovery_rate_hz,
                             "perturbations": perturbations or {}, "report": report})


def drone_config(domain: str | None = None, perturbations: dict | None = None, camera_rate_hz: float | None = None,
                 start_distance_m: tuple[float, float] | None = None, wind_gust_n: float = 0.0, distractors: int = 0):
    """A ``DroneWorldConfig`` from the few settings a user changes (the rest: the world's defaults)."""
    from dataclasses import replace

    from liquid_control.sim.drone.scene import TRAINING_DOMAIN
    from liquid_control.sim.drone.world import DroneWorldConfig
    from liquid_control.sim.perturbations import PerturbationConfig

    config = DroneWorldConfig(domain=domain or TRAINING_DOMAIN,
                              perturbations=PerturbationConfig.from_dict(perturbations or {}),
                              wind_gust_n=float(wind_gust_n))
    if camera_rate_hz is not None:
        config = replace(config, camera_rate_hz=float(camera_rate_hz))
    scene = config.scene
    if start_distance_m is not None:
        scene = replace(scene, start_distance_m=tuple(float(v) for v in start_distance_m))
    if distractors:
        scene = replace(scene, distractors=int(distractors))
    config = replace(config, scene=scene)
    config.validate()
    return config


def _drone_episode(seed, *, recovery_rate_hz, perturbations, camera_rate_hz, domain, start_distance_m, **_) -> Episode:
    """The expert flies to the target (a flight ends there: no distance or speed to give)."""
    from liquid_control.sim.drone.expert import DroneExpert, RecoveryConfig
    from liquid_control.sim.drone.fly import fly
    from liquid_control.sim.drone.world import DroneWorld

    config = drone_config(domain, perturbations, camera_rate_hz, start_distance_m)
    world = DroneWorld(seed, config)
    pilot = DroneExpert(recovery=RecoveryConfig(rate_hz=recovery_rate_hz))
    recorder = _Recorder(pilot, lambda command: list(command.to_twist()))
    try:
        report = fly(world, pilot, on_step=recorder).report
    finally:
        world.close()
    return recorder.episode(f"drone-{config.domain}-{seed}", world.label_names,
                            {"source": "simulator", "world": "drone", "seed": seed, "domain": config.domain,
                             "family": world.scene.family, "recovery_rate_hz": recovery_rate_hz,
                             "perturbations": perturbations or {}, "report": report})


SIMULATORS = {"lane": _lane_episode, "drone": _drone_episode}
