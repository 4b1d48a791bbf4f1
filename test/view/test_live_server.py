"""``drive --live`` serves the view to Foxglove: a headless client speaking the Foxglove WebSocket
protocol (subprotocol ``foxglove.sdk.v1``, with the ``websockets`` package) connects to a real drive
process, sees every channel advertised with its schema, subscribes to each and decodes messages."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
import subprocess
import sys
import time

import websockets

from liquid_control.view.channels import CAMERA, COMMAND, NEURONS, OVERLAY, SCENE, TOPICS

from .view_client import LANE_MODEL, REPO, SCHEMAS, check_message, decoded

MESSAGE_DATA = 0x01  # server -> client binary opcode: subscription id (u32), log time (u64), payload
TIMEOUT_S = 60.0


def start_drive() -> tuple[subprocess.Popen, str]:
    """A model drive serving the view on a free port, waiting for a viewer: (the process, its ws:// address)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "liquid_control", "drive", "--driver", "model", "--model", str(LANE_MODEL),
         "--distance", "40", "--live", "127.0.0.1:0", "--live-wait", str(TIMEOUT_S), "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + TIMEOUT_S
    for line in process.stderr:
        found = re.search(r"ws://[\w.]+:\d+", line)
        if found:
            return process, found.group(0)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise AssertionError(f"the drive did not announce its live view; stderr: {process.stderr.read()}")


async def watch(url: str) -> tuple[dict, dict]:
    """Connect, collect the advertised channels, subscribe to all and keep the first message of each topic."""
    async with websockets.connect(url, subprotocols=["foxglove.sdk.v1"], max_size=None) as socket:
        assert socket.subprotocol == "foxglove.sdk.v1"
        channels: dict[str, dict] = {}
        while set(channels) != set(TOPICS):
            message = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT_S))
            if message["op"] == "advertise":
                channels.update({channel["topic"]: channel for channel in message["channels"]})
        topic_of = {}
        for number, channel in enumerate(channels.values(), start=1):
            topic_of[number] = channel["topic"]
        await socket.send(json.dumps({"op": "subscribe", "subscriptions": [
            {"id": number, "channelId": channels[topic]["id"]} for number, topic in topic_of.items()]}))
        first: dict[str, tuple[int, bytes]] = {}
        while set(first) != set(TOPICS):
            frame = await asyncio.wait_for(socket.recv(), TIMEOUT_S)
            if isinstance(frame, bytes) and frame[0] == MESSAGE_DATA:
                subscription, log_time = struct.unpack_from("<IQ", frame, 1)
                first.setdefault(topic_of[subscription], (log_time, frame[13:]))
        return channels, first


def test_a_viewer_sees_every_channel_of_a_live_drive():
    process, url = start_drive()
    try:
        channels, first = asyncio.run(watch(url))
        out, err = process.communicate(timeout=TIMEOUT_S * 2)
    finally:
        process.kill()
    assert process.returncode == 0, err
    for topic, channel in channels.items():
        assert channel["schemaName"] == SCHEMAS[topic]
        assert channel["encoding"] == ("protobuf" if channel["schemaEncoding"] == "protobuf" else "json")
    messages = {}
    for topic, (log_time, payload) in first.items():
        channel = channels[topic]
        schema = (base64.b64decode(channel["schema"]) if channel["schemaEncoding"] == "protobuf"
                  else channel["schema"].encode())
        messages[topic] = decoded(topic, channel["schemaName"], channel["schemaEncoding"], schema, payload)
        check_message(topic, messages[topic], 19)
        assert log_time <= json.loads(out)["sim_time_s"] * 1e9  # the simulation's clock
    assert len(messages[NEURONS]["data"]) == 19
    assert messages[CAMERA]["width"] == 200 and messages[OVERLAY]["height"] == 66
    assert messages[COMMAND]["linear"]["x"] >= 0
    assert {"track", "car", "path"} <= {entity["id"] for entity in messages[SCENE]["entities"]}
    assert json.loads(out)["view"]["live"] == url
