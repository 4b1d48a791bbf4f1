"""Tasks as data: the registered worlds, task files, and every mistake a user makes in one."""

import pytest
import yaml

from liquid_control.tasks import Task, TaskError, load_task, registered, simulated, task_from_dict
from liquid_control.train.trainer import TrainConfig

GOOD = {
    "name": "my_robot",
    "camera": {"topic": "/front_cam/color/image_raw/compressed", "type": "sensor_msgs/CompressedImage"},
    "command": {"topic": "/cmd_vel", "type": "geometry_msgs/msg/TwistStamped", "outputs": ["linear.x", "angular.z"]},
    "control_rate_hz": 15,
    "preprocessing": {"size": [96, 128]},
}


def test_the_simulated_worlds_are_registered_tasks_with_their_simulators():
    assert {"lane", "drone"} <= set(registered()) and {"lane", "drone"} <= set(simulated())
    lane, drone = load_task("lane"), load_task("drone")
    assert lane.label_names == ("curvature",) and lane.nominal_dt == pytest.approx(0.05)
    assert drone.label_names == ("linear.x", "linear.y", "linear.z", "angular.z")
    assert drone.nominal_dt == pytest.approx(0.1)
    assert lane.command.expert_topic == drone.command.expert_topic == "/expert/cmd_vel"


def test_training_settings_for_the_worlds_are_what_they_were_before_the_registry():
    # The study's caches are keyed by these settings: they must not move (WORLD_TRAINING's values).
    drone = TrainConfig.for_task(load_task("drone"))
    assert drone.preprocessing == {"input_encoding": "rgb8", "size": [72, 128], "scale": 1 / 255,
                                   "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    assert (drone.head_channels, drone.features, drone.nominal_dt) == ([24, 36, 48, 64, 16], 128, 0.1)
    assert drone.augmentation == {"grayscale_probability": 0.0}
    lane = TrainConfig.for_task(load_task("lane"), epochs=3)
    assert lane == TrainConfig(epochs=3)


def test_a_robot_task_has_no_shift_augmentation_unless_it_asks(tmp_path):
    task = task_from_dict(GOOD)
    assert TrainConfig.for_task(task).augmentation == {"max_shift_px": 0}
    asked = task_from_dict({**GOOD, "training": {"augmentation": {"max_shift_px": 4}}})
    assert TrainConfig.for_task(asked).augmentation == {"max_shift_px": 4}


def test_a_task_file_round_trips_and_short_type_names_are_completed(tmp_path):
    path = tmp_path / "my_robot.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    task = load_task(str(path))
    assert isinstance(task, Task) and task.camera.type == "sensor_msgs/msg/CompressedImage"
    assert task.command.units == ("m/s", "rad/s") and task.nominal_dt == pytest.approx(1 / 15)
    assert task_from_dict(task.to_dict()) == task
    assert task.with_overrides(outputs=("angular.z",)).label_names == ("angular.z",)


def _broken(**changes):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    for dotted, value in changes.items():
        section, _, key = dotted.partition("__")
        if key:
            if value is None:
                del data[section][key]
            else:
                data[section][key] = value
        elif value is None:
            del data[section]
        else:
            data[section] = value
    return data


@pytest.mark.parametrize("changes, field, fix", [
    ({"camera__topic": None}, "camera.topic", "task init"),
    ({"camera__type": "sensor_msgs/msg/PointCloud2"}, "camera.type", "CompressedImage"),
    ({"command": None}, "command", "topic"),
    ({"command__outputs": ["angular_z"]}, "command.outputs", "did you mean angular.z"),
    ({"command__outputs": ["curvature", "linear.x"]}, "command.outputs", "[linear.x, angular.z]"),
    ({"command__outputs": ["angular.x"]}, "command.outputs", "choose from"),
    ({"command__outputs": []}, "command.outputs", "list of command fields"),
    ({"command__type": "ackermann_msgs/msg/AckermannDriveStamped"}, "command.type", "TwistStamped"),
    ({"control_rate_hz": -5}, "control_rate_hz", "> 0"),
    ({"control_rate_hz": None}, "control_rate_hz", "missing"),
    ({"preprocessing": {"size": [96]}}, "preprocessing", "height, width"),
    ({"preprocessing": {"resize": [96, 128]}}, "preprocessing", "valid:"),
    ({"pairing": {"max_command_age": 0.5}}, "pairing.max_command_age", "max_command_age_s"),
    ({"pairing": {"command_stamp": "bag"}}, "pairing.command_stamp", "receive"),
    ({"cameras": {}}, "cameras", "a task has"),
    ({"name": ""}, "name", "name: my_robot"),
])
def test_each_mistake_in_a_task_file_names_the_field_and_the_fix(changes, field, fix):
    with pytest.raises(TaskError) as error:
        task_from_dict(_broken(**changes), "my_robot.yaml")
    message = str(error.value)
    assert message.startswith(f"my_robot.yaml: {field}") and fix in message, message


def test_a_missing_file_or_an_unknown_name_says_what_exists(tmp_path):
    with pytest.raises(TaskError, match="task init"):
        load_task(str(tmp_path / "nowhere.yaml"))
    with pytest.raises(TaskError, match="lane, drone"):
        load_task("submarine")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    with pytest.raises(TaskError, match="not valid YAML"):
        load_task(str(tmp_path / "bad.yaml"))
