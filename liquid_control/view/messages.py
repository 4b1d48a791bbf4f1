"""The view's messages, shaped like the ROS messages of the same topics, so one Foxglove layout reads
both: Float32MultiArray for the neurons (``.data[i]``), String for the names, Twist for the command,
and foxglove RawImage (rgb8) for the images."""

from __future__ import annotations

import json

import numpy as np
from foxglove.messages import RawImage

from .scene_primitives import timestamp


def float32_multi_array(values, label: str = "neurons") -> dict:
    """std_msgs/Float32MultiArray as JSON: one dimension, no offset."""
    data = [float(v) for v in np.asarray(values, dtype=np.float32).reshape(-1)]
    return {"layout": {"dim": [{"label": label, "size": len(data), "stride": len(data)}], "data_offset": 0},
            "data": data}


def string_message(content) -> dict:
    """std_msgs/String as JSON whose ``data`` is ``content`` as JSON text."""
    return {"data": json.dumps(content)}


def twist_message(linear_x: float = 0.0, linear_y: float = 0.0, linear_z: float = 0.0, angular_x: float = 0.0,
                  angular_y: float = 0.0, angular_z: float = 0.0) -> dict:
    """geometry_msgs/Twist as JSON."""
    return {"linear": {"x": float(linear_x), "y": float(linear_y), "z": float(linear_z)},
            "angular": {"x": float(angular_x), "y": float(angular_y), "z": float(angular_z)}}


def rgb_image(pixels: np.ndarray, seconds: float, frame_id: str = "camera") -> RawImage:
    """A foxglove RawImage (rgb8) of an (H, W, 3) uint8 array stamped ``seconds`` (simulation time)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim == 2:
        pixels = np.ascontiguousarray(np.repeat(pixels[:, :, None], 3, axis=2))
    height, width = pixels.shape[:2]
    return RawImage(timestamp=timestamp(seconds), frame_id=frame_id, width=width, height=height, encoding="rgb8",
                    step=width * 3, data=pixels.tobytes())
