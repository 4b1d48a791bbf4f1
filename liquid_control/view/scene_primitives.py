"""Small builders of Foxglove scene primitives (poses, colours, lines) the world scenes share."""

from __future__ import annotations

import math

import numpy as np
from foxglove.messages import Color, LinePrimitive, LinePrimitiveLineType, Point3, Pose, Quaternion, Timestamp, Vector3

WORLD_FRAME = "world"


def timestamp(seconds: float) -> Timestamp:
    """A Foxglove Timestamp of ``seconds`` on the simulation's clock."""
    whole, nanoseconds = divmod(int(round(seconds * 1e9)), 1_000_000_000)
    return Timestamp(whole, nanoseconds)


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
    """The points a body has passed, kept every ``spacing`` metres, ready as scene points (each point is
    converted once, when it is added: the path's line costs no more to build as it grows)."""

    def __init__(self, spacing: float = 0.2, z: float = 0.0):
        self.spacing, self.z = spacing, z
        self.clear()

    def clear(self) -> None:
        self._last: tuple[float, ...] | None = None
        self._points: list[Point3] = []

    def __len__(self) -> int:
        return len(self._points)

    def add(self, x: float, y: float, z: float | None = None) -> None:
        point = (float(x), float(y), self.z if z is None else float(z))
        if self._last is None or math.dist(point, self._last) >= self.spacing:
            self._last = point
            self._points.append(Point3(x=point[0], y=point[1], z=point[2]))

    def line(self, rgb, thickness: float) -> LinePrimitive:
        return LinePrimitive(type=LinePrimitiveLineType.LineStrip, pose=pose(0.0, 0.0, 0.0), thickness=float(thickness),
                             points=list(self._points), color=colour(rgb))
