"""Lane-keeping metrics: how far, how centred, how often out of the lane.

Kept apart from the physics (dm_control style: the task is not the world). ``update`` is called
once per control tick with the car's pose; ``summary`` gives the report the CLI and benchmarks
print.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .car import CarSpec
from .track import LanePosition, Track


def wrap_angle(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


@dataclass(frozen=True)
class LaneCheck:
    """The car relative to its lane at one instant."""

    lateral_error: float  # m, car centre from lane centre, positive = left of it
    heading_error: float  # rad, car yaw minus track heading
    wheels_out: bool  # a wheel is over a lane line (edge line or centre line)
    offroad: bool  # the car centre is off the asphalt by more than the margin


def check_lane(track: Track, car: CarSpec, x: float, y: float, yaw: float, lane: LanePosition,
               offroad_margin: float) -> LaneCheck:
    cos_yaw, sin_yaw = math.cos(yaw), math.sin(yaw)
    # Lateral positions of the wheels from the road centre line, along the local normal
    # (plain floats: four wheels do not pay for numpy's per-call overhead).
    centre_x, centre_y = track.points[lane.index]
    normal_x, normal_y = track.normal[lane.index]
    half = car.wheel_width / 2
    wheels_out = False
    for forward, left in car.wheel_offsets().tolist():
        wheel_x = x + forward * cos_yaw - left * sin_yaw
        wheel_y = y + forward * sin_yaw + left * cos_yaw
        road_lateral = (wheel_x - centre_x) * normal_x + (wheel_y - centre_y) * normal_y
        # The driven lane lies between the edge line (at -lane_width) and the centre line (at 0).
        if road_lateral - half < -track.lane_width or road_lateral + half > 0.0:
            wheels_out = True
    offroad = abs(lane.road_lateral) > track.road_half_width + offroad_margin
    return LaneCheck(lane.lateral, wrap_angle(yaw - lane.heading), wheels_out, offroad)


class LaneMetrics:
    def __init__(self, track: Track):
        self.track = track
        self.reset(None)

    def reset(self, lane: LanePosition | None) -> None:
        self._index = None if lane is None else lane.index
        self.distance = 0.0
        self.sim_time = 0.0
        self.steps = 0
        self._abs_lateral_sum = 0.0
        self._sq_lateral_sum = 0.0
        self.max_abs_lateral = 0.0
        self._abs_heading_sum = 0.0
        self.max_abs_heading = 0.0
        self.departures = 0
        self.time_out_of_lane = 0.0
        self._was_out = False
        self.offroad = False

    def update(self, lane: LanePosition, check: LaneCheck, dt: float) -> None:
        if self._index is not None:
            self.distance += self.track.progress(self._index, lane.index)
        self._index = lane.index
        self.sim_time += dt
        self.steps += 1
        lateral = abs(check.lateral_error)
        self._abs_lateral_sum += lateral
        self._sq_lateral_sum += lateral * lateral
        self.max_abs_lateral = max(self.max_abs_lateral, lateral)
        heading = abs(check.heading_error)
        self._abs_heading_sum += heading
        self.max_abs_heading = max(self.max_abs_heading, heading)
        if check.wheels_out:
            self.time_out_of_lane += dt
            if not self._was_out:
                self.departures += 1  # a departure is an event: counted when a wheel first crosses
        self._was_out = check.wheels_out
        self.offroad = self.offroad or check.offroad

    def summary(self, wall_time: float | None = None) -> dict:
        n = max(self.steps, 1)
        report = {
            "distance_m": round(self.distance, 3),
            "laps": round(self.distance / self.track.length, 3) if self.track.closed else None,
            "sim_time_s": round(self.sim_time, 3),
            "mean_abs_lateral_m": round(self._abs_lateral_sum / n, 4),
            "rms_lateral_m": round(math.sqrt(self._sq_lateral_sum / n), 4),
            "max_abs_lateral_m": round(self.max_abs_lateral, 4),
            "mean_abs_heading_error_rad": round(self._abs_heading_sum / n, 4),
            "max_abs_heading_error_rad": round(self.max_abs_heading, 4),
            "departures": self.departures,
            "time_out_of_lane_s": round(self.time_out_of_lane, 3),
            "offroad": self.offroad,
        }
        if wall_time is not None:
            report["wall_time_s"] = round(wall_time, 3)
            report["realtime_factor"] = round(self.sim_time / wall_time, 2) if wall_time > 0 else None
        return report
