"""controller_node in a real process: frames in, commands out, safety, parameters, lifecycle.

The probe drives the node's clock (use_sim_time with a /clock it publishes) and triggers steps
with frames (trigger:=frame), so the elapsed times the network sees are exactly known and its
outputs can be compared with the same policy stepped here.
"""

import json
import os
import time

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray
from std_srvs.srv import Trigger

from liquid_control.data.images import float_image_fields
from liquid_control.nets import save_model
from liquid_control.nets.policy import make_policy

from .harness import REPO_ROOT, NodeProcess, Probe, ros_time

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

PARAMS_FILE = REPO_ROOT / "config" / "controller.yaml"
STARTUP_S = 60.0
SPEED = 1.5
RESEND_S = 1.0  # step(): send a frame again when it has had no answer for this long (lost on the way)


class ControllerProbe(Probe):
    def __init__(self, node_process, frames_topic: str = "image_preprocessed"):
        super().__init__(node_process, "controller_probe")
        node = self.node
        self.commands, self.outputs, self.diagnostics, self.saliency = [], [], [], []
        self.command_times = []  # time.monotonic() at each command's arrival
        node.create_subscription(Twist, "cmd_vel", self._on_command, 50)
        node.create_subscription(Float32MultiArray, "controller_node/policy_output", self.outputs.append, 10)
        node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        node.create_subscription(Image, "controller_node/saliency", self.saliency.append, qos_profile_sensor_data)
        self.images = node.create_publisher(Image, frames_topic, qos_profile_sensor_data)
        self.clock = node.create_publisher(Clock, "/clock", 10)
        self.now = 100.0
        self.set_parameters_client = node.create_client(SetParameters, "controller_node/set_parameters")
        self.change_state_client = node.create_client(ChangeState, "controller_node/change_state")
        self.get_state_client = node.create_client(GetState, "controller_node/get_state")
        self.reset_client = node.create_client(Trigger, "controller_node/reset")

    def _on_command(self, message) -> None:
        self.commands.append(message)
        self.command_times.append(time.monotonic())

    def send_frame(self, image: np.ndarray, dt: float = 0.05, stamp_offset: float = 0.0, encoding_fields=None) -> Image:
        """Advance the clock by dt, then publish a frame stamped now (minus stamp_offset); returns it."""
        self.now += dt
        self.clock.publish(Clock(clock=ros_time(self.now)))
        fields = encoding_fields or float_image_fields(image)
        message = Image(**fields)
        message.header.stamp = ros_time(self.now - stamp_offset)
        self.images.publish(message)
        return message

    def step(self, image: np.ndarray, dt: float = 0.05, expect_step: bool = True, **kwargs):
        """Send a frame and wait for the command it causes: with `expect_step`, the command of the
        network's step (moving: linear.x != 0; its policy_output comes too). The frame-trigger
        watchdog may publish stops meanwhile, for the frame before going stale as the clock moves.
        A best-effort frame can be lost on a busy machine: with no answer within RESEND_S, the same
        message goes again (same stamp, clock not advanced). Should the first have arrived after all,
        the copy is a duplicate stamp: the node holds its last command and steps nothing (S6)."""
        commands, outputs = len(self.commands), len(self.outputs)
        message = self.send_frame(image, dt, **kwargs)
        again = dict(resend=lambda: self.images.publish(message), resend_every=RESEND_S, resend_now=False)
        if not expect_step:
            self.spin_until(lambda: len(self.commands) > commands, "a command for the frame", **again)
            return self.commands[-1]
        moving = lambda: [c for c in self.commands[commands:] if c.linear.x != 0.0]  # noqa: E731
        self.spin_until(lambda: len(self.outputs) > outputs and moving(), "the command of the frame's step", **again)
        return moving()[-1]

    def first_step(self, timeout: float = 60.0) -> None:
        """Send frames until one steps the network. Discovery is not symmetric: our writer may see
        the node's reader before the reader sees our writer, and a best-effort frame sent in between
        is lost. (A stop may come first: the frame-trigger watchdog's, when the clock moves first.)"""
        deadline = time.monotonic() + timeout
        while not self.outputs and time.monotonic() < deadline:
            self.send_frame(_frame(0))
            end = time.monotonic() + 0.2
            self.spin_until(lambda: self.outputs or time.monotonic() > end, "a first step")
        assert self.outputs, "the controller never stepped on a frame"

    def resume(self, speed: float, limit: int = 40):
        """Step frames until the commanded speed is back at `speed` (after a stop it ramps up under
        the acceleration limit); returns the last command."""
        for index in range(limit):
            command = self.step(_frame(100 + index))
            if command.linear.x == pytest.approx(speed):
                return command
        pytest.fail(f"the speed did not come back to {speed} in {limit} frames: {command.linear.x}")

    def set_parameter(self, name: str, value):
        kinds = {bool: (ParameterType.PARAMETER_BOOL, "bool_value"),
                 float: (ParameterType.PARAMETER_DOUBLE, "double_value"),
                 str: (ParameterType.PARAMETER_STRING, "string_value"),
                 int: (ParameterType.PARAMETER_INTEGER, "integer_value")}
        if isinstance(value, list):  # a double or string array
            kinds = {float: (ParameterType.PARAMETER_DOUBLE_ARRAY, "double_array_value"),
                     str: (ParameterType.PARAMETER_STRING_ARRAY, "string_array_value")}
            kind, field = kinds[type(value[0])]
        else:
            kind, field = kinds[type(value)]
        parameter = Parameter(name=name, value=ParameterValue(type=kind, **{field: value}))
        response = self.call(self.set_parameters_client, SetParameters.Request(parameters=[parameter]),
                             "set_parameters")
        return response.results[0]

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.call(self.change_state_client, request, "change_state").success

    def state(self) -> str:
        return self.call(self.get_state_client, GetState.Request(), "get_state").current_state.label

    def latest_diagnostics(self) -> dict:
        """The newest controller_node status on /diagnostics (other nodes publish there too); {} if none yet."""
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name.startswith("controller_node"):
                    return {pair.key: pair.value for pair in status.values} | {"message": status.message,
                                                                                "level": status.level}
        return {}


