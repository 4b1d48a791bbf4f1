"""controller_node's low-latency options, in real processes: input:=camera (it preprocesses image_raw
itself), the dedicated control and frame threads on the wall clock, real-time priority, and the
executor-only mode (dedicated_threads:=false)."""

import os
import time

import numpy as np
import pytest
import torch
from lifecycle_msgs.msg import Transition
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image

from liquid_control.data.images import PreprocessSpec, decode_image
from liquid_control.nets import load_model, save_model
from liquid_control.nets.policy import make_policy

from .harness import NodeProcess, ros_time
from .test_controller_node import PARAMS_FILE, SPEED, STARTUP_S, ControllerProbe

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

def _camera_frame(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size=(80, 240, 3), dtype=np.uint8).tobytes()


def _rgb8(data: bytes, stamp: float, width: int = 240, height: int = 80, step: int = 720) -> Image:
    message = Image(height=height, width=width, encoding="rgb8", step=step, data=data)
    message.header.stamp = ros_time(stamp)
    return message


@pytest.fixture(scope="module")
def camera_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models") / "camera"
    torch.manual_seed(3)
    policy = make_policy("ncp-cfc").eval()
    save_model(policy, folder, preprocessing={"size": [66, 200], "crop": [10, 4, 20, 20]},
               outputs={"names": ["curvature"]})
    return folder


def _start(tmp_path, parameters, frames_topic):
    node_process = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ), tmp_path / "node.log",
                               PARAMS_FILE, parameters)
    probe = ControllerProbe(node_process, frames_topic)
    probe.spin_until(lambda: probe.images.get_subscription_count() > 0 and probe.node.count_publishers("cmd_vel") > 0,
                     "the controller to come up", STARTUP_S)
    return node_process, probe


def test_camera_input_preprocesses_image_raw_like_the_card_says(camera_model, tmp_path):
    """input:=camera: raw rgb8 frames in (cropped and resized by the card's preprocessing in the node),
    the same outputs as the policy stepped here on frames preprocessed by PreprocessSpec."""
    node_process, probe = _start(tmp_path, [f"model_path:={camera_model}", "input:=camera", "use_sim_time:=true",
                                            "trigger:=frame", f"speed:={SPEED}", "max_linear_accel:=100.0",
                                            "max_angular_accel:=100.0", "diagnostics_rate_hz:=20.0"], "image_raw")
    try:
        policy, card = load_model(camera_model)
        spec = PreprocessSpec.from_card(card)

        def step(seed: int, dt: float) -> float:
            before = len(probe.outputs)
            probe.now += dt
            probe.clock.publish(Clock(clock=ros_time(probe.now)))
            message = _rgb8(_camera_frame(seed), probe.now)
            probe.spin_until(lambda: len(probe.outputs) > before, f"the output for frame {seed}",
                             resend=lambda: probe.images.publish(message))
            return probe.outputs[before].data[0]

        step(99, 1.0)  # discovery done, the state is then reset by a deactivate/activate
        assert probe.transition(Transition.TRANSITION_DEACTIVATE) and probe.transition(Transition.TRANSITION_ACTIVATE)
        state, expected, outputs = None, [], []
        dts = [0.05, 0.05, 0.08, 0.03]
        for i, dt in enumerate(dts):
            outputs.append(step(i, dt))
            image = spec.apply(decode_image("rgb8", 80, 240, 720, _camera_frame(i)), "rgb8")
            with torch.no_grad():
                y, state = policy.step(torch.from_numpy(image).permute(2, 0, 1), 0.05 if i == 0 else dt, state)
            expected.append(float(y[0]))
        assert np.allclose(outputs, expected, atol=1e-5), (outputs, expected)

        # A camera frame whose step does not fit its width is dropped, said, counted; the node goes on.
        count = len(probe.commands)
        bad = _rgb8(bytes(80 * 700), probe.now, step=700)
        probe.spin_until(lambda: "dropped a camera frame" in node_process.output(), "the bad-frame warning",
                         resend=lambda: probe.images.publish(bad))
        assert len(probe.commands) == count, "a bad frame triggers no step"
        probe.spin_until(lambda: probe.diagnostics and probe.latest_diagnostics()["last_invalid_frame"] != "none",
                         "the invalid frame in /diagnostics")
        diagnostics = probe.latest_diagnostics()
        assert "step" in diagnostics["last_invalid_frame"] and diagnostics["input"] == "/image_raw"
        assert diagnostics["threads"].startswith("dedicated: frames")  # frame-triggered: no control thread
        outputs.append(step(5, 0.05))
    finally:
        probe.close()
        assert node_process.interrupt() == 0


