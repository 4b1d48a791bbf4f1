"""Episodes: a stretch of driving as camera frames, their stamps and the command in force.

An ``Episode`` is what training consumes, whether it came from a rosbag2 recording (frames
paired with the command in force by stamp) or straight from the simulator (the fast path: the
expert drives, no ROS in between). Labels are the expert's *clean* command expressed as a
curvature (1/m), the quantity a steering policy outputs; during recovery bursts the car executes
a perturbed command, but the label is what the expert wanted, which is what teaches recovery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

LABEL_NAMES = ("curvature",)


@dataclass
class Episode:
    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, as the camera delivered them
    stamps: np.ndarray  # (T,) capture times, s
    labels: np.ndarray  # (T, outputs) float32
    label_names: tuple[str, ...] = LABEL_NAMES
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        count = len(self.frames)
        if not (len(self.stamps) == len(self.labels) == count):
            raise ValueError(f"episode {self.name}: {count} frames, {len(self.stamps)} stamps and {len(self.labels)} labels must match")
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
    values = command_values[clipped] if len(command_values) else np.zeros((len(frame_stamps), 1), np.float32)
    return values.astype(np.float32), valid


def simulate_episode(seed: int, distance_m: float, speed: float = 3.0, recovery_rate_hz: float = 0.3,
                     perturbations: dict | None = None, camera_rate_hz: float = 20.0) -> Episode:
    """The fast path: the expert drives track ``seed`` in the simulator and every delivered frame
    is kept with the expert's clean command as its label."""
    from liquid_control.sim.drive import drive
    from liquid_control.sim.expert import ExpertDriver, RecoveryConfig
    from liquid_control.sim.perturbations import PerturbationConfig
    from liquid_control.sim.world import LaneWorld, WorldConfig

    config = WorldConfig(perturbations=PerturbationConfig.from_dict(perturbations or {}), camera_rate_hz=camera_rate_hz)
    world = LaneWorld(seed, config)
    driver = ExpertDriver(config.car, speed=speed, recovery=RecoveryConfig(rate_hz=recovery_rate_hz))
    frames, stamps, labels, executed = [], [], [], []
    wheelbase = config.car.wheelbase

    def keep(observation, command):
        if observation.frame is None:
            return
        frames.append(observation.frame)
        stamps.append(observation.frame_time)
        labels.append([math.tan(driver.label.steering) / wheelbase])
        executed.append([math.tan(command.steering) / wheelbase])

    try:
        report = drive(world, driver, distance_m, on_step=keep).report
    finally:
        world.close()
    return Episode(
        name=f"sim-{seed}",
        frames=np.stack(frames),
        stamps=np.asarray(stamps, dtype=np.float64),
        labels=np.asarray(labels, dtype=np.float32),
        meta={"source": "simulator", "seed": seed, "family": world.track.family, "speed_mps": speed,
              "recovery_rate_hz": recovery_rate_hz, "perturbations": perturbations or {}, "report": report,
              "executed_curvature": np.asarray(executed, dtype=np.float32)},
    )


# ---------------------------------------------------------------------------------------------- bags

CAMERA_TOPIC = "/camera/image_raw"
COMMAND_TOPIC = "/cmd_vel"
EXPERT_TOPIC = "/expert/cmd_vel"  # the expert's clean command (simulator recordings with recovery bursts)


