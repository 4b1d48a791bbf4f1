"""controller_node's view topics in a real process, seen by a RELIABLE subscriber as rviz2, rqt and
foxglove_bridge subscribe: the attention overlay on the camera frame, the neurons and their (latched)
names, the wiring image; nothing computed while nobody subscribes.

The node steps at its control rate (system clock) on raw camera frames the probe keeps sending
(input:=camera, a card that crops the frame's top), so the overlay is drawn on the camera frame.
"""

import json
import os

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, String

from liquid_control.data.images import PreprocessSpec
from liquid_control.nets import save_model
from liquid_control.nets.policy import make_policy
from liquid_control.nodes.controller.view_topics import WIRING_SIZE, ViewedFrame, ViewedModel, shown_pixels

from .harness import REPO_ROOT, NodeProcess, Probe

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

PARAMS_FILE = REPO_ROOT / "config" / "controller.yaml"
STARTUP_S = 60.0
CROP_TOP = 20  # the card crops the camera frame's top rows: the overlay leaves them as they are
FRAME_SHAPE = (66 + CROP_TOP, 200, 3)
RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
VIEW_COUNTERS = ("view_attention_maps", "view_neuron_arrays", "view_wiring_images")
PREPROCESSING = {"size": [66, 200], "crop": [CROP_TOP, 0, 0, 0], "mean": [0.5] * 3, "std": [0.1] * 3}


def _model(folder, preset: str):
    torch.manual_seed(0)
    save_model(make_policy(preset).eval(), folder, preprocessing=PREPROCESSING, outputs={"names": ["curvature"]})
    return folder


class ViewProbe(Probe):
    def __init__(self, node_process):
        super().__init__(node_process, "view_probe")
        self.diagnostics = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.images = self.node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        self.set_parameters_client = self.node.create_client(SetParameters, "controller_node/set_parameters")
        self.pixels = np.random.default_rng(0).integers(0, 256, FRAME_SHAPE, dtype=np.uint8)

    def send_frame(self) -> None:
        height, width, _ = FRAME_SHAPE
        message = Image(height=height, width=width, encoding="rgb8", step=width * 3, data=self.pixels.tobytes())
        message.header.stamp = self.node.get_clock().now().to_msg()
        self.images.publish(message)

    def feed_until(self, condition, what: str, timeout: float = 30.0) -> None:
        """Spin, sending a camera frame every 50 ms (the node stops on stale input), until ``condition()``."""
        self.spin_until(condition, what, timeout, resend=self.send_frame, resend_every=0.05)

    def subscribe(self, message_type, topic: str, qos: QoSProfile = RELIABLE) -> list:
        received = []
        self.node.create_subscription(message_type, f"controller_node/{topic}", received.append, qos)
        return received

    def latest_diagnostics(self) -> dict:
        for array in reversed(self.diagnostics):
            for status in array.status:
                if status.name.startswith("controller_node"):
                    return {pair.key: pair.value for pair in status.values}
        return {}

    def set_parameter(self, name: str, value):
        kind, field = ((ParameterType.PARAMETER_STRING, "string_value") if isinstance(value, str)
                       else (ParameterType.PARAMETER_DOUBLE, "double_value"))
        parameter = Parameter(name=name, value=ParameterValue(type=kind, **{field: value}))
        request = SetParameters.Request(parameters=[parameter])
        return self.call(self.set_parameters_client, request, "set_parameters").results[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {"ncp": _model(root / "ncp", "ncp-cfc"), "dense": _model(root / "dense", "cfc")}


@pytest.fixture(scope="module")
def controller(models, tmp_path_factory):
    node_process = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ),
                               tmp_path_factory.mktemp("controller_view") / "node.log", PARAMS_FILE,
                               [f"model_path:={models['ncp']}", "input:=camera", "backend:=torch",
                                "publish_saliency:=true", "saliency_rate_hz:=20.0", "neurons_rate_hz:=20.0",
                                "wiring_rate_hz:=10.0", "diagnostics_rate_hz:=10.0"])
    probe = ViewProbe(node_process)
    try:
        probe.spin_until(lambda: probe.images.get_subscription_count() > 0, "the controller to come up", STARTUP_S)
        yield probe
    finally:
        probe.close()
        node_process.interrupt()


