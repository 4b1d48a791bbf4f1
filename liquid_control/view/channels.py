"""The view's channels: the same topic names the ROS nodes publish, so one Foxglove layout serves a
live ROS system, ``drive --live`` and an MCAP file. JSON channels carry ROS-shaped messages with a
JSON schema each; images and the scene are Foxglove's protobuf schemas."""

from __future__ import annotations

import json

import foxglove
from foxglove.channels import RawImageChannel, SceneUpdateChannel

CAMERA = "/camera/image_raw"
OVERLAY = "/controller_node/saliency/overlay"
NEURONS = "/controller_node/neurons"
NEURON_NAMES = "/controller_node/neurons/names"
WIRING = "/controller_node/wiring/image"
COMMAND = "/cmd_vel"
STEP = "/controller_node/step"
SCENE = "/scene"
TOPICS = (CAMERA, OVERLAY, NEURONS, NEURON_NAMES, WIRING, COMMAND, STEP, SCENE)

_NUMBER = {"type": "number"}
_VECTOR3 = {"type": "object", "properties": {"x": _NUMBER, "y": _NUMBER, "z": _NUMBER}}
JSON_SCHEMAS = {
    NEURONS: ("std_msgs/Float32MultiArray", {
        "type": "object",
        "properties": {
            "layout": {"type": "object", "properties": {
                "dim": {"type": "array", "items": {"type": "object", "properties": {
                    "label": {"type": "string"}, "size": {"type": "integer"}, "stride": {"type": "integer"}}}},
                "data_offset": {"type": "integer"}}},
            "data": {"type": "array", "items": _NUMBER},
        }}),
    NEURON_NAMES: ("std_msgs/String", {
        "type": "object", "properties": {"data": {"type": "string", "description": 'JSON: {"names", "roles"}'}}}),
    COMMAND: ("geometry_msgs/Twist", {"type": "object", "properties": {"linear": _VECTOR3, "angular": _VECTOR3}}),
    STEP: ("liquid_control/Step", {
        "type": "object",
        "properties": {"elapsed_s": _NUMBER, "step_ms": _NUMBER, "speed": _NUMBER, "max_linear": _NUMBER,
                       "max_angular": _NUMBER, "max_linear_accel": _NUMBER, "max_angular_accel": _NUMBER}}),
}


def json_channel(topic: str, context: foxglove.Context) -> foxglove.Channel:
    name, schema = JSON_SCHEMAS[topic]
    return foxglove.Channel(topic, message_encoding="json", context=context,
                            schema=foxglove.Schema(name=name, encoding="jsonschema", data=json.dumps(schema).encode()))


class ViewChannels:
    """Every channel of the view, in one Foxglove context (its sinks: a server, an MCAP writer)."""

    def __init__(self, context: foxglove.Context):
        self.camera = RawImageChannel(CAMERA, context=context)
        self.overlay = RawImageChannel(OVERLAY, context=context)
        self.wiring = RawImageChannel(WIRING, context=context)
        self.scene = SceneUpdateChannel(SCENE, context=context)
        self.neurons = json_channel(NEURONS, context)
        self.names = json_channel(NEURON_NAMES, context)
        self.command = json_channel(COMMAND, context)
        self.step = json_channel(STEP, context)

    def all(self) -> list:
        return [self.camera, self.overlay, self.neurons, self.names, self.wiring, self.command, self.step, self.scene]
