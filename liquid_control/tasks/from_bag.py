"""A starter task from a recording: its camera and command topics, and the outputs that vary.

``starter_task(bag)`` lists the bag's image topics (``Image``, ``CompressedImage``) and command
topics (``Twist``, ``TwistStamped``), takes the one of each kind it has (or the one named), reads
the commands to propose as outputs the fields that actually vary, and sizes the network input to
the camera's aspect ratio. The result is a task to review, not a verdict: ``dataset report`` is
the next step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liquid_control.tasks.task import OUTPUT_UNITS, Task, TaskError, task_from_dict

INPUT_WIDTH = 128  # the proposed network input's width; the height keeps the camera's aspect ratio
VARYING = 1e-3  # a field whose standard deviation is below this (m/s or rad/s) does not vary


def _pick(kind: str, found: list[str], given: str | None, option: str, bag: Path) -> str:
    if given:
        given = given if given.startswith("/") else "/" + given
        if given not in found:
            raise TaskError(f"{bag}: {given} is not one of its {kind} topics ({', '.join(found) or 'none'})")
        return given
    if len(found) == 1:
        return found[0]
    if not found:
        raise TaskError(f"{bag}: the bag has no {kind} topic; record one with the camera or teleop running")
    raise TaskError(f"{bag}: the bag has several {kind} topics ({', '.join(found)}); choose one with {option}")


def _first_frame_size(bag, topic: str) -> tuple[int, int] | None:
    """(height, width) of the topic's first decodable frame, or None."""
    from liquid_control.data.images import ImageDecodeError, decode_compressed, decode_image

    for message in bag.messages([topic]):
        decoded = bag.deserialize(message.raw, message.msgtype)
        try:
            if message.msgtype.endswith("CompressedImage"):
                return decode_compressed(decoded.format, bytes(decoded.data)).shape[:2]
            return decode_image(decoded.encoding, decoded.height, decoded.width, decoded.step, bytes(decoded.data),
                                bool(decoded.is_bigendian)).shape[:2]
        except (ImageDecodeError, ValueError):
            continue
    return None


def varying_outputs(twists: np.ndarray) -> list[str]:
    """The proposed outputs of (M, 6) twists (linear xyz, angular xyz): the fields whose values
    vary, in the order linear.x, linear.y, linear.z, angular.z; curvature is never proposed."""
    columns = {"linear.x": 0, "linear.y": 1, "linear.z": 2, "angular.z": 5}
    return [name for name, column in columns.items() if len(twists) > 1 and twists[:, column].std() > VARYING]


def starter_task(bag_path, name: str | None = None, camera_topic: str | None = None, command_topic: str | None = None,
                 outputs: list[str] | None = None) -> tuple[Task, dict]:
    """A task for the recording ``bag_path`` and what was found in it (topics, rates, frame size)."""
    from liquid_control.data.bags import BagReader
    from liquid_control.data.recordings import IMAGE_TYPES, TWIST_TYPES, topics_of_type

    bag_path = Path(bag_path)
    with BagReader(bag_path) as bag:
        info = bag.info()
        images, commands = topics_of_type(bag, IMAGE_TYPES), topics_of_type(bag, TWIST_TYPES)
        camera = _pick("image", images, camera_topic, "--camera-topic", bag_path)
        command = _pick("command (Twist or TwistStamped)", commands, command_topic, "--command-topic", bag_path)
        duration = max(info["duration_s"], 1e-9)
        camera_rate = bag.topics[camera].count / duration
        twists = []
        for message in bag.messages([command]):
            twist = bag.deserialize(message.raw, message.msgtype)
            twist = getattr(twist, "twist", twist)
            twists.append([twist.linear.x, twist.linear.y, twist.linear.z,
                           twist.angular.x, twist.angular.y, twist.angular.z])
        size = _first_frame_size(bag, camera)
        camera_type, command_type = bag.topics[camera].msgtype, bag.topics[command].msgtype
    twists = np.asarray(twists, np.float64).reshape(-1, 6)
    chosen = list(outputs) if outputs else varying_outputs(twists)
    if not chosen:
        raise TaskError(f"{bag_path}: no field of {command}'s commands varies over the recording (all of linear.x/y/z "
                        f"and angular.z are constant): there is nothing to learn; record while the robot is driven")
    height = INPUT_WIDTH if size is None else max(16, int(round(INPUT_WIDTH * size[0] / size[1] / 2)) * 2)
    rate = round(camera_rate, 1) if camera_rate > 0 else 10.0
    task = task_from_dict({
        "name": name or bag_path.name,
        "description": f"made from {bag_path.name} by task init; review the outputs and the input size",
        "camera": {"topic": camera, "type": camera_type, "rate_hz": rate},
        "command": {"topic": command, "type": command_type, "outputs": chosen},
        "control_rate_hz": rate,
        "preprocessing": {"size": [height, INPUT_WIDTH]},
    }, f"task from {bag_path}")
    found = {"image_topics": images, "command_topics": commands, "camera_rate_hz": round(camera_rate, 2),
             "commands": len(twists), "frame_size": None if size is None else [int(size[0]), int(size[1])],
             "command_std": {field: round(float(twists[:, k].std()), 4) for k, field in
                             enumerate(("linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"))}
             if len(twists) else {},
             "output_units": {output: OUTPUT_UNITS[output] for output in chosen}}
    return task, found
