"""The MuJoCo drone world: a seeded forest (or town), the quadrotor, its velocity autopilot and camera.

``DroneWorld.step(command)`` holds a ``VelocityCommand`` for one camera period
(``1 / camera_rate_hz``, or a jittered one: ``perturbations.frame_interval_jitter``); inside it
the autopilot runs at the physics rate (``physics_dt``), air drag and wind gusts push the body,
and contacts are checked after every physics step. Then the onboard camera renders headless and
the frame goes through the ``FramePerturber`` (noise, blur, occlusion, drops, latency, blackouts).
Same seed, config and commands: same trajectory and frames.

The task is to fly to the target: the episode ends on success (within ``success_radius_m`` of it,
horizontally, and facing it to within ``success_heading_deg``), a collision (the drone's sphere
touching an obstacle, the target or the ground), leaving the flight area, or the time limit
(``time_limit_base_s + start distance / time_limit_speed_mps``).

The world is described as data: ``build_mjcf`` writes the MJCF from the scene, the quad spec and
the camera settings.
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
from .autopilot import Autopilot, AutopilotGains, VelocityCommand, VelocityLimits  # noqa: E402
from .metrics import FlightMetrics  # noqa: E402
from .quadrotor import QuadSpec, quad_mjcf  # noqa: E402
from .scene import DOMAINS, TRAINING_DOMAIN, Scene, SceneSpec, make_scene  # noqa: E402

# The model's length scale for MuJoCo's relative visual settings (near/far planes, fog): metres.
VISUAL_EXTENT_M = 10.0
# The night domain's headlight: a spot light at the camera, along its view; its light falls with distance.
HEADLIGHT_CUTOFF_DEG = 55.0
HEADLIGHT_EXPONENT = 4.0
HEADLIGHT_ATTENUATION = (1.0, 0.0, 0.02)  # intensity = 1 / (a + b d + c d^2), d in metres


@dataclass(frozen=True)
class DroneWorldConfig:
    domain: str = TRAINING_DOMAIN
    scene: SceneSpec = field(default_factory=SceneSpec)
    quad: QuadSpec = field(default_factory=QuadSpec)
    limits: VelocityLimits = field(default_factory=VelocityLimits)
    autopilot: AutopilotGains = field(default_factory=AutopilotGains)
    perturbations: PerturbationConfig = field(default_factory=PerturbationConfig)
    camera_width: int = 128
    camera_height: int = 72
    camera_rate_hz: float = 10.0
    camera_hfov_deg: float = 90.0  # horizontal field of view; the vertical one follows from the aspect
    camera_pitch_deg: float = 5.0  # down from the body's forward axis
    physics_dt: float = 0.005  # 200 Hz physics and autopilot
    success_radius_m: float = 1.75  # horizontal distance to the target's centre
    success_heading_deg: float = 25.0  # |bearing of the target| when it counts as faced
    time_limit_base_s: float = 10.0
    time_limit_speed_mps: float = 1.0  # time limit = base + start distance / this
    max_altitude_m: float = 10.0  # above it: out of the flight area
    view_range_m: float = 80.0  # the target counts as in view up to this distance
    wind_gust_n: float = 0.0  # standard deviation of the gust force per horizontal axis (vertical: 30 %)
    wind_tau_s: float = 1.5  # correlation time of the gusts
    render: bool = True  # False: no camera (fast expert runs, metrics only)

    def validate(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"unknown domain {self.domain!r}; domains: {', '.join(DOMAINS)}")
        self.scene.validate()
        self.quad.validate()
        self.limits.validate()
        self.autopilot.validate()
        self.perturbations.validate()
        if not (16 <= self.camera_width <= 2048 and 16 <= self.camera_height <= 2048):
            raise ValueError("camera size must be within 16..2048 pixels, "
                             f"got {self.camera_width}x{self.camera_height}")
        if not 1.0 <= self.camera_rate_hz <= 100.0:
            raise ValueError(f"camera_rate_hz must be in [1, 100], got {self.camera_rate_hz}")
        if not 30.0 <= self.camera_hfov_deg <= 150.0:
            raise ValueError(f"camera_hfov_deg must be in [30, 150], got {self.camera_hfov_deg}")
        if not -30.0 <= self.camera_pitch_deg <= 60.0:
            raise ValueError(f"camera_pitch_deg must be in [-30, 60], got {self.camera_pitch_deg}")
        if not 0.0005 <= self.physics_dt <= 0.01:
            raise ValueError("physics_dt must be in [0.0005, 0.01] s (the autopilot needs >= 100 Hz), "
                             f"got {self.physics_dt}")
        steps = (1.0 / self.camera_rate_hz) / self.physics_dt
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"the camera period 1/{self.camera_rate_hz} s must be a whole number of physics steps "
                             f"of {self.physics_dt} s")
        for name in ("success_radius_m", "success_heading_deg", "time_limit_speed_mps", "view_range_m", "wind_tau_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.time_limit_base_s < 0 or self.wind_gust_n < 0:
            raise ValueError("time_limit_base_s and wind_gust_n must be >= 0, "
                             f"got {self.time_limit_base_s}, {self.wind_gust_n}")
        if self.max_altitude_m <= self.scene.start_altitude_m[1] + 1.0:
            raise ValueError(f"max_altitude_m={self.max_altitude_m} must be over 1 m above the highest start altitude")

    @property
    def physics_steps_per_frame(self) -> int:
        return int(round((1.0 / self.camera_rate_hz) / self.physics_dt))

    @property
    def camera_fovy_deg(self) -> float:
        """Vertical field of view (what MuJoCo and a CameraInfo need), from the horizontal one."""
        half = math.radians(self.camera_hfov_deg) / 2
        return math.degrees(2 * math.atan(math.tan(half) * self.camera_height / self.camera_width))

    def camera_intrinsics(self) -> dict:
        """Pinhole intrinsics of the onboard camera (square pixels, centred principal point)."""
        fy = self.camera_height / 2 / math.tan(math.radians(self.camera_fovy_deg) / 2)
        return {"width": self.camera_width, "height": self.camera_height, "fovy_deg": self.camera_fovy_deg,
                "fx": fy, "fy": fy, "cx": (self.camera_width - 1) / 2, "cy": (self.camera_height - 1) / 2}


@dataclass(frozen=True)
class DroneState:
    x: float
    y: float
    z: float  # altitude above the ground (m)
    yaw: float
    roll: float
    pitch: float  # positive = nose down (REP 103: rotation about body y, which points left)
    forward: float  # velocity in the heading frame (yaw-only body frame), m/s
    left: float
    up: float
    yaw_rate: float  # rad/s about the world z axis


@dataclass(frozen=True)
class TargetInfo:
    distance: float  # horizontal, drone centre to target centre (m)
    bearing: float  # direction to the target minus the heading (rad, + = to the left)
    height_error: float  # target centre minus drone altitude (m)
    in_view: bool  # the target's centre projects into the camera image and is within view_range_m


@dataclass(frozen=True)
class Observation:
    time: float  # sim time now, s
    frame: np.ndarray | None  # the delivered camera frame (H, W, 3) RGB uint8, None if none arrived
    frame_time: float | None  # capture time of that frame (its stamp), s
    state: DroneState
    target: TargetInfo
    terminated: bool
    reason: str = ""
    success: bool = False


def build_mjcf(scene: Scene, config: DroneWorldConfig) -> str:
    x, y, z, yaw = scene.start
    body, actuators = quad_mjcf(config.quad, x, y, z, yaw, config.camera_fovy_deg, config.camera_pitch_deg)
    p = scene.palette
    light = min(max(config.perturbations.light_intensity, 0.0), 3.0)
    ground_grid_m = 5  # the plane is lit per vertex of this grid: a headlight's pool needs a finer one
    if p.headlight is not None:
        inside, end, after = body.rpartition("</body>")  # the drone's body carries the light
        body = f"{inside}  {_headlight_mjcf(p.headlight, light, config)}\n    {end}{after}"
        ground_grid_m = 2
    diffuse = " ".join(f"{c * light:.3f}" for c in p.light)
    ambient = " ".join(f"{p.ambient * light:.3f}" for _ in range(3))
    cx, cy, half_x, half_y = scene.ground_extent()
    ground_size = f"{half_x:.3f} {half_y:.3f} {ground_grid_m}"
    if p.fog is not None:
        fog_start, fog_end, *fog_rgb = p.fog
        fog = (f'<map znear="0.005" zfar="30" fogstart="{fog_start / VISUAL_EXTENT_M:.3f}" '
               f'fogend="{fog_end / VISUAL_EXTENT_M:.3f}"/>'
               f'<rgba fog="{" ".join(f"{c:.3f}" for c in fog_rgb)} 1"/>')
    else:
        fog = '<map znear="0.005" zfar="30"/>'
    return f"""
