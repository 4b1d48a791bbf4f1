"""Procedural flying scenes from a seed: a forest (or a town) around a clearing with the target.

``make_scene(seed, domain, spec)`` draws the *layout* from the seed alone: where the target
stands and how high, where the drone starts (5-20 m away by default, facing the target to within
``max_yaw_offset_deg``), and the obstacle slots around them (trees, bushes, rocks on a jittered
grid within ``band_m`` of the start-target line). The straight corridor from start to target is
kept free (``corridor_half_width_m`` beyond each obstacle's footprint), the target stands in a
clearing, and a few "intruder" trees stand just off the line, close enough that a straight flight
may graze them: obstacles matter, slightly.

The *domain* changes what the camera sees, never the task: the same seed gives the same layout
and footprints in every domain; only colours, light, sky, fog and the obstacles' looks change
(``urban`` draws each tree slot as a building, each bush as a hedge, each rock as a concrete
block, all within the same footprint). ``summer`` is the training domain; ``autumn``, ``winter``,
``urban``, ``dusk`` and ``night`` are held out. ``night`` is dark but for a headlight on the drone
(a spot light along the camera's view, see ``world.build_mjcf``): what it lights fades with distance.

Seeds split into families like the lane world's tracks: seeds below ``HELD_OUT_FROM`` train,
seeds from it on are held out; they draw the obstacle spacing from ranges no training scene uses
(denser or sparser forests) and their colours from a different brightness jitter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HELD_OUT_FROM = 1000
DOMAINS = ("summer", "autumn", "winter", "urban", "dusk", "night")  # append only: colours use the index
TRAINING_DOMAIN = "summer"

TARGET_RADIUS_M = 0.45  # the red ball (0.9 m across)
TARGET_RGBA = (0.95, 0.06, 0.05, 1.0)
TARGET_BAND_RGBA = (1.0, 1.0, 1.0, 1.0)
BALL_EMISSION = 0.45  # the target (and distractor) balls glow a little: bright in every light, like a beacon
DISTRACTOR_RGBA = ((0.1, 0.3, 0.95, 1.0), (0.95, 0.85, 0.1, 1.0), (0.6, 0.2, 0.85, 1.0), (0.1, 0.85, 0.85, 1.0))
URBAN_BOX_FRACTION = 0.75  # a building's half-width as a fraction of its slot radius (half-diagonal 1.06 r)
FOOTPRINT_FACTOR = URBAN_BOX_FRACTION * math.sqrt(2)  # every slot keeps clear of its largest look
MIN_GAP_M = 1.5  # between the footprints of two trees (buildings) that do not touch


def family_of(seed: int) -> str:
    """'train' or 'held_out'."""
    return "held_out" if seed >= HELD_OUT_FROM else "train"


@dataclass(frozen=True)
class SceneSpec:
    """How scenes are drawn. Lengths in metres, heights above the ground."""

    start_distance_m: tuple[float, float] = (5.0, 20.0)  # horizontal, start to target
    start_altitude_m: tuple[float, float] = (1.5, 3.0)
    target_height_m: tuple[float, float] = (1.5, 2.5)  # centre of the target ball
    max_yaw_offset_deg: float = 20.0  # start heading off the target bearing by up to this
    corridor_half_width_m: float = 1.5  # free space each side of the start-target line
    clearing_radius_m: float = 4.0  # free space around the target
    start_clearance_m: float = 2.5  # free space around the start
    band_m: float = 12.0  # obstacles stand within this of the start-target line (or of the target)
    max_intruders: int = 2  # trees just off the line
    distractors: int = 0  # balls like the target in other colours, off the corridor

    def validate(self) -> None:
        for name in ("start_distance_m", "start_altitude_m", "target_height_m"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
                raise ValueError(f"scene.{name} must be a range 0 < low <= high, got {getattr(self, name)!r}")
        if self.start_distance_m[0] < 3.0 or self.start_distance_m[1] > 200.0:
            raise ValueError(f"scene.start_distance_m must lie within [3, 200] m, got {self.start_distance_m}")
        if self.start_altitude_m[1] > 8.0 or self.target_height_m[1] > 8.0 or self.start_altitude_m[0] < 0.6:
            raise ValueError("scene: start altitudes must lie within [0.6, 8] m and target heights below 8 m")
        if not 0 <= self.max_yaw_offset_deg <= 45:
            raise ValueError("scene.max_yaw_offset_deg must be in [0, 45] (the target must be in view), "
                             f"got {self.max_yaw_offset_deg}")
        for name in ("corridor_half_width_m", "clearing_radius_m", "start_clearance_m", "band_m"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"scene.{name} must be >= 0, got {getattr(self, name)}")
        if self.clearing_radius_m < 2.0:
            raise ValueError("scene.clearing_radius_m must be >= 2 m (the target needs its clearing), "
                             f"got {self.clearing_radius_m}")
        for name in ("max_intruders", "distractors"):
            value = getattr(self, name)
            if not (isinstance(value, int) and 0 <= value <= 20):
                raise ValueError(f"scene.{name} must be an integer in [0, 20], got {value!r}")


@dataclass(frozen=True)
class Obstacle:
    """Something the drone must not touch. ``position`` is the centre of its main shape."""

    kind: str  # tree, bush, rock, building, hedge, block, target, distractor
    position: tuple[float, float, float]
    size: tuple[float, ...]  # the main shape's MuJoCo size (sphere r; box half-extents; ellipsoid radii)
    radius: float  # horizontal footprint radius: keep at least this far from (x, y)
    top: float  # height of its highest point


@dataclass(frozen=True)
class Palette:
    sky_top: tuple[float, float, float]
    sky_horizon: tuple[float, float, float]
    ground: tuple[float, float, float]
    ground_alt: tuple[float, float, float]
    ground_mark: tuple[float, float, float]
    trunk: tuple[float, float, float]
    canopies: tuple[tuple[float, float, float], ...]
    bush: tuple[float, float, float]
    rock: tuple[float, float, float]
    light: tuple[float, float, float]  # directional light colour
    light_dir: tuple[float, float, float]
    ambient: float
    fog: tuple[float, float, float, float, float] | None = None  # start m, end m, r, g, b
    tile_m: float = 1.5  # ground checker tile
    headlight: tuple[float, float, float] | None = None  # colour of a spot light on the drone (night)


PALETTES = {
    "summer": Palette((0.35, 0.55, 0.9), (0.8, 0.88, 0.97), (0.3, 0.47, 0.17), (0.27, 0.42, 0.15), (0.4, 0.55, 0.22),
                      (0.36, 0.25, 0.14), ((0.16, 0.42, 0.12), (0.22, 0.5, 0.15), (0.12, 0.34, 0.1), (0.3, 0.52, 0.18)),
                      (0.14, 0.33, 0.1), (0.5, 0.5, 0.48), (0.8, 0.8, 0.75), (0.3, 0.2, -1.0), 0.4),
    "autumn": Palette((0.5, 0.6, 0.8), (0.85, 0.85, 0.82), (0.42, 0.36, 0.18), (0.38, 0.3, 0.15), (0.52, 0.4, 0.16),
                      (0.3, 0.2, 0.12), ((0.85, 0.5, 0.1), (0.8, 0.65, 0.15), (0.6, 0.33, 0.1), (0.7, 0.45, 0.2)),
                      (0.5, 0.35, 0.12), (0.48, 0.45, 0.42), (0.85, 0.78, 0.65), (0.4, 0.1, -0.8), 0.4),
    "winter": Palette((0.62, 0.65, 0.7), (0.85, 0.86, 0.88), (0.9, 0.91, 0.94), (0.84, 0.86, 0.9), (0.96, 0.96, 0.98),
                      (0.25, 0.22, 0.2), ((0.88, 0.9, 0.92), (0.78, 0.8, 0.83), (0.7, 0.72, 0.74), (0.92, 0.93, 0.95)),
                      (0.8, 0.82, 0.85), (0.4, 0.4, 0.42), (0.7, 0.72, 0.75), (0.2, 0.3, -1.0), 0.5),
    "urban": Palette((0.45, 0.6, 0.85), (0.82, 0.86, 0.9), (0.5, 0.5, 0.5), (0.44, 0.44, 0.45), (0.58, 0.58, 0.56),
                     (0.3, 0.3, 0.3), ((0.7, 0.68, 0.62), (0.55, 0.57, 0.6), (0.62, 0.5, 0.42), (0.8, 0.78, 0.72)),
                     (0.2, 0.36, 0.16), (0.65, 0.64, 0.6), (0.8, 0.8, 0.78), (0.35, -0.2, -1.0), 0.4, tile_m=2.0),
    "dusk": Palette((0.12, 0.14, 0.3), (0.85, 0.5, 0.3), (0.2, 0.27, 0.12), (0.17, 0.23, 0.1), (0.26, 0.3, 0.14),
                    (0.25, 0.17, 0.1), ((0.12, 0.3, 0.1), (0.17, 0.36, 0.12), (0.09, 0.25, 0.08), (0.22, 0.38, 0.14)),
                    (0.1, 0.24, 0.08), (0.4, 0.38, 0.37), (1.0, 0.6, 0.35), (0.9, 0.3, -0.25), 0.25,
                    fog=(8.0, 55.0, 0.45, 0.35, 0.38)),
    "night": Palette((0.01, 0.015, 0.04), (0.04, 0.05, 0.09), (0.3, 0.42, 0.18), (0.27, 0.38, 0.16), (0.38, 0.5, 0.22),
                     (0.36, 0.25, 0.14), ((0.16, 0.42, 0.12), (0.22, 0.5, 0.15), (0.12, 0.34, 0.1), (0.3, 0.52, 0.18)),
                     (0.14, 0.33, 0.1), (0.5, 0.5, 0.48), (0.1, 0.12, 0.18), (-0.3, 0.4, -1.0), 0.05,
                     headlight=(1.8, 1.7, 1.5)),
}


@dataclass(frozen=True)
class Scene:
    seed: int
    domain: str
    family: str
    target: tuple[float, float, float]  # centre of the target ball
    start: tuple[float, float, float, float]  # x, y, z, yaw
    obstacles: tuple[Obstacle, ...]  # everything but the target itself
    bounds: tuple[float, float, float, float]  # flight area: x_min, x_max, y_min, y_max
    palette: Palette
    colour_seed: int
    target_radius: float = TARGET_RADIUS_M

    @property
    def start_distance(self) -> float:
        return math.hypot(self.start[0] - self.target[0], self.start[1] - self.target[1])

    def start_pose(self) -> tuple[float, float, float, float]:
        return self.start

    def target_obstacle(self) -> Obstacle:
        r = self.target_radius
        return Obstacle("target", self.target, (r,), r + 0.01, self.target[2] + r)

    def mjcf_geoms(self) -> str:
        """The obstacles and the target as MJCF <geom>s (worldbody children), in this domain's looks."""
        return _geoms_mjcf(self)

    def ground_extent(self) -> tuple[float, float, float, float]:
        """Centre x, y and half sizes of the ground plane: the flight area and 40 m of land beyond."""
        x_min, x_max, y_min, y_max = self.bounds
        return (x_min + x_max) / 2, (y_min + y_max) / 2, (x_max - x_min) / 2 + 40.0, (y_max - y_min) / 2 + 40.0

    def mjcf_assets(self) -> str:
        return _assets_mjcf(self)


