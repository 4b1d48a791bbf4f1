"""The car: a small four-wheeled robot (about 1:5 scale) with Ackermann steering and rear drive.

Real MuJoCo dynamics: a chassis on a free joint, four wheels with ground contacts (spheres, so the
contact is a point and steering does not fight tyre scrub), two steering knuckles driven by
position actuators and two rear wheels driven by velocity actuators. Commands are a forward
speed and a steering angle; a ROS ``Twist`` (linear.x, angular.z) converts through the bicycle
relation ``tan(steer) = wheelbase * yaw_rate / speed``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CarSpec:
    wheelbase: float = 0.5  # m, front to rear axle
    track_width: float = 0.40  # m, between left and right wheel centres
    wheel_radius: float = 0.06  # m
    wheel_width: float = 0.05  # m (for lane-departure checks and looks)
    mass: float = 6.0  # kg, chassis
    max_speed: float = 6.0  # m/s
    max_reverse_speed: float = 1.0  # m/s
    max_steer: float = 0.5  # rad, at the virtual centre wheel
    camera_x: float = 0.20  # m ahead of the chassis centre
    camera_height: float = 0.30  # m above the ground
    camera_pitch_deg: float = 12.0  # down from horizontal
    camera_fovy_deg: float = 36.0  # vertical field of view (66x200 gives ~90 deg horizontal)

    def validate(self) -> None:
        for name in ("wheelbase", "track_width", "wheel_radius", "wheel_width", "mass", "max_speed", "max_steer",
                     "camera_height", "camera_fovy_deg"):
            if not getattr(self, name) > 0:
                raise ValueError(f"car.{name} must be > 0, got {getattr(self, name)}")
        if not self.max_steer < 1.2:
            raise ValueError(f"car.max_steer must be < 1.2 rad, got {self.max_steer}")
        if not -30 <= self.camera_pitch_deg <= 80:
            raise ValueError(f"car.camera_pitch_deg must be in [-30, 80], got {self.camera_pitch_deg}")
        if not 5 <= self.camera_fovy_deg <= 120:
            raise ValueError(f"car.camera_fovy_deg must be in [5, 120], got {self.camera_fovy_deg}")

    def wheel_offsets(self) -> np.ndarray:
        """(4, 2) wheel centres in the chassis frame: front-left, front-right, rear-left, rear-right."""
        half_l, half_w = self.wheelbase / 2, self.track_width / 2
        return np.array([(half_l, half_w), (half_l, -half_w), (-half_l, half_w), (-half_l, -half_w)])


@dataclass(frozen=True)
class Command:
    """What the car is told: forward speed (m/s) and steering angle (rad, positive = left)."""

    speed: float = 0.0
    steering: float = 0.0

    @staticmethod
    def from_twist(linear_x: float, angular_z: float, car: CarSpec) -> "Command":
        """Bicycle relation; at (near) standstill a yaw rate cannot be turned into a steering angle."""
        if abs(linear_x) < 1e-3:
            return Command(float(linear_x), 0.0)
        return Command(float(linear_x), math.atan(car.wheelbase * angular_z / linear_x))

    def to_twist(self, car: CarSpec) -> tuple[float, float]:
        return self.speed, self.speed * math.tan(self.steering) / car.wheelbase

    def clamped(self, car: CarSpec) -> tuple["Command", list[str]]:
        """The command within the car's limits, and what had to change (non-finite values become 0)."""
        problems = []
        speed, steering = self.speed, self.steering
        if not math.isfinite(speed):
            problems.append(f"speed {speed} is not finite")
            speed = 0.0
        if not math.isfinite(steering):
            problems.append(f"steering {steering} is not finite")
            steering = 0.0
        limited_speed = min(max(speed, -car.max_reverse_speed), car.max_speed)
        limited_steering = min(max(steering, -car.max_steer), car.max_steer)
        if limited_speed != speed:
            problems.append(f"speed {speed:.3g} m/s clamped to {limited_speed:.3g}")
        if limited_steering != steering:
            problems.append(f"steering {steering:.3g} rad clamped to {limited_steering:.3g}")
        return Command(limited_speed, limited_steering), problems


def ackermann_angles(steering: float, car: CarSpec) -> tuple[float, float]:
    """Left and right front-wheel angles that share one turning centre with the virtual centre wheel."""
    if abs(steering) < 1e-6:
        return 0.0, 0.0
    radius = car.wheelbase / math.tan(steering)  # signed, positive = turning left
    left = math.atan(car.wheelbase / (radius - car.track_width / 2))
    right = math.atan(car.wheelbase / (radius + car.track_width / 2))
    return left, right


def car_mjcf(car: CarSpec, x: float, y: float, yaw: float) -> tuple[str, str]:
    """The car's <body> (placed at x, y, yaw) and its <actuator> entries, as MJCF text."""
    r, hw = car.wheel_radius, car.wheel_width / 2
    half_l, half_w = car.wheelbase / 2, car.track_width / 2
    pitch = math.radians(car.camera_pitch_deg)
    # Camera looks along +x of the chassis: image x axis = -y (right), image y axis = up tilted by pitch.
    cam_axes = f"0 -1 0 {math.sin(pitch):.6f} 0 {math.cos(pitch):.6f}"
    chassis_z = r + 0.02
    wheel_z = r - chassis_z

    def wheel(name: str, steered: bool, px: float, py: float) -> str:
        looks = (f'<geom type="cylinder" size="{r} {hw}" euler="1.5708 0 0" contype="0" conaffinity="0" '
                 'rgba="0.1 0.1 0.1 1" mass="0"/>')
        tyre = f'<geom type="sphere" size="{r}" mass="0.3" friction="1.2 0.01 0.001" rgba="0 0 0 0"/>'
        spin = (f'<body name="{name}_wheel"><joint name="spin_{name}" axis="0 1 0" damping="0.001" armature="0.001"/>'
                f'{tyre}{looks}</body>')
        if not steered:
            return f'<body name="{name}" pos="{px} {py} {wheel_z}">{spin}</body>'
        return (
            f'<body name="{name}" pos="{px} {py} {wheel_z}">'
            f'<inertial pos="0 0 0" mass="0.05" diaginertia="1e-4 1e-4 1e-4"/>'
            f'<joint name="steer_{name}" axis="0 0 1" range="-0.8 0.8" damping="0.1" armature="0.01"/>{spin}</body>'
        )

    body = f"""
    <body name="car" pos="{x} {y} {chassis_z}" euler="0 0 {yaw}">
      <freejoint name="car"/>
      <geom name="chassis" type="box" size="{half_l + 0.08} {half_w - 0.04} 0.04" mass="{car.mass}"
            contype="0" conaffinity="0" rgba="0.75 0.12 0.1 1"/>
      <camera name="front" pos="{car.camera_x} 0 {car.camera_height - chassis_z}" xyaxes="{cam_axes}"
              fovy="{car.camera_fovy_deg}"/>
      {wheel("fl", True, half_l, half_w)}
      {wheel("fr", True, half_l, -half_w)}
      {wheel("rl", False, -half_l, half_w)}
      {wheel("rr", False, -half_l, -half_w)}
    </body>"""
    actuators = """
    <position name="steer_fl" joint="steer_fl" kp="100" kv="2" ctrlrange="-0.8 0.8" ctrllimited="true"/>
    <position name="steer_fr" joint="steer_fr" kp="100" kv="2" ctrlrange="-0.8 0.8" ctrllimited="true"/>
    <velocity name="drive_rl" joint="spin_rl" kv="2"/>
    <velocity name="drive_rr" joint="spin_rr" kv="2"/>"""
    return body, actuators
