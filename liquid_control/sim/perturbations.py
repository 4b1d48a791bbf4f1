"""Camera perturbations for robustness studies: what the robot's camera delivers, not what was rendered.

A policy that drives well on clean renders may fail on a real camera. ``FramePerturber`` sits
between the renderer and the robot and degrades each frame the way real cameras do:

* photometric: blur (focus, motion), brightness/contrast (exposure), opaque blobs (mud, leaves,
  a hand in front of the lens) and pixel noise, applied in that order, noise last, because the
  sensor adds its noise to whatever light reaches it;
* timing: dropped frames (a lossy link, a busy driver) and a fixed latency between capture and
  delivery. A delivered frame keeps its capture time, which becomes its header stamp, so the
  controller sees how old its input is, exactly as it would on a robot;
* conditions that need memory and continuous time: blackouts (the lens covered for a random
  while: black frames keep arriving, as from a camera whose view is blocked) and frame-interval
  jitter (each camera period drawn around the nominal one; the world asks ``frame_period_steps``
  how long its next step lasts, so the controller's elapsed time sees the real intervals).

``PerturbationConfig`` also carries two settings the world applies when it builds the scene
(``light_intensity``, ``texture_seed``), so that one plain record describes a whole study
condition. Everything random comes from the perturber's own seeded generators: the same config,
seed and input frames give the same delivered frames, whatever else runs in the process.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections import deque
from dataclasses import asdict, dataclass, fields
from statistics import NormalDist
from typing import Any, Mapping

import cv2
import numpy as np

# A sim clock that adds 0.05 s steps lands on 0.15000000000000002, not 0.15: a frame is due when
# its delivery time is within this tolerance of the tick, so float rounding never costs a tick.
TIME_TOLERANCE_S = 1e-9

# At most this many frames wait out their latency (10 s at 100 Hz, far past any useful study), which
# bounds memory. A latency longer than this many camera periods is refused rather than served by
# discarding the oldest frames: those are the next ones due, so the camera would go silently dark.
MAX_QUEUED_FRAMES = 1000

# Occluding blobs are dark, like mud or a leaf against the sky: channel values up to this.
MAX_BLOB_LEVEL = 80

# Each blob's half-axes lie between this fraction of occlusion_radius and the full radius.
MIN_BLOB_AXIS_FRACTION = 0.5

# Allowed values of each numeric field: (text for error messages, test). Numbers must be finite.
_REAL_FIELDS = {
    "noise_std": ("in [0, 255]", lambda v: 0 <= v <= 255),
    "brightness": ("in [-1, 1]", lambda v: -1 <= v <= 1),
    "contrast": (">= 0", lambda v: v >= 0),
    "blur_sigma": (">= 0", lambda v: v >= 0),
    "occlusion_radius": ("in (0, 1]", lambda v: 0 < v <= 1),
    "drop_probability": ("in [0, 1)", lambda v: 0 <= v < 1),
    "latency_s": (">= 0", lambda v: v >= 0),
    "light_intensity": (">= 0", lambda v: v >= 0),
    "blackout_rate_hz": ("in [0, 10]", lambda v: 0 <= v <= 10),
    "blackout_min_s": ("in (0, 60]", lambda v: 0 < v <= 60),
    "blackout_max_s": ("in (0, 60]", lambda v: 0 < v <= 60),
    "frame_interval_jitter": ("in [1, 10]", lambda v: 1 <= v <= 10),
}


@dataclass(frozen=True)
class PerturbationConfig:
    """One study condition. The defaults change nothing; a config is checked when it is made."""

    noise_std: float = 0.0  # Gaussian pixel noise, standard deviation in 0..255 pixel units
    brightness: float = 0.0  # additive offset, fraction of full scale (0.2 adds 51)
    contrast: float = 1.0  # multiplies the distance from mid-grey (128)
    blur_sigma: float = 0.0  # Gaussian blur sigma in pixels (0 = off)
    occlusion_blobs: int = 0  # opaque elliptical blobs drawn anew on every frame
    occlusion_radius: float = 0.15  # largest blob half-axis, as a fraction of the image height
    drop_probability: float = 0.0  # chance that a captured frame is never delivered
    latency_s: float = 0.0  # seconds from capture to delivery
    light_intensity: float = 1.0  # world lighting scale (applied by the world, not here)
    texture_seed: int | None = None  # road/ground texture variant (the world's; None = the track's own)
    blackout_rate_hz: float = 0.0  # blackouts per second of sim time, starts a Poisson process (0 = off)
    blackout_min_s: float = 0.3  # each blackout lasts a duration drawn uniformly from [min, max] seconds
    blackout_max_s: float = 1.5
    frame_interval_jitter: float = 1.0  # each camera period is nominal x a log-uniform factor in [1/j, j] (1 = off)

    def __post_init__(self):
        self.validate()
        # Plain Python numbers, whatever came in (numpy scalars from a sweep, ints from YAML), so
        # that to_dict() is JSON/YAML-ready and equal configs compare equal.
        for name in _REAL_FIELDS:
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "occlusion_blobs", int(self.occlusion_blobs))
        if self.texture_seed is not None:
            object.__setattr__(self, "texture_seed", int(self.texture_seed))

    def validate(self) -> None:
        """Raise ValueError naming the first bad field, its value and what is allowed."""
        for name, (allowed, is_allowed) in _REAL_FIELDS.items():
            value = getattr(self, name)
            if not _is_real(value) or not math.isfinite(value) or not is_allowed(value):
                raise ValueError(f"PerturbationConfig.{name} must be a finite number {allowed}, got {value!r}")
        if not _is_integer(self.occlusion_blobs) or self.occlusion_blobs < 0:
            raise ValueError(
                f"PerturbationConfig.occlusion_blobs must be an integer >= 0, got {self.occlusion_blobs!r}")
        if self.texture_seed is not None and (not _is_integer(self.texture_seed) or self.texture_seed < 0):
            raise ValueError(
                f"PerturbationConfig.texture_seed must be None or an integer >= 0, got {self.texture_seed!r}")
        if self.blackout_min_s > self.blackout_max_s:
            raise ValueError("PerturbationConfig.blackout_min_s must be <= blackout_max_s, "
                             f"got {self.blackout_min_s!r} > {self.blackout_max_s!r}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PerturbationConfig:
        """Build from plain data (a YAML/JSON study file); missing fields keep their defaults."""
        if not isinstance(values, Mapping):
            raise ValueError("a PerturbationConfig is built from a mapping of field names to values, "
                             f"got {type(values).__name__}")
        valid = [field.name for field in fields(cls)]
        unknown = sorted(set(values) - set(valid), key=str)
        if unknown:
            raise ValueError(f"unknown PerturbationConfig field(s) {', '.join(map(repr, unknown))}; "
                             f"valid fields: {', '.join(valid)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def is_identity(self) -> bool:
        """True when delivered frames equal the rendered ones, delivered at once.

        light_intensity and texture_seed do not count: they change the scene, not the camera.
        """
        return (self.noise_std == 0 and self.brightness == 0 and self.contrast == 1 and self.blur_sigma == 0
                and self.occlusion_blobs == 0 and self.drop_probability == 0 and self.latency_s == 0
                and self.blackout_rate_hz == 0 and self.frame_interval_jitter == 1)


@dataclass(frozen=True, eq=False)  # eq=False: comparing images with == has no single truth value
class DeliveredFrame:
    """A frame as the robot receives it."""

    image: np.ndarray  # the perturbed frame, owned by this record
    capture_time: float  # sim time at which it was captured: its header stamp


class FramePerturber:
    """Turns each rendered frame into what the camera delivers at that tick (see the module doc)."""

    def __init__(self, config: PerturbationConfig, seed: int):
        if not isinstance(config, PerturbationConfig):
            raise ValueError(f"config must be a PerturbationConfig, got {type(config).__name__}")
        self.config = config
        # Everything that depends on the config alone is prepared once, not on every frame.
        self._blur_kernel = _blur_kernel_size(config.blur_sigma)
        self._tone_curve = _tone_curve(config.brightness, config.contrast)
        self._noise_levels = _noise_levels(config.noise_std)
        self._queue: deque[DeliveredFrame] = deque()
        self.seed = seed  # checked by reset()
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Forget queued frames and restart the random streams (from ``seed``, or the current seed).

        Call it when the simulation restarts: frames captured before belong to another episode.
        Drops, image perturbations, blackouts and frame intervals draw from separate streams, so a
        drop pattern depends only on the seed and drop_probability, and is the same across the
        noise/blob settings of a study (and the same with or without blackouts or jitter).
        """
        seed = self.seed if seed is None else seed
        if not _is_integer(seed) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.seed = int(seed)
        # spawn(4)'s first two children are spawn(2)'s: drops and images as before these streams existed.
        drop_stream, image_stream, blackout_stream, interval_stream = np.random.SeedSequence(self.seed).spawn(4)
        self._drop_rng = np.random.default_rng(drop_stream)
        self._image_rng = np.random.default_rng(image_stream)
        self._blackout_rng = np.random.default_rng(blackout_stream)
        self._interval_rng = np.random.default_rng(interval_stream)
        self.blackouts: list[tuple[float, float]] = []  # (start, end) s of the blackouts drawn so far
        self._queue.clear()
        self._last_tick = -math.inf

    def frame_period_steps(self, nominal_steps: int) -> int:
        """How many physics steps the next camera period lasts: ``nominal_steps`` without jitter,
        else nominal times a factor drawn log-uniformly from [1/j, j] (median: the nominal period),
        rounded to whole steps, at least one."""
        if not _is_integer(nominal_steps) or nominal_steps < 1:
            raise ValueError(f"nominal_steps must be an integer >= 1, got {nominal_steps!r}")
        jitter = self.config.frame_interval_jitter
        if jitter == 1:
            return int(nominal_steps)
        factor = math.exp(self._interval_rng.uniform(-math.log(jitter), math.log(jitter)))
        return max(1, round(nominal_steps * factor))

    def is_blacked_out(self, capture_time: float) -> bool:
        """Whether the lens is covered at ``capture_time`` (times must not go back between calls).

        Blackouts start as a Poisson process of rate blackout_rate_hz in the time the lens is
        clear, each lasting a uniform draw from [blackout_min_s, blackout_max_s]; they are drawn
        lazily as time passes, so the same seed gives the same windows whatever the frame times.
        """
        config = self.config
        if config.blackout_rate_hz == 0:
            return False
        end = self.blackouts[-1][1] if self.blackouts else 0.0
        while end <= capture_time:
            start = end + self._blackout_rng.exponential(1.0 / config.blackout_rate_hz)
            end = start + self._blackout_rng.uniform(config.blackout_min_s, config.blackout_max_s)
            self.blackouts.append((start, end))
        start, end = self.blackouts[-1]
        return start <= capture_time < end

    def __call__(self, image: np.ndarray, capture_time: float) -> DeliveredFrame | None:
        """Perturb the frame captured at ``capture_time`` and return the frame delivered at this tick.

        That is the newest frame whose capture_time + latency_s has been reached (with no latency,
        this frame), or None when no frame is due yet or the one due was dropped: the robot then
        keeps its previous frame, as with a real driver. Older due frames are superseded, as a
        driver that always hands out the latest frame would.
        """
        _check_frame(image)
        if not (_is_real(capture_time) and math.isfinite(capture_time)):
            raise ValueError(f"capture_time must be a finite number of seconds, got {capture_time!r}")
        if capture_time < self._last_tick:
            raise ValueError(f"capture_time went back from {self._last_tick} to {capture_time}: "
                             "call reset() when the simulation restarts")
        self._last_tick = capture_time = float(capture_time)
        blacked_out = self.is_blacked_out(capture_time)
        if not self._is_dropped():
            if len(self._queue) >= MAX_QUEUED_FRAMES:
                raise ValueError(f"more than {MAX_QUEUED_FRAMES} frames would wait out "
                                 f"latency_s={self.config.latency_s}: the latency must be shorter than "
                                 f"{MAX_QUEUED_FRAMES} camera periods")
            # A covered lens: no light reaches the sensor, which still adds its noise (and the rest).
            light = np.zeros_like(image) if blacked_out else image
            self._queue.append(DeliveredFrame(self._perturb(light), capture_time))
        due = None
        delivery_cutoff = capture_time - self.config.latency_s + TIME_TOLERANCE_S
        while self._queue and self._queue[0].capture_time <= delivery_cutoff:
            due = self._queue.popleft()
        return due

    def apply_image(self, image: np.ndarray) -> np.ndarray:
        """The photometric perturbations alone, on a uint8 (H, W) or (H, W, C) frame.

        Always returns a new uint8 array of the input's shape (for an identity config, a copy):
        the input is never modified nor referenced, so a renderer may reuse its buffer.
        """
        _check_frame(image)
        return self._perturb(image)

    # ----------------------------------------------------------------- internals
    def _is_dropped(self) -> bool:
        return self.config.drop_probability > 0 and self._drop_rng.random() < self.config.drop_probability

    def _perturb(self, image: np.ndarray) -> np.ndarray:
        frame = np.ascontiguousarray(image)  # OpenCV needs contiguous rows; a no-op for rendered frames
        if self._blur_kernel:
            frame = cv2.GaussianBlur(frame, (self._blur_kernel, self._blur_kernel), self.config.blur_sigma,
                                     borderType=cv2.BORDER_REFLECT_101)
        if self._tone_curve is not None:
            frame = cv2.LUT(frame, self._tone_curve)
        if self.config.occlusion_blobs:
            frame = self._draw_blobs(frame.copy() if frame is image else frame)
        if self._noise_levels is not None:
            frame = self._add_noise(frame)
        if frame is image:
            frame = frame.copy()
        # OpenCV returns (H, W) for an (H, W, 1) input; give the caller back the shape it gave.
        return frame.reshape(image.shape)

    def _draw_blobs(self, frame: np.ndarray) -> np.ndarray:
        """Draw the configured number of filled dark ellipses into ``frame`` (which it owns)."""
        height, width = frame.shape[:2]
        channels = frame.shape[2] if frame.ndim == 3 else 1
        radius = self.config.occlusion_radius * height
        # One draw for all blobs: centre x, centre y, two half-axes, angle, then a level per channel.
        draws = self._image_rng.random((self.config.occlusion_blobs, 5 + channels))
        for x, y, axis_a, axis_b, angle, *levels in draws.tolist():
            cv2.ellipse(
                frame,
                (int(x * width), int(y * height)),
                (_blob_axis(axis_a, radius), _blob_axis(axis_b, radius)),
                float(angle * 180.0), 0.0, 360.0,
                tuple(int(level * (MAX_BLOB_LEVEL + 1)) for level in levels),
                thickness=-1,
            )
        return frame

    def _add_noise(self, frame: np.ndarray) -> np.ndarray:
        """Add rounded Gaussian noise and saturate to uint8.

        numpy's Gaussian sampler would take the whole per-frame budget. Instead, 16 random bits per
        pixel index a table of 65536 equally likely noise values (the standard normal's quantiles,
        scaled and rounded): the same distribution to within 1/65536 per level, tails to 4.3 sigma,
        at a fraction of the cost. Rounding the noise before adding it to integer pixels gives the
        same result as adding it first and rounding the sum.
        """
        bits = self._image_rng.bit_generator.random_raw((frame.size + 3) // 4).view(np.uint16)[:frame.size]
        noise = np.take(self._noise_levels, bits).reshape(frame.shape)
        return cv2.add(frame, noise, dtype=cv2.CV_8U)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_frame(image) -> None:
    if (not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3)
            or (image.ndim == 3 and not 1 <= image.shape[2] <= 4)):
        raise ValueError("a camera frame must be a uint8 array of shape (H, W) or (H, W, C) with C <= 4, got "
                         f"{type(image).__name__} {getattr(image, 'dtype', '')} {getattr(image, 'shape', '')}")


