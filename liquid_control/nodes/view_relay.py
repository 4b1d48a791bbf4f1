"""The demos' live view: the running nodes' topics forwarded to the view's sinks (``liquid_control.view``:
a Foxglove WebSocket server, an MCAP file) on the channels ``drive --live`` uses.

A node of its own (on the simulator's /clock) subscribes to the camera (best-effort, as the simulator
publishes it), the controller's attention overlay, neurons, neuron names and wiring image (RELIABLE;
the controller renders them only while somebody subscribes), the commands (``cmd_vel``, or ``drive`` for
``command_type`` ackermann, shown as the twist they drive) and ``odom``, and logs each at
its header stamp (sim time; the headerless neurons and command at the newest sim time seen); it turns the
controller's attention overlay on (``publish_saliency``) and sends the time between commands as the
step, with the controller's command limits. The world's scene (``view.scene_for``) is drawn from
``odom``. The ROS names are the view's topic names made relative, so a namespace moves them together.
"""

from __future__ import annotations

import json
import math
from functools import partial
from types import SimpleNamespace

import numpy as np
import rclpy
from nav_msgs.msg import Odometry
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, String

from liquid_control.nodes.command_topics import COMMAND_TOPICS
from liquid_control.nodes.controller.messages import command_twist
from liquid_control.view import scene_for
from liquid_control.view.channels import CAMERA, NEURON_NAMES, NEURONS, OVERLAY, WIRING
from liquid_control.view.messages import float32_multi_array, rgb_image, twist_message
from liquid_control.view.publisher import LIMIT_FIELDS, RateGate, nanoseconds
from liquid_control.view.session import LiveView

ODOMETRY = "odom"
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
NAMES_RESEND_HZ = 1.0  # the names again, for viewers who connect later
CONTROLLER = "controller_node"
ATTENTION_ON = "publish_saliency"  # the controller's switch of its attention overlay (off by default)
WHEELBASE = "wheelbase"  # the controller's, asked for with its limits
ASKED = (*LIMIT_FIELDS, WHEELBASE)


def ros_name(topic: str) -> str:
    """The view's topic as a ROS name relative to the relay's namespace."""
    return topic.lstrip("/")


def stamp_seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def image_pixels(message: Image) -> np.ndarray:
    """An rgb8, bgr8 or mono8 Image as (H, W, 3) or (H, W) uint8 pixels."""
    data = np.frombuffer(message.data, np.uint8)
    if message.encoding == "mono8":
        return data.reshape(message.height, message.step)[:, :message.width]
    pixels = data.reshape(message.height, message.step)[:, :message.width * 3].reshape(message.height,
                                                                                      message.width, 3)
    return pixels[:, :, ::-1] if message.encoding == "bgr8" else pixels


def odometry_observation(message: Odometry, seconds: float) -> SimpleNamespace:
    """What a world scene reads of an observation (the lane car's ``car``, the drone's ``state``), from odom."""
    position, q = message.pose.pose.position, message.pose.pose.orientation
    yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
    body = SimpleNamespace(x=position.x, y=position.y, z=position.z, yaw=yaw)
    return SimpleNamespace(time=seconds, car=body, state=body)