def make_scene(seed: int, domain: str = TRAINING_DOMAIN, spec: SceneSpec | None = None,
               colour_seed: int | None = None) -> Scene:
    """The scene of ``seed`` in ``domain``; ``colour_seed`` (default: the seed) varies only the colours."""
    spec = spec or SceneSpec()
    spec.validate()
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; domains: {', '.join(DOMAINS)}")
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    seed = int(seed)
    family = family_of(seed)
    rng = np.random.default_rng([seed, 0x5CE])
    if family == "train":
        spacing = rng.uniform(3.2, 4.4)
    else:
        spacing = rng.uniform(2.8, 3.2) if rng.random() < 0.5 else rng.uniform(4.4, 5.2)
    distance = rng.uniform(*spec.start_distance_m)
    direction = rng.uniform(-math.pi, math.pi)
    target = (0.0, 0.0, float(rng.uniform(*spec.target_height_m)))
    sx, sy = distance * math.cos(direction), distance * math.sin(direction)
    yaw = _wrap(math.atan2(-sy, -sx) + math.radians(rng.uniform(-spec.max_yaw_offset_deg, spec.max_yaw_offset_deg)))
    start = (float(sx), float(sy), float(rng.uniform(*spec.start_altitude_m)), float(yaw))
    segment = ((sx, sy), (0.0, 0.0))

    # Obstacle slots: (kind, x, y, r, height, extra) with r the canopy/bush/rock radius.
    slots = []
    x_min, x_max = min(sx, 0.0) - spec.band_m, max(sx, 0.0) + spec.band_m
    y_min, y_max = min(sy, 0.0) - spec.band_m, max(sy, 0.0) + spec.band_m
    for gx in np.arange(x_min, x_max + 1e-9, spacing):
        for gy in np.arange(y_min, y_max + 1e-9, spacing):
            jx, jy, pick, r_unit, h_unit, trunk_unit, yaw_unit = rng.random(7)
            x, y = gx + (jx - 0.5) * 0.7 * spacing, gy + (jy - 0.5) * 0.7 * spacing
            if pick < 0.65:
                kind, r = "tree", 0.8 + 1.0 * r_unit
                height = r * 2.2 + 1.2 + 2.0 * h_unit  # canopy top
            elif pick < 0.85:
                kind, r = "bush", 0.3 + 0.4 * r_unit
                height = 0.4 + 0.5 * h_unit
            else:
                kind, r = "rock", 0.2 + 0.4 * r_unit
                height = 0.15 + 0.35 * h_unit
            footprint = r * FOOTPRINT_FACTOR
            if _segment_distance(x, y, segment) > spec.band_m and math.hypot(x, y) > spec.band_m:
                continue
            if (_segment_distance(x, y, segment) < spec.corridor_half_width_m + footprint
                    or math.hypot(x, y) < spec.clearing_radius_m + footprint
                    or math.hypot(x - sx, y - sy) < spec.start_clearance_m + footprint):
                continue
            if kind == "tree" and any(
                    s[0] == "tree" and 0 < math.hypot(s[1] - x, s[2] - y) - (s[3] + r) * FOOTPRINT_FACTOR < MIN_GAP_M
                    for s in slots):
                continue  # no slits a drone would squeeze into: trees either touch or leave a real gap
            slots.append([kind, x, y, r, height, trunk_unit, yaw_unit])

    # Intruders: trees whose footprint ends 0..0.45 m from the straight line (the drone is 0.25 m in radius).
    # They stand 5 m apart along the line at least, so that two never make a slit across it.
    free_length = distance - spec.clearing_radius_m - 2.0 - 3.0
    placed = []
    for _ in range(int(rng.integers(0, spec.max_intruders + 1))):
        along, side, r_unit, gap, h_unit, trunk_unit, yaw_unit = rng.random(7)
        from_start = 3.0 + along * free_length
        if free_length < 1.0 or any(abs(from_start - other) < 5.0 for other in placed):
            continue
        placed.append(from_start)
        r = 0.6 + 0.6 * r_unit
        footprint = r * FOOTPRINT_FACTOR
        ux, uy = -sx / distance, -sy / distance  # unit vector start -> target
        offset = (footprint + gap * 0.45) * (1.0 if side < 0.5 else -1.0)
        x = sx + ux * from_start - uy * offset
        y = sy + uy * from_start + ux * offset
        slots = [s for s in slots if math.hypot(s[1] - x, s[2] - y) > (s[3] + r) * FOOTPRINT_FACTOR + MIN_GAP_M]
        slots.append(["tree", x, y, r, r * 2.2 + 1.2 + 2.0 * h_unit, trunk_unit, yaw_unit])

    # Distractors: balls like the target in other colours, beside the corridor, never in it.
    distractors = []
    for i in range(spec.distractors):
        for _attempt in range(50):
            angle, reach, height_unit = rng.random(3)
            x = math.cos(angle * 2 * math.pi) * (spec.clearing_radius_m + 1.0 + reach * 10.0)
            y = math.sin(angle * 2 * math.pi) * (spec.clearing_radius_m + 1.0 + reach * 10.0)
            if (_segment_distance(x, y, segment) > spec.corridor_half_width_m + 1.0
                    and math.hypot(x - sx, y - sy) > spec.start_clearance_m + 1.0
                    and all(math.hypot(x - d[0], y - d[1]) > 1.5 for d in distractors)):
                slots = [s for s in slots if math.hypot(s[1] - x, s[2] - y) > s[3] * FOOTPRINT_FACTOR + 0.6]
                low, high = spec.target_height_m
                distractors.append((x, y, float(low + height_unit * (high - low)), i))
                break

    obstacles = [_obstacle(domain, kind, *(float(v) for v in rest)) for kind, *rest in slots]
    r = TARGET_RADIUS_M
    obstacles += [Obstacle("distractor", (float(x), float(y), z), (r,), r + 0.01, z + r) for x, y, z, _ in distractors]
    margin = spec.band_m + 3.0
    bounds = (min(sx, 0.0) - margin, max(sx, 0.0) + margin, min(sy, 0.0) - margin, max(sy, 0.0) + margin)
    return Scene(seed, domain, family, target, start, tuple(obstacles), tuple(float(b) for b in bounds),
                 PALETTES[domain], seed if colour_seed is None else int(colour_seed))


