"""``demo --command-type ackermann``: the shipped lane keeper drives held-out track 1000 through the ROS nodes,
controller_node publishing AckermannDriveStamped on ``drive`` and lane_sim_node steering its car with them
(the README's demo and the issue's target: 1 km without a departure)."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.ros
def test_demo_drives_with_ackermann_commands(tmp_path):
    result = subprocess.run([sys.executable, "-m", "liquid_control", "demo", "--command-type", "ackermann",
                             "--seed", "1000", "--distance", "1000", "--out", str(tmp_path), "--timeout", "600",
                             "--json"], capture_output=True, text=True, timeout=720)
    log = (tmp_path / "nodes.log").read_text() if (tmp_path / "nodes.log").exists() else ""
    assert result.returncode == 0, result.stderr[-3000:] + log[-3000:]
    report = json.loads(result.stdout)
    assert report["command_type"] == "ackermann" and report["track_family"] == "held_out"
    assert report["distance_m"] >= 1000 and report["departures"] == 0 and report["stop_reason"] == "distance reached"
    assert "AckermannDriveStamped" in log, "the nodes said which command message they speak"
