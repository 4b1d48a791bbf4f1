"""The shipped NCP-19 lane model: it loads, its ONNX export matches, and it drives, in the simulator
directly and through the real ROS nodes (the README's demo, on a shorter distance)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from liquid_control.nets import load_model
from liquid_control.nets.onnx_export import check_onnx
from liquid_control.sim.lane.drive import drive
from liquid_control.sim.lane.world import LaneWorld
from liquid_control.train.model_driver import ModelDriver

MODEL = Path(__file__).resolve().parents[2] / "models" / "ncp19_lane"


def test_the_shipped_model_is_the_ncp19_lane_keeper_with_its_card():
    policy, card = load_model(MODEL)
    assert policy.core.wiring.neuron_counts() == {"motor": 1, "command": 7, "inter": 11}
    assert card["outputs"]["names"] == ["curvature"] and card["preprocessing"]["size"] == [66, 200]
    assert card["training"]["data"]["command"].startswith("python -m liquid_control train")
    assert all(run["departures"] == 0 for run in card["metrics"]["closed_loop"].values() if isinstance(run, dict))
    assert sum(p.stat().st_size for p in MODEL.iterdir()) < 10 * 2**20, "well under 10 MB"


@pytest.mark.parametrize("model", [MODEL, MODEL.parent / "ncp_drone"], ids=lambda path: path.name)
def test_the_shipped_onnx_export_matches_the_weights(model):
    policy, card = load_model(model)
    assert card["exports"]["onnx"]["file"] == "policy.onnx"
    parity = check_onnx(policy, model / "policy.onnx", steps=10, batch=2)
    assert parity["max_abs_output_error"] < 1e-5 and parity["max_abs_state_error"] < 1e-5


def test_it_keeps_its_lane_on_a_held_out_track():
    world = LaneWorld(1003)
    report = drive(world, ModelDriver(MODEL), 150.0).report
    world.close()
    assert report["family"] == "held_out" and report["stop_reason"] == "distance reached"
    assert report["departures"] == 0 and report["max_abs_lateral_m"] < 0.25


@pytest.mark.slow
@pytest.mark.ros
def test_demo_through_the_ros_nodes(tmp_path):
    result = subprocess.run([sys.executable, "-m", "liquid_control", "demo", "--seed", "1004", "--distance", "40",
                             "--out", str(tmp_path), "--timeout", "300", "--json"],
                            capture_output=True, text=True, timeout=420)
    assert result.returncode == 0, result.stderr[-3000:] + (tmp_path / "nodes.log").read_text()[-3000:]
    report = json.loads(result.stdout)
    assert report["distance_m"] >= 40 and report["departures"] == 0 and report["stop_reason"] == "distance reached"
    for key in ("trajectory_png", "frames_png", "video"):
        assert Path(report[key]).stat().st_size > 1000
    assert "view" not in report, "without --mcap or --live the demo relays no view"
