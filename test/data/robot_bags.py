"""Bags as a real robot records them, written with rosbags directly (never with the package's writer).

A line-following recording: a 640x480 JPEG ``CompressedImage`` camera on
``/front_cam/color/image_raw/compressed`` at 15 Hz with jittered stamps, a ``TwistStamped``
teleop on ``/cmd_vel`` at 30 Hz whose ``angular.z`` steers towards a dark line (its position in
the image sets the command), plus ``/odom`` and ``/tf`` that nothing here uses. Options make the
mistakes and accidents of real recordings: commands on another clock, corrupt JPEGs, a bag split
into several files, sqlite3 storage.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

CAMERA = "/front_cam/color/image_raw/compressed"
COMMAND = "/cmd_vel"
TYPESTORE = get_typestore(Stores.ROS2_KILTED)
TYPES = TYPESTORE.types
START_NS = 1_700_000_000 * 10**9  # a wall-clock epoch, as a robot's recorder stamps
GAIN = 1.2  # angular.z = -GAIN * (line offset from the image centre, -1 .. 1)


def line_position(t: np.ndarray | float, seed: int) -> np.ndarray | float:
    """The line's horizontal position in the image at time ``t``, -0.8 .. 0.8 of the half width."""
    rng = np.random.default_rng(seed)
    periods, phases = rng.uniform(3.0, 11.0, 3), rng.uniform(0, 2 * math.pi, 3)
    return 0.8 * sum(np.sin(2 * math.pi * t / p + f) for p, f in zip(periods, phases)) / 3


def angular_z(t, seed: int):
    return -GAIN * line_position(t, seed)


