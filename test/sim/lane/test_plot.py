"""The drive picture: missed samples leave a gap (no line across the grass), colours fit the errors."""

import numpy as np

from liquid_control.sim.lane.plot import colour_limit, joined_segments, plot_drive
from liquid_control.sim.lane.track import make_track


def _drive_with_a_gap(track, missing=slice(40, 90)):
    """Samples every 10 cm along the centre line's first 20 m, with odometry lost for 5 m."""
    rows = np.arange(0, 200)
    keep = np.ones(len(rows), dtype=bool)
    keep[missing] = False
    xy = track.points[rows]
    lateral = 0.01 + 0.05 * np.abs(np.sin(rows / 20.0))
    return np.column_stack((rows * 0.05, xy, lateral))[keep]


def test_a_gap_in_the_samples_is_not_joined_by_a_segment():
    track = make_track(1000)
    trajectory = _drive_with_a_gap(track)
    segments = np.stack((trajectory[:-1, 1:3], trajectory[1:, 1:3]), axis=1)
    joined = joined_segments(segments)
    assert joined.sum() == len(segments) - 1
    gap = np.flatnonzero(~joined)[0]
    assert np.linalg.norm(segments[gap, 1] - segments[gap, 0]) > 1.0


def test_the_colour_scale_fits_centimetre_errors_and_saturates_above():
    lateral = np.r_[np.linspace(0.01, 0.07, 999), 1.5]  # one sample far off the lane
    assert 0.06 < colour_limit(lateral) < 0.08
    assert colour_limit(np.zeros(10)) == 0.02


def test_the_picture_of_a_drive_with_a_gap_is_written(tmp_path):
    track = make_track(1000)
    plot_drive(track, _drive_with_a_gap(track), tmp_path / "trajectory.png")
    assert (tmp_path / "trajectory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
