"""Paint a track as the ground texture: asphalt, white edge lines, dashed centre line, and ground.

The texture is one RGB image laid over the ground plane (``type="2d"`` texture, ``texrepeat``
1 1), so the whole road costs the renderer a single textured quad. Colours and surface noise come
from a palette chosen by seed; the held-out family of tracks draws from palettes that training
tracks never use, so a policy's robustness to unseen surfaces can be measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .track import Track

# (asphalt RGB, ground RGB, centre-line RGB) per palette.
_TRAIN_PALETTES = [
    ((70, 70, 72), (74, 118, 52), (235, 235, 235)),  # grey road, grass, white dashes
    ((52, 52, 56), (96, 130, 60), (230, 190, 40)),  # dark road, dry grass, yellow dashes
    ((88, 86, 82), (150, 132, 98), (240, 240, 240)),  # light road, sand
    ((60, 62, 66), (120, 120, 118), (235, 205, 60)),  # road in concrete yard
    ((78, 74, 70), (58, 92, 44), (245, 245, 245)),  # brownish road, dark grass
    ((45, 47, 50), (170, 160, 140), (220, 220, 220)),  # fresh asphalt, gravel
]
_HELD_OUT_PALETTES = [
    ((100, 96, 104), (60, 80, 100), (250, 250, 250)),  # pale road, blue-grey ground (wet)
    ((38, 36, 34), (196, 176, 120), (240, 200, 70)),  # very dark road, desert
]

DASH_LENGTH_M = 1.0
DASH_GAP_M = 1.0


@dataclass(frozen=True)
class GroundTexture:
    image: np.ndarray  # (H, W, 3) uint8; row 0 is the +y edge, column 0 the -x edge (MuJoCo's plane mapping)
    x_min: float
    y_min: float
    x_max: float
    y_max: float

    @property
    def half_size(self) -> tuple[float, float]:
        return (self.x_max - self.x_min) / 2, (self.y_max - self.y_min) / 2

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x_max + self.x_min) / 2, (self.y_max + self.y_min) / 2


def palette_for(seed: int, family: str, texture_seed: int | None = None) -> tuple:
    palettes = _HELD_OUT_PALETTES if family == "held_out" else _TRAIN_PALETTES
    choice = seed if texture_seed is None else texture_seed
    return palettes[int(np.random.default_rng([choice, 0x9A1]).integers(len(palettes)))]


def paint_track(track: Track, texture_seed: int | None = None, max_pixels: int = 4096,
                margin_m: float = 12.0) -> GroundTexture:
    """Render ``track`` into a ground texture (about 2-4 cm per pixel)."""
    x_min, y_min, x_max, y_max = track.bounds(margin_m)
    metres_per_pixel = max((x_max - x_min), (y_max - y_min)) / max_pixels
    metres_per_pixel = max(metres_per_pixel, 0.02)
    width = int(np.ceil((x_max - x_min) / metres_per_pixel))
    height = int(np.ceil((y_max - y_min) / metres_per_pixel))
    x_max, y_max = x_min + width * metres_per_pixel, y_min + height * metres_per_pixel
    asphalt, ground, centre_colour = palette_for(track.seed, track.family, texture_seed)
    rng = np.random.default_rng([track.seed if texture_seed is None else texture_seed, 0x51C])

    shift = 4  # cv2 fixed-point bits: sub-pixel accurate polygons
    scale = 1 << shift

    def to_pixels(points: np.ndarray) -> np.ndarray:
        cols = (points[:, 0] - x_min) / metres_per_pixel
        rows = (y_max - points[:, 1]) / metres_per_pixel
        return np.round(np.stack((cols, rows), axis=1) * scale).astype(np.int32)

    lw = track.lane_width
    road_mask = np.zeros((height, width), np.uint8)
    for part in _band(track, -track.road_half_width, track.road_half_width):
        cv2.fillPoly(road_mask, [to_pixels(part)], 255, cv2.LINE_AA, shift)
    weight = road_mask.astype(np.float32) * (1.0 / 255.0)
    image = cv2.blendLinear(_noisy_fill((height, width), asphalt, rng, strength=6),
                            _noisy_fill((height, width), ground, rng, strength=14), weight, 1.0 - weight)
    line = 0.08 * lw  # painted line width
    white = (235, 235, 235)
    for offset in (-lw, lw):  # edge lines at the outer side of each lane
        for part in _band(track, offset - line / 2, offset + line / 2):
            cv2.fillPoly(image, [to_pixels(part)], white, cv2.LINE_AA, shift)
    for dash in _dashes(track, line * 0.75):
        cv2.fillPoly(image, [to_pixels(dash)], centre_colour, cv2.LINE_AA, shift)
    return GroundTexture(image, x_min, y_min, x_max, y_max)


def _noisy_fill(shape: tuple[int, int], colour, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A colour with blotchy low-frequency variation and fine grain, like a real surface.

    Kept in float32/int16 and cv2: a 4096x4096 texture has 16 M pixels, and float64 numpy
    temporaries made painting take seconds.
    """
    height, width = shape
    coarse = rng.standard_normal((max(2, height // 64), max(2, width // 64)), dtype=np.float32)
    variation = cv2.resize(coarse * strength, (width, height), interpolation=cv2.INTER_CUBIC)
    # Grain: two random bits per pixel, from raw bytes (the cheapest random numbers numpy makes).
    grain = (np.frombuffer(rng.bytes(height * width), np.uint8).reshape(height, width) & 3).astype(np.float32)
    variation += (grain - 1.5) * (strength / 3)
    # One channel at a time, saturating in cv2: no (H, W, 3) float temporaries.
    planes = [cv2.convertScaleAbs(np.maximum(variation + np.float32(value), 0)) for value in colour]
    return cv2.merge(planes)


def _band(track: Track, left: float, right: float) -> list[np.ndarray]:
    """Quadrilateral strips covering lateral offsets [left, right] along the track, in chunks."""
    inner = track.points + track.normal * left
    outer = track.points + track.normal * right
    if track.closed:
        inner, outer = np.vstack((inner, inner[:1])), np.vstack((outer, outer[:1]))
    strips = []
    chunk = 200  # short strips keep every polygon simple (no self-overlap in tight bends)
    for start in range(0, len(inner) - 1, chunk):
        stop = min(start + chunk + 1, len(inner))
        strips.append(np.vstack((inner[start:stop], outer[start:stop][::-1])))
    return strips


def _dashes(track: Track, width: float) -> list[np.ndarray]:
    period = DASH_LENGTH_M + DASH_GAP_M
    count = int(track.length // period)
    dashes = []
    for k in range(count):
        start = int(k * period / track.ds)
        stop = int((k * period + DASH_LENGTH_M) / track.ds)
        idx = np.arange(start, stop + 1) % len(track.points)
        left = track.points[idx] + track.normal[idx] * (width / 2)
        right = track.points[idx] - track.normal[idx] * (width / 2)
        dashes.append(np.vstack((left, right[::-1])))
    return dashes
