"""The child processes of ros_latency.py that are not the package's own nodes, one role each.

    python benchmarks/ros_latency_roles.py echo|composed|onnx_controller [options] --ros-args ...

echo            echoes each image's header (two QoS) and each ping back on `echo`;
composed        perception_node and controller_node in one process, one executor;
onnx_controller a stand-in for controller_node stepping policy.onnx with ONNX Runtime.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import numpy as np
from ros_harness import DEFAULT_MODEL, run_until_stopped, script_command, split_ros_arguments

ROLES = ("echo", "composed", "onnx_controller")


def role_command(role: str, namespace: str, extra=(), parameters=()) -> list[str]:
    """The command of a process of this script in `role`, in `namespace`."""
    return script_command("ros_latency_roles.py", [role, *extra], namespace, parameters)


def run_echo(ros_arguments: list[str]) -> None:
    """Echo the header of each image (two QoS) and each ping back on `echo` (a small reliable message)."""
    import rclpy
    from rclpy.qos import QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    rclpy.init(args=ros_arguments)
    node = rclpy.create_node("latency_echo")
    reliable = QoSProfile(depth=10)
    echo = node.create_publisher(Header, "echo", reliable)
    node.create_subscription(Image, "echo_image", lambda m: echo.publish(m.header), qos_profile_sensor_data)
    node.create_subscription(Image, "echo_image_reliable", lambda m: echo.publish(m.header), reliable)
    node.create_subscription(Header, "ping", echo.publish, reliable)
    run_until_stopped(lambda: rclpy.spin(node), [node])


def run_composed(ros_arguments: list[str], executor_kind: str) -> None:
    """perception_node and controller_node in one process, one executor (rclpy has no intra-process
    comms; Fast DDS delivers between the two nodes' endpoints of one participant without a transport)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from liquid_control.nodes.controller.node import ControllerNode
    from liquid_control.nodes.perception_node import PerceptionNode

    rclpy.init(args=ros_arguments, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    nodes = [PerceptionNode(), ControllerNode()]
    if executor_kind == "events":
        from rclpy.experimental import EventsExecutor
        executor = EventsExecutor()
    else:
        executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    run_until_stopped(executor.spin, nodes)


def run_onnx_controller(ros_arguments: list[str], model: Path, fused: bool) -> None:
    """A stand-in for controller_node with an ONNX Runtime policy step (1 thread), to measure that option
    end to end: the same subscription, QoS, decoding, finiteness check, step and cmd_vel; no command
    shaping or safety logic. Its /diagnostics use controller_node's keys. `fused`: it subscribes to
    image_raw and does perception_node's preprocessing in the same callback (one hop less)."""
    from collections import deque

    import onnxruntime
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from geometry_msgs.msg import Twist
    from rclpy.clock import Clock, ClockType
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from liquid_control.data.images import (
        PreprocessSpec,
        decode_float_image,
        decode_image,
    )
    from liquid_control.nets import read_card

    spec = PreprocessSpec.from_card(read_card(model))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model / "policy.onnx"), options, providers=["CPUExecutionProvider"])
    state_input = next(i for i in session.get_inputs() if i.name == "state_0")
    speed = 2.0
    rclpy.init(args=ros_arguments)
    node = rclpy.create_node("controller_node")
    commands = node.create_publisher(Twist, "cmd_vel", 10)
    diagnostics = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
    counts = {"frames": 0, "invalid_frames": 0, "commands": 0, "resets": 0, "faults": 0}
    steps, pipeline = deque(maxlen=500), deque(maxlen=500)
    memory = {"state": np.zeros((1, state_input.shape[1]), np.float32), "last": None}

    def on_image(message):
        counts["frames"] += 1
        if fused:
            image = spec.apply(decode_image(message.encoding, message.height, message.width, message.step,
                                            message.data, message.is_bigendian), message.encoding)
        else:
            image = decode_float_image(message.encoding, message.height, message.width, message.step, message.data,
                                       message.is_bigendian)
        if not np.isfinite(image).all():
            counts["invalid_frames"] += 1
            return
        stamp = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
        dt = 1 / 30 if memory["last"] is None else max(1e-3, stamp - memory["last"])
        started = time.perf_counter()
        output, memory["state"] = session.run(None, {
            "image": np.ascontiguousarray(image.transpose(2, 0, 1))[None], "dt": np.array([dt], np.float32),
            "state_0": memory["state"]})
        steps.append(time.perf_counter() - started)
        memory["last"] = stamp
        command = Twist()
        command.linear.x, command.angular.z = speed, speed * float(output[0, 0])
        commands.publish(command)
        counts["commands"] += 1
        pipeline.append(time.time() - stamp)

    def publish_diagnostics():
        def ms(values, q):
            return f"{np.percentile(values, q) * 1e3:.3f}" if values else "n/a"
        values = {"step_latency_p50_ms": ms(steps, 50), "step_latency_p99_ms": ms(steps, 99),
                  "pipeline_latency_p50_ms": ms(pipeline, 50), "pipeline_latency_p99_ms": ms(pipeline, 99),
                  "device": "cpu (onnxruntime, 1 thread)", **{k: str(v) for k, v in counts.items()}}
        diagnostics.publish(DiagnosticArray(status=[DiagnosticStatus(
            name="controller_node: onnx stand-in", values=[KeyValue(key=k, value=v) for k, v in values.items()])]))

    node.create_subscription(Image, "image_raw" if fused else "image_preprocessed", on_image, qos_profile_sensor_data)
    node.create_timer(1.0, publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))
    run_until_stopped(lambda: rclpy.spin(node), [node])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--composed-executor", choices=("single", "events"), default="single")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--fused", action="store_true", help="onnx_controller: subscribe image_raw, preprocess too")
    own, ros = split_ros_arguments(sys.argv[1:])
    args, ros_arguments = parser.parse_args(own), ["ros_latency", *ros]
    if args.role == "echo":
        run_echo(ros_arguments)
    elif args.role == "composed":
        run_composed(ros_arguments, args.composed_executor)
    else:
        run_onnx_controller(ros_arguments, args.model.resolve(), args.fused)


if __name__ == "__main__":
    main()