def line_frame(position: float, rng: np.random.Generator, size=(480, 640)) -> np.ndarray:
    """A floor with a dark line at ``position`` (its bottom end), leaning a little, as BGR uint8."""
    height, width = size
    frame = np.full((height, width, 3), (150, 160, 165), np.uint8)
    frame = cv2.add(frame, rng.integers(0, 25, (height // 8, width // 8, 1), dtype=np.uint8).repeat(8, 0).repeat(8, 1))
    bottom = int(width / 2 * (1 + position))
    top = int(bottom + 0.25 * width * position)
    cv2.line(frame, (bottom, height - 1), (top, height // 3), (30, 30, 30), thickness=width // 20)
    return frame


def _stamp(ns: int):
    return TYPES["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)


def _header(ns: int, frame_id: str):
    return TYPES["std_msgs/msg/Header"](stamp=_stamp(ns), frame_id=frame_id)


def _twist_stamped(ns: int, linear_x: float, yaw_rate: float):
    vector = TYPES["geometry_msgs/msg/Vector3"]
    twist = TYPES["geometry_msgs/msg/Twist"](linear=vector(x=linear_x, y=0.0, z=0.0),
                                             angular=vector(x=0.0, y=0.0, z=yaw_rate))
    return TYPES["geometry_msgs/msg/TwistStamped"](header=_header(ns, "base_link"), twist=twist)


def _odometry(ns: int, x: float):
    msg = TYPES
    point = msg["geometry_msgs/msg/Point"](x=x, y=0.0, z=0.0)
    quat = msg["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0)
    pose = msg["geometry_msgs/msg/PoseWithCovariance"](
        pose=msg["geometry_msgs/msg/Pose"](position=point, orientation=quat), covariance=np.zeros(36))
    vector = msg["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0)
    twist = msg["geometry_msgs/msg/TwistWithCovariance"](
        twist=msg["geometry_msgs/msg/Twist"](linear=vector, angular=vector), covariance=np.zeros(36))
    return msg["nav_msgs/msg/Odometry"](header=_header(ns, "odom"), child_frame_id="base_link", pose=pose, twist=twist)


def _tf(ns: int):
    msg = TYPES
    transform = msg["geometry_msgs/msg/Transform"](
        translation=msg["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0),
        rotation=msg["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0))
    stamped = msg["geometry_msgs/msg/TransformStamped"](header=_header(ns, "odom"), child_frame_id="base_link",
                                                        transform=transform)
    return msg["tf2_msgs/msg/TFMessage"](transforms=[stamped])


def robot_messages(seconds: float, seed: int, camera_hz: float = 15.0, command_hz: float = 30.0,
                   command_clock_offset_s: float = 0.0, corrupt_frames: tuple[int, ...] = (), size=(480, 640)):
    """(topic, msgtype, receive time ns, message or raw bytes) in receive order."""
    rng = np.random.default_rng(seed + 1000)
    events = []
    frame_count = int(seconds * camera_hz)
    for k in range(frame_count):
        t = k / camera_hz + rng.uniform(-0.01, 0.01)  # capture jitter
        stamp = START_NS + int(t * 1e9)
        ok, jpeg = cv2.imencode(".jpg", line_frame(float(line_position(t, seed)), rng, size),
                                [cv2.IMWRITE_JPEG_QUALITY, 85])
        data = np.frombuffer(jpeg.tobytes(), np.uint8)
        if k in corrupt_frames:
            data = data.copy()
            data[2:600] = rng.integers(0, 256, 598, dtype=np.uint8)  # a mangled header: undecodable
        image = TYPES["sensor_msgs/msg/CompressedImage"](header=_header(stamp, "front_cam_color_optical_frame"),
                                                         format="rgb8; jpeg compressed bgr8", data=data)
        events.append((CAMERA, "sensor_msgs/msg/CompressedImage", stamp + int(rng.uniform(0.02, 0.04) * 1e9), image))
    for k in range(int(seconds * command_hz)):
        t = k / command_hz
        stamp = START_NS + int(t * 1e9)
        command = _twist_stamped(stamp + int(command_clock_offset_s * 1e9), 0.4 + 0.1 * math.sin(t / 3),
                                 float(angular_z(t, seed)))
        events.append((COMMAND, "geometry_msgs/msg/TwistStamped", stamp + int(0.002 * 1e9), command))
    for k in range(int(seconds * 20)):
        stamp = START_NS + int(k / 20 * 1e9)
        events.append(("/odom", "nav_msgs/msg/Odometry", stamp, _odometry(stamp, 0.4 * k / 20)))
        events.append(("/tf", "tf2_msgs/msg/TFMessage", stamp + 1000, _tf(stamp)))
    events.sort(key=lambda event: event[2])
    return events


def _write(path: Path, events, storage: str) -> None:
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        connections = {}
        for topic, msgtype, ns, message in events:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=TYPESTORE)
            writer.write(connections[topic], ns, TYPESTORE.serialize_cdr(message, msgtype))


def write_robot_bag(path, seconds: float = 20.0, seed: int = 0, storage: str = "mcap", split: int = 1,
                    **options) -> Path:
    """A robot's recording at ``path`` (``robot_messages`` options); ``split`` > 1 writes it as one
    bag of that many data files, as ``ros2 bag record --max-bag-duration`` does."""
    path = Path(path)
    events = robot_messages(seconds, seed, **options)
    if split <= 1:
        _write(path, events, storage)
        return path
    # rosbag2 splits a recording into files path_0, path_1, ... listed in one metadata.yaml.
    parts = np.array_split(np.arange(len(events)), split)
    metadata = None
    for number, part in enumerate(parts):
        piece = path.parent / f"{path.name}.part{number}"
        _write(piece, [events[i] for i in part], storage)
        info = yaml.safe_load((piece / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        data_file = next(p for p in piece.iterdir() if p.suffix in (".mcap", ".db3"))
        path.mkdir(parents=True, exist_ok=True)
        target = path / f"{path.name}_{number}{data_file.suffix}"
        data_file.rename(target)
        info["files"][0]["path"] = target.name
        if metadata is None:
            metadata = info
            metadata["relative_file_paths"] = [target.name]
        else:
            metadata["relative_file_paths"].append(target.name)
            metadata["files"].extend(info["files"])
            metadata["message_count"] += info["message_count"]
            counts = {t["topic_metadata"]["name"]: t for t in metadata["topics_with_message_count"]}
            for topic in info["topics_with_message_count"]:
                name = topic["topic_metadata"]["name"]
                if name in counts:
                    counts[name]["message_count"] += topic["message_count"]
                else:
                    metadata["topics_with_message_count"].append(topic)
            metadata["duration"]["nanoseconds"] = (info["starting_time"]["nanoseconds_since_epoch"]
                                                   + info["duration"]["nanoseconds"]
                                                   - metadata["starting_time"]["nanoseconds_since_epoch"])
        for leftover in piece.iterdir():
            leftover.unlink()
        piece.rmdir()
    (path / "metadata.yaml").write_text(yaml.safe_dump({"rosbag2_bagfile_information": metadata}))
    return path
