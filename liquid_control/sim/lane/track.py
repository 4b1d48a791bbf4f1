"""Procedural two-lane roads from a seed, and where a car is relative to its lane.

A track is a centre line sampled every ``ds`` metres (the road's middle, where the dashed centre
line is painted), with heading and curvature. The car drives in the right-hand lane, whose centre
is ``lane_width / 2`` to the right of the centre line (REP 103: x forward, y left, so "right" is
the negative normal).

Closed tracks are smooth star-shaped loops ``r(theta) = R0 (1 + sum_k a_k cos(k theta + phi_k))``;
open roads integrate a smooth random curvature profile. Both are rejected and redrawn until the
tightest bend keeps ``min_radius_m`` and no part of the road overlaps another.

Seeds split into families so generalisation can be measured: seeds below ``HELD_OUT_FROM`` are
the training family, seeds from it on are held out (they also get road and ground colours that
no training track uses; see ``road_texture``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HELD_OUT_FROM = 1000


def family_of(seed: int) -> str:
    """'train' or 'held_out'."""
    return "held_out" if seed >= HELD_OUT_FROM else "train"


@dataclass(frozen=True)
class TrackSpec:
    """How tracks are drawn. Lengths in metres."""

    closed: bool = True
    min_length_m: float = 120.0
    max_length_m: float = 240.0
    lane_width_m: float = 1.0
    lane_width_jitter: float = 0.1  # +-10 % per track
    min_radius_m: float = 6.0
    ds_m: float = 0.1

    def validate(self) -> None:
        if not 20.0 <= self.min_length_m <= self.max_length_m <= 2000.0:
            raise ValueError("track lengths must satisfy 20 <= min_length_m <= max_length_m <= 2000, "
                             f"got {self.min_length_m}, {self.max_length_m}")
        if not 0.3 <= self.lane_width_m <= 5.0:
            raise ValueError(f"lane_width_m must be in [0.3, 5], got {self.lane_width_m}")
        if not 0.0 <= self.lane_width_jitter < 0.5:
            raise ValueError(f"lane_width_jitter must be in [0, 0.5), got {self.lane_width_jitter}")
        if self.min_radius_m < 2.5 * self.lane_width_m:
            raise ValueError(f"min_radius_m={self.min_radius_m} is too tight for lane_width_m={self.lane_width_m} "
                             "(needs >= 2.5 lane widths)")
        if not 0.01 <= self.ds_m <= 1.0:
            raise ValueError(f"ds_m must be in [0.01, 1], got {self.ds_m}")


@dataclass(frozen=True)
class LanePosition:
    """Where a point is relative to the driven (right) lane."""

    index: int  # nearest centre-line sample
    s: float  # arc length of that sample along the track
    lateral: float  # signed offset from the lane centre, positive to the left (m)
    heading: float  # track heading at that sample (rad)
    road_lateral: float  # signed offset from the road's centre line, positive to the left (m)


@dataclass
class Track:
    seed: int
    closed: bool
    points: np.ndarray  # (N, 2) road centre line
    heading: np.ndarray  # (N,)
    curvature: np.ndarray  # (N,) 1/m, positive = turning left
    lane_width: float
    ds: float
    family: str = field(init=False)

    def __post_init__(self):
        self.family = family_of(self.seed)
        self.s = np.arange(len(self.points)) * self.ds
        self.normal = np.stack((-np.sin(self.heading), np.cos(self.heading)), axis=1)  # left normal
        self.lane_centre = self.points - self.normal * (self.lane_width / 2)

    @property
    def length(self) -> float:
        return len(self.points) * self.ds if self.closed else (len(self.points) - 1) * self.ds

    @property
    def road_half_width(self) -> float:
        """From the centre line to the outer edge of the asphalt (two lanes plus a shoulder)."""
        return self.lane_width + 0.15 * self.lane_width

    def bounds(self, margin: float) -> tuple[float, float, float, float]:
        low = self.points.min(axis=0) - margin
        high = self.points.max(axis=0) + margin
        return float(low[0]), float(low[1]), float(high[0]), float(high[1])

    def start_pose(self, s: float = 0.0) -> tuple[float, float, float]:
        """(x, y, yaw) on the lane centre at arc length ``s``, facing along the track."""
        i = int(round(s / self.ds)) % len(self.points)
        x, y = self.lane_centre[i]
        return float(x), float(y), float(self.heading[i])

    def project(self, x: float, y: float, hint: int | None = None, window: int = 40) -> LanePosition:
        """Nearest centre-line sample to (x, y); with ``hint`` (the previous index) only nearby samples are searched."""
        n = len(self.points)
        if hint is None:
            candidates = np.arange(n)
        else:
            candidates = np.arange(hint - window, hint + window + 1)
            candidates = candidates % n if self.closed else candidates[(candidates >= 0) & (candidates < n)]
        offsets = self.points[candidates] - (x, y)
        i = int(candidates[np.argmin(np.einsum("ij,ij->i", offsets, offsets))])
        road_lateral = float(np.dot((x, y) - self.points[i], self.normal[i]))
        return LanePosition(i, float(self.s[i]), road_lateral + self.lane_width / 2, float(self.heading[i]),
                            road_lateral)

    def progress(self, previous_index: int, index: int) -> float:
        """Signed arc length from one sample to another, the short way round on a loop."""
        delta = index - previous_index
        if self.closed:
            n = len(self.points)
            delta = (delta + n // 2) % n - n // 2
        return delta * self.ds


def make_track(seed: int, spec: TrackSpec | None = None) -> Track:
    """Draw the track for ``seed`` (deterministic)."""
    spec = spec or TrackSpec()
    spec.validate()
    rng = np.random.default_rng([seed, 0x7A3C])
    lane_width = spec.lane_width_m * (1 + rng.uniform(-spec.lane_width_jitter, spec.lane_width_jitter))
    clearance = spec.min_radius_m
    for attempt in range(200):
        length = rng.uniform(spec.min_length_m, spec.max_length_m)
        points = _closed_curve(rng, length, attempt) if spec.closed else _open_curve(rng, length, spec.min_radius_m)
        points = _resample(points, spec.ds_m, spec.closed)
        heading, curvature = _heading_and_curvature(points, spec.ds_m, spec.closed)
        if np.abs(curvature).max() > 1.0 / clearance:
            continue
        if not spec.closed and _self_overlaps(points, spec.ds_m, 2.5 * (lane_width + 0.15 * lane_width)):
            continue
        return Track(seed, spec.closed, points, heading, curvature, lane_width, spec.ds_m)
    raise RuntimeError(f"could not draw a track for seed {seed} with min_radius_m={spec.min_radius_m}; loosen the spec")


def _closed_curve(rng: np.random.Generator, length: float, attempt: int) -> np.ndarray:
    theta = np.linspace(0, 2 * np.pi, 4096, endpoint=False)
    radius = np.ones_like(theta)
    damping = 0.97**attempt  # later attempts draw gentler shapes
    for k in range(2, 6):
        amplitude = rng.uniform(0.0, 0.35 / k) * damping
        radius += amplitude * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    curve = np.stack((radius * np.cos(theta), radius * np.sin(theta)), axis=1)
    perimeter = np.linalg.norm(np.diff(np.vstack((curve, curve[:1])), axis=0), axis=1).sum()
    curve *= length / perimeter
    if rng.random() < 0.5:  # drive the loop clockwise on half the tracks
        curve = curve[::-1].copy()
    return curve - curve.mean(axis=0)


def _open_curve(rng: np.random.Generator, length: float, min_radius: float) -> np.ndarray:
    ds = 0.05
    s = np.arange(0, length, ds)
    kappa = np.zeros_like(s)
    for _ in range(4):
        wavelength = rng.uniform(25.0, 90.0)
        kappa += rng.uniform(-1, 1) * np.sin(2 * np.pi * s / wavelength + rng.uniform(0, 2 * np.pi))
    kappa *= 0.9 / (min_radius * max(np.abs(kappa).max(), 1e-9))
    heading = rng.uniform(-np.pi, np.pi) + np.cumsum(kappa) * ds
    steps = np.stack((np.cos(heading), np.sin(heading)), axis=1) * ds
    return np.cumsum(steps, axis=0)


def _resample(points: np.ndarray, ds: float, closed: bool) -> np.ndarray:
    """Points every ``ds`` metres of arc length (a loop's last point stops short of the first)."""
    path = np.vstack((points, points[:1])) if closed else points
    arc = np.concatenate(([0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))))
    count = int(arc[-1] / ds) if closed else int(arc[-1] / ds) + 1
    targets = np.arange(count) * (arc[-1] / count if closed else ds)
    return np.stack((np.interp(targets, arc, path[:, 0]), np.interp(targets, arc, path[:, 1])), axis=1)


