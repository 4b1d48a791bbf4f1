"""Faults around controller_node, in real processes on the wall clock: the camera stops (timer and
frame trigger, preprocessed and camera input), perception_node is SIGKILLed, the sim clock jumps
back, lifecycle cycles while frames flow, SIGTERM while ticking. Each ends in a stop within the bound
of docs/safety.md: input_timeout_s plus a control period, plus SLACK_S for a shared test machine.
"""

import os
import signal
import time

import numpy as np
import pytest
from lifecycle_msgs.msg import Transition
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image

from liquid_control.data.images import float_image_fields

from .harness import REPO_ROOT, NodeProcess, ros_time
from .test_controller_node import PARAMS_FILE, STARTUP_S, ControllerProbe, _frame

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

MODEL = REPO_ROOT / "models" / "ncp19_lane"
TIMEOUT_S = 0.3  # input_timeout_s of these nodes
RATE_HZ = 20.0
SLACK_S = 0.7


def _raw_frame(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (66, 200, 3), dtype=np.uint8)


class WallProbe(ControllerProbe):
    """Frames stamped with the wall clock (the node runs on it too), preprocessed or raw camera frames."""

    def __init__(self, node_process, camera: bool = False):
        super().__init__(node_process, frames_topic="image_preprocessed")
        self.camera = camera
        self.raw = self.node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        self.sent = 0
        self.last_sent = None

    def send_now(self, ahead: float = 0.0) -> None:
        """A frame stamped now (plus `ahead` seconds)."""
        if self.camera:
            pixels = _raw_frame(self.sent)
            message = Image(height=66, width=200, encoding="rgb8", step=600, data=pixels.tobytes())
        else:
            message = Image(**float_image_fields(np.clip(_frame(self.sent), -2.0, 2.0)))
        message.header.stamp = ros_time(self.node.get_clock().now().nanoseconds * 1e-9 + ahead)
        (self.raw if self.camera else self.images).publish(message)
        self.sent += 1
        self.last_sent = time.monotonic()

    def stream_until(self, condition, what: str, timeout: float = STARTUP_S) -> None:
        self.spin_until(condition, what, timeout, resend=self.send_now, resend_every=1 / 30)

    def moving(self) -> bool:
        return bool(self.commands) and self.commands[-1].linear.x != 0.0

    def first_stop_after(self, since: float, keep_sending: bool = False) -> float:
        """Seconds from `since` (time.monotonic) to the first stop command received after it (with
        `keep_sending`, the camera goes on sending meanwhile)."""
        def stops():
            return [t for c, t in zip(self.commands, self.command_times) if t > since and c.linear.x == 0.0]
        self.spin_until(stops, "a stop", timeout=10.0, resend=self.send_now if keep_sending else None,
                        resend_every=1 / 30)
        return stops()[0] - since


def _controller(tmp_path, *parameters, name="controller"):
    node_process = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ), tmp_path / f"{name}.log",
                               PARAMS_FILE, [f"model_path:={MODEL}", f"input_timeout_s:={TIMEOUT_S}",
                                             f"control_rate_hz:={RATE_HZ}", "max_linear_accel:=100.0", *parameters])
    return node_process


@pytest.mark.parametrize("camera", [False, True], ids=["preprocessed", "camera"])
def test_camera_stops_timer_trigger(tmp_path, camera):
    node = _controller(tmp_path, "trigger:=timer", f"input:={'camera' if camera else 'preprocessed'}")
    probe = WallProbe(node, camera=camera)
    try:
        probe.stream_until(probe.moving, "commands that drive")
        stopped_sending = probe.last_sent
        bound = TIMEOUT_S + 1 / RATE_HZ + SLACK_S
        delay = probe.first_stop_after(stopped_sending)
        assert delay <= bound, f"the first stop came {delay:.3f} s after the last frame"
        # From the bound on, every command is a stop. (Before it, a node that stalled a moment may
        # command a stop on its newest processed frame's age, then step frames still queued.)
        late = lambda: [c for c, t in zip(probe.commands, probe.command_times) if t > stopped_sending + bound]  # noqa: E731
        probe.spin_until(lambda: len(late()) >= 4, "stops at the control rate")
        assert all(c.linear.x == 0.0 and c.angular.z == 0.0 for c in late())
    finally:
        probe.close()
        assert node.interrupt() == 0, node.output()


