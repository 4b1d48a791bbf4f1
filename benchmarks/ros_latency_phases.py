"""The phases of ros_latency.py: which processes each starts, what the probe sends them, what it times.

Each phase: discovery, frames until the first answer, `--warmup` frames, then `--frames` frames at
`--rate`; node processes run as `python -m liquid_control.nodes.<name> --ros-args ...` with the
shipped model (controller `trigger:=frame`, so each frame gives exactly one command).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from ros_frames import preprocessed_image, rgb8_image
from ros_harness import Process, node_command
from ros_latency_figures import (
    controller_figures,
    hop_losses,
    latency_stats,
    pair_by_key,
    pair_in_order,
    perception_figures,
)
from ros_latency_probe import NAMESPACE, Probe, command_key
from ros_latency_roles import role_command

PERCEPTION = "liquid_control.nodes.perception_node"
CONTROLLER = "liquid_control.nodes.controller.main"


class Benchmark:
    """The probe, the node processes of the phase running, and the results so far (one entry per phase)."""

    def __init__(self, args, env: dict, log_dir: Path):
        self.args, self.env, self.log_dir = args, env, log_dir
        self.probe = Probe()
        self.results: dict = {}

    def start(self, name: str, command: list[str]) -> Process:
        return Process(name, command, self.env, self.log_dir)

    def _pipeline_parameters(self) -> list[str]:
        return [f"model_path:={self.args.model}", "trigger:=frame", "twist_stamped:=false", "diagnostics_rate_hz:=1.0",
                *self.args.controller_param]

    def _start_perception(self) -> Process:
        return self.start("perception_node", node_command(PERCEPTION, NAMESPACE, [f"model_path:={self.args.model}"]))

    def _phase(self, publisher, message, answer_topic, processes, node_names, keyed: bool) -> dict:
        measured = self.probe.measure(publisher, message, answer_topic, self.args, processes, node_names)
        sent, received = measured["sent"], measured["received"]
        periods = np.diff([t for t, _ in sent])
        result = {"achieved_rate_hz": round(float(1.0 / periods.mean()), 2),
                  "publish_period_max_ms": round(float(periods.max() * 1e3), 3)}
        if keyed:
            latencies, lost = pair_by_key(sent, received)
            result["pairing"] = "exact (header stamp echoed back)"
            result["frames_without_answer"] = lost
        else:
            latencies, method, shared = pair_in_order(sent, received)
            result["pairing"] = method
            if method.startswith("window"):
                node_p99 = measured["after"].get("controller_node", {}).get("pipeline_latency_p99_ms", "n/a")
                period_ms = 1e3 / self.args.rate
                exact = shared == 0 and node_p99 != "n/a" and float(node_p99) < 0.8 * period_ms
                result["pairing_exact"] = exact
                if not exact:
                    result["pairing"] += (": a LOWER BOUND here: the node-side pipeline latency reaches a frame "
                                          "period, so a command may belong to an earlier frame; see controller_node."
                                          "pipeline_latency_*")
            result["commands_sharing_a_window"] = shared
            result["frames_without_answer"] = len(sent) - len(received)
        result["latency"] = latency_stats(latencies)
        result["losses"] = hop_losses(measured, len(sent))
        result["load_average"] = measured["load_average"]
        result["machine_cpu_busy_fraction"] = measured["machine_cpu_busy_fraction"]
        result["cores_used_by_our_processes"] = own = measured["cores_used_by_our_processes"]
        result["cores_used_by_other_jobs_estimate"] = round(
            measured["machine_cpu_busy_fraction"] * os.cpu_count() - sum(v for v in own.values() if not np.isnan(v)), 2)
        if "perception_node" in node_names:
            result["perception_node"] = perception_figures(measured)
        if "controller_node" in node_names:
            result["controller_node"] = controller_figures(measured, self.args.frames)
        return result

    def run_echo_phases(self) -> None:
        """ping: std_msgs/Header probe -> echo process -> probe, the round trip of a small message (the floor);
        echo: Image (rgb8) probe -> echo -> Header back, DDS image transport with the pipeline's sensor-data
        QoS; echo_reliable: the same with RELIABLE QoS."""
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from std_msgs.msg import Header

        node = self.probe.node
        echo = self.start("echo", role_command("echo", NAMESPACE))
        answers = self.probe.answers(Header, "echo", (lambda m: m.stamp.sec * 10**9 + m.stamp.nanosec),
                                     QoSProfile(depth=10))
        try:
            if "ping" in self.args.phases:
                ping = node.create_publisher(Header, "ping", QoSProfile(depth=10))

                class Ping:  # stream() stamps message.header
                    header = Header(frame_id="ping")
                publisher = _HeaderPublisher(ping)
                self.results["ping_small_message_round_trip"] = self._phase(publisher, Ping(), f"{NAMESPACE}/echo",
                                                                            [echo], (), keyed=True)
                node.destroy_publisher(ping)
            variants = [("sensor_data", "echo_image", qos_profile_sensor_data)] if "echo" in self.args.phases else []
            if "echo_reliable" in self.args.phases:
                variants.append(("reliable", "echo_image_reliable", QoSProfile(depth=10)))
            if variants:
                for qos_name, topic, qos in variants:
                    from sensor_msgs.msg import Image
                    publisher = node.create_publisher(Image, topic, qos)
                    for size in self.args.sizes:
                        key = f"echo_image_{size[0]}x{size[1]}_{qos_name}"
                        self.results[key] = self._phase(publisher, rgb8_image(*size), f"{NAMESPACE}/echo", [echo], (),
                                                        keyed=True)
                        self.results[key]["what"] = "image one way + a Header back (round trip minus ping ~ one way)"
                    node.destroy_publisher(publisher)
        finally:
            answers()
            echo.stop()

    def run_perception_phase(self) -> None:
        """Image -> perception_node -> image_preprocessed (32FC3) -> probe."""
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        node = self.probe.node
        perception = self._start_perception()
        answers = self.probe.answers(Image, "image_preprocessed", (
            lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec), qos_profile_sensor_data)
        publisher = node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        try:
            for size in self.args.sizes:
                self.results[f"perception_{size[0]}x{size[1]}"] = self._phase(
                    publisher, rgb8_image(*size), f"{NAMESPACE}/image_preprocessed", [perception],
                    ("perception_node",), keyed=True)
        finally:
            node.destroy_publisher(publisher)
            answers()
            perception.stop()

    def run_node_phases(self) -> None:
        """controller: image_preprocessed (32FC3) -> controller_node -> cmd_vel, with its /diagnostics step time;
        pipeline (the target): Image -> perception_node -> controller_node -> cmd_vel, separate processes."""
        from geometry_msgs.msg import Twist
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from sensor_msgs.msg import Image

        node = self.probe.node
        perception = self._start_perception()
        controller = self.start("controller_node", node_command(CONTROLLER, NAMESPACE, self._pipeline_parameters()))
        processes = [perception, controller]
        commands = self.probe.answers(Twist, "cmd_vel", command_key, QoSProfile(depth=10))
        try:
            if "controller" in self.args.phases:
                publisher = node.create_publisher(Image, "image_preprocessed", qos_profile_sensor_data)
                message = preprocessed_image(self.args.model)
                self.results["controller_alone_32FC3"] = self._phase(
                    publisher, message, f"{NAMESPACE}/cmd_vel", processes, ("controller_node",), keyed=False)
                self.results["controller_alone_32FC3"]["what"] = (
                    f"{message.height}x{message.width} 32FC3 image_preprocessed -> controller_node -> cmd_vel")
                node.destroy_publisher(publisher)
            if "pipeline" in self.args.phases:
                publisher = node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
                for size in self.args.sizes:
                    self.results[f"pipeline_{size[0]}x{size[1]}"] = self._phase(
                        publisher, rgb8_image(*size), f"{NAMESPACE}/cmd_vel", processes,
                        ("perception_node", "controller_node"), keyed=False)
                node.destroy_publisher(publisher)
        finally:
            commands()
            controller.stop()
            perception.stop()

    def _camera_to_cmd_vel(self, processes, node_names, key_prefix: str, what: str | None = None) -> None:
        """rgb8 image_raw frames of each size -> `processes` -> cmd_vel; the processes are stopped after."""
        from geometry_msgs.msg import Twist
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from sensor_msgs.msg import Image

        node = self.probe.node
        commands = self.probe.answers(Twist, "cmd_vel", command_key, QoSProfile(depth=10))
        publisher = node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        try:
            for size in self.args.sizes:
                key = f"{key_prefix}_{size[0]}x{size[1]}"
                self.results[key] = self._phase(publisher, rgb8_image(*size), f"{NAMESPACE}/cmd_vel", processes,
                                                node_names, keyed=False)
                if what:
                    self.results[key]["what"] = what
        finally:
            node.destroy_publisher(publisher)
            commands()
            for process in reversed(processes):
                process.stop()

    def run_camera_phase(self) -> None:
        """controller_node subscribing image_raw itself (input:=camera): camera -> one process -> cmd_vel, the
        target with one process and one DDS hop less."""
        controller = self.start("controller_node", node_command(CONTROLLER, NAMESPACE,
                                                                [*self._pipeline_parameters(), "input:=camera"]))
        self._camera_to_cmd_vel([controller], ("controller_node",), "camera_input",
                                "rgb8 image_raw -> controller_node (input:=camera: decode, preprocess, conv head, "
                                "liquid core in its frames thread) -> cmd_vel")

    def run_composed_phase(self, executor: str) -> None:
        """The pipeline with both nodes in one process, one executor (`executor`: single or events)."""
        composed = self.start(f"composed_{executor}", role_command(
            "composed", NAMESPACE, ["--composed-executor", executor], self._pipeline_parameters()))
        self._camera_to_cmd_vel([composed], ("perception_node", "controller_node"), f"composed_{executor}_executor")

    def run_onnx_standin_phase(self, fused: bool = False) -> None:
        """perception_node -> a stand-in controller stepping policy.onnx with ONNX Runtime -> cmd_vel; `fused`:
        one stand-in process doing the preprocessing and the ONNX step on image_raw."""
        processes, node_names = [], ("controller_node",)
        if not fused:
            processes.append(self._start_perception())
            node_names = ("perception_node", "controller_node")
        processes.append(self.start("onnx_controller", role_command(
            "onnx_controller", NAMESPACE, ["--model", str(self.args.model), *(["--fused"] if fused else [])])))
        self._camera_to_cmd_vel(
            processes, node_names, f"{'fused_' if fused else ''}onnx_standin_pipeline",
            "one process: a stand-in controller (this script) that preprocesses image_raw like perception_node and "
            "steps policy.onnx with ONNX Runtime (1 thread) in the same callback -> cmd_vel" if fused else
            "perception_node -> a stand-in controller (this script, ONNX Runtime 1 thread, no command shaping) -> "
            "cmd_vel; separate processes")


class _HeaderPublisher:
    """stream() publishes `message` with a fresh header stamp; a ping is the header itself."""

    def __init__(self, publisher):
        self._publisher = publisher
        self.topic_name = publisher.topic_name

    def get_subscription_count(self) -> int:
        return self._publisher.get_subscription_count()

    def publish(self, message) -> None:
        self._publisher.publish(message.header)