def _frame(seed: int) -> np.ndarray:
    return (0.5 * np.random.default_rng(seed).normal(size=(66, 200, 3))).astype(np.float32)


def _model(folder, seed: int = 0):
    torch.manual_seed(seed)
    policy = make_policy("ncp-cfc").eval()
    # Normalised to mean 0.5, std 0.1: the frames above (values within about +-2.5) are ones it can produce.
    save_model(policy, folder, preprocessing={"size": [66, 200], "mean": [0.5] * 3, "std": [0.1] * 3},
               outputs={"names": ["curvature"]})
    return policy


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"a": (root / "a", _model(root / "a", 0)), "b": (root / "b", _model(root / "b", 1))}


@pytest.fixture(scope="module")
def controller(models, tmp_path_factory):
    node_process = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ),
                               tmp_path_factory.mktemp("controller") / "node.log", PARAMS_FILE,
                               [f"model_path:={models['a'][0]}", "use_sim_time:=true", "trigger:=frame",
                                f"speed:={SPEED}", "max_linear_accel:=100.0", "max_angular_accel:=100.0",
                                "input_timeout_s:=0.3", "diagnostics_rate_hz:=20.0"])
    probe = ControllerProbe(node_process)
    try:
        probe.spin_until(lambda: probe.images.get_subscription_count() > 0
                         and probe.node.count_publishers("cmd_vel") > 0,
                         "the controller to come up", STARTUP_S)
        probe.first_step()
        yield probe
    finally:
        probe.close()
        node_process.interrupt()