class ViewRelay:
    """The relay node in ``context``, spun by ``executor``; ``close()`` finishes the file and stops the server."""

    def __init__(self, context, executor, view: LiveView, world=None, scene_hz: float = 5.0,
                 command_type: str = "twist"):
        self.view, self.executor = view, executor
        self.channels = channels = view.sinks.channels
        self.scene = scene_for(world) if world is not None else None
        self.scene_gate, self.names_gate = RateGate(scene_hz), RateGate(NAMES_RESEND_HZ)
        self.names: bytes | None = None
        self.node = rclpy.create_node("view_relay", context=context,
                                      parameter_overrides=[Parameter("use_sim_time", value=True)])
        self.heard: set[str] = set()  # the topics a message came on

        def subscribe(kind, topic: str, callback, qos) -> None:
            def heard(message) -> None:
                self.heard.add(topic)
                callback(message)
            self.node.create_subscription(kind, topic, heard, qos)

        subscribe(Image, ros_name(CAMERA), partial(self._on_image, channels.camera), qos_profile_sensor_data)
        subscribe(Image, ros_name(OVERLAY), partial(self._on_image, channels.overlay), RELIABLE)
        subscribe(Image, ros_name(WIRING), partial(self._on_image, channels.wiring), RELIABLE)
        subscribe(Float32MultiArray, ros_name(NEURONS), self._on_neurons, RELIABLE)
        subscribe(String, ros_name(NEURON_NAMES), self._on_names, LATCHED)
        self.command = COMMAND_TOPICS[command_type]
        subscribe(self.command.message_type(), self.command.topic, self._on_command, RELIABLE)
        subscribe(Odometry, ODOMETRY, self._on_odometry, RELIABLE)
        # The controller's parameter services themselves (Humble's rclpy has no AsyncParameterClient).
        self._set_parameters = self.node.create_client(SetParameters, f"{CONTROLLER}/set_parameters")
        self._get_parameters = self.node.create_client(GetParameters, f"{CONTROLLER}/get_parameters")
        self._attention_asked = self._limits_asked = None
        self.limits: dict = {}  # the controller's command limits, sent with each step
        self.wheelbase: float | None = None  # the controller's, to show an Ackermann command as a twist
        self.last_command_s: float | None = None
        self.newest_stamp_s = 0.0
        executor.add_node(self.node)

    def _now(self) -> float:
        """Sim time: the node's /clock, or the newest stamp the simulator's messages carried if that is later."""
        return max(self.node.get_clock().now().nanoseconds * 1e-9, self.newest_stamp_s)

    def _on_image(self, channel, message: Image) -> None:
        if channel.has_sinks() and message.encoding in ("rgb8", "bgr8", "mono8"):
            seconds = stamp_seconds(message.header.stamp)
            self.newest_stamp_s = max(self.newest_stamp_s, seconds)
            channel.log(rgb_image(image_pixels(message), seconds, message.header.frame_id or "camera"),
                        log_time=nanoseconds(seconds))

    def _on_names(self, message: String) -> None:
        self.names = json.dumps({"data": message.data}).encode()
        self.names_gate.last = None

    def _on_neurons(self, message: Float32MultiArray) -> None:
        now = self._now()
        names = self.channels.names
        if self.names is not None and names.has_sinks() and self.names_gate.due(now):
            names.log(self.names, log_time=nanoseconds(now))
        if self.channels.neurons.has_sinks():
            self.channels.neurons.log(json.dumps(float32_multi_array(message.data)).encode(),
                                      log_time=nanoseconds(now))

    def _on_command(self, message) -> None:
        now, channels = self._now(), self.channels
        if hasattr(message, "drive") and self.wheelbase is None:
            return  # an Ackermann command's yaw rate needs the controller's wheelbase, asked for with the limits
        twist = command_twist(message, self.wheelbase)
        if channels.command.has_sinks():
            content = twist_message(twist.linear_x, twist.linear_y, twist.linear_z, 0.0, 0.0, twist.angular_z)
            channels.command.log(json.dumps(content).encode(), log_time=nanoseconds(now))
        if channels.step.has_sinks() and self.last_command_s is not None and now > self.last_command_s:
            step = {"elapsed_s": now - self.last_command_s, **self.limits}  # no compute time: it is the node's
            channels.step.log(json.dumps(step).encode(), log_time=nanoseconds(now))
        self.last_command_s = now

    def _ask_the_controller(self) -> None:
        """Once its parameter services are up: turn its attention overlay on, and ask for its command limits."""
        ready = self._set_parameters.service_is_ready() and self._get_parameters.service_is_ready()
        if self._attention_asked is None and ready:
            turn_on = SetParameters.Request(parameters=[Parameter(ATTENTION_ON, value=True).to_parameter_msg()])
            self._attention_asked = self._set_parameters.call_async(turn_on)
            self._limits_asked = self._get_parameters.call_async(GetParameters.Request(names=list(ASKED)))
        if self._limits_asked is not None and self._limits_asked.done():
            values = self._limits_asked.result().values if self._limits_asked.result() is not None else []
            asked = {name: float(parameter_value_to_python(value)) for name, value in zip(ASKED, values)}
            self.wheelbase = asked.pop(WHEELBASE, None)
            self.limits = asked
            self._limits_asked = None

    def _on_odometry(self, message: Odometry) -> None:
        self._ask_the_controller()
        if self.scene is None:
            return
        seconds = stamp_seconds(message.header.stamp)
        self.newest_stamp_s = max(self.newest_stamp_s, seconds)
        observation = odometry_observation(message, seconds)
        self.scene.observe(observation)
        if self.channels.scene.has_sinks() and self.scene_gate.due(seconds):
            self.channels.scene.log(self.scene.update(observation), log_time=nanoseconds(seconds))

    def has_heard_the_controller(self) -> bool:
        """Every topic of the controller's view has delivered: a demo that ended sooner (discovery on a
        busy machine can outlast a short drive) would leave them out of the view."""
        view = {ros_name(topic) for topic in (OVERLAY, WIRING, NEURONS, NEURON_NAMES)}
        return {*view, self.command.topic} <= self.heard

    def close(self) -> None:
        self.executor.remove_node(self.node)
        self.node.destroy_node()
        self.view.close()


def _drone_world(seed: int, domain: str):
    from dataclasses import replace

    from liquid_control.sim.drone.world import DroneWorld
    from liquid_control.train.simulate import drone_config

    return DroneWorld(seed, replace(drone_config(domain), render=False))


def _lane_world(seed: int, domain: str):
    from liquid_control.sim.lane.world import LaneWorld, WorldConfig

    return LaneWorld(seed, WorldConfig(render=False))


# The world each simulator's demo node builds (its track or scene; no camera), by simulator name.
DEMO_WORLDS = {"lane": _lane_world, "drone": _drone_world}


def demo_world(world: str, seed: int, domain: str = "summer"):
    """The world the demo's simulator node builds, for the scene."""
    if world not in DEMO_WORLDS:
        raise ValueError(f"no demo world {world!r}; the demo worlds are {', '.join(DEMO_WORLDS)}")
    return DEMO_WORLDS[world](seed, domain)


def open_relay(context, executor, live: str | None, mcap: str | None, world: str, seed: int,
               domain: str = "summer", command_type: str = "twist") -> ViewRelay | None:
    """The relay the demo's ``--live``/``--mcap`` ask for (announced on stderr), or None without them."""
    if not (live or mcap):
        return None
    view = LiveView(live, mcap)
    view.announce()
    simulated = demo_world(world, seed, domain)
    try:
        return ViewRelay(context, executor, view, simulated, command_type=command_type)
    finally:
        simulated.close()
