"""``demo --mcap``: the real ROS nodes drive, and the view relay (nodes/view_relay.py) writes what they
publish to an MCAP file: the camera, the controller's attention overlay, neurons, names and wiring
image, the command and the world's scene, each channel with its schema, stamped on the sim clock."""

from __future__ import annotations

import json

from liquid_control.view.channels import CAMERA, COMMAND, NEURON_NAMES, NEURONS, OVERLAY, SCENE, WIRING

from .test_mcap_file import read_view
from .view_client import check_message, message_seconds, run_cli

CONTROLLER_VIEW = (OVERLAY, NEURONS, NEURON_NAMES, WIRING)


def test_the_lane_demo_writes_the_nodes_view_to_an_mcap_file(tmp_path):
    path = tmp_path / "demo.mcap"
    result = run_cli("demo", "--distance", "12", "--out", str(tmp_path / "demo"), "--mcap", str(path), "--json",
                     timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["view"] == {"mcap": str(path)} and report["distance_m"] >= 12
    messages = read_view(path)
    assert set(messages) >= {CAMERA, COMMAND, SCENE, *CONTROLLER_VIEW}, sorted(messages)
    for topic, logged in messages.items():
        for log_time, message in logged:
            check_message(topic, message, neurons=19)
            stamp = message_seconds(message)
            if stamp is not None:  # the message's own stamp is the log time: the simulator's clock
                assert abs(stamp - log_time * 1e-9) < 1e-6, topic
    sim_seconds = max(log_time for logged in messages.values() for log_time, _ in logged) * 1e-9
    assert 1.0 < sim_seconds < 60.0  # sim time from the start of the drive, not the wall clock's epoch
    scene = messages[SCENE][-1][1]
    assert {entity["id"] for entity in scene["entities"]} == {"track", "car", "path"}


def test_without_the_view_options_the_demo_writes_no_view(tmp_path):
    result = run_cli("demo", "--distance", "3", "--out", str(tmp_path / "demo"), "--json", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "view" not in json.loads(result.stdout.strip().splitlines()[-1])
