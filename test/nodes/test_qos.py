"""REP-2003 QoS in real processes: what rviz2 and rqt (RELIABLE subscribers) receive, what a
best-effort camera driver feeds, and rclpy's qos_overrides parameters from a params file.

One chain: lane_sim_node (realtime) -> perception_node -> controller_node with the shipped lane
model and its attention map on; the probe subscribes every image topic RELIABLE.
"""

import os

import numpy as np
import pytest
from rcl_interfaces.srv import GetParameters
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image

from .harness import REPO_ROOT, NodeProcess, Probe

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

STARTUP_S = 60.0
RVIZ_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)  # rviz2's and rqt_image_view's default
IMAGE_TOPICS = ("/camera/image_raw", "/image_preprocessed", "/controller_node/saliency",
                "/controller_node/saliency/overlay")


def node(module: str, tmp_path, params: str, *parameters: str, remaps=()) -> NodeProcess:
    return NodeProcess(f"liquid_control.nodes.{module}", dict(os.environ), tmp_path / f"{params}.log",
                       REPO_ROOT / "config" / params, parameters, remaps=remaps)


def reliabilities(probe: Probe, topic: str, kind: str) -> list[str]:
    infos = (probe.node.get_publishers_info_by_topic(topic) if kind == "publisher"
             else probe.node.get_subscriptions_info_by_topic(topic))
    return sorted(info.qos_profile.reliability.name for info in infos)


def test_every_image_topic_reaches_a_reliable_subscriber(tmp_path):
    started = [node("lane_sim_node", tmp_path, "lane_sim.yaml", "mode:=realtime", "seed:=1000")]
    started.append(node("perception_node", tmp_path, "perception.yaml", remaps=["image_raw:=camera/image_raw"]))
    started.append(node("controller.main", tmp_path, "controller.yaml",
                        f"model_path:={REPO_ROOT / 'models' / 'ncp19_lane'}", "publish_saliency:=true",
                        "saliency_rate_hz:=10.0"))
    probe = Probe(started[0], "rviz_like_probe")
    try:
        received = {topic: [] for topic in IMAGE_TOPICS}
        for topic, messages in received.items():
            probe.node.create_subscription(Image, topic, messages.append, RVIZ_QOS)
        probe.spin_until(lambda: all(received.values()) or any(p.process.poll() is not None for p in started),
                         f"a frame on each of {', '.join(IMAGE_TOPICS)}", STARTUP_S)
        for process in started:
            process.check_alive()
        for topic in IMAGE_TOPICS:
            assert reliabilities(probe, topic, "publisher") == ["RELIABLE"], topic
        # The package's own image subscriptions stay best effort (REP-2003: the subscriber chooses).
        assert "BEST_EFFORT" in reliabilities(probe, "/camera/image_raw", "subscription")
        assert "BEST_EFFORT" in reliabilities(probe, "/image_preprocessed", "subscription")
    finally:
        probe.close()
        for process in reversed(started):
            process.interrupt()


def test_a_best_effort_camera_feeds_perception_and_overrides_come_from_a_params_file(tmp_path):
    overrides = tmp_path / "qos.yaml"
    overrides.write_text("/**:\n  ros__parameters:\n    qos_overrides:\n"
                         "      /overridden/image_preprocessed:\n        publisher:\n"
                         "          reliability: best_effort\n          depth: 3\n"
                         "      /overridden/image_raw:\n        subscription:\n          reliability: reliable\n")
    perception = NodeProcess("liquid_control.nodes.perception_node", dict(os.environ), tmp_path / "perception.log",
                             REPO_ROOT / "config" / "perception.yaml")
    overridden = NodeProcess("liquid_control.nodes.perception_node", dict(os.environ), tmp_path / "overridden.log",
                             overrides, namespace="/overridden")
    probe = Probe(perception, "camera_driver_probe")
    try:
        camera = probe.node.create_publisher(Image, "/image_raw", qos_profile_sensor_data)  # a best-effort driver
        preprocessed = []
        probe.node.create_subscription(Image, "/image_preprocessed", preprocessed.append, RVIZ_QOS)
        pixels = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)

        def send() -> None:
            camera.publish(Image(height=120, width=160, encoding="rgb8", step=480, data=pixels.tobytes()))
        probe.spin_until(lambda: preprocessed, "a preprocessed frame from a best-effort camera", STARTUP_S,
                         resend=send, resend_every=0.1)
        # The params file of the second node: its publisher best effort 3 deep, its subscription reliable.
        probe.spin_until(lambda: reliabilities(probe, "/overridden/image_preprocessed", "publisher"),
                         "the overridden node's publisher", STARTUP_S, node_must_live=False)
        overridden.check_alive()
        assert reliabilities(probe, "/overridden/image_preprocessed", "publisher") == ["BEST_EFFORT"]
        assert reliabilities(probe, "/overridden/image_raw", "subscription") == ["RELIABLE"]
        client = probe.node.create_client(GetParameters, "/overridden/perception_node/get_parameters")
        names = ["qos_overrides./overridden/image_preprocessed.publisher.depth",
                 "qos_overrides./overridden/image_preprocessed.publisher.reliability"]
        values = probe.call(client, GetParameters.Request(names=names), "get_parameters").values
        assert (values[0].integer_value, values[1].string_value) == (3, "best_effort")
    finally:
        probe.close()
        overridden.interrupt()
        perception.interrupt()


def test_a_bad_override_stops_the_node_with_one_line_naming_it(tmp_path):
    perception = NodeProcess("liquid_control.nodes.perception_node", dict(os.environ), tmp_path / "bad.log",
                             REPO_ROOT / "config" / "perception.yaml",
                             ("qos_overrides./image_preprocessed.publisher.reliability:=sometimes",))
    assert perception.wait(STARTUP_S) == 2
    lines = [line for line in perception.output().splitlines() if "FATAL" in line]
    assert len(lines) == 1 and "qos_overrides./image_preprocessed.publisher" in lines[0], perception.output()
    assert "best_effort" in lines[0]
