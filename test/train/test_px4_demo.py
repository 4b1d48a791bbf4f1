"""``demo --world drone --flight-controller px4``: camera -> policy -> px4_bridge -> simulated PX4,
closed loop through the real nodes, reaches the target in held-out scene 1000 as the cmd_vel demo
does (test_shipped_drone_model.py), and the flight went through PX4's offboard mode."""

import json
import subprocess
import sys
from pathlib import Path

import px4_msgs.msg  # noqa: F401  (built from msgs/ into both test venvs: fail loudly, never skip)
import pytest


@pytest.mark.slow
@pytest.mark.ros
def test_drone_demo_through_px4_offboard(tmp_path):
    result = subprocess.run([sys.executable, "-m", "liquid_control", "demo", "--world", "drone", "--flight-controller",
                             "px4", "--seed", "1000", "--out", str(tmp_path), "--timeout", "240", "--json"],
                            capture_output=True, text=True, timeout=360)
    log = (tmp_path / "nodes.log").read_text() if (tmp_path / "nodes.log").exists() else ""
    assert result.returncode == 0, result.stderr[-3000:] + log[-3000:]
    report = json.loads(result.stdout)
    assert report["flight_controller"] == "px4"
    assert report["success"] and report["stop_reason"] == "reached the target", report
    assert report["final_distance_m"] < 2.5
    assert "[px4_bridge]" in log and "VehicleCommand 176 accepted: Offboard mode" in log, log[-3000:]
    assert "VehicleCommand 400" not in log, "the bridge armed: the demo's vehicle starts armed"
    assert Path(report["flight_png"]).stat().st_size > 1000
