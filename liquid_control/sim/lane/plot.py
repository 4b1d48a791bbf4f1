"""A top-down picture of a drive: the road, its lines, and the path coloured by lateral error."""

from __future__ import annotations

import os

import numpy as np

from ..plotting import finish_top_down
from .track import Track


def plot_drive(track: Track, trajectory: np.ndarray, path: str | os.PathLike, title: str = "") -> None:
    """``trajectory`` rows are (time, x, y, lateral error) as in ``DriveResult``; writes a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    def closed(points: np.ndarray) -> np.ndarray:
        return np.vstack((points, points[:1])) if track.closed else points

    fig, ax = plt.subplots(figsize=(7.5, 7))
    outer = closed(track.points + track.normal * track.road_half_width)
    inner = closed(track.points - track.normal * track.road_half_width)
    ax.fill(np.concatenate((outer[:, 0], inner[::-1, 0])), np.concatenate((outer[:, 1], inner[::-1, 1])),
            color="0.82", lw=0, zorder=0)
    for offset, style in ((-track.lane_width, "-"), (track.lane_width, "-"), (0.0, "--")):
        line = closed(track.points + track.normal * offset)
        ax.plot(line[:, 0], line[:, 1], style, color="0.45", lw=0.6, zorder=1)
    xy = trajectory[:, 1:3]
    lateral = np.abs(trajectory[:, 3])
    segments = np.stack((xy[:-1], xy[1:]), axis=1)
    keep = joined_segments(segments)
    collection = LineCollection(segments[keep], cmap="viridis", norm=plt.Normalize(0, colour_limit(lateral)),
                                lw=1.6, zorder=2)
    collection.set_array(lateral[1:][keep])
    ax.add_collection(collection)
    fig.colorbar(collection, ax=ax, shrink=0.7, extend="max", label="|lateral error| (m)")
    ax.plot(*xy[0], marker="o", color="tab:green", ms=7, zorder=3, label="start")
    ax.plot(*xy[-1], marker="s", color="tab:red", ms=6, zorder=3, label="end")
    finish_top_down(fig, ax, path, title or f"track {track.seed} ({track.family}), {track.length:.0f} m")


def joined_segments(segments: np.ndarray) -> np.ndarray:
    """Which segments join two consecutive samples: one much longer than the usual step spans
    samples that were missed (odometry lost on a busy machine), and drawing it would cut a straight
    line across the grass where the car never went."""
    lengths = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1)
    if not len(lengths):
        return np.ones(0, dtype=bool)
    return lengths <= max(5.0 * float(np.median(lengths)), 0.05)


def colour_limit(lateral: np.ndarray) -> float:
    """The colour scale's top: the errors' 99th percentile (at least 2 cm), so a drive of a few
    centimetres is not one dark colour on a scale made for leaving the lane; larger errors saturate."""
    return max(float(np.percentile(lateral, 99)) if len(lateral) else 0.0, 0.02)
