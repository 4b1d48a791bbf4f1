"""controller_node's view topics: where the network looks and what its neurons do, for rviz2, rqt and Foxglove.

~/saliency/overlay (VisualBackProp blended on the frame the step used) and ~/saliency (the bare map, mono8)
at saliency_rate_hz while publish_saliency; ~/neurons (one value per neuron) at neurons_rate_hz;
~/neurons/names (latched, again on a model swap); ~/wiring/image (the wiring with the current activity)
at wiring_rate_hz. Topic names and message shapes are the non-ROS view's (``liquid_control.view``). Each
is computed only while someone subscribes, on a thread of its own, and just after a tick (``after_tick``),
so that it runs between two ticks rather than across one; the node leaves only references here (the
newest frame, the loop whose state the ticks replace).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, String

from liquid_control.data.images import PreprocessSpec, to_rgb
from liquid_control.nodes import qos
from liquid_control.nodes.dedicated_threads import ServingThread, serving_available
from liquid_control.runtime.loop import ControlLoop
from liquid_control.view.attention import blend_attention, saliency_map
from liquid_control.view.neurons import NeuronLayout, loop_values, neuron_layout
from liquid_control.view.wiring_image import WiringRenderer

from .messages import names_message, neurons_message, rgb8_message, saliency_message

# The wiring image's size: under Fast DDS's default shared-memory segment (512 KiB), so a local viewer
# gets it in one piece; larger ones travel as UDP fragments, which delayed the control ticks.
WIRING_SIZE = (480, 270)


@dataclass(frozen=True)
class ViewedModel:
    """The network shown: its loop (whose state the ticks replace), neurons, and how its frames are shown."""

    loop: ControlLoop
    layout: NeuronLayout
    crop: tuple[int, int, int, int]  # what preprocessing removed of the camera frames shown
    normalisation: PreprocessSpec | None  # undone to show a preprocessed frame (None: min-max scaled)


@dataclass(frozen=True)
class ViewedFrame:
    """The newest frame the network took: its input, and the camera frame it came from (input:=camera)."""

    network_input: np.ndarray
    camera: np.ndarray | None
    encoding: str


def shown_pixels(model: ViewedModel, frame: ViewedFrame) -> np.ndarray:
    """The frame as (H, W, 3) RGB uint8: the camera frame, or the network input with its normalisation undone."""
    if frame.camera is not None:
        return to_rgb(frame.camera, frame.encoding)
    pixels, spec = frame.network_input, model.normalisation
    if spec is not None and spec.channels == pixels.shape[2]:
        gain, offset = spec.affine
        return to_rgb(np.clip(np.rint((pixels + offset) / gain), 0, 255).astype(np.uint8), spec.input_encoding)
    low, high = float(pixels.min()), float(pixels.max())
    scaled = ((pixels - low) * (255.0 / max(high - low, 1e-6))).astype(np.uint8)
    return to_rgb(scaled, "mono8" if scaled.shape[2] == 1 else "rgb8")


def normalisation_of(card: dict) -> PreprocessSpec | None:
    try:
        return PreprocessSpec.from_card(card)
    except ValueError:
        return None


class ViewTopics:
    """The view publishers of ``node`` and the timers (served by a thread of their own) that fill them."""

    def __init__(self, node: Node, counts: dict[str, int]):
        self._node = node
        self._counts = counts  # the node's counters (diagnostics.COUNTERS): the view's renders are counted there
        self._model: ViewedModel | None = None
        self._frame: ViewedFrame | None = None
        self._renderer: WiringRenderer | None = None
        self._publishers: dict = {}
        self._names = None
        self._thread: ServingThread | None = None
        self._timers: list = []
        self._ticked = threading.Event()
        self._tick_wait_s = 0.1

    # ----------------------------------------------------------------- publishers and model
    def open(self) -> None:
        """Create the publishers (configure); the names are published by ``use_model``."""
        node = self._node
        self._publishers = {
            "saliency": qos.publisher(node, Image, "~/saliency", qos.SENSOR_PUBLISHER, lifecycle=True),
            "overlay": qos.publisher(node, Image, "~/saliency/overlay", qos.VIEW, lifecycle=True),
            "neurons": qos.publisher(node, Float32MultiArray, "~/neurons", qos.VIEW, lifecycle=True),
            "wiring": qos.publisher(node, Image, "~/wiring/image", qos.VIEW, lifecycle=True),
        }
        self._names = qos.publisher(node, String, "~/neurons/names", qos.LATCHED)

    def use_model(self, loop: ControlLoop, card: dict, spec: PreprocessSpec | None) -> None:
        """Show ``loop``'s network (at configure and on a model swap); ``spec``: the card's preprocessing when
        camera frames come in (their crop is where the attention goes)."""
        layout = neuron_layout(loop.policy)
        crop = spec.crop if spec is not None else (0, 0, 0, 0)
        self._model = ViewedModel(loop, layout, crop, None if spec is not None else normalisation_of(card))
        self._frame = None
        self._names.publish(names_message(layout.describe()))

    def after_tick(self) -> None:
        """A tick has just ended: a render waiting for one may start."""
        self._ticked.set()

    def note_frame(self, network_input: np.ndarray, camera: np.ndarray | None = None, encoding: str = "") -> None:
        """The frame the next steps use (references only: nothing is copied)."""
        self._frame = ViewedFrame(network_input, camera, encoding)

    def close(self) -> None:
        """Destroy the publishers (cleanup, shutdown)."""
        self.stop()
        for publisher in self._publishers.values():
            self._node.destroy_lifecycle_publisher(publisher)
        if self._names is not None:
            self._node.destroy_publisher(self._names)
        self._publishers, self._names = {}, None
        self._model = self._frame = self._renderer = None

    # ----------------------------------------------------------------- timers
    def start(self, values: dict) -> None:
        """Start a timer per topic at its rate (node clock), served by a thread of their own (the executor's
        when this rclpy cannot serve one)."""
        node = self._node
        self._tick_wait_s = min(2.0 / values["control_rate_hz"], 0.5)  # frames stopped: render all the same
        # Lowest CPU priority: on a busy machine the control thread and DDS win the cores.
        self._thread = (None if serving_available()
                        else ServingThread(node, "view", node.get_logger().error, background=True))
        group = self._thread.group if self._thread is not None else MutuallyExclusiveCallbackGroup()
        rates = [(values["neurons_rate_hz"], self._publish_neurons), (values["wiring_rate_hz"], self._publish_wiring)]
        if values["publish_saliency"]:
            rates.append((values["saliency_rate_hz"], self._publish_attention))
        self._timers = [node.create_timer(1.0 / hz, callback, callback_group=group) for hz, callback in rates]
        if self._thread is not None:
            self._thread.start(timers=self._timers)

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.destroy()  # waits for a render in progress
            self._thread = None
        for timer in self._timers:
            self._node.destroy_timer(timer)
        self._timers = []

    # ----------------------------------------------------------------- publishing (the view thread)
    def _wanted(self, *names: str) -> list[bool]:
        return [self._publishers[name].get_subscription_count() > 0 for name in names]

    def _await_tick(self) -> None:
        """Wait for the end of the next tick: the work that follows then overlaps no tick (and its GIL)."""
        self._ticked.clear()
        self._ticked.wait(self._tick_wait_s)

    def _stamp(self):
        return self._node.get_clock().now().to_msg()

    def _publish_attention(self) -> None:
        bare, overlay = self._wanted("saliency", "overlay")
        model, frame = self._model, self._frame
        if model is None or frame is None or not (bare or overlay):
            return
        self._await_tick()
        saliency = saliency_map(model.loop.policy, frame.network_input)
        self._counts["view_attention_maps"] += 1
        stamp = self._stamp()
        if bare:
            self._publishers["saliency"].publish(saliency_message(saliency, stamp))
        if overlay:
            pixels = blend_attention(shown_pixels(model, frame), saliency, model.crop)
            self._publishers["overlay"].publish(rgb8_message(pixels, stamp, "camera"))

    def _publish_neurons(self) -> None:
        model = self._model
        if model is None or not self._wanted("neurons")[0]:
            return
        self._await_tick()
        self._publishers["neurons"].publish(neurons_message(loop_values(model.layout, model.loop)))
        self._counts["view_neuron_arrays"] += 1

    def _publish_wiring(self) -> None:
        model = self._model
        if model is None or not self._wanted("wiring")[0]:
            return
        self._await_tick()
        if self._renderer is None or self._renderer.layout is not model.layout:
            self._renderer = WiringRenderer(model.loop.policy, *WIRING_SIZE, layout=model.layout)
        pixels = self._renderer.render(loop_values(model.layout, model.loop))
        self._counts["view_wiring_images"] += 1
        self._publishers["wiring"].publish(rgb8_message(pixels, self._stamp(), "wiring"))
