"""``demo --mcap`` and ``demo --live``: the real ROS nodes drive, and the view relay (nodes/view_relay.py)
sends what they publish to an MCAP file or a Foxglove viewer: the camera, the controller's attention
overlay, neurons, names and wiring image, the command, the step and the world's scene, each channel
with its schema, stamped on the sim clock."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import sys

from liquid_control.view.channels import COMMAND, SCENE, STEP, TOPICS

from .test_live_server import TIMEOUT_S, watch
from .test_mcap_file import read_view
from .view_client import REPO, check_message, decoded, message_seconds, run_cli


def test_the_lane_demo_writes_the_nodes_view_to_an_mcap_file(tmp_path):
    path = tmp_path / "demo.mcap"
    result = run_cli("demo", "--distance", "25", "--out", str(tmp_path / "demo"), "--mcap", str(path), "--json",
                     timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["view"] == {"mcap": str(path)} and report["distance_m"] >= 25
    messages = read_view(path)
    assert set(messages) == set(TOPICS), sorted(messages)
    for topic, logged in messages.items():
        for log_time, message in logged:
            check_relayed(topic, message)
            stamp = message_seconds(message)
            if stamp is not None:  # the message's own stamp is the log time: the simulator's clock
                assert abs(stamp - log_time * 1e-9) < 1e-6, topic
    sim_seconds = max(log_time for logged in messages.values() for log_time, _ in logged) * 1e-9
    assert 1.0 < sim_seconds < 60.0  # sim time from the start of the drive, not the wall clock's epoch
    scene = messages[SCENE][-1][1]
    assert {entity["id"] for entity in scene["entities"]} == {"track", "car", "path"}


def check_relayed(topic: str, message: dict) -> None:
    if topic == STEP:  # the time between the controller's commands, with its limits (its compute time is its own)
        assert message["elapsed_s"] > 0 and message.get("max_angular", 1) > 0
    else:
        check_message(topic, message, neurons=19)


def test_a_viewer_sees_the_nodes_of_a_live_demo(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "liquid_control", "demo", "--distance", "80", "--out",
                                str(tmp_path / "demo"), "--live", "127.0.0.1:0", "--json"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = next(found.group(0) for line in process.stderr if (found := re.search(r"ws://[\w.]+:\d+", line)))
        channels, first = asyncio.run(watch(url))
        out, err = process.communicate(timeout=TIMEOUT_S * 4)
    finally:
        process.kill()
    assert process.returncode == 0, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1])["view"] == {"live": url}
    for topic, (log_time, payload) in first.items():
        channel = channels[topic]
        schema = (base64.b64decode(channel["schema"]) if channel["schemaEncoding"] == "protobuf"
                  else channel["schema"].encode())
        check_relayed(topic, decoded(topic, channel["schemaName"], channel["schemaEncoding"], schema, payload))


def test_an_ackermann_demo_shows_its_commands_as_the_twists_they_drive(tmp_path):
    """With --command-type ackermann the relay reads AckermannDriveStamped on drive and shows each as the
    twist it drives (the yaw rate from the controller's wheelbase)."""
    path = tmp_path / "ackermann.mcap"
    result = run_cli("demo", "--distance", "25", "--command-type", "ackermann", "--out", str(tmp_path / "demo"),
                     "--mcap", str(path), "--json", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    commands = [message for _, message in read_view(path)[COMMAND]]
    assert commands and all(command["linear"]["x"] >= 0 for command in commands)
    assert any(abs(command["angular"]["z"]) > 1e-3 for command in commands), "the car never turned"
