"""A task: what a policy sees and what it commands, as plain data (a YAML file or a registered name).

A task names the camera topic and its message type, how a frame becomes the network's input
(crop, size, normalisation), the command topic and type, the command fields the policy outputs,
the control rate, and how frames are paired with the commands that label them. A simulated world
(lane, drone) is a task that also has a simulator; a user's robot is a YAML file without one:

    name: my_robot
    camera: {topic: /front_cam/color/image_raw/compressed, type: sensor_msgs/msg/CompressedImage}
    command: {topic: /cmd_vel, type: geometry_msgs/msg/TwistStamped, outputs: [angular.z]}
    control_rate_hz: 15
    preprocessing: {size: [66, 200]}

Loading validates everything and names the field and the fix of the first mistake.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

# The command fields a policy can output, with their units (REP 103: x forward, y left, z up):
# those the controller's command shaping limits and publishes. Roll and pitch rates (angular.x/y)
# are not among them: no ground robot or multirotor velocity interface takes them.
OUTPUT_UNITS = {"linear.x": "m/s", "linear.y": "m/s", "linear.z": "m/s", "angular.z": "rad/s",
                "curvature": "1/m"}  # curvature = angular.z / linear.x: steering independent of speed
CAMERA_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
COMMAND_TYPES = ("geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistStamped")
STAMP_SOURCES = ("header", "receive")  # a message's header stamp (bag time when it has none or it is 0), or bag time
# Training settings a task may set for its policies (TrainConfig's fields of the same names).
TRAINING_KEYS = ("head_channels", "features", "augmentation", "ncp_units", "seq_len", "epochs", "lr", "batch_size")


class TaskError(ValueError):
    """A task that cannot be used; the message names the source, the field and the fix."""


def full_type_name(name: str) -> str:
    """'sensor_msgs/Image' or 'sensor_msgs/msg/Image' -> 'sensor_msgs/msg/Image'."""
    parts = str(name).split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else str(name)


@dataclass(frozen=True)
class Camera:
    topic: str
    type: str = "sensor_msgs/msg/Image"
    rate_hz: float | None = None  # the camera's nominal rate (None: the control rate)


@dataclass(frozen=True)
class Command:
    topic: str
    type: str = "geometry_msgs/msg/Twist"
    outputs: tuple[str, ...] = ("angular.z",)
    frame: str = "base_link"
    # A topic with the clean command of an expert, preferred for labels when a recording has it
    # (the simulators' recovery bursts: the robot executes a perturbed command, the label is the intent).
    expert_topic: str | None = None

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(OUTPUT_UNITS[name] for name in self.outputs)


@dataclass(frozen=True)
class Pairing:
    """How frames are paired with commands: each frame takes the newest command at or before its
    stamp, at most ``max_command_age_s`` old, after ``command_clock_offset_s`` is added to every
    command stamp (a command clock that runs that far behind the camera's). A gap of more than
    ``split_gap_s`` between frames starts a new episode."""

    max_command_age_s: float = 0.5
    command_clock_offset_s: float = 0.0
    frame_stamp: str = "header"
    command_stamp: str = "header"
    split_gap_s: float = 1.0


@dataclass(frozen=True)
class Task:
    name: str
    camera: Camera
    command: Command
    control_rate_hz: float
    preprocessing: Mapping[str, Any] = field(default_factory=dict)  # data.images.PreprocessSpec's fields
    pairing: Pairing = Pairing()
    training: Mapping[str, Any] = field(default_factory=dict)  # defaults for TrainConfig (TRAINING_KEYS)
    description: str = ""
    simulator: str | None = None  # a registered simulator's name (tasks.simulators), None for a robot
    source: str = field(default="<registry>", compare=False)  # where the task came from, for error messages

    @property
    def label_names(self) -> tuple[str, ...]:
        return self.command.outputs

    @property
    def camera_rate_hz(self) -> float:
        """The camera's nominal rate: its own, else the control rate."""
        return self.camera.rate_hz or self.control_rate_hz

    @property
    def nominal_dt(self) -> float:
        return 1.0 / self.control_rate_hz

    def with_overrides(self, camera_topic: str | None = None, camera_type: str | None = None,
                       command_topic: str | None = None, command_type: str | None = None,
                       outputs: tuple[str, ...] | None = None) -> "Task":
        """A copy with topics, types or outputs replaced (the train/eval options), validated again."""
        data = self.to_dict()
        data["camera"].update({k: v for k, v in (("topic", camera_topic), ("type", camera_type)) if v})
        data["command"].update({k: v for k, v in (("topic", command_topic), ("type", command_type)) if v})
        if command_topic:
            data["command"].pop("expert_topic", None)  # the user named the label topic
        if outputs:
            data["command"]["outputs"] = list(outputs)
        return task_from_dict(data, self.source)

    def to_dict(self) -> dict:
        """Plain YAML/JSON data; ``task_from_dict(task.to_dict()) == task`` (but for ``source``)."""
        data = dataclasses.asdict(self)
        data.pop("source")
        data["command"]["outputs"] = list(self.command.outputs)
        data["preprocessing"] = dict(self.preprocessing)
        data["training"] = dict(self.training)
        if data["command"]["expert_topic"] is None:
            del data["command"]["expert_topic"]
        if data["simulator"] is None:
            del data["simulator"]
        return data


# ---------------------------------------------------------------------------------------------- validation


def _error(source: str, where: str, message: str) -> TaskError:
    return TaskError(f"{source}: {where}: {message}")


def _section(data: Mapping, key: str, source: str, required: bool, known: tuple[str, ...]) -> dict:
    value = data.get(key)
    if value is None:
        if required:
            raise _error(source, key, f"missing; a task needs a {key} section with {', '.join(known)}")
        return {}
    if not isinstance(value, Mapping):
        raise _error(source, key, f"must be a mapping ({', '.join(known)}), got {type(value).__name__}")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise _error(source, f"{key}.{unknown[0]}", f"unknown setting; {key} takes {', '.join(known)}")
    return dict(value)


def _positive(value: Any, source: str, where: str, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise _error(source, where, f"must be a number {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


def _topic(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or " " in value:
        raise _error(source, where, f"must be a topic name such as /cmd_vel, got {value!r}")
    return value if value.startswith("/") else "/" + value


def _outputs(value: Any, source: str) -> tuple[str, ...]:
    where = "command.outputs"
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, (list, tuple)) or not value:
        raise _error(source, where, f"must be a list of command fields from {', '.join(OUTPUT_UNITS)}, got {value!r}")
    for name in value:
        if name not in OUTPUT_UNITS:
            hint = f" (did you mean {name.replace('_', '.')}?)" if str(name).replace("_", ".") in OUTPUT_UNITS else ""
            raise _error(source, where, f"{name!r} is not a command field{hint}; choose from {', '.join(OUTPUT_UNITS)}")
    if len(set(value)) != len(value):
        raise _error(source, where, f"names a field twice: {list(value)}")
    if "curvature" in value and len(value) > 1:
        raise _error(source, where, "curvature is a steering output on its own; for speed and turn rate use "
                                    "[linear.x, angular.z]")
    return tuple(value)


def task_from_dict(data: Any, source: str = "<task>") -> Task:
    """A validated Task from plain data (a parsed YAML file); TaskError names the field at fault."""
    if not isinstance(data, Mapping):
        raise TaskError(f"{source}: a task file holds a mapping (name, camera, command, control_rate_hz, ...), "
                        f"got {type(data).__name__}")
    known = ("name", "description", "camera", "command", "control_rate_hz", "preprocessing", "pairing", "training",
             "simulator")
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise _error(source, unknown[0], f"unknown section; a task has {', '.join(known)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _error(source, "name", f"missing or empty; give the task a name, e.g. name: my_robot (got {name!r})")

    camera = _section(data, "camera", source, True, ("topic", "type", "rate_hz"))
    if "topic" not in camera:
        raise _error(source, "camera.topic", "missing; the image topic the policy sees, e.g. /camera/image_raw "
                                             "(`python -m liquid_control task init BAG` lists a bag's image topics)")
    camera_type = full_type_name(camera.get("type", "sensor_msgs/msg/Image"))
    if camera_type not in CAMERA_TYPES:
        raise _error(source, "camera.type", f"must be one of {', '.join(CAMERA_TYPES)}, got {camera.get('type')!r}")
    rate = camera.get("rate_hz")
    camera_spec = Camera(_topic(camera["topic"], source, "camera.topic"), camera_type,
                         None if rate is None else _positive(rate, source, "camera.rate_hz"))

    command = _section(data, "command", source, True, ("topic", "type", "outputs", "frame", "expert_topic"))
    if "topic" not in command:
        raise _error(source, "command.topic", "missing; the topic whose commands drive the robot, e.g. /cmd_vel")
    command_type = full_type_name(command.get("type", "geometry_msgs/msg/Twist"))
    if command_type not in COMMAND_TYPES:
        raise _error(source, "command.type", f"must be one of {', '.join(COMMAND_TYPES)}, got {command.get('type')!r}")
    if "outputs" not in command:
        raise _error(source, "command.outputs",
                     f"missing; the fields the policy outputs, from {', '.join(OUTPUT_UNITS)} "
                     "(e.g. [angular.z] to steer, [linear.x, angular.z] to drive)")
    expert = command.get("expert_topic")
    command_spec = Command(_topic(command["topic"], source, "command.topic"), command_type,
                           _outputs(command["outputs"], source), str(command.get("frame", "base_link")),
                           None if expert is None else _topic(expert, source, "command.expert_topic"))

    if "control_rate_hz" not in data:
        raise _error(source, "control_rate_hz", "missing; the rate the policy steps at, usually the camera's (e.g. 15)")
    control_rate = _positive(data["control_rate_hz"], source, "control_rate_hz")

    pairing_fields = tuple(f.name for f in dataclasses.fields(Pairing))
    pairing = _section(data, "pairing", source, False, pairing_fields)
    for key in ("max_command_age_s", "split_gap_s"):
        if key in pairing:
            pairing[key] = _positive(pairing[key], source, f"pairing.{key}")
    if "command_clock_offset_s" in pairing:
        offset = pairing["command_clock_offset_s"]
        if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not math.isfinite(offset):
            raise _error(source, "pairing.command_clock_offset_s", f"must be a number of seconds, got {offset!r}")
        pairing["command_clock_offset_s"] = float(offset)
    for key in ("frame_stamp", "command_stamp"):
        if key in pairing and pairing[key] not in STAMP_SOURCES:
            raise _error(source, f"pairing.{key}", f"must be header or receive (bag time), got {pairing[key]!r}")

    preprocessing = data.get("preprocessing") or {}
    try:
        from liquid_control.data.images import PreprocessSpec

        PreprocessSpec.from_dict(preprocessing)
    except ValueError as exc:
        raise _error(source, "preprocessing", str(exc)) from None
    training = _section(data, "training", source, False, TRAINING_KEYS)
    simulator = data.get("simulator")
    if simulator is not None and not isinstance(simulator, str):
        raise _error(source, "simulator", f"must be a simulator's name, got {simulator!r}")
    return Task(name=name.strip(), camera=camera_spec, command=command_spec, control_rate_hz=control_rate,
                preprocessing=dict(preprocessing), pairing=Pairing(**pairing), training=training,
                description=str(data.get("description") or ""), simulator=simulator, source=source)


def load_task_file(path: str | Path) -> Task:
    """A Task from a YAML file."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise TaskError(f"{path}: cannot read the task file ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise TaskError(f"{path}: not valid YAML ({exc})") from None
    return task_from_dict(data, str(path))


def save_task_file(task: Task, path: str | Path) -> Path:
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(task.to_dict(), sort_keys=False))
    return path
