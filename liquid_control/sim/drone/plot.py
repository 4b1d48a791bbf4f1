"""A top-down picture of a flight: obstacles as circles (their footprints), the target, the path
coloured by altitude."""

from __future__ import annotations

import math
import os

import numpy as np

from ..plotting import finish_top_down
from .scene import Scene

_KIND_COLOURS = {"tree": "tab:green", "bush": "olivedrab", "rock": "0.5", "building": "0.45", "hedge": "olivedrab",
                 "block": "0.6", "distractor": "tab:blue"}


def plot_flight(scene: Scene, trajectory: np.ndarray, path: str | os.PathLike, title: str = "",
                success_radius_m: float | None = None) -> None:
    """``trajectory`` rows are (time, x, y, z, ...) as in ``FlightResult``; writes a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.patches import Circle

    fig, ax = plt.subplots(figsize=(7.5, 7))
    for o in scene.obstacles:
        colour = _KIND_COLOURS.get(o.kind, "0.3")
        ax.add_patch(Circle(o.position[:2], o.radius, facecolor=colour, edgecolor="none", alpha=0.45, zorder=1))
    tx, ty, _ = scene.target
    ax.add_patch(Circle((tx, ty), scene.target_radius, color="tab:red", zorder=3))
    if success_radius_m:
        ax.add_patch(Circle((tx, ty), success_radius_m, fill=False, ls="--", color="tab:red", lw=0.8, zorder=3))
    xy = trajectory[:, 1:3]
    altitude = trajectory[:, 3]
    if len(xy) > 1:
        segments = np.stack((xy[:-1], xy[1:]), axis=1)
        norm = plt.Normalize(float(altitude.min()), float(altitude.max()) + 1e-3)
        collection = LineCollection(segments, cmap="viridis", norm=norm, lw=1.8, zorder=4)
        collection.set_array(altitude[1:])
        ax.add_collection(collection)
        fig.colorbar(collection, ax=ax, shrink=0.7, label="altitude (m)")
    sx, sy, _, yaw = scene.start
    ax.plot(sx, sy, marker="o", color="tab:green", ms=7, zorder=5, label="start")
    ax.arrow(sx, sy, 1.5 * math.cos(yaw), 1.5 * math.sin(yaw), width=0.08, color="tab:green", zorder=5)
    if len(xy):
        ax.plot(*xy[-1], marker="s", color="k", ms=5, zorder=5, label="end")
    ax.plot([], [], "o", color="tab:red", label="target")
    x_min, x_max, y_min, y_max = scene.bounds
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    finish_top_down(fig, ax, path, title or f"scene {scene.seed} ({scene.family}, {scene.domain}), "
                                            f"start {scene.start_distance:.1f} m away")
