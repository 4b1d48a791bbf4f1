"""The small interface every world of ``liquid_control.sim`` has, and the one episode loop over it.

A world (``sim.lane.world.LaneWorld``, ``sim.drone.world.DroneWorld``) is a seeded MuJoCo scene
with a camera:

- ``name``: the world's name (``"lane"``, ``"drone"``), and ``label_names``: the command fields a
  policy for it outputs (what training labels are named by);
- ``reset(seed=None) -> observation``: start over in scene ``seed`` (the current one if None);
- ``step(command) -> observation``: hold ``command`` for one camera period (``1 / config.camera_rate_hz``)
  and observe;
- ``metrics``: the task's running metrics, ``metrics.summary(wall_time)`` a JSON-ready dict;
- ``command_from_twist(linear_x, linear_y, linear_z, angular_z)``: a body-frame velocity command
  (what a ROS controller publishes) as the world's command;
- ``render()``, ``close()``, ``seed``, ``time``, and ``config`` with ``camera_width``,
  ``camera_height``, ``camera_fovy_deg``, ``camera_rate_hz``, ``physics_dt`` and
  ``physics_steps_per_frame``.

An observation has at least ``time``, ``frame`` (the delivered camera frame, or None),
``frame_time`` (its capture stamp), ``terminated`` and ``reason``.

A driver has ``name``, ``reset(world)`` and ``act(observation, dt) -> command``; an expert also has
``label``, the clean command a recorder keeps as the training target.

``run_episode`` is the loop both worlds' episode runners share: reset, then act and step until the
task's ``stop`` says why it ends, keeping one trajectory row per observation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np


class World(Protocol):
    name: str
    label_names: tuple[str, ...]
    seed: int | None
    metrics: Any

    def reset(self, seed: int | None = None) -> Any: ...

    def step(self, command: Any) -> Any: ...

    def command_from_twist(self, linear_x: float, linear_y: float, linear_z: float, angular_z: float) -> Any: ...

    def render(self) -> np.ndarray: ...

    def close(self) -> None: ...


class Driver(Protocol):
    name: str

    def reset(self, world: Any) -> None: ...

    def act(self, observation: Any, dt: float) -> Any: ...


@dataclass
class EpisodeRun:
    rows: np.ndarray  # (observations, k): the world's trajectory rows
    stop_reason: str
    wall_time_s: float


def run_episode(world: World, driver: Driver, stop: Callable[[Any], str], row: Callable[[Any], tuple],
                on_step: Callable[[Any, Any], None] | None = None) -> EpisodeRun:
    """Reset ``world`` and ``driver``; then, until ``stop(observation)`` gives a reason, let the
    driver act on the observation (``on_step(observation, command)`` sees both) and step the
    world with its command. ``row(observation)`` is what the trajectory keeps of each."""
    dt = 1.0 / world.config.camera_rate_hz
    observation = world.reset()
    driver.reset(world)
    rows = [row(observation)]
    started = time.perf_counter()
    while not (reason := stop(observation)):
        command = driver.act(observation, dt)
        if on_step is not None:
            on_step(observation, command)
        observation = world.step(command)
        rows.append(row(observation))
    return EpisodeRun(np.asarray(rows, dtype=np.float64), reason, time.perf_counter() - started)
