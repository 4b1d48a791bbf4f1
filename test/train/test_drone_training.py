"""The drone end to end without ROS: expert flights as velocity-labelled episodes, bags of them,
a tiny policy trained on them whose card says velocity, and that policy flying in the world."""

import json
import subprocess
import sys

import numpy as np
import pytest

from liquid_control.data.episodes import TWIST_LABELS, Episode, episodes_from_bag, write_episode_bag
from liquid_control.nets import load_model
from liquid_control.runtime.commands import output_semantics_from_card
from liquid_control.train.simulate import simulate_episode


@pytest.fixture(scope="module")
def flights():
    return [simulate_episode(seed, "drone", recovery_rate_hz=0.5, start_distance_m=(6.0, 8.0)) for seed in (0, 1)]


def test_expert_flights_are_episodes_with_body_frame_velocity_labels(flights):
    flight = flights[0]
    assert flight.label_names == TWIST_LABELS and flight.labels.shape == (len(flight), 4)
    assert flight.frames.shape[1:] == (72, 128, 3) and flight.frames.dtype == np.uint8
    assert flight.meta["report"]["success"], flight.meta["report"]
    forward, left, up, yaw_rate = flight.labels.T
    assert forward.max() > 1.0, "the expert flies forward, towards the target"
    assert np.abs(yaw_rate).max() < 1.5 + 1e-6 and np.abs(up).max() <= 1.5 + 1e-6, \
        "labels within the autopilot's limits"
    assert np.allclose(np.diff(flight.stamps), 0.1), "one frame per 10 Hz camera period"
    assert not np.allclose(flight.meta["executed"], flight.labels), "recovery bursts: executed differs from the label"


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_velocity_episodes_round_trip_through_bags(tmp_path, flights, storage):
    flight = flights[1]
    write_episode_bag(flight, tmp_path / "bag", storage=storage)
    (back,) = episodes_from_bag(tmp_path / "bag", label_names=TWIST_LABELS)
    assert np.array_equal(back.frames, flight.frames) and np.allclose(back.labels, flight.labels, atol=1e-6)
    (executed,) = episodes_from_bag(tmp_path / "bag", command_topic="/cmd_vel", label_names=TWIST_LABELS)
    assert np.allclose(executed.labels, flight.meta["executed"], atol=1e-6)
    # The same bag read as a steering recording gives curvatures (yaw rate / forward speed).
    (curvature,) = episodes_from_bag(tmp_path / "bag")
    moving = flight.labels[:, 0] > 1e-3
    assert np.allclose(curvature.labels[moving, 0], flight.labels[moving, 3] / flight.labels[moving, 0], atol=1e-5)


def test_labels_must_name_one_kind_of_command():
    frames, stamps = np.zeros((2, 4, 4, 3), np.uint8), np.arange(2.0)
    with pytest.raises(ValueError, match="labels must be"):
        Episode("bad", frames, stamps, np.zeros((2, 2), np.float32), ("linear.x", "curvature"))
    with pytest.raises(ValueError, match="do not match the label names"):
        Episode("bad", frames, stamps, np.zeros((2, 3), np.float32), ("linear.x", "angular.z"))


def test_cli_trains_a_velocity_policy_and_flies_it(tmp_path):
    def run(*args, ok=(0,)):
        result = subprocess.run([sys.executable, "-m", "liquid_control", *args], capture_output=True, text=True,
                                timeout=600)
        assert result.returncode in ok, result.stderr[-2000:]
        return result.stdout

    run("generate", "--world", "drone", "--seeds", "5,6", "--out", str(tmp_path / "bags"))
    run("train", "--world", "drone", "--bags", str(tmp_path / "bags"), "--epochs", "1", "--seq-len", "8",
        "--batch-size", "4", "--threads", "2", "--out", str(tmp_path / "model"))
    policy, card = load_model(tmp_path / "model")
    assert output_semantics_from_card(card) == ("velocity", TWIST_LABELS)
    assert card["outputs"]["units"] == ["m/s", "m/s", "m/s", "rad/s"] and card["outputs"]["frame"] == "body"
    assert card["preprocessing"]["size"] == [72, 128] and policy.output_size == 4
    assert policy.core.wiring.neuron_counts() == {"inter": 18, "command": 12, "motor": 4}
    report = json.loads(run("eval", "--world", "drone", "--model", str(tmp_path / "model"),
                            "--bags", str(tmp_path / "bags"), "--json"))
    assert report["frames"] > 50
    # An untrained policy rarely reaches the target (exit code 3), but it must fly the loop.
    flight = json.loads(run("drive", "--world", "drone", "--driver", "model", "--model", str(tmp_path / "model"),
                            "--seed", "1000", "--episodes", "1", "--start-distance", "6,8", "--json", ok=(0, 3)))
    assert flight["world"] == "drone" and flight["episodes"] == 1 and flight["flights"][0]["sim_time_s"] > 0
    for key in ("domain", "successes", "success_rate", "collisions", "mean_time_to_target_s", "realtime_factor"):
        assert key in flight


def test_cli_expert_report_has_the_drive_keys():
    result = subprocess.run([sys.executable, "-m", "liquid_control", "drive", "--world", "drone", "--seed", "1000",
                             "--episodes", "2", "--domain", "winter", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 3), result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert (report["world"], report["domain"], report["episodes"]) == ("drone", "winter", 2)
    assert report["successes"] == round(report["success_rate"] * 2) and report["realtime_factor"] > 1


def test_velocity_training_balances_outputs_and_turns_the_yaw_label_with_a_shifted_view(flights):
    import torch

    from liquid_control.data.images import PreprocessSpec
    from liquid_control.data.sequences import Augmentation, SequenceDataset
    from liquid_control.nets.policy import make_policy, set_output_bias
    from liquid_control.train.trainer import output_weights

    weights = output_weights(flights)
    variance = np.concatenate([f.labels for f in flights]).var(axis=0)
    floored = np.maximum(variance, 0.1 * variance.mean())
    assert np.allclose(weights.numpy() * floored, variance.mean(), rtol=1e-4), "each output's error counts alike"
    assert weights.max() <= 10.0 + 1e-5, "an output that never varies is not weighted without bound"
    assert output_weights([Episode("one", np.zeros((2, 4, 4, 3), np.uint8), np.arange(2.0),
                                   np.array([[0.1], [0.3]], np.float32))]).tolist() == [1.0]
    # A view shifted sideways changes only the yaw-rate label, by the shift's bearing.
    spec = PreprocessSpec.from_dict({"size": [72, 128]})
    only_shift = Augmentation(brightness=0, contrast=0, colour=0, noise_std=0, grayscale_probability=0, max_shift_px=8)
    plain = SequenceDataset(flights, spec, seq_len=8, stride=8, nominal_dt=0.1)
    shifted = SequenceDataset(flights, spec, seq_len=8, stride=8, nominal_dt=0.1, augmentation=only_shift, seed=1)
    changes = [shifted[i][2] - plain[i][2] for i in range(len(plain))]
    assert all(torch.allclose(change[:, :3], torch.zeros(8, 3)) for change in changes)
    assert any(change[0, 3].abs() > 0 for change in changes)
    # A CfC policy gets a linear readout for velocities beyond its motor neurons' range, started at the mean.
    policy = make_policy("ncp-cfc", (3, 72, 128), outputs=4, readout=True)
    assert set_output_bias(policy, [2.2, 0.0, 0.0, 0.0])
    outputs, _ = policy.step(torch.zeros(3, 72, 128))
    assert outputs.shape == (4,) and 1.0 < float(outputs[0].detach()) < 3.5