def test_camera_stops_frame_trigger_camera_input(tmp_path):
    """Frame trigger on the wall clock (a bag replayed without /clock): the watchdog stops the robot."""
    node = _controller(tmp_path, "trigger:=frame", "input:=camera")
    probe = WallProbe(node, camera=True)
    try:
        probe.stream_until(probe.moving, "commands that drive")
        delay = probe.first_stop_after(probe.last_sent)
        assert delay <= TIMEOUT_S + 1 / RATE_HZ + SLACK_S, f"the first stop came {delay:.3f} s after the last frame"
    finally:
        probe.close()
        assert node.interrupt() == 0, node.output()


def test_perception_node_killed(tmp_path):
    perception = NodeProcess("liquid_control.nodes.perception_node", dict(os.environ), tmp_path / "perception.log",
                             REPO_ROOT / "config" / "perception.yaml", [f"model_path:={MODEL}"])
    node = _controller(tmp_path, "trigger:=timer")
    probe = WallProbe(node, camera=True)  # raw frames to perception_node's image_raw
    try:
        probe.stream_until(probe.moving, "commands through perception_node")
        perception.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        perception.wait(10)
        # The camera keeps sending; nothing reaches the controller any more.
        delay = probe.first_stop_after(killed, keep_sending=True)
        assert delay <= TIMEOUT_S + 1 / RATE_HZ + SLACK_S, f"the first stop came {delay:.3f} s after the kill"
    finally:
        probe.close()
        assert node.interrupt() == 0, node.output()


def test_sim_clock_jumping_back_resets_and_carries_on(tmp_path):
    node = _controller(tmp_path, "trigger:=frame", "use_sim_time:=true", "diagnostics_rate_hz:=20.0")
    probe = ControllerProbe(node)
    try:
        probe.spin_until(lambda: probe.images.get_subscription_count() > 0, "the controller", STARTUP_S)
        image = np.clip(_frame(1), -2.0, 2.0)
        probe.spin_until(lambda: probe.outputs, "a first step", STARTUP_S, resend=lambda: probe.send_frame(image))
        for _ in range(3):
            probe.step(image)
        probe.spin_until(lambda: probe.latest_diagnostics(), "diagnostics")
        resets = int(probe.latest_diagnostics()["resets"])
        probe.now = 50.0  # the bag looped: /clock goes back 50 s
        probe.clock.publish(Clock(clock=ros_time(probe.now)))
        command = probe.step(image)
        assert np.isfinite([command.linear.x, command.angular.z]).all()
        probe.spin_until(lambda: int(probe.latest_diagnostics()["resets"]) > resets, "the state reset")
        for _ in range(3):
            probe.step(image)  # and it goes on stepping on the new timeline
        node.check_alive()
    finally:
        probe.close()
        assert node.interrupt() == 0, node.output()


def test_lifecycle_cycles_while_frames_flow(tmp_path):
    node = _controller(tmp_path, "trigger:=timer")
    probe = WallProbe(node)
    try:
        probe.stream_until(probe.moving, "commands that drive")
        for cycle in range(3):
            assert probe.transition(Transition.TRANSITION_DEACTIVATE)
            probe.stream_until(lambda: probe.latest_diagnostics().get("message") == "inactive", "inactive")
            assert probe.commands[-1].linear.x == 0.0, f"cycle {cycle}: the last command before inactive is a stop"
            count, sent = len(probe.commands), probe.sent
            probe.stream_until(lambda: probe.sent >= sent + 15, "frames while inactive", 10.0)
            assert len(probe.commands) == count, "no command while inactive"
            if cycle == 1:  # through cleanup and configure too
                assert probe.transition(Transition.TRANSITION_CLEANUP)
                assert probe.transition(Transition.TRANSITION_CONFIGURE)
            assert probe.transition(Transition.TRANSITION_ACTIVATE)
            probe.stream_until(probe.moving, f"cycle {cycle}: driving again")
    finally:
        probe.close()
        assert node.interrupt() == 0, node.output()


