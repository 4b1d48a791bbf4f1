"""The velocity autopilot: what a PX4 offboard or DJI joystick velocity mode does with a twist.

A command is a body-frame velocity (REP 103: forward, left, up) and a yaw rate. Forward/left are
taken in the *heading frame* (the body frame with roll and pitch removed, yaw only), so a level
"forward" never digs into the ground when the drone pitches to accelerate. The cascade, run at
the physics rate:

1. the command, rotated by the current heading into the world, minus the velocity gives the
   velocity error; a PI law plus gravity and a drag feed-forward gives the desired acceleration;
2. the acceleration times the mass is the thrust vector; its horizontal part is limited so the
   tilt stays within ``max_tilt_deg``; its direction is the desired body z axis (roll/pitch);
3. an attitude PD law turns the axis error (current z cross desired z, in the body frame) into
   roll/pitch torques, and the yaw rate error into a yaw torque; the collective thrust is the
   thrust vector along the current body z;
4. the mixer inverts the rotor allocation; when a rotor would leave 0..max thrust, yaw authority
   is given up first, then the thrusts are clipped.

Plain Python floats throughout: on 3-vectors, numpy's per-call overhead would cost more than the
physics step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from .quadrotor import GRAVITY, QuadSpec

# Velocity errors are clipped to this before they are integrated (m/s).
INTEGRAL_BAND_MPS = 0.2


@dataclass(frozen=True)
class VelocityLimits:
    max_horizontal_mps: float = 3.0  # magnitude of (forward, left)
    max_climb_mps: float = 1.5  # |up|
    max_yaw_rate: float = 1.5  # rad/s
    max_tilt_deg: float = 25.0

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"limits.{f.name} must be a finite number > 0, got {value!r}")
        if not self.max_tilt_deg < 60:
            raise ValueError(f"limits.max_tilt_deg must be < 60, got {self.max_tilt_deg}")


@dataclass(frozen=True)
class VelocityCommand:
    """Body-frame velocity (m/s; forward, left, up, in the heading frame) and yaw rate (rad/s, + = left)."""

    forward: float = 0.0
    left: float = 0.0
    up: float = 0.0
    yaw_rate: float = 0.0

    @staticmethod
    def from_twist(linear_x: float, linear_y: float, linear_z: float, angular_z: float) -> "VelocityCommand":
        return VelocityCommand(float(linear_x), float(linear_y), float(linear_z), float(angular_z))

    def to_twist(self) -> tuple[float, float, float, float]:
        """(linear.x, linear.y, linear.z, angular.z): the world's label_names order."""
        return self.forward, self.left, self.up, self.yaw_rate

    def clamped(self, limits: VelocityLimits) -> tuple["VelocityCommand", list[str]]:
        """The command within ``limits`` and what had to change (non-finite values become 0).

        The horizontal velocity is scaled as a vector, keeping its direction."""
        problems = []
        values = {}
        for name in ("forward", "left", "up", "yaw_rate"):
            value = getattr(self, name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                problems.append(f"{name} {value!r} is not a number")
                value = 0.0
            if not math.isfinite(value):
                problems.append(f"{name} {value} is not finite")
                value = 0.0
            values[name] = value
        forward, left = values["forward"], values["left"]
        speed = math.hypot(forward, left)
        if speed > limits.max_horizontal_mps:
            scale = limits.max_horizontal_mps / speed
            problems.append(f"horizontal speed {speed:.3g} m/s clamped to {limits.max_horizontal_mps:.3g}")
            forward, left = forward * scale, left * scale
        up = min(max(values["up"], -limits.max_climb_mps), limits.max_climb_mps)
        if up != values["up"]:
            problems.append(f"up {values['up']:.3g} m/s clamped to {up:.3g}")
        yaw_rate = min(max(values["yaw_rate"], -limits.max_yaw_rate), limits.max_yaw_rate)
        if yaw_rate != values["yaw_rate"]:
            problems.append(f"yaw_rate {values['yaw_rate']:.3g} rad/s clamped to {yaw_rate:.3g}")
        return VelocityCommand(forward, left, up, yaw_rate), problems


@dataclass(frozen=True)
class AutopilotGains:
    velocity_p_xy: float = 2.5  # 1/s: acceleration per m/s of horizontal velocity error
    velocity_p_z: float = 3.0  # 1/s
    velocity_i: float = 0.5  # 1/s^2: integral of the velocity error (wind, model error)
    integral_limit: float = 2.0  # m/s^2 per axis
    attitude_p: float = 90.0  # 1/s^2: angular acceleration per rad of tilt error
    rate_d: float = 14.0  # 1/s: roll/pitch rate damping
    yaw_rate_p: float = 6.0  # 1/s: yaw angular acceleration per rad/s of yaw-rate error

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"autopilot.{f.name} must be a finite number >= 0, got {value!r}")
        for name in ("velocity_p_xy", "velocity_p_z", "attitude_p", "rate_d", "yaw_rate_p"):
            if getattr(self, name) == 0:
                raise ValueError(f"autopilot.{name} must be > 0")


