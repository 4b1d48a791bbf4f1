"""``--mcap`` writes the view to a file Foxglove opens: read back with the ``mcap`` library, every
channel has its schema, every message decodes, and the log times are the simulation's (or the
recording's) clock. Real drives of the lane and the drone worlds, and ``eval`` on a real recording."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from mcap.reader import make_reader

from liquid_control.view.channels import CAMERA, NEURONS, OVERLAY, SCENE, TOPICS, WIRING

from .view_client import DRONE_MODEL, LANE_MODEL, SCHEMAS, check_message, decoded, message_seconds, run_cli


def read_view(path) -> dict[str, list[tuple[int, dict]]]:
    """Each topic's (log time, decoded message), checking every channel's schema on the way."""
    messages = defaultdict(list)
    with open(path, "rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        assert {channel.topic for channel in summary.channels.values()} <= set(TOPICS)
        for channel in summary.channels.values():
            schema = summary.schemas[channel.schema_id]
            assert channel.schema_id != 0 and schema.name == SCHEMAS[channel.topic] and schema.data
        for schema, channel, message in reader.iter_messages():
            messages[channel.topic].append(
                (message.log_time, decoded(channel.topic, schema.name, schema.encoding, schema.data, message.data)))
    return messages


@pytest.mark.parametrize("world, model, neurons", [("lane", LANE_MODEL, 19), ("drone", DRONE_MODEL, 34)])
def test_a_drive_writes_every_channel_on_the_simulation_clock(tmp_path, world, model, neurons):
    path = tmp_path / "view.mcap"
    extra = ["--distance", "12"] if world == "lane" else ["--start-distance", "5,6"]
    result = run_cli("drive", "--world", world, "--driver", "model", "--model", str(model), "--mcap", str(path),
                     "--json", *extra)
    assert result.returncode in (0, 3), result.stderr
    report = json.loads(result.stdout)
    sim_time = report["sim_time_s"] if world == "lane" else report["flights"][0]["sim_time_s"]
    messages = read_view(path)
    assert set(messages) == set(TOPICS)
    for topic, received in messages.items():
        for log_time, message in received:
            check_message(topic, message, neurons)
            assert 0 <= log_time <= sim_time * 1e9 + 1
            stamp = message_seconds(message)
            if stamp is not None:
                assert stamp == pytest.approx(log_time * 1e-9, abs=1e-6)
    steps = len(messages[NEURONS])
    assert steps == len(messages[CAMERA]) >= 0.9 * sim_time * 20 / (2 if world == "drone" else 1)
    assert 1 <= len(messages[OVERLAY]) < steps and 1 <= len(messages[WIRING]) < steps  # at their own rates
    times = [t for t, _ in messages[NEURONS]]
    assert times == sorted(times) and times[-1] > times[0]
    values = [message["data"] for _, message in messages[NEURONS]]
    assert values[-1] != values[0]  # the neurons move
    car = "car" if world == "lane" else "drone"
    assert any(entity["id"] == car for _, update in messages[SCENE] for entity in update["entities"])


def test_eval_replays_a_recording_into_the_file(tmp_path):
    bags = tmp_path / "bags"
    made = run_cli("generate", "--seeds", "0", "--distance", "6", "--out", str(bags))
    assert made.returncode == 0, made.stderr
    path = tmp_path / "eval.mcap"
    result = run_cli("eval", "--model", str(LANE_MODEL), "--bags", str(bags / "sim_00000"), "--mcap", str(path),
                     "--json")
    assert result.returncode == 0, result.stderr
    frames = json.loads(result.stdout)["frames"]
    messages = read_view(path)
    assert len(messages[CAMERA]) == len(messages[NEURONS]) == frames
    assert set(messages) == set(TOPICS) - {SCENE}  # a recording has no world
    for topic, received in messages.items():
        for _, message in received:
            check_message(topic, message, 19)