def _obstacle(domain: str, kind: str, x: float, y: float, r: float, height: float, trunk_unit: float,
              yaw_unit: float) -> Obstacle:
    footprint = r * FOOTPRINT_FACTOR
    if domain == "urban":
        half = r * URBAN_BOX_FRACTION
        if kind == "tree":
            top = 4.0 + 8.0 * trunk_unit
            return Obstacle("building", (x, y, top / 2), (half, half, top / 2), footprint, top)
        if kind == "bush":
            return Obstacle("hedge", (x, y, height / 2), (half, half * 0.5, height / 2), footprint, height)
        return Obstacle("block", (x, y, height / 2), (half, half, height / 2), footprint, height)
    if kind == "tree":
        canopy_z = height - 1.1 * r
        return Obstacle("tree", (x, y, canopy_z), (r, r, 1.1 * r), footprint, height)
    if kind == "bush":
        return Obstacle("bush", (x, y, height / 2), (r, r, height / 2), footprint, height)
    return Obstacle("rock", (x, y, height / 4), (r, r * 0.8, height * 0.75), footprint, height)


def _segment_distance(x: float, y: float, segment) -> float:
    (ax, ay), (bx, by) = segment
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else min(max(((x - ax) * dx + (y - ay) * dy) / length2, 0.0), 1.0)
    return math.hypot(x - ax - t * dx, y - ay - t * dy)


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def _rgb(colour, jitter: float = 1.0) -> str:
    return " ".join(f"{min(max(c * jitter, 0.0), 1.0):.3f}" for c in colour)


