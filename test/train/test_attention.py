"""Attention stability (saliency SSIM, clean against noisy) and compactness (PC1 variance fraction):
the measures on constructed inputs, then end to end on tiny untrained policies and real simulator
frames."""

import sys

import numpy as np
import pytest
import torch

from liquid_control.nets import save_model
from liquid_control.nets.policy import make_policy
from liquid_control.train.attention import (
    analyse_model,
    expert_frames,
    expert_sequence,
    hidden_activity,
    noisy_frames,
    pc1_variance_fraction,
    saliency_panel,
    saliency_ssim,
    step_through,
)
from liquid_control.train.trainer import output_spread

PREPROCESSING = {"size": [66, 200], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


@pytest.fixture(scope="module")
def frames():
    return expert_frames("lane", 1000, n_frames=12)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    return {preset: save_model(make_policy(preset, lstm_units=8).eval(), folder / preset, preprocessing=PREPROCESSING)
            for preset in ("ncp-cfc", "lstm", "cnn")}


def smooth_maps(count=3, height=30, width=60):
    """Saliency-like maps: a bright diagonal stripe on a dark ground, in [0, 1]."""
    rows, cols = np.mgrid[0:height, 0:width]
    stripe = np.exp(-((cols - 2 * rows) / 6.0) ** 2)
    return np.stack([np.roll(stripe, shift, axis=1) for shift in range(count)])


def test_ssim_is_one_for_identical_maps_and_falls_as_noise_grows():
    maps = smooth_maps()
    assert np.allclose(saliency_ssim(maps, maps), 1.0)
    rng = np.random.default_rng(0)
    similarities = [saliency_ssim(maps, np.clip(maps + rng.normal(0, std, maps.shape), 0, 1)).mean()
                    for std in (0.02, 0.1, 0.3)]
    assert 1.0 > similarities[0] > similarities[1] > similarities[2]
    with pytest.raises(ValueError, match="shape"):
        saliency_ssim(maps, maps[:2])


def test_missing_scikit_image_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.metrics", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"liquid_control\[study\]"):
        saliency_ssim(smooth_maps(), smooth_maps())


def test_pc1_fraction_of_constructed_activity():
    rng = np.random.default_rng(1)
    time = np.linspace(0, 6, 200)
    # Every neuron a scaled copy of one signal, around its own offset: one component explains all.
    rank_one = np.outer(np.sin(time), rng.normal(size=12)) + rng.normal(size=12)
    assert pc1_variance_fraction(rank_one) == pytest.approx(1.0, abs=1e-9)
    # Two uncorrelated signals (sin and cos over whole periods) on orthogonal neuron patterns, with
    # variances 4 : 1: the first component explains 4/5.
    two = np.zeros((200, 3))
    period = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    two[:, 0], two[:, 1] = 2 * np.sin(period), np.cos(period)
    assert pc1_variance_fraction(two) == pytest.approx(0.8, abs=1e-9)
    scattered = pc1_variance_fraction(rng.normal(size=(200, 12)))
    assert 0 < scattered < 0.3
    assert np.isnan(pc1_variance_fraction(np.full((50, 4), 0.3)))
    with pytest.raises(ValueError, match="time"):
        pc1_variance_fraction(np.zeros(10))


def test_expert_frames_are_raw_camera_frames_with_their_elapsed_times(frames):
    images, dts = frames
    assert images.shape == (12, 66, 200, 3) and images.dtype == np.uint8
    assert np.allclose(dts, 0.05)  # 20 Hz, and the first frame gets the camera period
    assert not np.array_equal(images[0], images[-1]), "the car moves"


def test_noise_is_the_simulators_seeded_pixel_noise(frames):
    images = frames[0][:3]
    noisy = noisy_frames(images, 40.0, seed=5)
    assert np.array_equal(noisy, noisy_frames(images, 40.0, seed=5))
    assert not np.array_equal(noisy, noisy_frames(images, 40.0, seed=6))
    assert np.array_equal(noisy_frames(images, 0.0), images)
    difference = noisy.astype(np.float64) - images
    unclipped = (noisy > 0) & (noisy < 255)
    assert difference[unclipped].std() == pytest.approx(40.0, rel=0.1)


@pytest.mark.parametrize("preset,state_size", [("ncp-cfc", 19), ("lstm", 8), ("cnn", None)])
def test_analyse_model_end_to_end(frames, models, preset, state_size):
    images, dts = frames
    result = analyse_model(models[preset], images, dts, noise_std=40.0)
    assert result["state_size"] == state_size
    assert len(result["saliency_ssim_per_frame"]) == len(images)
    assert -1.0 <= result["saliency_ssim"] < 1.0, "pixel noise of sigma 40 moves an untrained head's saliency"
    if state_size is None:
        assert result["pc1_variance_fraction"] is None
    else:
        assert 0.0 < result["pc1_variance_fraction"] <= 1.0
    clean = analyse_model(models[preset], images, dts, noise_std=0.0)
    assert clean["saliency_ssim"] == pytest.approx(1.0)
    assert clean["pc1_variance_fraction"] == result["pc1_variance_fraction"], "activity is measured on clean frames"


def test_output_spread_compares_the_outputs_variation_with_the_labels():
    labels = np.stack([np.linspace(-1, 1, 20), np.full(20, 3.0)], axis=1)  # the second output's label never varies
    assert output_spread(labels, labels) == pytest.approx(1.0)
    assert output_spread(0.05 * labels, labels) == pytest.approx(0.05), "only outputs whose labels vary count"
    assert output_spread(np.ones_like(labels), labels) == 0.0
    assert output_spread(labels[:, 1:], labels[:, 1:]) is None and output_spread(labels[:1], labels[:1]) is None
    with pytest.raises(ValueError, match="one shape"):
        output_spread(labels[:, :1], labels)


def test_analyse_model_measures_the_output_spread_against_the_experts_labels(models):
    from liquid_control.data.images import PreprocessSpec
    from liquid_control.nets import load_model

    images, dts, labels = expert_sequence("lane", 1000, n_frames=12)
    assert np.array_equal(images, expert_frames("lane", 1000, n_frames=12)[0]) and labels.shape == (12, 1)
    assert labels.std() > 0, "the expert steers over these frames"
    result = analyse_model(models["lstm"], images, dts, noise_std=0.0, labels=labels)
    policy, card = load_model(models["lstm"])
    outputs, activity = step_through(policy.eval(), images, dts, PreprocessSpec.from_card(card))
    assert outputs.shape == (12, 1) and activity.shape == (12, 8)
    assert result["output_spread"] == pytest.approx(output_spread(outputs, labels), abs=1e-4)
    assert "output_spread" not in analyse_model(models["lstm"], images, dts, noise_std=0.0)
    with pytest.raises(ValueError, match="12 frames but 11 labels"):
        analyse_model(models["lstm"], images, dts, labels=labels[:11])


def test_the_liquid_core_is_stepped_with_the_real_elapsed_time(frames, models):
    from liquid_control.data.images import PreprocessSpec
    from liquid_control.nets import load_model

    images, dts = frames
    policy, card = load_model(models["ncp-cfc"])
    spec = PreprocessSpec.from_card(card)
    activity = hidden_activity(policy, images, dts, spec)
    assert activity.shape == (len(images), 19)
    assert not np.allclose(activity, hidden_activity(policy, images, 4 * dts, spec))


def test_saliency_panel_writes_a_png_with_a_row_per_model(frames, models, tmp_path):
    path = tmp_path / "panel.png"
    saliency_panel({"NCP": models["ncp-cfc"], "CNN": models["cnn"]}, frames[0][5], 40.0, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(ValueError, match="at least one model"):
        saliency_panel({}, frames[0][5], 40.0, path)
