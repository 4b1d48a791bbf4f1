"""lane_keeping.launch.xml started by the launch runner, as a user starts it: camera frames in, commands out.

perception_node and controller_node run from the launch file (with the shipped model, its
parameters handed over as params files, the way ``ros2 launch`` does); the test plays camera and
clock. The network's outputs must equal the shipped policy stepped here on the same frames and
elapsed times, on whichever distribution's rclpy the lane runs (Kilted and Jazzy run this test).
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray
from std_srvs.srv import Trigger

from liquid_control.data.images import PreprocessSpec
from liquid_control.nets import load_model

from .harness import REPO_ROOT, WAIT_S, ros_time

pytestmark = [pytest.mark.ros, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

MODEL = REPO_ROOT / "models" / "ncp19_lane"
NOMINAL_DT = 1.0 / 20.0  # control_rate_hz of config/lane_keeping.yaml: the first step after a reset
STARTUP_S = 90.0


class Camera:
    """A probe in the launch's namespace: publishes /clock and camera frames, takes the commands."""

    def __init__(self, namespace: str, stamped: bool, runner: subprocess.Popen, log_path):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self.runner, self.log_path = runner, log_path
        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("camera_probe", namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.clock = self.node.create_publisher(Clock, "/clock", 10)
        self.frames = self.node.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
        self.commands, self.outputs = [], []
        self.node.create_subscription(TwistStamped if stamped else Twist, "cmd_vel", self.commands.append, 10)
        self.node.create_subscription(Float32MultiArray, "controller_node/policy_output",
                                      lambda m: self.outputs.append(float(m.data[0])), 10)
        self.reset = self.node.create_client(Trigger, "controller_node/reset")
        self.now = 100.0

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def spin_until(self, condition, what: str, timeout: float = WAIT_S, resend=None, resend_now: bool = True) -> None:
        """Spin until ``condition()``; with ``resend``, call it now (``resend_now``; else first after
        half a second) and every half second meanwhile."""
        deadline = time.monotonic() + timeout
        next_send = time.monotonic() + (0.0 if resend_now else 0.5)
        while not condition():
            if self.runner.poll() is not None:
                pytest.fail(f"the launch ended ({self.runner.returncode}):\n{self.log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}:\n{self.log_path.read_text()[-3000:]}")
            if resend is not None and time.monotonic() >= next_send:
                resend()
                next_send = time.monotonic() + 0.5
            self.executor.spin_once(timeout_sec=0.02)

    def send(self, frame: np.ndarray, dt: float) -> None:
        """Advance the clock by dt, then publish the frame stamped with the new time (kept as
        ``self.last_frame``, to send again should it be lost)."""
        self.now += dt
        self.clock.publish(Clock(clock=ros_time(self.now)))
        message = Image(height=frame.shape[0], width=frame.shape[1], encoding="rgb8", step=frame.shape[1] * 3,
                        data=frame.tobytes())
        message.header.stamp = ros_time(self.now)
        message.header.frame_id = "camera"
        self.frames.publish(message)
        self.last_frame = message


@pytest.mark.parametrize("stamped", [False, True], ids=["Twist", "TwistStamped"])
def test_lane_keeping_launch_turns_camera_frames_into_the_policys_commands(tmp_path, ros_env, stamped):
    namespace = f"/lane_keeping_{os.getpid()}_{int(stamped)}"
    log_path = tmp_path / "launch.log"
    with open(log_path, "w") as log:
        runner = subprocess.Popen(
            [sys.executable, "-m", "liquid_control", "launch", "lane_keeping.launch.xml", f"namespace:={namespace}",
             "use_sim_time:=true", "controller_trigger:=frame", "backend:=torch",
             f"twist_stamped:={'true' if stamped else 'false'}"],
            env=ros_env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True)
    camera = Camera(namespace, stamped, runner, log_path)
    try:
        rng = np.random.default_rng(7)
        # 120x320 camera frames: perception_node crops/resizes them to the card's 66x200 input.
        frames = [rng.integers(0, 256, (120, 320, 3), dtype=np.uint8) for _ in range(7)]
        # Warm up until a command comes back through both nodes (discovery, model loading), then reset
        # the network so that the steps below start from a known state.
        camera.spin_until(lambda: camera.outputs, "the first command through perception and controller",
                          STARTUP_S, resend=lambda: camera.send(frames[0], 0.05))
        # A warm-up frame still on its way would step the network after the reset: wait until the
        # outputs have stopped coming (no new one for a second) first.
        quiet = {"count": len(camera.outputs), "since": time.monotonic()}

        def settled():
            if len(camera.outputs) != quiet["count"]:
                quiet.update(count=len(camera.outputs), since=time.monotonic())
            return time.monotonic() - quiet["since"] > 1.0
        camera.spin_until(settled, "the warm-up frames to be through")
        camera.spin_until(camera.reset.service_is_ready, "the reset service")
        future = camera.reset.call_async(Trigger.Request())
        camera.spin_until(future.done, "the reset")
        assert future.result().success
        dts = [0.05, 0.05, 0.08, 0.03, 0.05, 0.06]
        outputs_before, commands_before = len(camera.outputs), len(camera.commands)
        for index, dt in enumerate(dts):
            count = len(camera.outputs)
            camera.send(frames[index + 1], dt)
            # A best-effort frame lost on a busy machine goes again, same stamp: should the first
            # have arrived after all, the copy is a duplicate stamp, which steps nothing (S6).
            camera.spin_until(lambda: len(camera.outputs) > count, f"the output of frame {index + 1}",
                              resend=lambda: camera.frames.publish(camera.last_frame), resend_now=False)
        camera.spin_until(lambda: len(camera.commands) >= commands_before + len(dts), "the commands")

        policy, card = load_model(MODEL, device="cpu")
        spec = PreprocessSpec.from_card(card)
        state, expected = None, []
        with torch.no_grad():
            for index, dt in enumerate(dts):
                x = torch.from_numpy(spec.apply(frames[index + 1], "rgb8")).permute(2, 0, 1)
                y, state = policy.step(x, NOMINAL_DT if index == 0 else dt, state)
                expected.append(float(y[0]))
        got = camera.outputs[outputs_before:]
        assert np.allclose(got, expected, atol=1e-5), (got, expected)
        commands = camera.commands[commands_before:]
        twists = [c.twist if stamped else c for c in commands]
        assert all(0.0 < t.linear.x <= 3.5 and abs(t.angular.z) <= 3.0 for t in twists), twists
        if stamped:
            assert all(c.header.frame_id == "base_link" for c in commands)
            assert commands[-1].header.stamp.sec == int(camera.now)  # stamped on the sim clock
    finally:
        camera.close()
        os.killpg(runner.pid, signal.SIGINT)
        code = runner.wait(60)
    assert code == 0, log_path.read_text()[-3000:]
