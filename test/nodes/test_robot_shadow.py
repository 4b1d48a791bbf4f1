"""A robot's recording played into the policy launch in shadow mode, as a user checks a policy
before it touches the motors (``eval --closed-replay``): JPEG CompressedImage camera and
TwistStamped teleop from a bag the package did not write, `bag play --clock` -> perception_node
(compressed) -> controller_node in shadow mode, which never publishes cmd_vel (the replay fails
if it does) and reports its agreement with the recorded teleop.
"""

import json

import pytest
from data.robot_bags import CAMERA, write_robot_bag

from liquid_control.cli import main

pytestmark = [pytest.mark.ros, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

TASK = """name: line
camera: {topic: %s, type: sensor_msgs/msg/CompressedImage}
command: {topic: /cmd_vel, type: geometry_msgs/msg/TwistStamped, outputs: [angular.z]}
control_rate_hz: 15
preprocessing: {size: [64, 96]}
training: {head_channels: [16, 24, 32, 32, 32], features: 16}
""" % CAMERA


def test_a_recording_replayed_in_shadow_mode_agrees_with_its_teleop(tmp_path, capsys):
    for seed in range(3):
        write_robot_bag(tmp_path / "train" / f"drive{seed}", seconds=60, seed=10 + seed)
    held_out = write_robot_bag(tmp_path / "held_out", seconds=20, seed=99)
    task, model = tmp_path / "line.yaml", tmp_path / "model"
    task.write_text(TASK)
    assert main(["train", "--task", str(task), "--bags", str(tmp_path / "train"), "--epochs", "6",
                 "--seq-len", "16", "--threads", "2", "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["eval", "--closed-replay", "--task", str(task), "--model", str(model), "--bags", str(held_out),
                 "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["closed_replay"].values()
    # The line-following policy agrees with the teleop it never saw: predicting the mean would be
    # off by ~0.2 rad/s at the median, and right about the direction of turn only by chance.
    assert int(report["shadow_pairs"]) >= 200 and report["shadow"] == "true", report
    assert float(report["shadow_angular.z_error_p50"]) < 0.1, report
    assert float(report["shadow_angular.z_sign_agreement"]) > 0.8, report