def _heading_and_curvature(points: np.ndarray, ds: float, closed: bool) -> tuple[np.ndarray, np.ndarray]:
    if closed:
        forward, backward = np.roll(points, -1, axis=0), np.roll(points, 1, axis=0)
    else:
        forward = np.vstack((points[1:], 2 * points[-1] - points[-2]))
        backward = np.vstack((2 * points[0] - points[1], points[:-1]))
    tangent = forward - backward
    heading = np.arctan2(tangent[:, 1], tangent[:, 0])
    if closed:
        ahead, behind = np.roll(heading, -1), np.roll(heading, 1)
    else:
        ahead = np.concatenate((heading[1:], heading[-1:]))
        behind = np.concatenate((heading[:1], heading[:-1]))
    spacing = np.full(len(points), 2 * ds)
    if not closed:
        spacing[[0, -1]] = ds
    curvature = np.angle(np.exp(1j * (ahead - behind))) / spacing
    # Smooth the finite-difference noise over ~1 m.
    width = max(1, int(round(1.0 / ds)))
    kernel = np.ones(width) / width
    if closed:
        wrapped = np.concatenate((curvature[-width:], curvature, curvature[:width]))
        curvature = np.convolve(wrapped, kernel, "same")[width:-width]
    else:
        curvature = np.convolve(curvature, kernel, "same")
    return heading, curvature


def _self_overlaps(points: np.ndarray, ds: float, clearance: float) -> bool:
    """Whether parts of an open road farther apart along it than 3 clearances come closer than ``clearance``."""
    from scipy.spatial import cKDTree

    stride = max(1, int(0.5 / ds))
    sparse = points[::stride]
    pairs = cKDTree(sparse).query_pairs(clearance, output_type="ndarray")
    if len(pairs) == 0:
        return False
    separation = np.abs(pairs[:, 0] - pairs[:, 1]) * stride * ds
    return bool((separation > 3 * clearance).any())
