"""Bags and simulator data to sequences, a tiny training run, open-loop and closed-loop evaluation."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from liquid_control.data.episodes import Episode, episodes_from_bag, find_bags, pair_by_stamp, write_episode_bag
from liquid_control.data.images import PreprocessSpec
from liquid_control.data.sequences import Augmentation, SequenceDataset
from liquid_control.nets import load_model
from liquid_control.train.open_loop import open_loop
from liquid_control.train.simulate import simulate_episode
from liquid_control.train.trainer import TrainConfig, split_episodes, train


@pytest.fixture(scope="module")
def episodes():
    # Two short drives with dropped frames (irregular elapsed times) and recovery bursts.
    return [simulate_episode(seed, "lane", 25.0, recovery_rate_hz=0.5, perturbations={"drop_probability": 0.15})
            for seed in (0, 1)]


def test_simulated_episodes_hold_frames_stamps_and_expert_labels(episodes):
    episode = episodes[0]
    assert episode.frames.shape[1:] == (66, 200, 3) and episode.frames.dtype == np.uint8
    gaps = np.diff(episode.stamps)
    assert np.all(gaps > 0) and gaps.max() >= 0.1 - 1e-9, "dropped frames leave longer gaps"
    executed = episode.meta["executed"]
    assert not np.allclose(executed, episode.labels), \
        "during bursts the label is the expert's, not the executed command"
    max_curvature = np.tan(0.5) / 0.5  # the car's steering limit (CarSpec.max_steer, wheelbase)
    assert 0.05 < np.abs(episode.labels).max() <= max_curvature + 1e-6


def test_pairing_takes_the_command_in_force():
    frames = np.array([10, 20, 30, 40, 100])
    commands = np.array([15, 5, 35])
    values = np.array([[1.5], [0.5], [3.5]], np.float32)
    paired, valid = pair_by_stamp(frames, commands, values, max_age_s=20)
    assert paired[:4, 0].tolist() == [0.5, 1.5, 1.5, 3.5]
    assert valid.tolist() == [True, True, True, True, False], "the last command is 65 ns old: too old"
    _, valid = pair_by_stamp(np.array([1]), commands, values, max_age_s=100)
    assert not valid[0], "no command before the first frame"


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_bag_round_trip_of_a_simulated_episode(tmp_path, episodes, storage):
    episode = episodes[0]
    write_episode_bag(episode, tmp_path / "bag", speed=3.0, storage=storage)
    (back,) = episodes_from_bag(tmp_path / "bag")
    assert np.array_equal(back.frames, episode.frames) and np.allclose(back.stamps, episode.stamps)
    assert np.allclose(back.labels, episode.labels, atol=1e-6)
    (executed,) = episodes_from_bag(tmp_path / "bag", command_topic="/cmd_vel")
    assert np.allclose(executed.labels, episode.meta["executed"], atol=1e-6)
    assert find_bags([tmp_path]) == [tmp_path / "bag"]


def test_missing_topics_and_non_bags_fail_clearly(tmp_path, episodes):
    write_episode_bag(episodes[0], tmp_path / "bag", speed=3.0)
    with pytest.raises(ValueError, match="no topic /front/image; the bag has /camera/image_raw"):
        episodes_from_bag(tmp_path / "bag", camera_topic="/front/image")
    with pytest.raises(ValueError, match="neither a bag folder"):
        find_bags([tmp_path / "nothing"])


def test_sequences_keep_elapsed_times_and_augment_consistently(episodes):
    spec = PreprocessSpec.from_dict({"size": [66, 200], "mean": [0.5] * 3, "std": [0.25] * 3})
    plain = SequenceDataset(episodes, spec, seq_len=8, stride=8, nominal_dt=0.05)
    frames, elapsed, labels = plain[1]
    episode = episodes[0]
    assert frames.shape == (8, 3, 66, 200) and labels.shape == (8, 1)
    assert elapsed[0] == pytest.approx(0.05), "a window starts like deployment: nominal first step"
    assert torch.allclose(elapsed[1:], torch.from_numpy(np.diff(episode.stamps[8:16]).astype(np.float32)))
    augmented = SequenceDataset(episodes, spec, seq_len=8, stride=8, augmentation=Augmentation(), seed=3)
    a1, _, l1 = augmented[1]
    a2, _, l2 = augmented[1]
    assert torch.equal(a1, a2) and torch.equal(l1, l2), "augmentation is deterministic per seed, epoch and item"
    augmented.set_epoch(1)
    assert not torch.equal(augmented[1][0], a1), "and differs between epochs"


def test_validation_split_is_by_episode():
    fake = [Episode(f"e{i}", np.zeros((3, 2, 2, 3), np.uint8), np.arange(3.0), np.zeros((3, 1), np.float32))
            for i in range(7)]
    training, validation = split_episodes(fake, 0.3, seed=1)
    assert len(validation) == 2 and not {e.name for e in training} & {e.name for e in validation}


def test_a_tiny_training_run_reduces_the_loss_and_saves_a_usable_model(tmp_path, episodes):
    config = TrainConfig(epochs=3, batch_size=4, seq_len=8, stride=8, lr=3e-3, val_fraction=0.5, augment=False,
                         threads=2)
    folder = train(episodes, tmp_path / "model", config, progress=False)
    model, card = load_model(folder)
    history = card["training"]["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert card["outputs"]["names"] == ["curvature"] and card["preprocessing"]["size"] == [66, 200]
    assert (folder / "training_curve.png").read_bytes()[:4] == b"\x89PNG"
    # The same seed trains the same weights.
    again = train(episodes, tmp_path / "again", config, progress=False)
    first, second = load_model(folder)[0], load_model(again)[0]
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), f"training is not deterministic ({name})"
    # Stopped after two epochs and resumed, training ends exactly where the uninterrupted run did.
    assert train(episodes, tmp_path / "resumed", config, progress=False, stop_after_epochs=2) is None
    resumed = load_model(train(episodes, tmp_path / "resumed", config, progress=False, resume=True))[0]
    for (name, a), b in zip(first.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), f"resuming changed the result ({name})"
    # Open loop on recorded data is deterministic too.
    one, two = open_loop(folder, episodes), open_loop(folder, episodes)
    assert one["mae"] == two["mae"] and np.array_equal(one["predictions"]["sim-0"], two["predictions"]["sim-0"])


def test_an_ltc_policys_training_records_how_saturated_its_sensory_synapses_are(tmp_path, episodes):
    """Each epoch of an LTC records the share of its sensory synapses saturated on the validation
    frames' features (the two drone NCP-LTCs of the study that never learned had 100 %, a lane one
    that learned 99.1 %); other cores record nothing."""
    import warnings

    from liquid_control.train.trainer import FLAT_OUTPUT_SPREAD

    def trained(arch: str) -> dict:
        config = TrainConfig(arch=arch, epochs=1, batch_size=4, seq_len=8, stride=8, val_fraction=0.5, augment=False,
                             threads=2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (record,) = load_model(train(episodes, tmp_path / arch, config, progress=False))[1]["training"]["history"]
        # Every core records its output spread; the trained model is warned about exactly when it is flat.
        flat = any("answers every frame alike" in str(w.message) for w in caught)
        assert record["output_spread"] >= 0 and flat == (record["output_spread"] < FLAT_OUTPUT_SPREAD), record
        return record

    assert 0.0 <= trained("ncp-ltc")["ltc_sensory_saturation"] < 0.999
    assert "ltc_sensory_saturation" not in trained("ncp-cfc")


def test_the_output_spread_tells_a_network_that_answers_every_frame_alike(episodes):
    """A policy whose head ignores the image (a dead network, as two drone NCP-LTCs of the study
    became) has an output spread of 0; the same policy seeing its frames does not."""
    from liquid_control.nets.policy import make_policy
    from liquid_control.train.trainer import loss_and_spread as _evaluate
    from liquid_control.train.trainer import output_weights
    from liquid_control.train.trainer import window_loader as _loader

    torch.manual_seed(0)
    spec = PreprocessSpec(size=(66, 200))
    dataset = SequenceDataset(episodes, spec, 8, 8, 0.05)
    policy = make_policy("cnn")
    _, alive = _evaluate(policy, _loader(dataset, 4, False, 0), 100.0, output_weights(episodes))
    with torch.no_grad():
        policy.head.fc.weight.zero_()  # features = the bias whatever the frame
    _, dead = _evaluate(policy, _loader(dataset, 4, False, 0), 100.0, output_weights(episodes))
    assert dead < 1e-6 and alive > 1000 * dead, (dead, alive)  # 0 but for rounding


def test_cli_generate_train_eval_and_drive_with_a_model(tmp_path):
    def run(*args):
        result = subprocess.run([sys.executable, "-m", "liquid_control", *args], capture_output=True, text=True,
                                timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    run("generate", "--seeds", "3,4", "--distance", "15", "--out", str(tmp_path / "bags"))
    run("train", "--bags", str(tmp_path / "bags"), "--epochs", "1", "--seq-len", "8", "--batch-size", "4",
        "--threads", "2", "--out", str(tmp_path / "model"))
    report = json.loads(run("eval", "--model", str(tmp_path / "model"), "--bags", str(tmp_path / "bags"), "--json",
                            "--plot", str(tmp_path / "eval.png")))
    assert report["frames"] > 100 and report["mae"] >= 0 and (tmp_path / "eval.png").is_file()
    drive = json.loads(run("drive", "--driver", "model", "--model", str(tmp_path / "model"), "--seed", "1000",
                           "--distance", "10", "--max-time", "8", "--json"))
    assert drive["driver"] == "model" and drive["sim_time_s"] > 0


def test_frames_at_the_model_size_are_kept_as_uint8_and_normalised_exactly_as_apply_does():
    spec = PreprocessSpec.from_dict({"size": [66, 200], "mean": [0.5] * 3, "std": [0.25] * 3})
    frames = np.random.default_rng(0).integers(0, 256, (30, 66, 200, 3), dtype=np.uint8)
    episode = Episode("e", frames, np.arange(30) * 0.05, np.zeros((30, 1), np.float32))
    dataset = SequenceDataset([episode], spec, 10, 10, 0.05)
    assert dataset.frames[0].dtype == torch.uint8, "a quarter of float32's memory"
    expected = torch.from_numpy(np.stack([spec.apply(f, "rgb8") for f in frames[10:20]])).permute(0, 3, 1, 2)
    assert torch.equal(dataset[1][0], expected)
    # Frames that need a resize are normalised when the dataset is made (area resizing is in float).
    resized = SequenceDataset([episode], PreprocessSpec.from_dict({"size": [33, 100]}), 10, 10, 0.05)
    assert resized.frames[0].dtype == torch.float16 and resized[0][0].shape == (10, 3, 33, 100)