def test_sigterm_while_ticking_leaves_the_robot_stopped(tmp_path):
    node = _controller(tmp_path, "trigger:=timer", "control_rate_hz:=50.0")
    probe = WallProbe(node)
    try:
        probe.stream_until(probe.moving, "commands that drive")
        node.process.send_signal(signal.SIGTERM)
        assert node.process.wait(15) == 0, node.output()
        count = len(probe.commands)
        probe.spin_until(lambda: probe.commands and probe.commands[-1].linear.x == 0.0, "the final stop", 5.0,
                         node_must_live=False)
        assert probe.commands[-1].linear.x == 0.0 and probe.commands[-1].angular.z == 0.0, probe.commands[count - 3:]
    finally:
        probe.close()
        node.interrupt()


def test_ctrl_c_stops_the_robot_at_once_when_nothing_else_wakes_the_node(tmp_path):
    # Frames and ticks on their own threads, diagnostics every 10 s: the executor of the node's
    # main thread has nothing to wake it for 10 s after a diagnostics message. Ctrl-C must still
    # stop the robot at once (and the node within `ros2 launch`'s 5 s SIGINT grace), not at the
    # next diagnostics message.
    node = _controller(tmp_path, "trigger:=timer", "diagnostics_rate_hz:=0.1")
    probe = WallProbe(node)
    try:
        probe.stream_until(probe.moving, "commands that drive")
        seen = len(probe.diagnostics)
        probe.stream_until(lambda: len(probe.diagnostics) > seen, "a diagnostics message", 15.0)
        sent = time.monotonic()
        node.process.send_signal(signal.SIGINT)

        def stops():
            return [t for c, t in zip(probe.commands, probe.command_times) if t > sent and c.linear.x == 0.0]
        # The camera goes on (no input timeout), and the node may be gone before its stop is read here.
        probe.spin_until(stops, "the final stop", 12.0, node_must_live=False, resend=probe.send_now,
                         resend_every=1 / 30)
        delay = stops()[0] - sent
        assert delay <= 0.3 + SLACK_S, f"the final stop came {delay:.2f} s after Ctrl-C"
        assert node.process.wait(15) == 0, node.output()
    finally:
        probe.close()
        node.interrupt()


# controller_node's main, with a Ctrl-C that lands in a finalizer as the Jazzy lane once saw it
# (rclpy's Future.__del__ during garbage collection): Python prints the KeyboardInterrupt raised
# there and drops it. The signal handler runs here by hand, from a finalizer on the main thread,
# on the executor's 20th spin (about 2 s in, the node configured and active).
_INTERRUPT_IN_A_FINALIZER = """
import signal, sys
from rclpy.executors import SingleThreadedExecutor
from liquid_control.nodes.controller import main as controller

class Finalised:
    def __del__(self):
        controller._interrupt(signal.SIGINT, None)

spin_once, spins = SingleThreadedExecutor.spin_once, []
def spin_once_counted(self, *args, **kwargs):
    spins.append(1)
    if len(spins) == 20:
        Finalised()
    return spin_once(self, *args, **kwargs)

SingleThreadedExecutor.spin_once = spin_once_counted
sys.exit(controller.main(sys.argv))
"""


def test_a_ctrl_c_dropped_in_a_finalizer_still_ends_the_node(tmp_path):
    import subprocess
    import sys

    log = tmp_path / "controller.log"
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-c", _INTERRUPT_IN_A_FINALIZER, "--ros-args", "--params-file",
                                    str(PARAMS_FILE), "-p", f"model_path:={MODEL}"],
                                   stdout=output, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    try:
        code = process.wait(STARTUP_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the node went on after its Ctrl-C was dropped:\n{log.read_text()[-3000:]}")
    assert code == 0, log.read_text()[-3000:]
    assert "Exception ignored" in log.read_text() and "KeyboardInterrupt" in log.read_text(), "dropped, as meant"
