"""A robot's recording played into the policy launch in shadow mode, as a user checks a policy
before it touches the motors: JPEG CompressedImage camera and TwistStamped teleop from a bag the
package did not write, `bag play --clock` -> perception_node (compressed) -> controller_node in
shadow mode, which never publishes cmd_vel and reports its agreement with the recorded teleop.
"""

import os
import signal
import subprocess
import sys

import pytest
from data.robot_bags import CAMERA, write_robot_bag
from diagnostic_msgs.msg import DiagnosticArray

from liquid_control.cli import main

from .harness import REPO_ROOT, WAIT_S

pytestmark = [pytest.mark.ros, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

STARTUP_S = 90.0
TASK = """name: line
camera: {topic: %s, type: sensor_msgs/msg/CompressedImage}
command: {topic: /cmd_vel, type: geometry_msgs/msg/TwistStamped, outputs: [angular.z]}
control_rate_hz: 15
preprocessing: {size: [64, 96]}
training: {head_channels: [16, 24, 32, 32, 32], features: 16}
""" % CAMERA


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("robot_shadow")
    for seed in range(3):
        write_robot_bag(root / "train" / f"drive{seed}", seconds=60, seed=10 + seed)
    held_out = write_robot_bag(root / "held_out", seconds=20, seed=99)
    (root / "line.yaml").write_text(TASK)
    assert main(["train", "--task", str(root / "line.yaml"), "--bags", str(root / "train"), "--epochs", "6",
                 "--seq-len", "16", "--threads", "2", "--out", str(root / "model")]) == 0
    return root / "model", held_out


def _shadow_values(diagnostics) -> dict:
    return {kv.key: kv.value for array in diagnostics[-1:] for status in array.status
            if status.name.startswith("controller_node") for kv in status.values}


def test_a_recording_played_into_the_shadow_controller_agrees_with_its_teleop(trained, tmp_path, ros_env):
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    model, held_out = trained
    log_path = tmp_path / "launch.log"
    with open(log_path, "w") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "liquid_control", "launch", "lane_keeping.launch.xml", f"model:={model}",
             f"camera_topic:={CAMERA.removesuffix('/compressed')}", "compressed:=true", "twist_stamped:=true",
             "shadow:=true", "use_sim_time:=true", "controller_trigger:=frame", "backend:=torch"],
            env=ros_env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True)
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("shadow_watcher", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    diagnostics = []
    node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)

    def spin_until(condition, what, timeout=WAIT_S):
        import time

        deadline = time.monotonic() + timeout
        while not condition():
            if runner.poll() is not None:
                pytest.fail(f"the launch ended ({runner.returncode}):\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n{log_path.read_text()[-3000:]}")
            executor.spin_once(timeout_sec=0.05)

    try:
        spin_until(lambda: node.count_subscribers(CAMERA) > 0 and node.count_subscribers("/cmd_vel") > 0
                   and node.count_subscribers("/image_preprocessed") > 0, "the launch to come up", STARTUP_S)
        player = subprocess.run([sys.executable, "-m", "liquid_control", "bag", "play", str(held_out), "--clock",
                                 "--topics", CAMERA, "/cmd_vel", "--wait-for-subscribers", "10"],
                                env=ros_env, capture_output=True, text=True, timeout=120)
        assert player.returncode == 0, player.stdout + player.stderr
        spin_until(lambda: int(_shadow_values(diagnostics).get("shadow_pairs", 0)) >= 200,
                   "the controller's agreement over the played drive")
        values = _shadow_values(diagnostics)
        # The controller listened; only the player published the drive's commands.
        assert "controller_node" not in [info.node_name for info in node.get_publishers_info_by_topic("/cmd_vel")]
        # The line-following policy agrees with the teleop it never saw: predicting the mean would be
        # off by ~0.2 rad/s at the median, and right about the direction of turn only by chance.
        assert float(values["shadow_angular.z_error_p50"]) < 0.1, values
        assert float(values["shadow_angular.z_sign_agreement"]) > 0.8, values
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        os.killpg(runner.pid, signal.SIGINT)
        code = runner.wait(60)
    assert code == 0, log_path.read_text()[-3000:]


def test_eval_closed_replay_is_the_same_check_in_one_command(trained, capsys):
    import json

    model, held_out = trained
    task = model.parent / "line.yaml"
    capsys.readouterr()
    assert main(["eval", "--closed-replay", "--task", str(task), "--model", str(model), "--bags", str(held_out),
                 "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["closed_replay"].values()
    assert int(report["shadow_pairs"]) >= 200 and report["shadow"] == "true", report
    assert float(report["shadow_angular.z_error_p50"]) < 0.1, report
    assert float(report["shadow_angular.z_sign_agreement"]) > 0.8, report
