"""Camera perturbations: each one does what a robustness study assumes it does, reproducibly."""

import json

import numpy as np
import pytest

from liquid_control.sim.perturbations import (
    MAX_BLOB_LEVEL,
    MAX_QUEUED_FRAMES,
    FramePerturber,
    PerturbationConfig,
)

FULL = PerturbationConfig(noise_std=8.0, brightness=0.1, contrast=0.8, blur_sigma=1.0, occlusion_blobs=3,
                          drop_probability=0.2, latency_s=0.1)


def road_image(height=66, width=200):
    """A camera view of a lane: green ground above the horizon, grey road, a bright centre stripe."""
    image = np.empty((height, width, 3), np.uint8)
    image[: height // 3] = (60, 140, 70)
    image[height // 3:] = (90, 90, 95)
    image[height // 3:, width // 2 - 4: width // 2 + 4] = (230, 230, 210)
    return image


def mid_grey(height=66, width=200):
    return np.full((height, width, 3), 128, np.uint8)


def labelled(k, shape=(4, 6, 3)):
    """A tiny frame whose pixels all hold k, so a delivered frame says which capture it was."""
    return np.full(shape, k % 256, np.uint8)


def drive(perturber, n_frames, period=0.05, frame=labelled):
    """Feed n_frames captured every period seconds; return what was delivered at each tick."""
    return [perturber(frame(k), k * period) for k in range(n_frames)]


# ----------------------------------------------------------------- identity
def test_identity_config_delivers_the_rendered_frame_at_once_as_a_copy():
    config = PerturbationConfig(light_intensity=0.5, texture_seed=3)  # scene settings, not camera ones
    assert config.is_identity()
    image = road_image()
    perturber = FramePerturber(config, seed=0)
    out = perturber.apply_image(image)
    assert np.array_equal(out, image) and not np.shares_memory(out, image)
    delivered = perturber(image, 1.25)
    assert delivered.capture_time == 1.25
    assert np.array_equal(delivered.image, image) and not np.shares_memory(delivered.image, image)


@pytest.mark.parametrize("field,value", [
    ("noise_std", 1.0), ("brightness", -0.1), ("contrast", 1.2), ("blur_sigma", 0.5),
    ("occlusion_blobs", 1), ("drop_probability", 0.1), ("latency_s", 0.02),
])
def test_every_camera_setting_breaks_identity(field, value):
    assert not PerturbationConfig(**{field: value}).is_identity()


# ----------------------------------------------------------------- photometric perturbations, one at a time
def test_noise_has_the_configured_spread_and_no_bias():
    image = mid_grey()
    out = FramePerturber(PerturbationConfig(noise_std=10.0), seed=1).apply_image(image)
    difference = out.astype(float) - image
    assert difference.std() == pytest.approx(10.0, rel=0.03)
    assert abs(difference.mean()) < 0.3


def test_noise_saturates_instead_of_wrapping():
    black_and_white = np.zeros((66, 200, 3), np.uint8)
    black_and_white[:, 100:] = 255
    out = FramePerturber(PerturbationConfig(noise_std=30.0), seed=1).apply_image(black_and_white)
    assert out[:, :100].mean() < 30 and out[:, 100:].mean() > 225  # a wrap would put 255s among the 0s


@pytest.mark.parametrize("brightness", [0.2, -0.2])
def test_brightness_shifts_every_pixel_by_a_fraction_of_full_scale(brightness):
    image = road_image()
    image[image > 200] = 200  # keep clear of saturation so the whole shift shows
    out = FramePerturber(PerturbationConfig(brightness=brightness), seed=0).apply_image(image)
    assert out.mean() - image.mean() == pytest.approx(255 * brightness, abs=0.5)
    assert np.all(np.abs(out.astype(int) - image - 255 * brightness) <= 0.5)


def test_contrast_pulls_values_toward_mid_grey():
    image = road_image()
    out = FramePerturber(PerturbationConfig(contrast=0.5), seed=0).apply_image(image)
    before, after = image.astype(float) - 128, out.astype(float) - 128
    assert np.all(np.abs(after - 0.5 * before) <= 0.5)
    assert np.abs(after).mean() < 0.55 * np.abs(before).mean()


def test_blur_softens_edges():
    image = road_image()
    out = FramePerturber(PerturbationConfig(blur_sigma=2.0), seed=0).apply_image(image)

    def edge_energy(frame):
        return (np.diff(frame.astype(float), axis=1) ** 2).sum()

    assert edge_energy(out) < 0.5 * edge_energy(image)
    assert out.mean() == pytest.approx(image.mean(), abs=1.0)  # blur moves light, it does not remove it


def test_blobs_cover_a_region_with_dark_paint_and_leave_the_rest():
    image = road_image()
    out = FramePerturber(PerturbationConfig(occlusion_blobs=2, occlusion_radius=0.15), seed=3).apply_image(image)
    changed = np.any(out != image, axis=2)
    # Two ellipses with half-axes of 5..10 px cover roughly 60..630 pixels (less where clipped).
    assert 20 < changed.sum() < 0.1 * changed.size
    assert out[changed].max() <= MAX_BLOB_LEVEL
    assert np.array_equal(out[~changed], image[~changed])


def test_blobs_are_drawn_anew_on_every_frame():
    perturber = FramePerturber(PerturbationConfig(occlusion_blobs=3), seed=0)
    first, second = perturber.apply_image(road_image()), perturber.apply_image(road_image())
    assert not np.array_equal(first, second)


# ----------------------------------------------------------------- drops and latency
def test_drops_happen_at_the_configured_rate():
    delivered = drive(FramePerturber(PerturbationConfig(drop_probability=0.3), seed=5), 2000)
    assert sum(frame is None for frame in delivered) / 2000 == pytest.approx(0.3, abs=0.04)


def test_latency_delivers_the_frame_captured_that_long_before():
    delivered = drive(FramePerturber(PerturbationConfig(latency_s=0.1), seed=0), 40)
    assert delivered[:2] == [None, None]  # nothing captured 0.1 s before the first two ticks
    for k, frame in enumerate(delivered[2:], start=2):
        assert frame.capture_time == pytest.approx((k - 2) * 0.05)
        assert np.all(frame.image == k - 2)


def test_a_dropped_frame_is_never_delivered_even_late():
    # The drop pattern depends only on the seed and drop_probability, so the same seed without
    # latency shows which captures were dropped.
    without_latency = drive(FramePerturber(PerturbationConfig(drop_probability=0.3), seed=9), 300)
    dropped = {k for k, frame in enumerate(without_latency) if frame is None}
    assert 50 < len(dropped) < 130

    late = drive(FramePerturber(PerturbationConfig(drop_probability=0.3, latency_s=0.1), seed=9), 300)
    delivered = [round(frame.capture_time / 0.05) for frame in late if frame is not None]
    assert all(np.all(frame.image == labelled(k)) for k, frame in zip(delivered, filter(None, late)))
    assert delivered == [k for k in range(298) if k not in dropped]
    assert all((late[k + 2] is None) == (k in dropped) for k in range(298))


def test_the_newest_due_frame_supersedes_older_ones():
    perturber = FramePerturber(PerturbationConfig(latency_s=0.1), seed=0)
    assert [perturber(labelled(k), k * 0.01) for k in range(3)] == [None] * 3
    late_tick = perturber(labelled(99), 0.5)
    assert late_tick.capture_time == pytest.approx(0.02) and np.all(late_tick.image == 2)
    assert perturber(labelled(100), 0.51) is None  # frames 0 and 1 were superseded, not queued


def test_the_latency_queue_is_bounded():
    # With one frame a second, a latency of MAX_QUEUED_FRAMES - 1 seconds still fits ...
    fits = drive(FramePerturber(PerturbationConfig(latency_s=MAX_QUEUED_FRAMES - 1), seed=0), 1100, period=1.0)
    delivered = [round(frame.capture_time) for frame in fits if frame is not None]
    assert delivered == list(range(1100 - MAX_QUEUED_FRAMES + 1))
    # ... one more second would need more frames in waiting than the queue holds.
    with pytest.raises(ValueError, match=f"latency must be shorter than {MAX_QUEUED_FRAMES} camera periods"):
        drive(FramePerturber(PerturbationConfig(latency_s=MAX_QUEUED_FRAMES), seed=0), 1100, period=1.0)


def test_time_going_back_needs_a_reset():
    perturber = FramePerturber(PerturbationConfig(latency_s=0.1), seed=0)
    drive(perturber, 10)
    with pytest.raises(ValueError, match="capture_time went back"):
        perturber(labelled(0), 0.0)
    perturber.reset()
    assert perturber(labelled(0), 0.0) is None  # the old episode's queued frames are gone
    with pytest.raises(ValueError, match="capture_time"):
        perturber(labelled(0), float("nan"))


# ----------------------------------------------------------------- determinism
def full_run(seed, n_frames=30):
    return drive(FramePerturber(FULL, seed=seed), n_frames, frame=lambda k: road_image())


def same_delivery(a, b):
    return all((x is None and y is None) or (x is not None and y is not None and x.capture_time == y.capture_time
                                             and np.array_equal(x.image, y.image)) for x, y in zip(a, b))


def test_same_seed_same_frames_different_seed_different_noise():
    assert same_delivery(full_run(seed=4), full_run(seed=4))
    assert not same_delivery(full_run(seed=4), full_run(seed=5))
    first = FramePerturber(PerturbationConfig(noise_std=5.0), seed=1).apply_image(mid_grey())
    second = FramePerturber(PerturbationConfig(noise_std=5.0), seed=2).apply_image(mid_grey())
    assert np.mean(first != second) > 0.5


def test_reset_replays_the_same_sequence_or_starts_a_new_seed():
    perturber = FramePerturber(FULL, seed=4)
    first = drive(perturber, 30, frame=lambda k: road_image())
    perturber.reset()
    assert same_delivery(drive(perturber, 30, frame=lambda k: road_image()), first)
    perturber.reset(seed=5)
    assert perturber.seed == 5
    assert same_delivery(drive(perturber, 30, frame=lambda k: road_image()), full_run(seed=5))


# ----------------------------------------------------------------- frames in, frames out
@pytest.mark.parametrize("shape", [(66, 200, 3), (66, 200), (66, 200, 1)])
def test_shape_and_dtype_are_kept_and_the_input_is_untouched(shape):
    image = road_image()[..., 0].reshape(shape[:2] + shape[2:]) if len(shape) == 2 or shape[2] == 1 else road_image()
    original = image.copy()
    perturber = FramePerturber(FULL, seed=0)
    out = perturber.apply_image(image)
    assert out.shape == shape and out.dtype == np.uint8 and not np.array_equal(out, image)
    delivered = [perturber(image, k * 0.05) for k in range(10)]
    assert all(frame.image.shape == shape for frame in delivered if frame is not None)
    assert np.array_equal(image, original)


def test_a_non_contiguous_view_is_accepted():
    image = road_image()[:, ::-1]  # e.g. a mirrored render
    out = FramePerturber(PerturbationConfig(blur_sigma=1.0, occlusion_blobs=1), seed=0).apply_image(image)
    assert out.shape == image.shape


@pytest.mark.parametrize("frame", [
    np.zeros((66, 200, 3), np.float32), np.zeros((2, 66, 200, 3), np.uint8), np.zeros((66, 200, 5), np.uint8),
    [[0, 1], [2, 3]],
])
def test_bad_frames_are_refused(frame):
    with pytest.raises(ValueError, match="uint8 array"):
        FramePerturber(FULL, seed=0).apply_image(frame)


# ----------------------------------------------------------------- configuration
BAD_VALUES = {
    "noise_std": [-0.1, 256.0, float("nan"), float("inf"), "3", None, True],
    "brightness": [-1.01, 1.5, float("nan"), None],
    "contrast": [-0.5, float("inf"), float("nan"), "1"],
    "blur_sigma": [-1.0, float("inf"), float("nan"), None],
    "occlusion_blobs": [-1, 1.5, 2.0, "2", None, True],
    "occlusion_radius": [0.0, -0.1, 1.01, float("nan"), None],
    "drop_probability": [-0.01, 1.0, 1.5, float("nan"), None],
    "latency_s": [-0.05, float("inf"), float("nan"), None],
    "light_intensity": [-1.0, float("inf"), float("nan"), None],
    "texture_seed": [-1, 1.5, "7", True],
    "blackout_rate_hz": [-0.1, 10.5, float("nan"), None],
    "blackout_min_s": [0.0, -1.0, 61.0, float("inf"), None],
    "blackout_max_s": [0.0, 61.0, float("nan"), "1"],
    "frame_interval_jitter": [0.99, 10.5, float("inf"), None],
}


@pytest.mark.parametrize("field,value", [(f, v) for f, values in BAD_VALUES.items() for v in values])
def test_every_bad_value_is_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"{field} must be") as error:
        PerturbationConfig(**{field: value})
    assert repr(value) in str(error.value)
    with pytest.raises(ValueError, match=field):
        PerturbationConfig.from_dict({field: value})


def test_every_field_is_covered_by_the_bad_value_table():
    assert set(BAD_VALUES) == set(PerturbationConfig().to_dict())


def test_from_dict_refuses_unknown_keys_naming_the_valid_ones():
    with pytest.raises(ValueError, match="'nosie_std'.*valid fields: noise_std, brightness, contrast"):
        PerturbationConfig.from_dict({"nosie_std": 3.0})
    with pytest.raises(ValueError, match="mapping"):
        PerturbationConfig.from_dict([("noise_std", 3.0)])


def test_plain_data_round_trip():
    config = PerturbationConfig.from_dict({"noise_std": np.float32(4.5), "occlusion_blobs": np.int64(2),
                                           "contrast": 1, "texture_seed": 7})
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data  # numpy scalars and ints became plain floats/ints
    assert type(data["contrast"]) is float and type(data["occlusion_blobs"]) is int
    assert PerturbationConfig.from_dict(data) == config
    assert PerturbationConfig.from_dict({}) == PerturbationConfig()


def test_bad_seeds_are_refused():
    for seed in (-1, 1.5, None, "3"):
        with pytest.raises(ValueError, match="seed"):
            FramePerturber(PerturbationConfig(), seed=seed)