def _names(message: String) -> dict:
    return json.loads(message.data)


class TestViewTopics:
    def test_nothing_is_computed_while_nobody_subscribes(self, controller):
        def stepped_a_while():
            values = controller.latest_diagnostics()
            return int(values.get("ticks", 0)) >= 20 and values.get("step_latency_p50_ms", "n/a") != "n/a"
        controller.feed_until(stepped_a_while, "the controller stepping on camera frames")
        values = controller.latest_diagnostics()
        assert [values[name] for name in VIEW_COUNTERS] == ["0", "0", "0"], values

    def test_a_late_subscriber_gets_the_latched_names(self, controller):
        names = controller.subscribe(String, "neurons/names", LATCHED)
        controller.spin_until(lambda: names, "the latched neuron names")
        content = _names(names[-1])
        assert len(content["names"]) == len(content["roles"]) == 19  # AutoNCP(19, 1)
        assert set(content["roles"]) == {"inter", "command", "motor"}

    def test_a_reliable_subscriber_receives_the_overlay_neurons_and_wiring(self, controller):
        overlay = controller.subscribe(Image, "saliency/overlay")
        neurons = controller.subscribe(Float32MultiArray, "neurons")
        wiring = controller.subscribe(Image, "wiring/image")
        controller.feed_until(lambda: overlay and len(neurons) >= 2 and wiring, "every view topic")
        image = overlay[-1]
        assert (image.height, image.width, image.encoding) == (FRAME_SHAPE[0], FRAME_SHAPE[1], "rgb8")
        pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(FRAME_SHAPE)
        # The attention is blended where the network looked: below the cropped rows, never in them.
        np.testing.assert_array_equal(pixels[:CROP_TOP], controller.pixels[:CROP_TOP])
        assert not np.array_equal(pixels[CROP_TOP:], controller.pixels[CROP_TOP:])
        message = neurons[-1]
        assert len(message.data) == message.layout.dim[0].size == 19
        assert message.layout.dim[0].label == "neurons"
        assert np.isfinite(message.data).all() and np.any(np.asarray(message.data) != 0.0)
        assert (wiring[-1].encoding, wiring[-1].width, wiring[-1].height) == ("rgb8", *WIRING_SIZE)
        controller.spin_until(lambda: all(int(controller.latest_diagnostics()[name]) > 0 for name in VIEW_COUNTERS),
                              "the view's renders counted on /diagnostics")

    def test_a_model_swap_republishes_the_names_and_rates_are_checked(self, controller, models):
        names = controller.subscribe(String, "neurons/names", LATCHED)
        neurons = controller.subscribe(Float32MultiArray, "neurons")
        controller.spin_until(lambda: names, "the latched neuron names")
        assert controller.set_parameter("model_path", str(models["dense"])).successful
        controller.spin_until(lambda: len(_names(names[-1])["names"]) == 64, "the dense model's names")
        assert set(_names(names[-1])["roles"]) == {"hidden"}
        controller.feed_until(lambda: neurons and len(neurons[-1].data) == 64, "the dense model's 64 neurons")
        refused = controller.set_parameter("wiring_rate_hz", 0.0)
        assert not refused.successful and "wiring_rate_hz" in refused.reason
        assert controller.set_parameter("model_path", str(models["ncp"])).successful


def test_a_preprocessed_frame_is_shown_with_its_normalisation_undone():
    spec = PreprocessSpec(size=(2, 3), mean=(0.5, 0.5, 0.5), std=(0.1, 0.1, 0.1))
    pixels = np.random.default_rng(1).integers(0, 256, (2, 3, 3), dtype=np.uint8)
    network_input = spec.apply(pixels, "rgb8")
    model = ViewedModel(loop=None, layout=None, crop=(0, 0, 0, 0), normalisation=spec)
    np.testing.assert_array_equal(shown_pixels(model, ViewedFrame(network_input, None, "")), pixels)
    bgr = ViewedFrame(network_input, pixels[:, :, ::-1].copy(), "bgr8")  # a camera frame is shown as it came
    np.testing.assert_array_equal(shown_pixels(model, bgr), pixels)
