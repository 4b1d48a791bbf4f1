"""The shipped liquid drone: its card says what it outputs and how it was made, its ONNX export
matches (test_shipped_model.py checks both models' exports), and it flies to the target in held-out
scenes, in the world directly and through the real ROS nodes (drone_demo.launch.xml: drone_sim_node,
perception_node, controller_node)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from liquid_control.data.episodes import TWIST_LABELS
from liquid_control.nets import load_model
from liquid_control.runtime.commands import output_semantics_from_card
from liquid_control.sim.drone.fly import fly
from liquid_control.sim.drone.world import DroneWorld
from liquid_control.train.model_driver import ModelDriver

MODEL = Path(__file__).resolve().parents[2] / "models" / "ncp_drone"


def test_the_shipped_model_is_an_ncp_velocity_policy_with_its_card():
    policy, card = load_model(MODEL)
    assert policy.core.wiring.neuron_counts() == {"inter": 18, "command": 12, "motor": 4}
    assert output_semantics_from_card(card) == ("velocity", TWIST_LABELS)
    assert card["preprocessing"]["size"] == [72, 128] and policy.head.channels == (24, 36, 48, 64, 16)
    assert card["training"]["data"]["command"].startswith("python -m liquid_control train --world drone")
    closed_loop = card["metrics"]["closed_loop"]
    assert closed_loop["summer"]["episodes"] >= 50 and closed_loop["summer"]["success_rate"] >= 0.9
    assert sum(p.stat().st_size for p in MODEL.iterdir()) < 10 * 2**20, "well under 10 MB"


def test_it_flies_to_the_target_in_held_out_scenes():
    world = DroneWorld(1010)
    pilot = ModelDriver(MODEL)
    reports = [fly(world, pilot).report for _ in range(1)]
    for seed in (1011, 1012):
        world.reset(seed)
        reports.append(fly(world, pilot).report)
    world.close()
    assert all(r["family"] == "held_out" for r in reports)
    assert sum(r["success"] for r in reports) >= 2, [r["stop_reason"] for r in reports]
    assert not any(r["collision"] for r in reports)


@pytest.mark.slow
@pytest.mark.ros
def test_drone_demo_through_the_ros_nodes(tmp_path):
    result = subprocess.run([sys.executable, "-m", "liquid_control", "demo", "--world", "drone", "--seed", "1001",
                             "--out", str(tmp_path), "--timeout", "240", "--json"],
                            capture_output=True, text=True, timeout=360)
    log = (tmp_path / "nodes.log").read_text()[-3000:] if (tmp_path / "nodes.log").exists() else ""
    assert result.returncode == 0, result.stderr[-3000:] + log
    report = json.loads(result.stdout)
    assert report["success"] and report["stop_reason"] == "reached the target", report
    assert report["final_distance_m"] < 2.5 and report["target_in_view_fraction"] > 0.5
    for key in ("flight_png", "frames_png", "video"):
        assert Path(report[key]).stat().st_size > 1000