class Autopilot:
    """Velocity command + true state -> four rotor thrust commands (N), once per physics step."""

    def __init__(self, quad: QuadSpec, limits: VelocityLimits, gains: AutopilotGains, dt: float):
        self.quad, self.limits, self.gains, self.dt = quad, limits, gains, float(dt)
        self._tan_tilt = math.tan(math.radians(limits.max_tilt_deg))
        self._drag_per_mass = quad.drag_coefficient / quad.mass
        inverse = _inverse4(quad.allocation().tolist())
        self._mix = [tuple(row) for row in inverse]  # thrust_i = sum_j mix[i][j] * (T, tx, ty, tz)[j]
        self.reset()

    def reset(self) -> None:
        self._ix = self._iy = self._iz = 0.0

    def update(self, command: VelocityCommand, rotation: list[float], velocity: list[float],
               angular_velocity: list[float]) -> list[float]:
        """``rotation``: body-to-world matrix, row-major (MuJoCo xmat); ``velocity``: world frame;
        ``angular_velocity``: body frame (MuJoCo free-joint qvel[3:6]). ``command`` already clamped."""
        g = self.gains
        quad = self.quad
        r00, r01, r02, r10, r11, r12, r20, r21, r22 = rotation
        vx, vy, vz = velocity
        wx, wy, wz = angular_velocity
        # 1. velocity error in the world, the command rotated from the heading frame
        norm = math.hypot(r00, r10) or 1.0
        c, s = r00 / norm, r10 / norm
        dvx = c * command.forward - s * command.left
        dvy = s * command.forward + c * command.left
        dvz = command.up
        ex, ey, ez = dvx - vx, dvy - vy, dvz - vz
        # The integral only learns from small errors (a steady push: wind, model error); a large
        # error is a transient the P term handles, and integrating it would wind up an overshoot.
        lim, step, band = g.integral_limit, g.velocity_i * self.dt, INTEGRAL_BAND_MPS
        self._ix = min(max(self._ix + step * min(max(ex, -band), band), -lim), lim)
        self._iy = min(max(self._iy + step * min(max(ey, -band), band), -lim), lim)
        self._iz = min(max(self._iz + step * min(max(ez, -band), band), -lim), lim)
        k = self._drag_per_mass
        ax = g.velocity_p_xy * ex + self._ix + k * dvx
        ay = g.velocity_p_xy * ey + self._iy + k * dvy
        az = g.velocity_p_z * ez + self._iz + k * dvz + GRAVITY
        # 2. thrust direction, tilt-limited
        az = min(max(az, 0.3 * GRAVITY), 1.8 * GRAVITY)
        horizontal = math.hypot(ax, ay)
        allowed = az * self._tan_tilt
        if horizontal > allowed:
            ax, ay = ax * allowed / horizontal, ay * allowed / horizontal
        size = math.sqrt(ax * ax + ay * ay + az * az)
        bx, by, bz = ax / size, ay / size, az / size  # desired body z, world frame
        # 3. attitude: rotate the current body z (r02, r12, r22) onto the desired one
        cx = r12 * bz - r22 * by
        cy = r22 * bx - r02 * bz
        cz = r02 * by - r12 * bx
        ex_b = r00 * cx + r10 * cy + r20 * cz  # into the body frame (R^T c)
        ey_b = r01 * cx + r11 * cy + r21 * cz
        ixx, iyy, izz = quad.inertia
        tau_x = ixx * (g.attitude_p * ex_b - g.rate_d * wx) + (izz - iyy) * wy * wz
        tau_y = iyy * (g.attitude_p * ey_b - g.rate_d * wy) + (ixx - izz) * wx * wz
        tau_z = izz * g.yaw_rate_p * (command.yaw_rate - wz)
        thrust = quad.mass * (ax * r02 + ay * r12 + az * r22)
        thrust = min(max(thrust, 0.0), 4 * quad.max_thrust_n)
        # 4. mixer, giving up yaw first
        top = quad.max_thrust_n
        base = [m[0] * thrust + m[1] * tau_x + m[2] * tau_y for m in self._mix]
        yaw = [m[3] * tau_z for m in self._mix]
        scale = 1.0
        for b, y in zip(base, yaw):
            if y > 0 and b + y > top:
                scale = min(scale, max(top - b, 0.0) / y)
            elif y < 0 and b + y < 0:
                scale = min(scale, max(b, 0.0) / -y)
        return [min(max(b + scale * y, 0.0), top) for b, y in zip(base, yaw)]


def _inverse4(matrix: list[list[float]]) -> list[list[float]]:
    import numpy as np

    return np.linalg.inv(np.asarray(matrix, dtype=float)).tolist()
