"""The quadrotor: a rigid body on a free joint, four rotors whose thrust lags the command.

Real MuJoCo dynamics: the body carries the spec's mass and inertia (an explicit ``<inertial>``, so
the looks do not change them) and one small collision sphere. Each rotor is a ``<general>``
actuator on a site at an arm end: its gear pushes along the rotor axis (body z) with
``ctrl`` newtons and twists the body about z by ``spin * yaw_torque_m * ctrl`` (the rotor's drag
torque); ``dyntype="filter"`` makes the thrust a first-order lag of the command with the motor
time constant, as a real motor's speed is. Air drag (linear in velocity, opposing it) is applied
by the world each physics step through ``xfrc_applied``.

Rotors are in X configuration, numbered counter-clockwise from front-left (REP 103 body frame:
x forward, y left, z up): 0 front-left, 1 rear-left, 2 rear-right, 3 front-right; diagonal pairs
spin the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

GRAVITY = 9.81


@dataclass(frozen=True)
class QuadSpec:
    """A ~1 kg quadrotor (450 mm class). SI units."""

    mass: float = 1.0  # kg
    arm_length: float = 0.17  # m, body centre to rotor axis
    inertia: tuple[float, float, float] = (0.0075, 0.0075, 0.013)  # kg m^2 about body x, y, z
    max_thrust_n: float = 5.0  # per rotor: thrust-to-weight 2.0
    yaw_torque_m: float = 0.016  # rotor drag torque per newton of thrust (m)
    motor_tau_s: float = 0.03  # first-order motor (thrust) time constant
    drag_coefficient: float = 0.25  # N per m/s of air speed, linear drag on the body
    angular_drag: float = 0.002  # N m per rad/s, rotational damping by the air
    collision_radius: float = 0.25  # m, the sphere that touches trees and ground
    camera_x: float = 0.18  # m, onboard camera ahead of the centre (in front of the rotors)
    camera_z: float = 0.03  # m, above the centre

    def validate(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise ValueError(f"quad.{f.name} must be finite numbers, got {value!r}")
        for name in ("mass", "arm_length", "max_thrust_n", "yaw_torque_m", "motor_tau_s", "collision_radius"):
            if not getattr(self, name) > 0:
                raise ValueError(f"quad.{name} must be > 0, got {getattr(self, name)}")
        if self.drag_coefficient < 0 or self.angular_drag < 0:
            raise ValueError(f"quad drag coefficients must be >= 0, got {self.drag_coefficient}, {self.angular_drag}")
        if len(self.inertia) != 3 or not all(i > 0 for i in self.inertia):
            raise ValueError(f"quad.inertia must be three positive moments, got {self.inertia!r}")
        ixx, iyy, izz = self.inertia
        if ixx + iyy < izz or ixx + izz < iyy or iyy + izz < ixx:
            raise ValueError(f"quad.inertia {self.inertia} violates the triangle inequality of a rigid body")
        if 4 * self.max_thrust_n < 1.2 * self.mass * GRAVITY:
            raise ValueError(f"quad: 4 x max_thrust_n = {4 * self.max_thrust_n} N cannot lift {self.mass} kg "
                             "with a 20 % margin")
        if self.camera_x < 0:
            raise ValueError(f"quad.camera_x must be >= 0, got {self.camera_x}")

    @property
    def hover_thrust_n(self) -> float:
        """Per rotor."""
        return self.mass * GRAVITY / 4

    def rotor_positions(self) -> np.ndarray:
        """(4, 2) rotor axes in the body frame, X configuration, counter-clockwise from front-left."""
        a = self.arm_length / math.sqrt(2)
        return np.array([(a, a), (-a, a), (-a, -a), (a, -a)])

    @staticmethod
    def rotor_spins() -> np.ndarray:
        """Sign of each rotor's reaction torque about body z."""
        return np.array([1.0, -1.0, 1.0, -1.0])

    def allocation(self) -> np.ndarray:
        """(4, 4) map from rotor thrusts to (collective thrust, torque x, torque y, torque z)."""
        xy = self.rotor_positions()
        return np.vstack((np.ones(4), xy[:, 1], -xy[:, 0], self.rotor_spins() * self.yaw_torque_m))


def quad_mjcf(quad: QuadSpec, x: float, y: float, z: float, yaw: float, camera_fovy_deg: float,
              camera_pitch_deg: float) -> tuple[str, str]:
    """The drone's <body> (placed at x, y, z, yaw) and its four rotor <actuator> entries, as MJCF.

    Geom groups: 2 = the drone's looks (hidden from its own camera), 3 = its collision sphere
    (never drawn). Sites are group 4 (not drawn).
    """
    ixx, iyy, izz = quad.inertia
    pitch = math.radians(camera_pitch_deg)
    # The camera looks along body +x: image x axis = -y (right), image y axis = up tilted forward by the pitch.
    cam_axes = f"0 -1 0 {math.sin(pitch):.6f} 0 {math.cos(pitch):.6f}"
    arm = quad.arm_length
    looks_only = 'contype="0" conaffinity="0" group="2"'  # drawn, never colliding
    looks = [
        f'<geom type="box" size="0.07 0.05 0.025" rgba="0.15 0.15 0.17 1" {looks_only}/>',
        f'<geom type="box" size="{arm:.4f} 0.012 0.008" euler="0 0 0.785398" rgba="0.2 0.2 0.22 1" {looks_only}/>',
        f'<geom type="box" size="{arm:.4f} 0.012 0.008" euler="0 0 -0.785398" rgba="0.2 0.2 0.22 1" {looks_only}/>',
    ]
    sites, actuators = [], []
    for i, ((px, py), spin) in enumerate(zip(quad.rotor_positions(), quad.rotor_spins())):
        colour = "0.9 0.9 0.9 1" if px > 0 else "0.9 0.3 0.1 1"  # light front rotors, orange rear ones
        looks.append(f'<geom type="cylinder" size="0.065 0.004" pos="{px:.4f} {py:.4f} 0.02" rgba="{colour}" '
                     f'{looks_only}/>')
        sites.append(f'<site name="rotor{i}" pos="{px:.4f} {py:.4f} 0.02" size="0.01" group="4"/>')
        actuators.append(
            f'<general name="rotor{i}" site="rotor{i}" gear="0 0 1 0 0 {spin * quad.yaw_torque_m:.6f}" '
            f'dyntype="filter" dynprm="{quad.motor_tau_s}" ctrllimited="true" ctrlrange="0 {quad.max_thrust_n}"/>')
    body = f"""
    <body name="drone" pos="{x:.4f} {y:.4f} {z:.4f}" euler="0 0 {yaw:.6f}">
      <freejoint name="drone"/>
      <inertial pos="0 0 0" mass="{quad.mass}" diaginertia="{ixx} {iyy} {izz}"/>
      <geom name="drone_hull" type="sphere" size="{quad.collision_radius}" group="3" rgba="0 0 0 0"
            contype="1" conaffinity="1"/>
      {"".join(looks)}
      {"".join(sites)}
      <camera name="front" pos="{quad.camera_x} 0 {quad.camera_z}" xyaxes="{cam_axes}" fovy="{camera_fovy_deg:.4f}"/>
      <camera name="chase" pos="-3.0 0 1.2" xyaxes="0 -1 0 0.34 0 0.94" fovy="60"/>
    </body>"""
    return body, "\n    ".join(actuators)
