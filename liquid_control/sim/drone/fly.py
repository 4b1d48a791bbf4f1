"""Flight episodes: a pilot in the drone world until the task ends, with the metrics report.

A pilot is anything with ``name``, ``reset(world)`` and ``act(observation, dt) -> VelocityCommand``:
the expert here, a liquid-network policy later. ``label`` (optional) is the command a recorder
should store as the training target. The loop is ``sim.interface.run_episode``; the world itself
ends every episode (success, collision, leaving the area, the time limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..interface import run_episode
from .autopilot import VelocityCommand
from .world import DroneWorld, Observation

TRAJECTORY_COLUMNS = ("time", "x", "y", "z", "yaw", "distance")


@dataclass
class FlightResult:
    report: dict
    trajectory: np.ndarray  # (observations, 6): TRAJECTORY_COLUMNS


def fly(world: DroneWorld, pilot,
        on_step: Callable[[Observation, VelocityCommand], None] | None = None) -> FlightResult:
    """Reset the world and ``pilot`` and fly until the world terminates the episode."""
    run = run_episode(world, pilot, _stop_reason, _row, on_step)
    report = {
        "world": world.name,
        "domain": world.config.domain,
        "seed": world.seed,
        "family": world.scene.family,
        "driver": pilot.name,
        **world.metrics.summary(run.wall_time_s),
        "time_limit_s": round(world.time_limit_s, 3),
        "stop_reason": run.stop_reason,
    }
    return FlightResult(report, run.rows)


def _stop_reason(observation: Observation) -> str:
    return observation.reason if observation.terminated else ""


def _row(observation: Observation) -> tuple:
    s = observation.state
    return (observation.time, s.x, s.y, s.z, s.yaw, observation.target.distance)