class TestController:
    def test_frames_in_commands_out_equal_to_the_policy_stepped_here(self, controller, models):
        policy = models["a"][1]
        state, expected = None, []
        controller.step(_frame(99))  # resynchronise: whatever came before, the next steps are exact
        controller.transition(Transition.TRANSITION_DEACTIVATE)
        controller.transition(Transition.TRANSITION_ACTIVATE)  # fresh state, as the policy here
        dts = [0.05, 0.05, 0.08, 0.03, 0.05, 0.11]
        commands, outputs = [], []
        for i, dt in enumerate(dts):
            before = len(controller.outputs)
            commands.append(controller.step(_frame(i), dt=dt))
            controller.spin_until(lambda: len(controller.outputs) > before, "policy_output")
            outputs.append(controller.outputs[-1].data[0])
            with torch.no_grad():
                y, state = policy.step(torch.from_numpy(_frame(i)).permute(2, 0, 1), 0.05 if i == 0 else dt, state)
            expected.append(float(y[0]))
        # The first step after activation uses the nominal period, the others the clock's elapsed time.
        assert np.allclose(outputs, expected, atol=1e-5), (outputs, expected)
        for command, curvature in zip(commands, expected):
            assert command.linear.x == pytest.approx(SPEED)
            assert command.angular.z == pytest.approx(SPEED * curvature, abs=1e-5)
        # backend auto (the default) timed every backend at configure and says which it runs.
        # /diagnostics comes once a second on a steady timer: wait for one published after these
        # steps (the newest one received may predate the first frame, its latencies "n/a").
        def stepped_diagnostics():
            values = controller.latest_diagnostics()
            return values if "n/a" not in (values.get("head_latency_p50_ms", "n/a"),
                                           values.get("step_latency_p50_ms", "n/a")) else None
        controller.spin_until(stepped_diagnostics, "diagnostics with latencies measured")
        diagnostics = stepped_diagnostics()
        timings = json.loads(diagnostics["backend_selection_us"])
        assert set(timings) == {"torch", "onnxruntime", "native"}
        assert diagnostics["backend"] == min(timings, key=timings.get)
        # The conv head runs as each frame arrives; the tick steps only the liquid core.
        assert float(diagnostics["head_latency_p50_ms"]) > 0 and float(diagnostics["step_latency_p50_ms"]) > 0

    def test_the_first_step_after_a_reset_follows_a_live_rate_change(self, controller, models):
        """S6: before, the first step after each reset used the period of the rate at load."""
        policy = models["a"][1]
        assert controller.set_parameter("control_rate_hz", 10.0).successful
        try:
            controller.step(_frame(98))
            assert controller.call(controller.reset_client, Trigger.Request(), "reset").success
            controller.step(_frame(97))
            with torch.no_grad():
                y, _ = policy.step(torch.from_numpy(_frame(97)).permute(2, 0, 1), 0.1)
            assert controller.outputs[-1].data[0] == pytest.approx(float(y[0]), abs=1e-5)
        finally:
            assert controller.set_parameter("control_rate_hz", 20.0).successful

    def test_stale_input_commands_a_stop(self, controller):
        command = controller.step(_frame(1), dt=0.05, expect_step=False, stamp_offset=0.5)  # 0.5 s old at arrival
        assert command.linear.x == 0.0 and command.angular.z == 0.0
        controller.wait_for_log("s old (input_timeout_s 0.3)")
        controller.spin_until(lambda: controller.latest_diagnostics()["message"].startswith("newest frame"),
                              "diagnostics to report the stale input")

    def test_bad_frames_are_dropped_and_the_node_lives(self, controller):
        before, outputs = len(controller.commands), len(controller.outputs)
        rgb8 = {"height": 66, "width": 200, "encoding": "rgb8", "step": 600, "data": bytes(66 * 600)}
        for bad, fields, problem in ((_frame(2)[:60], None, "image is 60x200x3, the policy needs 66x200x3"),
                                     (_frame(3), rgb8, "rgb8")):
            # Best effort: a frame may be lost on the way; send until the node reports this one.
            def reported():
                return controller.diagnostics and problem in controller.latest_diagnostics()["last_invalid_frame"]
            deadline = time.monotonic() + 15
            while not reported() and time.monotonic() < deadline:
                controller.send_frame(bad, encoding_fields=fields)
                end = time.monotonic() + 0.3
                controller.spin_until(lambda: reported() or time.monotonic() > end, f"the {problem} report")
            assert reported(), controller.latest_diagnostics()
        controller.wait_for_log("dropped a preprocessed frame: image is 60x200x3, the policy needs 66x200x3")
        assert len(controller.outputs) == outputs, "bad frames trigger no step"
        # Only stops meanwhile: the watchdog's, once the last good frame went stale as the clock moved.
        assert all(c.linear.x == 0.0 and c.angular.z == 0.0 for c in controller.commands[before:])
        assert 0.0 < controller.step(_frame(4)).linear.x <= SPEED
        controller.resume(SPEED)

    def test_parameters_are_live_and_checked(self, controller, models, tmp_path):
        assert controller.set_parameter("speed", 1.0).successful
        assert controller.resume(1.0).linear.x == pytest.approx(1.0)
        refused = controller.set_parameter("speed", 50.0)
        assert not refused.successful
        refused = controller.set_parameter("output_mode", "fly")
        assert not refused.successful and "output_mode" in refused.reason
        refused = controller.set_parameter("model_path", str(tmp_path / "nothing"))
        assert not refused.successful and "model not swapped" in refused.reason and "no model card" in refused.reason
        assert controller.set_parameter("model_path", str(models["b"][0])).successful
        controller.wait_for_log("swapped in model 'b'")
        assert not controller.set_parameter("device", "cuda").successful, "device is read-only"
        assert controller.set_parameter("speed", SPEED).successful

    def test_reset_service_and_saliency(self, controller):
        response = controller.call(controller.reset_client, Trigger.Request(), "reset")
        assert response.success
        assert controller.set_parameter("publish_saliency", True).successful
        assert controller.set_parameter("saliency_rate_hz", 50.0).successful
        for i in range(3):
            controller.step(_frame(i))
        controller.spin_until(lambda: controller.saliency, "a saliency image")
        image = controller.saliency[-1]
        assert (image.width, image.height, image.encoding) == (200, 66, "mono8")

    def test_lifecycle_deactivate_publishes_a_stop_and_pauses(self, controller):
        controller.step(_frame(6))
        before = len(controller.commands)
        assert controller.transition(Transition.TRANSITION_DEACTIVATE)
        controller.spin_until(lambda: len(controller.commands) > before, "the stop on deactivation")
        assert controller.commands[-1].linear.x == 0.0 and controller.state() == "inactive"
        count = len(controller.commands)
        controller.send_frame(_frame(7))
        controller.spin_until(lambda: controller.latest_diagnostics()["message"] == "inactive", "inactive diagnostics")
        assert len(controller.commands) == count, "no commands while inactive"
        assert controller.transition(Transition.TRANSITION_ACTIVATE) and controller.state() == "active"
        controller.resume(SPEED)

    def test_sigint_leaves_the_robot_stopped(self, controller):
        controller.step(_frame(9))
        before = len(controller.commands)
        code = controller.node_process.interrupt()
        assert code == 0
        # A tick's command published just before the signal may still be in flight: the robot is
        # stopped when the last command heard from the dead node is a stop.
        stopped = lambda: len(controller.commands) > before and controller.commands[-1].linear.x == 0.0  # noqa: E731
        controller.spin_until(stopped, "the final stop as the last command", timeout=5.0, node_must_live=False)
        assert controller.commands[-1].linear.x == 0.0


@pytest.mark.parametrize("parameters,message", [
    (["model_path:=/nonexistent/model"], "no model card at /nonexistent/model"),
    (["trigger:=sometimes", "model_path:=/nonexistent"], "trigger must be 'timer' or 'frame'"),
    (["control_rate_hz:=0.0"], "parameter 'control_rate_hz' must be within [1.0, 1000.0]"),
    (["backend:=tensorrt", "model_path:=/nonexistent"],
     "backend must be 'auto' or one of ('torch', 'onnxruntime', 'native')"),
])
def test_bad_start_up_parameters_exit_with_a_message(tmp_path, parameters, message):
    node_process = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ), tmp_path / "node.log",
                               PARAMS_FILE, parameters)
    code = node_process.wait(60)
    assert code != 0 and message in node_process.output(), node_process.output()