def write_episode_bag(episode: Episode, path, speed: float, storage: str = "mcap") -> None:
    """Write a simulated episode as a rosbag2 bag, as ``bag record`` of the simulator would:
    camera frames on /camera/image_raw, the executed command on /cmd_vel and the expert's clean
    command on /expert/cmd_vel (Twist: linear.x = speed, angular.z = speed * curvature)."""
    from .bags import BagWriter, offered_qos

    with BagWriter(path, storage=storage) as bag:
        types = bag.typestore.types
        Image, Header, Time = types["sensor_msgs/msg/Image"], types["std_msgs/msg/Header"], types["builtin_interfaces/msg/Time"]
        Twist, Vector3 = types["geometry_msgs/msg/Twist"], types["geometry_msgs/msg/Vector3"]
        bag.add_topic(CAMERA_TOPIC, "sensor_msgs/msg/Image", qos=[offered_qos("best_effort")])
        bag.add_topic(COMMAND_TOPIC, "geometry_msgs/msg/Twist", qos=[offered_qos("reliable")])
        bag.add_topic(EXPERT_TOPIC, "geometry_msgs/msg/Twist", qos=[offered_qos("reliable")])
        executed = episode.meta.get("executed_curvature", episode.labels)
        for frame, stamp, label, command in zip(episode.frames, episode.stamps, episode.labels, executed):
            ns = int(round(stamp * 1e9))
            height, width = frame.shape[:2]
            header = Header(stamp=Time(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="camera")
            bag.write_message(CAMERA_TOPIC, ns, Image(header=header, height=height, width=width, encoding="rgb8",
                                                      is_bigendian=0, step=width * 3, data=frame.reshape(-1)))
            for topic, curvature in ((COMMAND_TOPIC, command[0]), (EXPERT_TOPIC, label[0])):
                twist = Twist(linear=Vector3(x=speed, y=0.0, z=0.0), angular=Vector3(x=0.0, y=0.0, z=speed * float(curvature)))
                bag.write_message(topic, ns, twist)


def episodes_from_bag(path, camera_topic: str = CAMERA_TOPIC, command_topic: str = "auto", max_command_age_s: float = 0.5,
                      split_gap_s: float = 1.0) -> list[Episode]:
    """Camera frames paired with the command in force at their stamp (newest command at or
    before it, at most ``max_command_age_s`` old); a gap of more than ``split_gap_s`` between
    frames (a restart, a pause) starts a new episode. ``command_topic='auto'`` takes
    /expert/cmd_vel when the bag has it, else /cmd_vel. Labels are curvatures (yaw rate / speed)."""
    from pathlib import Path

    from .bags import BagError, BagReader
    from .images import decode_image, to_rgb

    path = Path(path)
    with BagReader(path) as bag:
        topics = {topic["name"] for topic in bag.info()["topics"]}
        if command_topic == "auto":
            command_topic = EXPERT_TOPIC if EXPERT_TOPIC in topics else COMMAND_TOPIC
        for topic in (camera_topic, command_topic):
            if topic not in topics:
                raise BagError(f"{path}: no topic {topic}; the bag has {', '.join(sorted(topics))}")
        frames, frame_stamps, command_stamps, curvatures = [], [], [], []
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
                curvatures.append([curvature_of(twist.linear.x, twist.angular.z)])
    if not frames:
        raise BagError(f"{path}: no frames on {camera_topic}")
    order = np.argsort(frame_stamps, kind="stable")
    stamps_ns = np.asarray(frame_stamps, dtype=np.int64)[order]
    labels, valid = pair_by_stamp(stamps_ns, np.asarray(command_stamps, dtype=np.int64),
                                  np.asarray(curvatures, np.float32).reshape(-1, 1), round(max_command_age_s * 1e9))
    keep = valid & np.concatenate(([True], np.diff(stamps_ns) > 0))
    stamps, labels = stamps_ns[keep] * 1e-9, labels[keep]
    images = np.stack([frames[i] for i in order[keep]])
    cuts = np.flatnonzero(np.diff(stamps) > split_gap_s) + 1
    episodes = []
    for number, (start, stop) in enumerate(zip(np.concatenate(([0], cuts)), np.concatenate((cuts, [len(stamps)])))):
        if stop - start >= 2:
            episodes.append(Episode(f"{path.name}#{number}", images[start:stop], stamps[start:stop], labels[start:stop],
                                    meta={"source": str(path), "command_topic": command_topic}))
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
