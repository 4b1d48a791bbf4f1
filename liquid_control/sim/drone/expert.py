"""The expert pilot: privileged state (the scene's target and obstacles), with optional recovery bursts.

Each tick it turns toward the target (yaw rate proportional to the bearing), flies forward at a
speed that falls linearly to zero at ``stop_distance_m`` (and while the target is far off the
nose), holds the target's altitude, and sidesteps obstacles ahead: every obstacle standing as
high as the drone within ``lookahead_m`` ahead and within its footprint plus ``clearance_m`` of
the flight line pushes the drone sideways, away from it, harder the closer it is.

Recovery bursts teach a learner to come back: now and then the executed command gets a random
yaw-rate, sideways or vertical offset for a moment, while ``label`` keeps the expert's own clean
command. Record ``label`` as the training target, never the perturbed command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .autopilot import VelocityCommand
from .world import DroneWorld, Observation


@dataclass(frozen=True)
class RecoveryConfig:
    rate_hz: float = 0.0  # expected bursts per second of flight (0 = off)
    min_duration_s: float = 0.4
    max_duration_s: float = 1.2
    max_yaw_rate_offset: float = 0.6  # rad/s, drawn from +-[max/3, max]
    max_lateral_offset_mps: float = 0.8
    max_vertical_offset_mps: float = 0.4

    def validate(self) -> None:
        if (self.rate_hz < 0 or not 0 < self.min_duration_s <= self.max_duration_s
                or min(self.max_yaw_rate_offset, self.max_lateral_offset_mps, self.max_vertical_offset_mps) < 0):
            raise ValueError(f"invalid recovery settings {self}: need rate >= 0, 0 < min <= max duration, offsets >= 0")


class DroneExpert:
    name = "expert"

    def __init__(self, speed: float = 2.5, yaw_gain: float = 2.0, approach_gain: float = 0.9,
                 stop_distance_m: float = 1.0, altitude_gain: float = 1.2, lookahead_m: float = 6.0,
                 clearance_m: float = 0.9, avoid_gain: float = 1.5, recovery: RecoveryConfig | None = None):
        if not speed > 0:
            raise ValueError(f"expert speed must be > 0, got {speed}")
        self.speed = float(speed)
        self.yaw_gain = float(yaw_gain)
        self.approach_gain = float(approach_gain)
        self.stop_distance_m = float(stop_distance_m)
        self.altitude_gain = float(altitude_gain)
        self.lookahead_m = float(lookahead_m)
        self.clearance_m = float(clearance_m)
        self.avoid_gain = float(avoid_gain)
        self.recovery = recovery or RecoveryConfig()
        self.recovery.validate()
        self._obstacles = None

    def reset(self, world: DroneWorld) -> None:
        """Fly ``world``'s scene; bursts are drawn from a generator seeded by the scene seed."""
        scene = world.scene
        self.limits = world.config.limits
        self.drone_radius = world.config.quad.collision_radius
        self.target = scene.target
        self._obstacles = np.array([(o.position[0], o.position[1], o.radius, o.top) for o in scene.obstacles],
                                   dtype=float).reshape(-1, 4)
        self._rng = np.random.default_rng([world.seed, 0xD7])
        self._burst_left = 0.0
        self._burst = VelocityCommand()
        self.label = VelocityCommand()
        self.perturbed = False

    def pilot(self, observation: Observation) -> VelocityCommand:
        """The clean command for the drone's current state."""
        state, target = observation.state, observation.target
        limits = self.limits
        yaw_rate = _clip(self.yaw_gain * target.bearing, limits.max_yaw_rate)
        facing = max(0.0, math.cos(target.bearing)) ** 4  # slow down while the target is off the nose
        forward = min(self.speed, self.approach_gain * max(target.distance - self.stop_distance_m, 0.0)) * facing
        up = _clip(self.altitude_gain * target.height_error, limits.max_climb_mps)
        left = 0.0
        if len(self._obstacles):
            o = self._obstacles
            c, s = math.cos(state.yaw), math.sin(state.yaw)
            dx, dy = o[:, 0] - state.x, o[:, 1] - state.y
            ahead = c * dx + s * dy
            side = -s * dx + c * dy  # + = obstacle to the left
            reach = o[:, 2] + self.drone_radius + self.clearance_m
            near = (ahead > -0.5) & (ahead < min(self.lookahead_m, target.distance)) & (np.abs(side) < reach) \
                & (o[:, 3] > state.z - self.drone_radius - 0.3)
            if near.any():
                depth = reach[near] - np.abs(side[near])  # how far into the keep-out band the line is
                closeness = 1.0 - np.clip(ahead[near], 0.0, None) / self.lookahead_m
                push = -np.sign(side[near] + 1e-9) * depth * closeness
                left = float(self.avoid_gain * push.sum())
                forward *= max(0.3, 1.0 - 0.5 * float(np.max(depth * closeness)))
        left = _clip(left, limits.max_horizontal_mps * 0.8)
        command, _ = VelocityCommand(forward, left, up, yaw_rate).clamped(limits)
        return command

    def act(self, observation: Observation, dt: float) -> VelocityCommand:
        if self._obstacles is None:
            raise RuntimeError("call reset(world) before act()")
        self.label = self.pilot(observation)
        recovery = self.recovery
        if self._burst_left <= 0 and recovery.rate_hz > 0 and self._rng.random() < recovery.rate_hz * dt:
            self._burst_left = self._rng.uniform(recovery.min_duration_s, recovery.max_duration_s)
            kind = int(self._rng.integers(3))
            sign = self._rng.choice((-1.0, 1.0))
            fraction = self._rng.uniform(1 / 3, 1.0)
            self._burst = VelocityCommand(
                left=sign * fraction * recovery.max_lateral_offset_mps if kind == 1 else 0.0,
                up=sign * fraction * recovery.max_vertical_offset_mps if kind == 2 else 0.0,
                yaw_rate=sign * fraction * recovery.max_yaw_rate_offset if kind == 0 else 0.0)
        self.perturbed = self._burst_left > 0
        if self.perturbed:
            self._burst_left -= dt
            b = self._burst
            command, _ = VelocityCommand(self.label.forward, self.label.left + b.left, self.label.up + b.up,
                                         self.label.yaw_rate + b.yaw_rate).clamped(self.limits)
            return command
        return self.label


def _clip(value: float, limit: float) -> float:
    return min(max(value, -limit), limit)