def _blur_kernel_size(sigma: float) -> int:
    """Odd kernel width covering +-3 sigma (99.7% of the Gaussian); 0 when blur is off."""
    return 2 * math.ceil(3 * sigma) + 1 if sigma > 0 else 0


def _tone_curve(brightness: float, contrast: float) -> np.ndarray | None:
    """The brightness/contrast map of every uint8 level (None when it is the identity)."""
    if brightness == 0 and contrast == 1:
        return None
    levels = (np.arange(256) - 128.0) * contrast + 128.0 + 255.0 * brightness
    return np.clip(np.rint(levels), 0, 255).astype(np.uint8)


def _noise_levels(noise_std: float) -> np.ndarray | None:
    """The 65536 equally likely rounded noise values for ``noise_std`` (None when noise is off)."""
    if noise_std == 0:
        return None
    return np.rint(noise_std * _standard_normal_quantiles()).astype(np.int16)


@functools.cache
def _standard_normal_quantiles() -> np.ndarray:
    """Quantiles of N(0, 1) at the centres of 65536 equal probability bins, made once."""
    inverse_cdf = NormalDist().inv_cdf
    upper = np.array([inverse_cdf((i + 0.5) / 65536) for i in range(32768, 65536)])
    quantiles = np.concatenate([-upper[::-1], upper])  # symmetric: computing half is enough
    quantiles.flags.writeable = False
    return quantiles


def _blob_axis(fraction: float, radius: float) -> int:
    return max(1, round(radius * (MIN_BLOB_AXIS_FRACTION + (1 - MIN_BLOB_AXIS_FRACTION) * fraction)))
