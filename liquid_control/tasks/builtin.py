"""The simulated worlds' tasks: ``lane`` (the lane keeper steers by curvature) and ``drone`` (the
liquid drone commands four body-frame velocities). Each has a simulator of the same name
(``train.simulate``); a third world registers its task here and its simulator there."""

from __future__ import annotations

from liquid_control.tasks.task import task_from_dict

# The network input both worlds share but for its size: 8-bit RGB scaled to [0, 1], then
# (x - 0.5) / 0.25 per channel.
_NORMALISED_RGB = {"input_encoding": "rgb8", "scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}

LANE = {
    "name": "lane",
    "description": "lane keeping: the car's forward camera in, the curvature of the path to drive out",
    "camera": {"topic": "/camera/image_raw", "type": "sensor_msgs/msg/Image", "rate_hz": 20.0},
    "command": {"topic": "/cmd_vel", "type": "geometry_msgs/msg/Twist", "outputs": ["curvature"],
                "expert_topic": "/expert/cmd_vel"},
    "control_rate_hz": 20.0,
    "preprocessing": {**_NORMALISED_RGB, "size": [66, 200]},
    "simulator": "lane",
}

# The drone: the camera's 72x128 frame, the conv head of the drone work (24-36-48-64-16 channels,
# 128 features), a 10 Hz step, and no grayscale augmentation (the target is red).
DRONE = {
    "name": "drone",
    "description": "fly to a target: the drone's forward camera in, body-frame velocities out",
    "camera": {"topic": "/camera/image_raw", "type": "sensor_msgs/msg/Image", "rate_hz": 10.0},
    "command": {"topic": "/cmd_vel", "type": "geometry_msgs/msg/Twist",
                "outputs": ["linear.x", "linear.y", "linear.z", "angular.z"], "expert_topic": "/expert/cmd_vel"},
    "control_rate_hz": 10.0,
    "preprocessing": {**_NORMALISED_RGB, "size": [72, 128]},
    "training": {"head_channels": [24, 36, 48, 64, 16], "features": 128,
                 "augmentation": {"grayscale_probability": 0.0}},
    "simulator": "drone",
}


def _register_all() -> None:
    from liquid_control.tasks import register

    for data in (LANE, DRONE):
        register(task_from_dict(data, f"registered task {data['name']}"))


_register_all()
