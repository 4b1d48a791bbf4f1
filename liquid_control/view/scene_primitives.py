"""Small builders of Foxglove scene primitives (poses, colours, lines) the world scenes share."""

from __future__ import annotations

import math

import numpy as np
from foxglove.messages import Color, LinePrimitive, LinePrimitiveLineType, Point3, Pose, Quaternion, Timestamp, Vector3

WORLD_FRAME = "world"


def timestamp(seconds: float) -> Timestamp:
    """A Foxglove Timestamp of ``seconds`` on the simulation's clock."""
    whole = math.floor(seconds)
    return Timestamp(int(whole), int(round((seconds - whole) * 1e9)) % 1_000_000_000)


def colour(rgb, alpha: float = 1.0) -> Color:
    r, g, b = (float(c) for c in rgb[:3])
    return Color(r=r, g=g, b=b, a=float(alpha))


def pose(x: float, y: float, z: float, yaw: float = 0.0) -> Pose:
    return Pose(position=Vector3(x=float(x), y=float(y), z=float(z)),
                orientation=Quaternion(x=0.0, y=0.0, z=math.sin(yaw / 2), w=math.cos(yaw / 2)))


def line_strip(points: np.ndarray, rgb, thickness: float, z: float = 0.0, closed: bool = False,
               alpha: float = 1.0) -> LinePrimitive:
    """A line through (N, 2) or (N, 3) points (``z`` for 2-D points), ``thickness`` in metres."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) == 0:
        points = np.zeros((0, 3))
    if points.shape[1] == 2:
        points = np.column_stack([points, np.full(len(points), z)])
    kind = LinePrimitiveLineType.LineLoop if closed else LinePrimitiveLineType.LineStrip
    return LinePrimitive(type=kind, pose=pose(0.0, 0.0, 0.0), thickness=float(thickness), scale_invariant=False,
                         points=[Point3(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in points],
                         color=colour(rgb, alpha))


class PathSoFar:
    """The points a body has passed, kept every ``spacing`` metres (a path of bounded size)."""

    def __init__(self, spacing: float = 0.2):
        self.spacing = spacing
        self.points: list[tuple[float, ...]] = []

    def clear(self) -> None:
        self.points = []

    def add(self, *point: float) -> None:
        if not self.points or math.dist(point, self.points[-1]) >= self.spacing:
            self.points.append(tuple(float(v) for v in point))

    def array(self) -> np.ndarray:
        return np.asarray(self.points, dtype=np.float64).reshape(-1, len(self.points[0]) if self.points else 3)
