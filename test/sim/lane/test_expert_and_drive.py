"""The expert over whole kilometres, recovery bursts, and the `drive` command line."""

import json
import subprocess
import sys

import pytest

from liquid_control.sim.lane.drive import drive
from liquid_control.sim.lane.expert import ExpertDriver, RecoveryConfig
from liquid_control.sim.lane.track import TrackSpec
from liquid_control.sim.lane.world import LaneWorld, WorldConfig

BLIND = WorldConfig(render=False)  # the expert drives from ground truth: no camera needed


@pytest.mark.parametrize("seed", [1000, 1001, 3])
def test_expert_drives_a_kilometre_without_leaving_its_lane(seed):
    world = LaneWorld(seed, BLIND)
    report = drive(world, ExpertDriver(BLIND.car, speed=3.0), 1000.0).report
    assert report["stop_reason"] == "distance reached"
    assert report["distance_m"] >= 1000.0
    assert report["departures"] == 0 and not report["offroad"]
    assert report["max_abs_lateral_m"] < 0.2 and report["mean_abs_lateral_m"] < 0.03


def test_expert_drives_an_open_road_to_its_end():
    config = WorldConfig(track=TrackSpec(closed=False), render=False)
    world = LaneWorld(2, config)
    result = drive(world, ExpertDriver(config.car), 5000.0)
    assert result.report["stop_reason"] == "end of the road"
    assert result.report["departures"] == 0
    assert result.report["distance_m"] == pytest.approx(world.track.length, abs=1.0)


def test_recovery_bursts_perturb_the_car_but_the_label_stays_the_expert():
    world = LaneWorld(0, BLIND)
    driver = ExpertDriver(BLIND.car, recovery=RecoveryConfig(rate_hz=0.5, max_offset_rad=0.2))
    seen = []
    drive(world, driver, 150.0, on_step=lambda obs, cmd: seen.append((driver.perturbed, cmd, driver.label)))
    bursts = [(cmd, label) for perturbed, cmd, label in seen if perturbed]
    assert 0.05 < len(bursts) / len(seen) < 0.6
    assert all(cmd.steering != label.steering for cmd, label in bursts)
    assert all(cmd == label for perturbed, cmd, label in seen if not perturbed)
    # Same world seed, same bursts.
    again = []
    drive(world, driver, 150.0, on_step=lambda obs, cmd: again.append(driver.perturbed))
    assert again == [p for p, _, _ in seen]


def test_bad_driver_settings_are_refused():
    with pytest.raises(ValueError, match="expert speed"):
        ExpertDriver(BLIND.car, speed=50.0)
    with pytest.raises(ValueError, match="recovery"):
        ExpertDriver(BLIND.car, recovery=RecoveryConfig(min_duration_s=0))
    with pytest.raises(ValueError, match="distance_m"):
        drive(LaneWorld(0, BLIND), ExpertDriver(BLIND.car), 0)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "liquid_control", "drive", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_drive_prints_json_and_writes_plot_frames_and_video(tmp_path):
    result = _cli("--seed", "1002", "--distance", "40", "--json", "--plot", str(tmp_path / "path.png"),
                  "--frames", str(tmp_path / "frames"), "--frame-every", "10", "--video", str(tmp_path / "drive.mp4"),
                  "--perturb", "noise_std=5", "--perturb", "blur_sigma=1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("distance_m", "mean_abs_lateral_m", "max_abs_lateral_m", "departures", "realtime_factor"):
        assert key in report
    assert report["distance_m"] >= 40 and report["family"] == "held_out" and report["departures"] == 0
    assert (tmp_path / "path.png").read_bytes()[:4] == b"\x89PNG"
    pngs = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(pngs) == report["frames_saved"] >= 2
    assert (tmp_path / "drive.mp4").stat().st_size > 1000


def test_cli_drive_refuses_what_it_cannot_do():
    no_model = _cli("--driver", "model")
    assert no_model.returncode == 2 and "needs --model" in no_model.stderr
    missing = _cli("--driver", "model", "--model", "/nonexistent/model", "--distance", "5")
    assert missing.returncode == 1 and "no model card at /nonexistent/model" in missing.stderr
    bad = _cli("--perturb", "fog=3", "--distance", "5")
    assert bad.returncode == 1 and "fog" in bad.stderr
