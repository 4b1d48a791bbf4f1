"""ROS image encodings: what each raw ``sensor_msgs/Image`` encoding decodes to, and the channel
reordering from a decoded layout to a network's encoding (rgb8, bgr8 or mono8).

Names as in sensor_msgs/image_encodings.hpp; ``ImageDecodeError`` is what every decoding refuses
a frame with, its ``reason`` a short key for counting drops.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np


class ImageDecodeError(ValueError):
    """A frame that cannot be turned into pixels; ``reason`` is a short key for counting drops."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class _Encoding(NamedTuple):
    channels: int  # channels of the decoded array
    dtype: type  # np.uint8 or np.uint16
    bytes_per_pixel: int  # in the message's data
    layout: str  # channel order of the decoded array: rgb, bgr, rgba, bgra or mono
    yuv_code: int | None = None  # cv2 conversion for packed YUV 4:2:2 (decoded to RGB)


# ROS names (sensor_msgs/image_encodings.hpp). "yuv422" is UYVY in ROS; "8UC3" follows OpenCV's
# (and cv_bridge's) convention of BGR order.
_ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(3, np.uint8, 3, "rgb"),
    "bgr8": _Encoding(3, np.uint8, 3, "bgr"),
    "rgba8": _Encoding(4, np.uint8, 4, "rgba"),
    "bgra8": _Encoding(4, np.uint8, 4, "bgra"),
    "mono8": _Encoding(1, np.uint8, 1, "mono"),
    "mono16": _Encoding(1, np.uint16, 2, "mono"),
    "8UC1": _Encoding(1, np.uint8, 1, "mono"),
    "8UC3": _Encoding(3, np.uint8, 3, "bgr"),
    "16UC1": _Encoding(1, np.uint16, 2, "mono"),
    "yuv422": _Encoding(3, np.uint8, 2, "rgb", cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": _Encoding(3, np.uint8, 2, "rgb", cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": _Encoding(3, np.uint8, 2, "rgb", cv2.COLOR_YUV2RGB_YUY2),
    "yuyv": _Encoding(3, np.uint8, 2, "rgb", cv2.COLOR_YUV2RGB_YUY2),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS)

# cv2 colour conversions from a decoded layout to a network encoding; a missing pair needs none.
_TO_NETWORK: dict[tuple[str, str], int] = {
    ("bgr", "rgb8"): cv2.COLOR_BGR2RGB,
    ("rgba", "rgb8"): cv2.COLOR_RGBA2RGB,
    ("bgra", "rgb8"): cv2.COLOR_BGRA2RGB,
    ("mono", "rgb8"): cv2.COLOR_GRAY2RGB,
    ("rgb", "bgr8"): cv2.COLOR_RGB2BGR,
    ("rgba", "bgr8"): cv2.COLOR_RGBA2BGR,
    ("bgra", "bgr8"): cv2.COLOR_BGRA2BGR,
    ("mono", "bgr8"): cv2.COLOR_GRAY2BGR,
    ("rgb", "mono8"): cv2.COLOR_RGB2GRAY,
    ("bgr", "mono8"): cv2.COLOR_BGR2GRAY,
    ("rgba", "mono8"): cv2.COLOR_RGBA2GRAY,
    ("bgra", "mono8"): cv2.COLOR_BGRA2GRAY,
}
NETWORK_ENCODINGS = ("rgb8", "bgr8", "mono8")


def lookup_encoding(encoding: str) -> _Encoding:
    try:
        return _ENCODINGS[encoding]
    except (KeyError, TypeError):
        raise ImageDecodeError(
            f"unknown image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)} "
            "(or JPEG/PNG as a CompressedImage); publish one of these", "unknown_encoding") from None


def to_8bit(image: np.ndarray) -> np.ndarray:
    return (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image


def convert_channels(image: np.ndarray, layout: str, network_encoding: str) -> np.ndarray:
    """A decoded (H, W, C) array in ``layout`` (8/16-bit, or float32 after an area resize) in the channel
    order of ``network_encoding``; 16-bit becomes 8-bit, and nothing is copied if nothing changes."""
    image = to_8bit(image)
    code = _TO_NETWORK.get((layout, network_encoding))
    if code is None:
        return image  # already in the network's order
    converted = cv2.cvtColor(image, code)
    return converted[:, :, np.newaxis] if converted.ndim == 2 else converted


def to_rgb(array: np.ndarray, encoding: str) -> np.ndarray:
    """Any decoded image (``decode_image``'s output for ``encoding``) as (H, W, 3) uint8 RGB.

    BGR is reordered, alpha dropped, mono repeated into three channels, 16-bit shifted to 8-bit.
    An rgb8 (or YUV-decoded) array comes back as it is.
    """
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    return convert_channels(array, lookup_encoding(encoding).layout, "rgb8")
