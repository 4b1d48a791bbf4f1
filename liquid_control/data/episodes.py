"""Episodes: a stretch of driving or flying as camera frames, their stamps and the command in force.

An ``Episode`` is what training consumes, whether it came from a rosbag2 recording (frames
paired with the command in force by stamp) or straight from a simulated world (the fast path,
``liquid_control.train.simulate``: the expert drives, no ROS in between). Labels are named by the
task's command fields (``label_names``):

- ``("curvature",)``: a steering policy (the lane keeper), curvature in 1/m = yaw rate / speed;
- twist fields, e.g. ``("linear.x", "linear.y", "linear.z", "angular.z")``: a velocity policy
  (the drone), each the field of the commanded Twist in the body frame.

In recordings with recovery bursts the robot executes a perturbed command, but the label is what
the expert wanted (``/expert/cmd_vel``), which is what teaches recovery. This module knows bags
and frames, not the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

LABEL_NAMES = ("curvature",)  # the default: a steering policy
TWIST_LABELS = ("linear.x", "linear.y", "linear.z", "angular.z")  # the fields a velocity policy may output


def check_label_names(names) -> tuple[str, ...]:
    """``names`` as a tuple, if they are ``curvature`` alone or distinct twist fields; else a ValueError."""
    names = tuple(names)
    if names == LABEL_NAMES:
        return names
    if not names or len(set(names)) != len(names) or any(name not in TWIST_LABELS for name in names):
        raise ValueError(f"labels must be ('curvature',) or distinct twist fields from {TWIST_LABELS}; got {names}")
    return names


def labels_from_twist(linear, angular, names: tuple[str, ...]) -> list[float]:
    """The labels ``names`` of a Twist (its ``linear`` and ``angular`` vectors)."""
    if names == LABEL_NAMES:
        return [curvature_of(linear.x, angular.z)]
    vectors = {"linear": linear, "angular": angular}
    return [float(getattr(vectors[name.split(".")[0]], name.split(".")[1])) for name in names]


def twist_fields_from_labels(values, names: tuple[str, ...], speed: float | None) -> dict[str, float]:
    """Labels back to twist fields ({'linear.x': ...}); curvature needs the forward ``speed``."""
    if names == LABEL_NAMES:
        if speed is None:
            raise ValueError("curvature labels need the forward speed to become a Twist")
        return {"linear.x": float(speed), "angular.z": float(speed) * float(values[0])}
    return {name: float(value) for name, value in zip(names, values)}


@dataclass
class Episode:
    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, as the camera delivered them (or see ``preprocessed``)
    stamps: np.ndarray  # (T,) capture times, s
    labels: np.ndarray  # (T, outputs) float32
    label_names: tuple[str, ...] = LABEL_NAMES
    meta: dict = field(default_factory=dict)
    # True when ``frames`` are already the model's input pixels (cropped, resized, in its channel
    # order, uint8; a recording read for a task): only the normalisation remains to apply.
    preprocessed: bool = False

    def __post_init__(self):
        self.label_names = check_label_names(self.label_names)
        if self.labels.ndim != 2 or self.labels.shape[1] != len(self.label_names):
            raise ValueError(f"episode {self.name}: labels of shape {self.labels.shape} "
                             f"do not match the label names {self.label_names}")
        count = len(self.frames)
        if not (len(self.stamps) == len(self.labels) == count):
            raise ValueError(f"episode {self.name}: {count} frames, {len(self.stamps)} stamps "
                             f"and {len(self.labels)} labels must match")
        if count and np.any(np.diff(self.stamps) <= 0):
            raise ValueError(f"episode {self.name}: frame stamps must increase strictly")

    def __len__(self) -> int:
        return len(self.frames)

    def elapsed(self, first: float) -> np.ndarray:
        """Elapsed time before each frame (``first`` for the first one, which has no predecessor)."""
        return np.concatenate(([first], np.diff(self.stamps))).astype(np.float32)


def curvature_of(linear_x: float, angular_z: float) -> float:
    """Curvature of a Twist (yaw rate / speed); 0 at standstill."""
    return angular_z / linear_x if abs(linear_x) > 1e-3 else 0.0


def pair_by_stamp(frame_stamps: np.ndarray, command_stamps: np.ndarray, command_values: np.ndarray,
                  max_age_s: float) -> tuple[np.ndarray, np.ndarray]:
    """For each frame, the newest command at or before its stamp; frames with none (or one older
    than ``max_age_s``) are marked invalid. Returns (values (T, k), valid mask (T,)). Give integer
    nanoseconds where stamps can tie: float seconds round differently on the two sides."""
    order = np.argsort(command_stamps, kind="stable")
    command_stamps, command_values = command_stamps[order], command_values[order]
    index = np.searchsorted(command_stamps, frame_stamps, side="right") - 1
    valid = index >= 0
    clipped = np.clip(index, 0, max(len(command_stamps) - 1, 0))
    if len(command_stamps):
        valid &= frame_stamps - command_stamps[clipped] <= max_age_s
    width = command_values.shape[1] if command_values.ndim == 2 else 1
    values = command_values[clipped] if len(command_values) else np.zeros((len(frame_stamps), width), np.float32)
    return values.astype(np.float32), valid


# ---------------------------------------------------------------------------------------------- bags

CAMERA_TOPIC = "/camera/image_raw"
COMMAND_TOPIC = "/cmd_vel"
EXPERT_TOPIC = "/expert/cmd_vel"  # the expert's clean command (simulator recordings with recovery bursts)


def write_episode_bag(episode: Episode, path, speed: float | None = None, storage: str = "mcap") -> None:
    """Write a simulated episode as a rosbag2 bag, as ``bag record`` of the simulator would:
    camera frames on /camera/image_raw, the executed command on /cmd_vel and the expert's clean
    command on /expert/cmd_vel, both Twist. Curvature labels become linear.x = ``speed``,
    angular.z = speed * curvature; twist-field labels fill their fields. The executed command is
    ``episode.meta['executed']`` when the episode has it (else the labels)."""
    from .bags import BagWriter, offered_qos

    names = episode.label_names
    with BagWriter(path, storage=storage) as bag:
        types = bag.typestore.types
        Image, Header = types["sensor_msgs/msg/Image"], types["std_msgs/msg/Header"]
        Time = types["builtin_interfaces/msg/Time"]
        Twist, Vector3 = types["geometry_msgs/msg/Twist"], types["geometry_msgs/msg/Vector3"]
        bag.add_topic(CAMERA_TOPIC, "sensor_msgs/msg/Image", qos=[offered_qos("best_effort")])
        bag.add_topic(COMMAND_TOPIC, "geometry_msgs/msg/Twist", qos=[offered_qos("reliable")])
        bag.add_topic(EXPERT_TOPIC, "geometry_msgs/msg/Twist", qos=[offered_qos("reliable")])
        executed = episode.meta.get("executed", episode.labels)

        def twist(values):
            fields = twist_fields_from_labels(values, names, speed)
            vectors = [Vector3(**{axis: fields.get(f"{kind}.{axis}", 0.0) for axis in "xyz"})
                       for kind in ("linear", "angular")]
            return Twist(linear=vectors[0], angular=vectors[1])

        for frame, stamp, label, command in zip(episode.frames, episode.stamps, episode.labels, executed):
            ns = int(round(stamp * 1e9))
            height, width = frame.shape[:2]
            header = Header(stamp=Time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="camera")
            bag.write_message(CAMERA_TOPIC, ns, Image(header=header, height=height, width=width, encoding="rgb8",
                                                      is_bigendian=0, step=width * 3, data=frame.reshape(-1)))
            bag.write_message(COMMAND_TOPIC, ns, twist(command))
            bag.write_message(EXPERT_TOPIC, ns, twist(label))


def episodes_from_bag(path, camera_topic: str = CAMERA_TOPIC, command_topic: str = "auto",
                      max_command_age_s: float = 0.5, split_gap_s: float = 1.0,
                      label_names: tuple[str, ...] = LABEL_NAMES) -> list[Episode]:
    """Camera frames paired with the command in force at their stamp (newest command at or
    before it, at most ``max_command_age_s`` old); a gap of more than ``split_gap_s`` between
    frames (a restart, a pause) starts a new episode. ``command_topic='auto'`` takes
    /expert/cmd_vel when the bag has it, else /cmd_vel (Twist or TwistStamped). Labels are
    ``label_names`` of each command: curvatures (yaw rate / speed) by default, or twist fields."""
    from pathlib import Path

    from .bags import BagError, BagReader
    from .images import decode_image, to_rgb

    path = Path(path)
    label_names = check_label_names(label_names)
    with BagReader(path) as bag:
        topics = {topic["name"] for topic in bag.info()["topics"]}
        if command_topic == "auto":
            command_topic = EXPERT_TOPIC if EXPERT_TOPIC in topics else COMMAND_TOPIC
        for topic in (camera_topic, command_topic):
            if topic not in topics:
                raise BagError(f"{path}: no topic {topic}; the bag has {', '.join(sorted(topics))}")
        frames, frame_stamps, command_stamps, commands = [], [], [], []
        for message in bag.messages([camera_topic, command_topic]):
            decoded = bag.deserialize(message.raw, message.msgtype)
            if message.topic == camera_topic:
                stamp = decoded.header.stamp.sec * 10**9 + decoded.header.stamp.nanosec  # integer ns: exact pairing
                image = decode_image(decoded.encoding, decoded.height, decoded.width, decoded.step,
                                     bytes(decoded.data), bool(decoded.is_bigendian))
                frames.append(to_rgb(image, decoded.encoding))
                frame_stamps.append(stamp)
            else:
                twist = decoded.twist if hasattr(decoded, "twist") else decoded
                if hasattr(decoded, "header"):
                    stamp = decoded.header.stamp.sec * 10**9 + decoded.header.stamp.nanosec
                else:
                    stamp = message.timestamp_ns
                command_stamps.append(stamp)
                commands.append(labels_from_twist(twist.linear, twist.angular, label_names))
    if not frames:
        raise BagError(f"{path}: no frames on {camera_topic}")
    order = np.argsort(frame_stamps, kind="stable")
    stamps_ns = np.asarray(frame_stamps, dtype=np.int64)[order]
    labels, valid = pair_by_stamp(stamps_ns, np.asarray(command_stamps, dtype=np.int64),
                                  np.asarray(commands, np.float32).reshape(-1, len(label_names)),
                                  round(max_command_age_s * 1e9))
    keep = valid & np.concatenate(([True], np.diff(stamps_ns) > 0))
    stamps, labels = stamps_ns[keep] * 1e-9, labels[keep]
    images = np.stack([frames[i] for i in order[keep]])
    cuts = np.flatnonzero(np.diff(stamps) > split_gap_s) + 1
    episodes = []
    for number, (start, stop) in enumerate(zip(np.concatenate(([0], cuts)), np.concatenate((cuts, [len(stamps)])))):
        if stop - start >= 2:
            episodes.append(Episode(f"{path.name}#{number}", images[start:stop], stamps[start:stop], labels[start:stop],
                                    label_names, meta={"source": str(path), "command_topic": command_topic}))
    return episodes


def find_bags(paths) -> list:
    """Bag folders among ``paths``: each path is a bag (has metadata.yaml) or a folder of bags."""
    from pathlib import Path

    bags = []
    for path in map(Path, paths):
        if (path / "metadata.yaml").is_file():
            bags.append(path)
        elif path.is_dir():
            bags.extend(sorted(p.parent for p in path.glob("*/metadata.yaml")))
        else:
            raise ValueError(f"{path} is neither a bag folder nor a folder of bags")
    if not bags:
        raise ValueError(f"no bags found in {', '.join(map(str, paths))}")
    return bags
