"""Fleet evaluation: many cars, one batched network call per control period, same result as alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from liquid_control.sim.lane.drive import drive, drive_fleet
from liquid_control.sim.lane.world import LaneWorld
from liquid_control.train.model_driver import FleetModelDriver, ModelDriver

MODEL = Path(__file__).resolve().parents[2] / "models" / "ncp19_lane"
SEEDS = (1000, 1003)
DISTANCE = 12.0


@pytest.mark.parametrize("backend", ["native", "onnxruntime"])
def test_a_fleet_drives_each_car_as_it_would_drive_alone(backend):
    alone = []
    for seed in SEEDS:
        world = LaneWorld(seed)
        try:
            alone.append(drive(world, ModelDriver(MODEL, backend=backend), DISTANCE))
        finally:
            world.close()
    worlds = [LaneWorld(seed) for seed in SEEDS]
    driver = FleetModelDriver(MODEL, backend=backend)
    try:
        together = drive_fleet(worlds, driver, DISTANCE)
    finally:
        for world in worlds:
            world.close()
    assert driver.engine.backend == backend
    for one, fleet in zip(alone, together):
        assert fleet.report["stop_reason"] == one.report["stop_reason"] == "distance reached"
        assert fleet.report["departures"] == one.report["departures"] == 0
        assert fleet.trajectory.shape == one.trajectory.shape
        # Same per-car safety logic and elapsed times; the network rows agree to float rounding.
        np.testing.assert_allclose(fleet.trajectory, one.trajectory, atol=1e-5, rtol=0)
    # One batched call per control period, not one per car.
    periods = max(len(result.trajectory) for result in together) - 1
    assert 0 < len(driver.step_seconds) <= periods


def test_fleet_command_line(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "liquid_control", "drive", "--driver", "model",
                                "--model", str(MODEL), "--seed", "1001", "--fleet", "3", "--distance", "8", "--json"],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout)
    assert summary["fleet"] == 3 and summary["seeds"] == [1001, 1002, 1003] and summary["departures"] == 0
    assert summary["backend"] in ("torch", "onnxruntime", "native") and summary["batched_core_step_ms"]["calls"] > 10
    calls = summary["batched_core_step_ms"]["calls"]
    assert calls <= summary["conv_head_ms_per_frame"]["frames"] <= 3 * calls  # a head per car and frame
    refused = subprocess.run([sys.executable, "-m", "liquid_control", "drive", "--fleet", "2", "--distance", "5"],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "--fleet drives a model" in refused.stderr
