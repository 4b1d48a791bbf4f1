"""Fly-to-target metrics: did it get there, how fast, how close to things, how often it saw the target.

Kept apart from the physics (dm_control style: the task is not the world). ``update`` is called
once per camera tick with the drone's state and the target as seen from it; ``finish`` records how
the episode ended; ``summary`` gives the report the runner and the benchmark print.
"""

from __future__ import annotations

import math

import numpy as np

from .scene import Scene


class FlightMetrics:
    def __init__(self, scene: Scene, drone_radius: float):
        self.scene = scene
        self.drone_radius = float(drone_radius)
        obstacles = [*scene.obstacles, scene.target_obstacle()]
        self._obstacles = np.array([(o.position[0], o.position[1], o.radius, o.top) for o in obstacles],
                                   dtype=float).reshape(-1, 4)
        self.reset(scene.start_distance)

    def reset(self, start_distance: float) -> None:
        self.start_distance = float(start_distance)
        self.sim_time = 0.0
        self.steps = 0
        self.in_view_steps = 0
        self.path_length = 0.0
        self.max_speed = 0.0
        self.min_clearance = math.inf
        self.final_distance = self.start_distance
        self.final_heading_error = 0.0
        self.final_height_error = 0.0
        self.success = False
        self.collision = False
        self.reason = ""
        self.time_to_target = None
        self._last = None

    def update(self, time: float, state, target, dt: float) -> None:
        """``state``: a DroneState; ``target``: a TargetInfo; ``dt``: seconds since the last update."""
        self.sim_time = float(time)
        self.steps += 1
        self.in_view_steps += bool(target.in_view)
        if self._last is not None:
            self.path_length += math.dist(self._last, (state.x, state.y, state.z))
        self._last = (state.x, state.y, state.z)
        self.max_speed = max(self.max_speed, math.sqrt(state.forward ** 2 + state.left ** 2 + state.up ** 2))
        o = self._obstacles
        relevant = o[:, 3] > state.z - self.drone_radius  # what stands as high as the drone flies
        if relevant.any():
            gaps = np.hypot(o[relevant, 0] - state.x, o[relevant, 1] - state.y) - o[relevant, 2] - self.drone_radius
            self.min_clearance = min(self.min_clearance, float(gaps.min()))
        self.final_distance = target.distance
        self.final_heading_error = abs(target.bearing)
        self.final_height_error = target.height_error

    def finish(self, reason: str, success: bool, collision: bool) -> None:
        self.reason, self.success, self.collision = reason, bool(success), bool(collision)
        if success and self.time_to_target is None:
            self.time_to_target = self.sim_time

    def summary(self, wall_time: float | None = None) -> dict:
        report = {
            "success": self.success,
            "collision": self.collision,
            "reason": self.reason,
            "time_to_target_s": None if self.time_to_target is None else round(self.time_to_target, 3),
            "start_distance_m": round(self.start_distance, 3),
            "final_distance_m": round(self.final_distance, 3),
            "final_heading_error_rad": round(self.final_heading_error, 4),
            "final_height_error_m": round(self.final_height_error, 3),
            "target_in_view_fraction": round(self.in_view_steps / self.steps, 4) if self.steps else None,
            "path_length_m": round(self.path_length, 3),
            "max_speed_mps": round(self.max_speed, 3),
            "min_clearance_m": None if math.isinf(self.min_clearance) else round(self.min_clearance, 3),
            "sim_time_s": round(self.sim_time, 3),
            "domain": self.scene.domain,
            "family": self.scene.family,
        }
        if wall_time is not None:
            report["wall_time_s"] = round(wall_time, 3)
            report["realtime_factor"] = round(self.sim_time / wall_time, 2) if wall_time > 0 else None
        return report