<mujoco model="drone_world">
  <compiler angle="radian"/>
  <option timestep="{config.physics_dt}" integrator="implicitfast"/>
  <statistic extent="{VISUAL_EXTENT_M}" center="0 0 1"/>
  <visual>
    <global offwidth="{max(config.camera_width, 640)}" offheight="{max(config.camera_height, 480)}"/>
    <!-- No shadows, no multisampling, low-poly round shapes: each costs a CPU renderer more than the rest. -->
    <quality shadowsize="0" offsamples="0" numslices="12" numstacks="8"/>
    <headlight ambient="{ambient}" diffuse="0 0 0" specular="0 0 0"/>
    {fog}
  </visual>
  <asset>{scene.mjcf_assets()}
  </asset>
  <worldbody>
    <light name="sun" pos="0 0 50" dir="{" ".join(map(str, p.light_dir))}" directional="true" castshadow="false"
           diffuse="{diffuse}" specular="0 0 0"/>
    <geom name="ground" type="plane" pos="{cx:.3f} {cy:.3f} 0" size="{ground_size}" material="ground"
          contype="0" conaffinity="1"/>
    {scene.mjcf_geoms()}
    {body}
  </worldbody>
  <actuator>
    {actuators}
  </actuator>
</mujoco>"""


def _headlight_mjcf(colour, light: float, config: DroneWorldConfig) -> str:
    pitch = math.radians(config.camera_pitch_deg)
    return (f'<light name="headlight" pos="{config.quad.camera_x} 0 {config.quad.camera_z}" '
            f'dir="{math.cos(pitch):.4f} 0 {-math.sin(pitch):.4f}" cutoff="{HEADLIGHT_CUTOFF_DEG}" '
            f'exponent="{HEADLIGHT_EXPONENT}" attenuation="{" ".join(map(str, HEADLIGHT_ATTENUATION))}" '
            f'castshadow="false" diffuse="{" ".join(f"{c * light:.3f}" for c in colour)}" specular="0 0 0"/>')


class DroneWorld(MujocoWorld):
    """The drone world (see ``sim.interface`` for what every world has)."""

    name = "drone"
    label_names = ("linear.x", "linear.y", "linear.z", "angular.z")
    CONFIG = DroneWorldConfig
    config: DroneWorldConfig

    # ----------------------------------------------------------------- set-up
    def reset(self, seed: int | None = None) -> Observation:
        """Start over in scene ``seed`` (the current one if None): hovering at the scene's start pose."""
        self._restart(seed)
        self.data.act[:] = self.config.quad.hover_thrust_n  # the motors are already spinning at hover
        self.data.ctrl[:] = self.config.quad.hover_thrust_n
        mujoco.mj_forward(self.model, self.data)
        self._steps = 0
        self.time = 0.0
        self.command = VelocityCommand()
        self.command_problems: list[str] = []
        self.autopilot.reset()
        self._wind_rng = np.random.default_rng([self.seed, 0x3D])
        self.wind = [0.0, 0.0, 0.0]
        self._contact = ""
        self._ended = ""
        self._success = False
        self.perturber.reset(self.seed)
        self._period_s = 1.0 / self.config.camera_rate_hz  # the last step's length (jitter varies it)
        self.metrics.reset(self.scene.start_distance)
        return self._observe()

    def _build(self, seed: int) -> None:
        cfg = self.config
        self.seed = seed
        self.scene = make_scene(seed, cfg.domain, cfg.scene, cfg.perturbations.texture_seed)
        self.model = mujoco.MjModel.from_xml_string(build_mjcf(self.scene, cfg))
        self.data = mujoco.MjData(self.model)
        self._make_renderer()
        if self._renderer is not None:
            self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_FOG] = self.scene.palette.fog is not None
        self._front_option = mujoco.MjvOption()
        self._front_option.geomgroup[2] = self._front_option.geomgroup[3] = 0  # not its own arms, never the hull
        self._chase_option = mujoco.MjvOption()
        self._chase_option.geomgroup[3] = 0
        self._body = self.model.body("drone").id
        self._hull = self.model.geom("drone_hull").id
        self._camera = self.model.camera("front").id
        self._geom_label = {self.model.geom("ground").id: "the ground"}
        for name, label in (("target", "the target"), ("target_post", "the target's post")):
            self._geom_label[self.model.geom(name).id] = label
        for i, obstacle in enumerate(self.scene.obstacles):
            article = "an" if obstacle.kind[0] in "aeiou" else "a"
            for suffix in ("", "_canopy", "_post"):
                geom = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, f"obstacle{i}{suffix}")
                if geom >= 0:
                    self._geom_label[geom] = f"{article} {obstacle.kind}"
        self._xmat = self.data.xmat[self._body]
        self._xpos = self.data.xpos[self._body]
        self._xfrc = self.data.xfrc_applied[self._body]
        self.autopilot = Autopilot(cfg.quad, cfg.limits, cfg.autopilot, cfg.physics_dt)
        self.perturber = FramePerturber(cfg.perturbations, seed)
        self.metrics = FlightMetrics(self.scene, cfg.quad.collision_radius)
        self.time_limit_s = cfg.time_limit_base_s + self.scene.start_distance / cfg.time_limit_speed_mps

    # ----------------------------------------------------------------- stepping
    def step(self, command: VelocityCommand) -> Observation:
        """Hold ``command`` (clamped to the limits) for one camera period and observe.

        After the episode ended (collision, success, ...) the world keeps stepping but the
        observation stays terminated with the first reason."""
        if not isinstance(command, VelocityCommand):
            raise ValueError(f"command must be a VelocityCommand, got {type(command).__name__}")
        self.command, self.command_problems = command.clamped(self.config.limits)
        cfg = self.config
        quad = cfg.quad
        model, data = self.model, self.data
        steps = self.perturber.frame_period_steps(cfg.physics_steps_per_frame)  # jittered if so configured
        drag, spin_drag = quad.drag_coefficient, quad.angular_drag
        gusts = cfg.wind_gust_n > 0
        if gusts:
            decay = cfg.physics_dt / cfg.wind_tau_s
            kick = cfg.wind_gust_n * math.sqrt(2 * decay)
            shocks = self._wind_rng.standard_normal((steps, 3)).tolist()
        wind_x, wind_y, wind_z = self.wind
        qvel, xmat, xfrc = data.qvel, self._xmat, self._xfrc
        update = self.autopilot.update
        for k in range(steps):
            rotation = xmat.tolist()
            velocity = qvel[0:6].tolist()
            data.ctrl[:] = update(self.command, rotation, velocity[:3], velocity[3:])
            if gusts:  # Ornstein-Uhlenbeck force: correlated over wind_tau_s, standard deviation wind_gust_n
                sx, sy, sz = shocks[k]
                wind_x += -decay * wind_x + kick * sx
                wind_y += -decay * wind_y + kick * sy
                wind_z += -decay * wind_z + 0.3 * kick * sz
            wx, wy, wz = velocity[3:]  # body-frame angular velocity -> world-frame drag torque
            r00, r01, r02, r10, r11, r12, r20, r21, r22 = rotation
            xfrc[:] = (wind_x - drag * velocity[0], wind_y - drag * velocity[1], wind_z - drag * velocity[2],
                       -spin_drag * (r00 * wx + r01 * wy + r02 * wz), -spin_drag * (r10 * wx + r11 * wy + r12 * wz),
                       -spin_drag * (r20 * wx + r21 * wy + r22 * wz))
            mujoco.mj_step(model, data)
            self._steps += 1
            if data.ncon and not self._contact:
                self._contact = self._contact_label()
                if self._contact:
                    break
        self.wind = [wind_x, wind_y, wind_z]
        self._period_s = steps * cfg.physics_dt
        self.time = self._steps * cfg.physics_dt
        return self._observe()

    def _contact_label(self) -> str:
        hull = self._hull
        for contact in self.data.contact[: self.data.ncon]:
            g1, g2 = int(contact.geom1), int(contact.geom2)
            if hull in (g1, g2):
                return self._geom_label.get(g2 if g1 == hull else g1, "an obstacle")
        return ""

    def command_from_twist(self, linear_x: float, linear_y: float = 0.0, linear_z: float = 0.0,
                           angular_z: float = 0.0) -> VelocityCommand:
        """A body-frame Twist (what a ROS controller publishes) as the autopilot's command; ``step``
        holds it to the limits."""
        return VelocityCommand.from_twist(linear_x, linear_y, linear_z, angular_z)

    def _render_options(self, camera: str):
        """``"front"``: the onboard camera (not its own arms); ``"chase"`` shows the drone from behind."""
        return self._front_option if camera == "front" else self._chase_option

    # ----------------------------------------------------------------- state
    def drone_state(self) -> DroneState:
        r00, r01, r02, r10, r11, r12, r20, r21, r22 = self._xmat.tolist()
        x, y, z = self._xpos.tolist()
        vx, vy, vz, wx, wy, wz = self.data.qvel[0:6].tolist()
        yaw = math.atan2(r10, r00)
        pitch = math.asin(max(-1.0, min(1.0, -r20)))
        roll = math.atan2(r21, r22)
        c, s = math.cos(yaw), math.sin(yaw)
        return DroneState(x, y, z, yaw, roll, pitch, c * vx + s * vy, -s * vx + c * vy, vz,
                          r20 * wx + r21 * wy + r22 * wz)

    def target_info(self, state: DroneState) -> TargetInfo:
        tx, ty, tz = self.scene.target
        dx, dy = tx - state.x, ty - state.y
        bearing = _wrap(math.atan2(dy, dx) - state.yaw)
        camera = self.data.cam_xpos[self._camera]
        axes = self.data.cam_xmat[self._camera].reshape(3, 3)  # columns: image right, image up, backwards
        local = axes.T @ (np.array(self.scene.target) - camera)
        ahead = -local[2]
        half_w = math.tan(math.radians(self.config.camera_hfov_deg) / 2)
        half_h = math.tan(math.radians(self.config.camera_fovy_deg) / 2)
        in_view = bool(0.1 < ahead and abs(local[0]) <= half_w * ahead and abs(local[1]) <= half_h * ahead
                       and math.sqrt(float(local @ local)) <= self.config.view_range_m)
        return TargetInfo(math.hypot(dx, dy), bearing, tz - state.z, in_view)

    def _observe(self) -> Observation:
        cfg = self.config
        state = self.drone_state()
        target = self.target_info(state)
        if self.time > 0:
            self.metrics.update(self.time, state, target, self._period_s)
        if not self._ended:
            reason, success = "", False
            x_min, x_max, y_min, y_max = self.scene.bounds
            if self._contact:
                reason = f"collision with {self._contact}"
            elif (target.distance <= cfg.success_radius_m
                  and abs(target.bearing) <= math.radians(cfg.success_heading_deg)):
                reason, success = "reached the target", True
            elif not (x_min <= state.x <= x_max and y_min <= state.y <= y_max and state.z <= cfg.max_altitude_m):
                reason = "left the flight area"
            elif self.time >= self.time_limit_s - 1e-9:
                reason = "time limit"
            if reason:
                self._ended, self._success = reason, success
                self.metrics.finish(reason, success, bool(self._contact))
        frame = frame_time = None
        if cfg.render:
            delivered = self.perturber(self.render(), self.time)
            if delivered is not None:
                frame, frame_time = delivered.image, delivered.capture_time
        return Observation(self.time, frame, frame_time, state, target, bool(self._ended), self._ended, self._success)


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi
