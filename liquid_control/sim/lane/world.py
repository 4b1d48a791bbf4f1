"""The MuJoCo lane world: a seeded track painted on the ground, the car, its camera, the clock.

``LaneWorld.step(command)`` holds the command for one camera period (``1 / camera_rate_hz``, or
a jittered one: ``perturbations.frame_interval_jitter``), advances the physics in fixed steps of
``physics_dt``, renders the camera headless and returns an ``Observation``: the frame the camera
delivers (after perturbations: noise, blur, drops, latency, blackouts, ...), the car's state and
where it is in its lane. Same seed and commands, same trajectory and frames.

The world is described as data: ``build_mjcf`` writes the MJCF from the track, the car spec and
the lighting; the texture painted by ``road_texture`` is copied into the compiled model.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

# Headless rendering: EGL works on machines without a display (Mesa provides it on CPU).
os.environ.setdefault("MUJOCO_GL", "egl")
import mujoco  # noqa: E402  (must follow MUJOCO_GL)

from ..base import MujocoWorld  # noqa: E402
from ..perturbations import FramePerturber, PerturbationConfig  # noqa: E402
from .car import CarSpec, Command, ackermann_angles, car_mjcf  # noqa: E402
from .metrics import LaneCheck, LaneMetrics, check_lane  # noqa: E402
from .road_texture import GroundTexture, paint_track  # noqa: E402
from .track import LanePosition, Track, TrackSpec, make_track  # noqa: E402


@dataclass(frozen=True)
class WorldConfig:
    track: TrackSpec = field(default_factory=TrackSpec)
    car: CarSpec = field(default_factory=CarSpec)
    perturbations: PerturbationConfig = field(default_factory=PerturbationConfig)
    camera_width: int = 200
    camera_height: int = 66
    camera_rate_hz: float = 20.0
    physics_dt: float = 0.005  # 200 Hz: stable with implicitfast and point-contact wheels
    offroad_margin_m: float = 0.3
    render: bool = True  # False: no camera (fast expert runs, metrics only)

    def validate(self) -> None:
        self.track.validate()
        self.car.validate()
        self.perturbations.validate()
        if not (16 <= self.camera_width <= 2048 and 16 <= self.camera_height <= 2048):
            raise ValueError("camera size must be within 16..2048 pixels, "
                             f"got {self.camera_width}x{self.camera_height}")
        if not 1.0 <= self.camera_rate_hz <= 200.0:
            raise ValueError(f"camera_rate_hz must be in [1, 200], got {self.camera_rate_hz}")
        if not 0.0002 <= self.physics_dt <= 0.01:
            raise ValueError(f"physics_dt must be in [0.0002, 0.01] s, got {self.physics_dt}")
        steps = (1.0 / self.camera_rate_hz) / self.physics_dt
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"the camera period 1/{self.camera_rate_hz} s must be a whole number of physics steps "
                             f"of {self.physics_dt} s")
        if self.offroad_margin_m < 0:
            raise ValueError(f"offroad_margin_m must be >= 0, got {self.offroad_margin_m}")

    @property
    def camera_fovy_deg(self) -> float:
        """The camera's vertical field of view (what a CameraInfo needs)."""
        return self.car.camera_fovy_deg

    @property
    def physics_steps_per_frame(self) -> int:
        return int(round((1.0 / self.camera_rate_hz) / self.physics_dt))


@dataclass(frozen=True)
class CarState:
    x: float
    y: float
    yaw: float
    speed: float  # forward velocity in the car frame, m/s
    lateral_speed: float  # sideways velocity in the car frame (slip), m/s
    yaw_rate: float  # rad/s
    steering: float  # actual mean front-wheel angle, rad


@dataclass(frozen=True)
class Observation:
    time: float  # sim time now, s
    frame: np.ndarray | None  # the delivered camera frame (H, W, 3) RGB uint8, None if none arrived
    frame_time: float | None  # capture time of that frame (its stamp), s
    car: CarState
    lane: LanePosition
    check: LaneCheck
    terminated: bool  # off the road, or the end of an open road
    reason: str = ""


def build_mjcf(track: Track, texture: GroundTexture, config: WorldConfig, light_intensity: float) -> str:
    x, y, yaw = track.start_pose()
    car_body, car_actuators = car_mjcf(config.car, x, y, yaw)
    half_x, half_y = texture.half_size
    centre_x, centre_y = texture.centre
    height, width = texture.image.shape[:2]
    light = min(max(light_intensity, 0.0), 3.0)
    diffuse = f"{0.7 * light:.3f} {0.7 * light:.3f} {0.7 * light:.3f}"
    ambient = f"{0.35 * light:.3f} {0.35 * light:.3f} {0.35 * light:.3f}"
    return f"""
<mujoco model="lane_world">
  <compiler angle="radian"/>
  <option timestep="{config.physics_dt}" integrator="implicitfast"/>
  <visual>
    <global offwidth="{max(config.camera_width, 640)}" offheight="{max(config.camera_height, 480)}"/>
    <!-- No shadows and no multisampling: on a CPU renderer each would cost more than the rest of a frame. -->
    <quality shadowsize="0" offsamples="0"/>
    <headlight ambient="{ambient}" diffuse="0 0 0" specular="0 0 0"/>
  </visual>
  <asset>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="0.55 0.7 0.9" rgb2="0.9 0.93 0.97"
             width="64" height="64"/>
    <texture name="ground" type="2d" builtin="flat" width="{width}" height="{height}" rgb1="0.3 0.3 0.3"/>
    <material name="ground" texture="ground" texrepeat="1 1" texuniform="false" specular="0" shininess="0"/>
  </asset>
  <worldbody>
    <light name="sun" pos="0 0 50" dir="0.3 0.2 -1" directional="true" castshadow="false" diffuse="{diffuse}"
           specular="0 0 0"/>
    <geom name="ground" type="plane" pos="{centre_x} {centre_y} 0" size="{half_x} {half_y} 5" material="ground"
          friction="1.0 0.005 0.0001"/>
    {car_body}
  </worldbody>
  <actuator>{car_actuators}
  </actuator>
</mujoco>"""


