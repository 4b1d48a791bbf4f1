"""The expert driver: pure pursuit on the ground-truth lane centre, with optional recovery bursts.

Pure pursuit steers the rear axle onto a circle through a point on the lane centre one
look-ahead distance ahead: ``steer = atan(2 L sin(alpha) / d)``, with ``alpha`` the bearing of
that point from the car's heading and ``d`` its distance. The look-ahead grows with speed.

Recovery bursts teach a learner how to come back to the lane: now and then the executed steering
is pushed off by a random offset for a moment, while ``label`` keeps the expert's own corrective
command. Record ``label`` as the training target, never the perturbed command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .car import CarSpec, Command
from .track import Track
from .world import LaneWorld, Observation


@dataclass(frozen=True)
class RecoveryConfig:
    rate_hz: float = 0.0  # expected bursts per second of driving (0 = off)
    min_duration_s: float = 0.3
    max_duration_s: float = 0.9
    max_offset_rad: float = 0.15  # steering added during a burst, drawn from +-[max/3, max]

    def validate(self) -> None:
        if self.rate_hz < 0 or not 0 < self.min_duration_s <= self.max_duration_s or self.max_offset_rad < 0:
            raise ValueError(f"invalid recovery settings {self}: need rate >= 0, 0 < min <= max duration, offset >= 0")


class ExpertDriver:
    name = "expert"

    def __init__(self, car: CarSpec, speed: float = 3.0, lookahead_gain: float = 0.45, min_lookahead: float = 0.9,
                 recovery: RecoveryConfig | None = None):
        if not 0 < speed <= car.max_speed:
            raise ValueError(f"expert speed must be in (0, {car.max_speed}] m/s, got {speed}")
        self.car = car
        self.speed = float(speed)
        self.lookahead_gain = float(lookahead_gain)
        self.min_lookahead = float(min_lookahead)
        self.recovery = recovery or RecoveryConfig()
        self.recovery.validate()
        self.track: Track | None = None

    def reset(self, world: LaneWorld) -> None:
        """Follow ``world``'s track; bursts are drawn from a generator seeded by the track seed."""
        self.track = world.track
        self._rng = np.random.default_rng([world.seed, 0xE4])
        self._burst_left = 0.0
        self._burst_offset = 0.0
        self.label = Command()
        self.perturbed = False

    def pursue(self, observation: Observation) -> Command:
        """The clean pure-pursuit command for the car's current pose."""
        track = self.track
        car = observation.car
        lookahead = max(self.min_lookahead, self.lookahead_gain * max(car.speed, self.speed))
        rear_x = car.x - math.cos(car.yaw) * self.car.wheelbase / 2
        rear_y = car.y - math.sin(car.yaw) * self.car.wheelbase / 2
        index = observation.lane.index + int(round(lookahead / track.ds))
        index = index % len(track.points) if track.closed else min(index, len(track.points) - 1)
        target_x, target_y = track.lane_centre[index]
        dx, dy = target_x - rear_x, target_y - rear_y
        alpha = math.atan2(dy, dx) - car.yaw
        distance = max(math.hypot(dx, dy), 1e-3)
        steering = math.atan2(2.0 * self.car.wheelbase * math.sin(alpha), distance)
        # Within the car's steering range: the label a learner copies must be a command the car can do.
        return Command(self.speed, min(max(steering, -self.car.max_steer), self.car.max_steer))

    def act(self, observation: Observation, dt: float) -> Command:
        if self.track is None:
            raise RuntimeError("call reset(world) before act()")
        self.label = self.pursue(observation)
        recovery = self.recovery
        if self._burst_left <= 0 and recovery.rate_hz > 0 and self._rng.random() < recovery.rate_hz * dt:
            self._burst_left = self._rng.uniform(recovery.min_duration_s, recovery.max_duration_s)
            magnitude = self._rng.uniform(recovery.max_offset_rad / 3, recovery.max_offset_rad)
            self._burst_offset = magnitude * self._rng.choice((-1.0, 1.0))
        self.perturbed = self._burst_left > 0
        if self.perturbed:
            self._burst_left -= dt
            return Command(self.label.speed, self.label.steering + self._burst_offset)
        return self.label