def _assets_mjcf(scene: Scene) -> str:
    p = scene.palette
    _, _, half_x, half_y = scene.ground_extent()
    texrepeat = f"{half_x / p.tile_m:.3f} {half_y / p.tile_m:.3f}"  # the builtin checker is 2 x 2 tiles
    return f"""
    <texture name="sky" type="skybox" builtin="gradient" rgb1="{_rgb(p.sky_top)}" rgb2="{_rgb(p.sky_horizon)}"
             width="64" height="64"/>
    <texture name="ground" type="2d" builtin="checker" rgb1="{_rgb(p.ground)}" rgb2="{_rgb(p.ground_alt)}"
             mark="random" random="0.08" markrgb="{_rgb(p.ground_mark)}" width="128" height="128"/>
    <material name="ground" texture="ground" texrepeat="{texrepeat}" texuniform="false" specular="0" shininess="0"/>
    <material name="beacon" emission="{BALL_EMISSION}" specular="0.3" shininess="0.3"/>"""


def _geoms_mjcf(scene: Scene) -> str:
    p = scene.palette
    rng = np.random.default_rng([scene.colour_seed, DOMAINS.index(scene.domain), 0xC0])
    # Colour jitter families: training seeds vary brightness by +-10 %, held-out ones by 10-20 %.
    def jitter() -> float:
        if scene.family == "train":
            return rng.uniform(0.9, 1.1)
        return rng.uniform(0.8, 0.9) if rng.random() < 0.5 else rng.uniform(1.1, 1.2)

    geoms = []
    obstacle_geom = 'contype="0" conaffinity="1"'
    for i, o in enumerate(scene.obstacles):
        x, y, z = o.position
        at = f'pos="{x:.3f} {y:.3f} {z:.3f}"'
        name = f'name="obstacle{i}"'
        ball_name = f"obstacle{i}"
        if o.kind == "tree":
            r = o.size[0]
            trunk_top = z - 0.6 * o.size[2]
            trunk_r = min(0.08 + 0.08 * r, 0.25)
            colour = p.canopies[int(rng.integers(len(p.canopies)))]
            geoms.append(f'<geom {name} type="cylinder" pos="{x:.3f} {y:.3f} {trunk_top / 2:.3f}" '
                         f'size="{trunk_r:.3f} {trunk_top / 2:.3f}" rgba="{_rgb(p.trunk, jitter())} 1" '
                         f'{obstacle_geom}/>')
            geoms.append(f'<geom name="obstacle{i}_canopy" type="ellipsoid" {at} {_size(o)} '
                         f'rgba="{_rgb(colour, jitter())} 1" {obstacle_geom}/>')
        elif o.kind in ("bush", "rock"):
            colour = p.bush if o.kind == "bush" else p.rock
            geoms.append(f'<geom {name} type="ellipsoid" {at} {_size(o)} '
                         f'rgba="{_rgb(colour, jitter())} 1" {obstacle_geom}/>')
        elif o.kind in ("building", "hedge", "block"):
            colour = {"building": p.canopies[int(rng.integers(len(p.canopies)))],
                      "hedge": p.bush, "block": p.rock}[o.kind]
            yaw = rng.uniform(0, math.pi / 2)
            geoms.append(f'<geom {name} type="box" {at} {_size(o)} euler="0 0 {yaw:.3f}" '
                         f'rgba="{_rgb(colour, jitter())} 1" {obstacle_geom}/>')
        elif o.kind == "distractor":
            colour = DISTRACTOR_RGBA[i % len(DISTRACTOR_RGBA)]
            geoms += _ball(ball_name, x, y, z, o.size[0], colour, obstacle_geom)
    tx, ty, tz = scene.target
    geoms += _ball("target", tx, ty, tz, scene.target_radius, TARGET_RGBA, obstacle_geom)
    return "\n    ".join(geoms)


def _size(obstacle: Obstacle) -> str:
    return 'size="' + " ".join(f"{s:.3f}" for s in obstacle.size) + '"'


def _ball(name: str, x: float, y: float, z: float, r: float, rgba, contact: str) -> list[str]:
    """A ball with a white band on a thin grey post: the target's shape."""
    post = (z - r) / 2
    colour = " ".join(f"{c:.3f}" for c in rgba)
    band = " ".join(f"{c:.3f}" for c in TARGET_BAND_RGBA)
    return [
        f'<geom name="{name}" type="sphere" pos="{x:.3f} {y:.3f} {z:.3f}" size="{r:.3f}" rgba="{colour}" '
        f'material="beacon" {contact}/>',
        f'<geom type="cylinder" pos="{x:.3f} {y:.3f} {z:.3f}" size="{r * 1.03:.3f} {r * 0.12:.3f}" rgba="{band}" '
        'contype="0" conaffinity="0"/>',
        f'<geom name="{name}_post" type="cylinder" pos="{x:.3f} {y:.3f} {post:.3f}" size="0.04 {post:.3f}" '
        f'rgba="0.55 0.55 0.55 1" {contact}/>',
    ]
