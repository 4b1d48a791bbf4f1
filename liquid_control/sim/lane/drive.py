"""Driving episodes: a driver in the world until a distance is covered, with the metrics report.

A driver is anything with ``name``, ``reset(world)`` and ``act(observation, dt) -> Command`` (see
``sim.interface``): the expert here, a liquid-network policy (``train.model_driver.ModelDriver``).
``label`` (optional) is the command a recorder should store as the training target.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..interface import Driver, run_episode
from .car import Command
from .world import LaneWorld, Observation


@dataclass
class DriveResult:
    report: dict
    trajectory: np.ndarray  # (steps, 4): time, x, y, lateral error


def drive(world: LaneWorld, driver: Driver, distance_m: float, max_sim_time_s: float | None = None,
          on_step: Callable[[Observation, Command], None] | None = None) -> DriveResult:
    """Reset the world and ``driver``, then drive until ``distance_m`` along the lane, a termination
    (off the road, end of an open road) or ``max_sim_time_s`` (default: long enough for 0.5 m/s)."""
    max_sim_time_s = _time_limit(distance_m, max_sim_time_s)
    run = run_episode(world, driver, lambda observation: _stop_reason(world, observation, distance_m, max_sim_time_s),
                      _row, on_step)
    return DriveResult(_report(world, driver.name, run.wall_time_s, run.stop_reason), run.rows)


def drive_fleet(worlds: list[LaneWorld], driver, distance_m: float,
                max_sim_time_s: float | None = None) -> list[DriveResult]:
    """``drive`` for many worlds at once, with a fleet driver (``act_all(observations, active)``)
    that decides every car's command in one call. Each world stops on its own conditions; the
    reports carry the fleet's wall time."""
    max_sim_time_s = _time_limit(distance_m, max_sim_time_s)
    observations = [world.reset() for world in worlds]
    driver.reset(worlds)
    rows = [[_row(observation)] for observation in observations]
    reasons = [""] * len(worlds)
    started = time.perf_counter()
    while True:
        for i, (world, observation) in enumerate(zip(worlds, observations)):
            if not reasons[i]:
                reasons[i] = _stop_reason(world, observation, distance_m, max_sim_time_s)
        active = [not reason for reason in reasons]
        if not any(active):
            break
        commands = driver.act_all(observations, active)
        for i, world in enumerate(worlds):
            if active[i]:
                observations[i] = world.step(commands[i])
                rows[i].append(_row(observations[i]))
    wall = time.perf_counter() - started
    return [DriveResult({**_report(world, driver.name, wall, reason), "fleet": len(worlds)},
                        np.asarray(track, dtype=np.float64))
            for world, reason, track in zip(worlds, reasons, rows)]


def _time_limit(distance_m: float, max_sim_time_s: float | None) -> float:
    if distance_m <= 0:
        raise ValueError(f"distance_m must be > 0, got {distance_m}")
    return max_sim_time_s if max_sim_time_s is not None else max(60.0, distance_m / 0.5)


def _row(observation: Observation) -> tuple:
    return (observation.time, observation.car.x, observation.car.y, observation.check.lateral_error)


def _stop_reason(world: LaneWorld, observation: Observation, distance_m: float, max_sim_time_s: float) -> str:
    """Why the drive ends now ('' while it goes on)."""
    if world.metrics.distance >= distance_m:
        return "distance reached"
    if observation.terminated:
        return observation.reason
    if observation.time >= max_sim_time_s:
        return "time limit"
    return ""


def _report(world: LaneWorld, driver_name: str, wall: float, stop_reason: str) -> dict:
    return {
        "driver": driver_name,
        "seed": world.seed,
        "family": world.track.family,
        "track_length_m": round(world.track.length, 2),
        "closed_track": world.track.closed,
        **world.metrics.summary(wall),
        "stop_reason": stop_reason,
    }