class LaneWorld(MujocoWorld):
    """The lane world (see ``sim.interface`` for what every world has)."""

    name = "lane"
    label_names = ("curvature",)  # what a steering policy outputs: 1/m, yaw rate = speed * curvature
    CONFIG = WorldConfig
    config: WorldConfig

    # ----------------------------------------------------------------- set-up
    def reset(self, seed: int | None = None) -> Observation:
        """Start over on track ``seed`` (the current one if None): car on the lane centre at s = 0."""
        self._restart(seed)
        mujoco.mj_forward(self.model, self.data)
        self.time = 0.0
        self.command = Command()
        self.perturber.reset(self.seed)
        self._period_s = 1.0 / self.config.camera_rate_hz  # the last step's length (jitter varies it)
        self._lane = self.track.project(*self._xy())
        self.metrics.reset(self._lane)
        return self._observe(new_frame=True)

    def _build(self, seed: int) -> None:
        cfg = self.config
        self.seed = seed
        self.track = make_track(seed, cfg.track)
        self.texture = paint_track(self.track, cfg.perturbations.texture_seed)
        xml = build_mjcf(self.track, self.texture, cfg, cfg.perturbations.light_intensity)
        self.model = mujoco.MjModel.from_xml_string(xml)
        texture_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_TEXTURE, "ground")
        start = self.model.tex_adr[texture_id]
        self.model.tex_data[start : start + self.texture.image.size] = self.texture.image.reshape(-1)
        self.data = mujoco.MjData(self.model)
        self._make_renderer()
        self._car_body = self.model.body("car").id
        self._steer = [self.model.joint(n).qposadr[0] for n in ("steer_fl", "steer_fr")]
        self.perturber = FramePerturber(cfg.perturbations, seed)
        self.metrics = LaneMetrics(self.track)

    # ----------------------------------------------------------------- stepping
    def step(self, command: Command) -> Observation:
        """Apply ``command`` (clamped to the car's limits) for one camera period and observe (the
        period's length in physics steps comes from the perturber: jittered if so configured)."""
        self.command, _ = command.clamped(self.config.car)
        left, right = ackermann_angles(self.command.steering, self.config.car)
        wheel_speed = self.command.speed / self.config.car.wheel_radius
        self.data.ctrl[:] = (left, right, wheel_speed, wheel_speed)
        steps = self.perturber.frame_period_steps(self.config.physics_steps_per_frame)
        mujoco.mj_step(self.model, self.data, nstep=steps)
        self._period_s = steps * self.config.physics_dt
        self.time += self._period_s
        return self._observe(new_frame=True)

    def command_from_twist(self, linear_x: float, linear_y: float = 0.0, linear_z: float = 0.0,
                           angular_z: float = 0.0) -> Command:
        """A body-frame velocity command as the car's (speed, steering angle): the bicycle relation
        (the car cannot move sideways or up: those fields are ignored)."""
        return Command.from_twist(linear_x, angular_z, self.config.car)

    # ----------------------------------------------------------------- state
    def _xy(self) -> tuple[float, float]:
        position = self.data.xpos[self._car_body]
        return float(position[0]), float(position[1])

    def car_state(self) -> CarState:
        x, y = self._xy()
        rotation = self.data.xmat[self._car_body].reshape(3, 3)
        yaw = math.atan2(rotation[1, 0], rotation[0, 0])
        linear = self.data.qvel[0:3]  # free joint: world-frame linear velocity
        forward = linear[0] * math.cos(yaw) + linear[1] * math.sin(yaw)
        sideways = -linear[0] * math.sin(yaw) + linear[1] * math.cos(yaw)
        yaw_rate = float(self.data.qvel[5])  # free joint: body-frame angular velocity; z ~ world z on flat ground
        steering = float(np.mean(self.data.qpos[self._steer]))
        return CarState(x, y, yaw, float(forward), float(sideways), yaw_rate, steering)

    def _observe(self, new_frame: bool) -> Observation:
        car = self.car_state()
        self._lane = self.track.project(car.x, car.y, hint=self._lane.index)
        check = check_lane(self.track, self.config.car, car.x, car.y, car.yaw, self._lane, self.config.offroad_margin_m)
        if self.time > 0:
            self.metrics.update(self._lane, check, self._period_s)
        frame = frame_time = None
        if self.config.render and new_frame:
            delivered = self.perturber(self.render(), self.time)
            if delivered is not None:
                frame, frame_time = delivered.image, delivered.capture_time
        reason = ""
        if check.offroad:
            reason = "off the road"
        elif not self.track.closed and self._lane.index >= len(self.track.points) - 1:
            reason = "end of the road"
        return Observation(self.time, frame, frame_time, car, self._lane, check, bool(reason), reason)
