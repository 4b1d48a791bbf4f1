"""Camera frames for the ROS benchmarks, and a feeder process publishing them.

rgb8_image is a raw camera frame (image_raw); preprocessed_image is what perception_node makes of one
for a model (image_preprocessed, 32FC3). Run as a script, this file is the feeder: it publishes
preprocessed frames at a rate until Ctrl-C, in a process of its own, so that a probe's receiving
thread never waits for the GIL behind a 158 KB publish.

    python benchmarks/ros_frames.py --model MODEL --frame-rate 30 --ros-args ...
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import numpy as np
from ros_harness import DEFAULT_MODEL, script_command, split_ros_arguments


def rgb8_image(height: int, width: int):
    """A sensor_msgs/Image of random rgb8 pixels (seeded), frame_id camera."""
    from sensor_msgs.msg import Image

    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    message = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
    message.data = pixels.tobytes()
    message.header.frame_id = "camera"
    return message


def preprocessed_image(model: Path):
    """A random frame preprocessed as `model`'s card asks (its size, 32FC3), as perception_node publishes it."""
    from sensor_msgs.msg import Image

    from liquid_control.data.images import (
        PreprocessSpec,
        decode_image,
        float_image_fields,
    )
    from liquid_control.nets import read_card

    spec = PreprocessSpec.from_card(read_card(model))
    height, width = spec.size
    raw = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    array = spec.apply(decode_image("rgb8", height, width, width * 3, raw.tobytes()), "rgb8")
    message = Image(**float_image_fields(array))
    message.header.frame_id = "camera"
    return message


class FrameFeeder:
    """Publishes a preprocessed frame, stamped now, every 1/rate s when called."""

    def __init__(self, node, model: Path, rate: float):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        self.publisher = node.create_publisher(Image, "image_preprocessed", qos_profile_sensor_data)
        self.message = preprocessed_image(model)
        self.period = 1.0 / rate
        self.due = time.perf_counter()
        self.sent = 0

    def __call__(self) -> None:
        from builtin_interfaces.msg import Time

        now = time.perf_counter()
        if now < self.due:
            return
        self.due = max(self.due + self.period, now)
        stamp = time.time_ns()
        self.message.header.stamp = Time(sec=stamp // 10**9, nanosec=stamp % 10**9)
        self.publisher.publish(self.message)
        self.sent += 1


def feeder_command(model: Path, frame_rate: float, namespace: str) -> list[str]:
    """The command of a feeder process publishing image_preprocessed in `namespace`."""
    return script_command("ros_frames.py", ["--model", str(model), "--frame-rate", str(frame_rate)], namespace)


def run_feeder(ros_arguments: list[str], model: Path, rate: float) -> None:
    """Publish image_preprocessed frames at `rate` until Ctrl-C (or SIGTERM)."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=ros_arguments, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    node = rclpy.create_node("jitter_feeder")
    feeder = FrameFeeder(node, model, rate)
    try:
        while True:
            feeder()
            time.sleep(max(0.0, feeder.due - time.perf_counter()))
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--frame-rate", type=float, default=30.0, help="frames per second")
    own, ros = split_ros_arguments(sys.argv[1:])
    args = parser.parse_args(own)
    run_feeder(["ros_frames", *ros], args.model, args.frame_rate)


if __name__ == "__main__":
    main()
