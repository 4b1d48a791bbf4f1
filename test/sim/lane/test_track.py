"""Procedural tracks: determinism, families, geometry rules, projection, and the painted texture."""

import math

import numpy as np
import pytest

from liquid_control.sim.lane.road_texture import _HELD_OUT_PALETTES, _TRAIN_PALETTES, paint_track, palette_for
from liquid_control.sim.lane.track import HELD_OUT_FROM, TrackSpec, family_of, make_track


@pytest.mark.parametrize("closed", [True, False])
def test_same_seed_same_track_and_different_seeds_differ(closed):
    spec = TrackSpec(closed=closed)
    a, b, c = make_track(3, spec), make_track(3, spec), make_track(4, spec)
    assert np.array_equal(a.points, b.points) and a.lane_width == b.lane_width
    assert len(a.points) != len(c.points) or not np.allclose(a.points, c.points)


@pytest.mark.parametrize("seed", [0, 1, 2, 7, HELD_OUT_FROM, HELD_OUT_FROM + 5])
def test_closed_tracks_are_smooth_loops_within_the_spec(seed):
    spec = TrackSpec()
    track = make_track(seed, spec)
    assert spec.min_length_m <= track.length <= spec.max_length_m + 1
    assert np.abs(track.curvature).max() <= 1 / spec.min_radius_m
    # A simple closed loop turns by exactly one full revolution.
    assert abs(abs(track.curvature.sum() * track.ds) - 2 * math.pi) < 0.05
    # Samples are evenly spaced, including across the seam.
    gaps = np.linalg.norm(np.diff(np.vstack((track.points, track.points[:1])), axis=0), axis=1)
    assert np.allclose(gaps, track.ds, rtol=0.02)
    assert track.family == family_of(seed)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_open_roads_do_not_overlap_themselves(seed):
    from scipy.spatial import cKDTree

    track = make_track(seed, TrackSpec(closed=False))
    assert not track.closed and np.abs(track.curvature).max() <= 1 / TrackSpec().min_radius_m
    pairs = cKDTree(track.points[::5]).query_pairs(2 * track.road_half_width, output_type="ndarray")
    far_apart_along_road = np.abs(pairs[:, 0] - pairs[:, 1]) * 5 * track.ds > 4 * track.road_half_width
    assert not far_apart_along_road.any()


def test_projection_gives_lane_relative_position():
    track = make_track(0)
    for s in (0.0, 37.3, track.length - 0.05):
        x, y, yaw = track.start_pose(s)
        lane = track.project(x, y)
        assert abs(lane.lateral) < 1e-9 and abs(lane.road_lateral + track.lane_width / 2) < 1e-9
        normal = track.normal[lane.index]
        shifted = track.project(x + 0.3 * normal[0], y + 0.3 * normal[1], hint=lane.index)
        assert abs(shifted.lateral - 0.3) < 0.02, "a point 0.3 m to the left is 0.3 m left of the lane centre"


def test_progress_across_the_seam_of_a_loop():
    track = make_track(0)
    n = len(track.points)
    assert track.progress(n - 2, 1) == pytest.approx(3 * track.ds)
    assert track.progress(1, n - 2) == pytest.approx(-3 * track.ds)


@pytest.mark.parametrize("spec,match", [
    (TrackSpec(min_length_m=10), "track lengths"),
    (TrackSpec(lane_width_m=0.1), "lane_width_m"),
    (TrackSpec(min_radius_m=1.0), "too tight"),
    (TrackSpec(ds_m=5.0), "ds_m"),
])
def test_bad_track_specs_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        make_track(0, spec)


def test_texture_paints_asphalt_lines_and_ground_where_the_track_is():
    track = make_track(0)
    texture = paint_track(track)
    image = texture.image
    height, width = image.shape[:2]
    metres_per_pixel = (texture.x_max - texture.x_min) / width

    def pixel(point):
        col = int((point[0] - texture.x_min) / metres_per_pixel)
        row = int((texture.y_max - point[1]) / metres_per_pixel)
        return image[row, col].astype(int)

    asphalt, ground, _ = palette_for(track.seed, track.family)
    i = 500
    lane_centre = pixel(track.lane_centre[i])
    edge_line = pixel(track.points[i] - track.normal[i] * track.lane_width)
    far_ground = pixel(track.points[i] + track.normal[i] * (track.road_half_width + 2.0))
    assert np.abs(lane_centre - asphalt).max() < 45
    assert edge_line.min() > 180, "the edge line is painted white"
    assert np.abs(far_ground - ground).max() < 60


def test_held_out_tracks_use_unseen_palettes():
    assert not set(_HELD_OUT_PALETTES) & set(_TRAIN_PALETTES)
    train = {palette_for(s, family_of(s)) for s in range(50)}
    held_out = {palette_for(s, family_of(s)) for s in range(HELD_OUT_FROM, HELD_OUT_FROM + 50)}
    assert train <= set(_TRAIN_PALETTES) and held_out <= set(_HELD_OUT_PALETTES)
