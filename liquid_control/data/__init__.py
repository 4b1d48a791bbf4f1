"""Data without ROS: camera images <-> arrays and the network's preprocessing (``images``), bags,
episodes and training sequences.

Nothing here imports rclpy: the functions work on the plain fields of ROS messages, so bag
tools, training and the nodes share one implementation. The image API is re-exported here.
"""

from .images import (
    SUPPORTED_ENCODINGS,
    ImageDecodeError,
    PreprocessSpec,
    PreprocessSpecError,
    decode_compressed,
    decode_float_image,
    decode_image,
    float_image_fields,
    to_rgb,
)

__all__ = [
    "ImageDecodeError", "PreprocessSpec", "PreprocessSpecError", "SUPPORTED_ENCODINGS", "decode_compressed",
    "decode_float_image", "decode_image", "float_image_fields", "to_rgb",
]