@pytest.mark.parametrize("dedicated", [True, False])
def test_timer_ticks_on_the_wall_clock_and_nothing_follows_the_stop(camera_model, tmp_path, dedicated):
    """trigger:=timer at 50 Hz on the wall clock, with the dedicated control thread (under SCHED_FIFO
    where permitted) or on the executor: a command per tick, and after deactivation's stop, none."""
    parameters = [f"model_path:={camera_model}", "input:=camera", "trigger:=timer", "control_rate_hz:=50.0",
                  f"dedicated_threads:={str(dedicated).lower()}", "realtime_priority:=50", "input_timeout_s:=60.0",
                  "diagnostics_rate_hz:=10.0", f"speed:={SPEED}"]
    node_process, probe = _start(tmp_path, parameters, "image_raw")
    try:
        frame = _rgb8(_camera_frame(1), time.time())
        probe.spin_until(lambda: any(c.linear.x != 0.0 for c in probe.commands), "a command that drives",
                         resend=lambda: probe.images.publish(frame))
        start = len(probe.command_times)
        probe.spin_until(lambda: len(probe.command_times) >= start + 51, "51 more commands")
        span = probe.command_times[-1] - probe.command_times[start]
        rate = (len(probe.command_times) - 1 - start) / span
        assert 25.0 < rate < 100.0, f"{rate:.1f} commands/s at control_rate_hz 50"
        probe.spin_until(lambda: probe.diagnostics and probe.latest_diagnostics()["message"] == "stepping",
                         "stepping diagnostics")
        threads = probe.latest_diagnostics()["threads"]
        if dedicated:
            assert threads.startswith("dedicated: control, frames"), threads
            assert ("control under SCHED_FIFO 50" in threads) != ("control at normal priority (" in threads), threads
        else:
            assert threads == "executor"

        assert probe.transition(Transition.TRANSITION_DEACTIVATE)
        probe.spin_until(lambda: probe.commands[-1].linear.x == 0.0, "the stop on deactivation")
        count = len(probe.commands)
        quiet_until = time.monotonic() + 0.3  # 15 periods: a tick still running would have published by then
        probe.spin_until(lambda: time.monotonic() > quiet_until, "a quiet 0.3 s")
        assert len(probe.commands) == count and probe.commands[-1].linear.x == 0.0, "a command followed the stop"
    finally:
        probe.close()
        assert node_process.interrupt() == 0


def test_timer_on_the_sim_clock_ticks_only_as_clock_advances(camera_model, tmp_path):
    """use_sim_time with trigger:=timer: the control thread serves a ROS timer on the sim clock, so
    ticks follow /clock (10 Hz of sim time), and stop when /clock stops."""
    node_process, probe = _start(tmp_path, [f"model_path:={camera_model}", "use_sim_time:=true", "trigger:=timer",
                                            "control_rate_hz:=10.0", "diagnostics_rate_hz:=10.0"], "image_preprocessed")
    try:
        probe.spin_until(lambda: probe.node.count_subscribers("/clock") > 0, "the node's /clock subscription")

        def advance(seconds: float) -> None:
            for _ in range(round(seconds / 0.02)):
                probe.now += 0.02
                probe.clock.publish(Clock(clock=ros_time(probe.now)))
                end = time.monotonic() + 0.004
                probe.spin_until(lambda: time.monotonic() > end, "the clock to be taken")

        advance(0.5)  # the sim clock is active in the node from here on
        probe.spin_until(lambda: probe.commands, "the first tick on the sim clock")
        start = len(probe.commands)
        advance(2.0)
        probe.spin_until(lambda: len(probe.commands) >= start + 18, "ticks for 2 s of sim time")
        ticks = len(probe.commands) - start
        assert 18 <= ticks <= 22, f"{ticks} ticks for 2.0 s of sim time at 10 Hz"
        count = len(probe.commands)
        quiet_until = time.monotonic() + 0.5  # 5 periods of wall time, the sim clock standing still
        probe.spin_until(lambda: time.monotonic() > quiet_until, "0.5 s with the clock paused")
        assert len(probe.commands) == count, "a tick came without the sim clock moving"
        probe.spin_until(lambda: probe.diagnostics
                         and probe.latest_diagnostics()["threads"] == "dedicated: control, frames",
                         "the threads in /diagnostics")
    finally:
        probe.close()
        assert node_process.interrupt() == 0
