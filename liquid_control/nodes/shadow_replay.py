"""Shadow replay: a robot's recording played into the policy launch in shadow mode, the agreement read back.

``shadow_replay(model, bag, task)`` starts ``launch/lane_keeping.launch.xml`` with ``shadow:=true``
and the task's camera topic, transport (``compressed``) and command type (``twist_stamped``), on
the recording's clock (``use_sim_time``; the controller steps on each frame), plays the bag's
camera and command topics with ``bag play --clock`` and returns the controller's shadow figures
from its last /diagnostics: per commanded field the error p50/p95, the share within the tolerance
and the sign agreement with the recorded commands. A controller that publishes on /cmd_vel would
be compared with itself, so the replay fails if it does. ``eval --closed-replay`` is its command: the
same nodes, timing and command shaping that will drive the robot, before they do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from liquid_control.nodes.closed_loop_demo import REPO_ROOT, local_ros_environment


def _controller_values(array: DiagnosticArray) -> dict:
    return {kv.key: kv.value for status in array.status if status.name.startswith("controller_node")
            for kv in status.values}


def shadow_replay(model: str, bag: str, task, timeout_s: float = 900.0, startup_s: float = 120.0) -> dict:
    """The controller's shadow report over the recording ``bag`` for ``task``'s topics."""
    env = local_ros_environment()
    compressed = task.camera.type.endswith("CompressedImage")
    camera = task.camera.topic.removesuffix("/compressed") if compressed else task.camera.topic
    log_path = Path(tempfile.mkdtemp(prefix="liquid_control-replay-")) / "nodes.log"
    arguments = ["lane_keeping.launch.xml", f"model:={Path(model).resolve()}", f"camera_topic:={camera}",
                 f"compressed:={str(compressed).lower()}",
                 f"twist_stamped:={str(task.command.type.endswith('TwistStamped')).lower()}", "shadow:=true",
                 "use_sim_time:=true", "controller_trigger:=frame"]
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("shadow_replay", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    reports: list[dict] = []

    def keep_controller_report(array: DiagnosticArray) -> None:
        values = _controller_values(array)
        if values:
            reports.append(values)

    node.create_subscription(DiagnosticArray, "/diagnostics", keep_controller_report, 10)
    with open(log_path, "w") as log:
        runner = subprocess.Popen([sys.executable, "-m", "liquid_control", "launch", *arguments], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True)

    def spin_until(condition, what: str, limit: float) -> None:
        deadline = time.monotonic() + limit
        while not condition():
            if runner.poll() is not None:
                raise RuntimeError(f"the nodes exited (code {runner.returncode}) before {what}; see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {limit:g} s waiting for {what}; see {log_path}")
            executor.spin_once(timeout_sec=0.05)

    try:
        spin_until(lambda: node.count_subscribers(task.camera.topic) > 0 and node.count_subscribers("/cmd_vel") > 0
                   and reports, "the policy launch to come up", startup_s)
        player = subprocess.Popen([sys.executable, "-m", "liquid_control", "bag", "play", str(bag), "--clock",
                                   "--topics", task.camera.topic, task.command.topic, "--remap",
                                   f"{task.command.topic}:=/cmd_vel", "--wait-for-subscribers", "10"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        spin_until(lambda: player.poll() is not None, "the recording to play", timeout_s)
        if player.returncode != 0:
            raise RuntimeError(f"bag play failed ({player.returncode}): {player.stdout.read()[-2000:]}")
        # The last frames' steps reach /diagnostics with its next message: wait for two more.
        count = len(reports)
        spin_until(lambda: len(reports) >= count + 2, "the controller's report", 30.0)
        # Paired with its own commands, the controller would agree perfectly: the report is void.
        drivers = [info.node_name for info in node.get_publishers_info_by_topic("/cmd_vel")]
        if "controller_node" in drivers:
            raise RuntimeError(f"controller_node publishes on /cmd_vel in shadow mode; see {log_path}")
        return {key: value for key, value in reports[-1].items()
                if key.startswith("shadow") or key in ("model", "output", "frames", "ticks")}
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGINT)
            try:
                runner.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(runner.pid, signal.SIGKILL)
                runner.wait()
