"""Driving episodes: a driver in the world until a distance is covered, with the metrics report.

A driver is anything with ``name``, ``reset(world)`` and ``act(observation, dt) -> Command``: the
expert here, a liquid-network policy later. ``label`` (optional) is the command a recorder
should store as the training target.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from .car import Command
from .world import LaneWorld, Observation


class Driver(Protocol):
    name: str

    def reset(self, world: LaneWorld) -> None: ...

    def act(self, observation: Observation, dt: float) -> Command: ...


@dataclass
class DriveResult:
    report: dict
    trajectory: np.ndarray  # (steps, 4): time, x, y, lateral error


def drive(world: LaneWorld, driver: Driver, distance_m: float, max_sim_time_s: float | None = None,
          on_step: Callable[[Observation, Command], None] | None = None) -> DriveResult:
    """Reset the world and ``driver``, then drive until ``distance_m`` along the lane, a termination
    (off the road, end of an open road) or ``max_sim_time_s`` (default: long enough for 0.5 m/s)."""
    if distance_m <= 0:
        raise ValueError(f"distance_m must be > 0, got {distance_m}")
    max_sim_time_s = max_sim_time_s if max_sim_time_s is not None else max(60.0, distance_m / 0.5)
    dt = 1.0 / world.config.camera_rate_hz
    observation = world.reset()
    driver.reset(world)
    rows = [(observation.time, observation.car.x, observation.car.y, observation.check.lateral_error)]
    started = time.perf_counter()
    stop_reason = "distance reached"
    while world.metrics.distance < distance_m:
        if observation.terminated:
            stop_reason = observation.reason
            break
        if observation.time >= max_sim_time_s:
            stop_reason = "time limit"
            break
        command = driver.act(observation, dt)
        if on_step is not None:
            on_step(observation, command)
        observation = world.step(command)
        rows.append((observation.time, observation.car.x, observation.car.y, observation.check.lateral_error))
    wall = time.perf_counter() - started
    report = {
        "driver": driver.name,
        "seed": world.seed,
        "family": world.track.family,
        "track_length_m": round(world.track.length, 2),
        "closed_track": world.track.closed,
        **world.metrics.summary(wall),
        "stop_reason": stop_reason,
    }
    return DriveResult(report, np.asarray(rows, dtype=np.float64))
