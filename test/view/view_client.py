"""What the view's tests share: the view's channels as a viewer sees them, and how to check a message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

from liquid_control.view.channels import CAMERA, COMMAND, NEURON_NAMES, NEURONS, OVERLAY, SCENE, STEP, TOPICS, WIRING
from liquid_control.view.decoding import decode

REPO = Path(__file__).resolve().parents[2]
LANE_MODEL = REPO / "models" / "ncp19_lane"
DRONE_MODEL = REPO / "models" / "ncp_drone"
IMAGES = (CAMERA, OVERLAY, WIRING)
SCHEMAS = {CAMERA: "foxglove.RawImage", OVERLAY: "foxglove.RawImage", WIRING: "foxglove.RawImage",
           SCENE: "foxglove.SceneUpdate", NEURONS: "std_msgs/Float32MultiArray", NEURON_NAMES: "std_msgs/String",
           COMMAND: "geometry_msgs/Twist", STEP: "liquid_control/Step"}
assert set(SCHEMAS) == set(TOPICS)


def run_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "liquid_control", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def decoded(topic: str, schema_name: str, schema_encoding: str, schema: bytes, payload: bytes) -> dict:
    """A message of the view as a dict: protobuf through its schema, JSON parsed."""
    if schema_encoding == "protobuf":
        return decode(schema_name, schema, payload)
    assert schema_encoding == "jsonschema", (topic, schema_encoding)
    assert json.loads(schema)["type"] == "object"
    return json.loads(payload)


def check_message(topic: str, message: dict, neurons: int) -> None:
    """What each channel's message must hold (``neurons``: the model's neuron count)."""
    if topic in IMAGES:
        assert message["encoding"] == "rgb8"
        width, height = int(message["width"]), int(message["height"])
        assert int(message["step"]) == 3 * width and width * height > 0
    elif topic == NEURONS:
        assert message["layout"]["dim"][0]["size"] == neurons == len(message["data"])
    elif topic == NEURON_NAMES:
        content = json.loads(message["data"])
        assert len(content["names"]) == len(content["roles"]) == neurons
    elif topic == COMMAND:
        assert set(message["linear"]) == set(message["angular"]) == {"x", "y", "z"}
    elif topic == STEP:
        assert message["elapsed_s"] > 0 and message["step_ms"] >= 0 and "max_angular" in message
    elif topic == SCENE:
        assert {entity["id"] for entity in message["entities"]} >= {"path"}


def message_seconds(message: dict) -> float | None:
    """The stamp inside a message that carries one (images; the scene's entities), in seconds."""
    stamp = message.get("timestamp") or (message.get("entities") or [{}])[0].get("timestamp")
    if stamp is None:
        return None
    parsed = Timestamp()
    parsed.FromJsonString(stamp)  # protobuf's JSON form of a Timestamp: RFC 3339 text
    return parsed.seconds + parsed.nanos * 1e-9
