"""Message fields -> numpy arrays: raw ``sensor_msgs/Image`` (zero-copy views of ``data`` where
possible), JPEG/PNG ``sensor_msgs/CompressedImage``, and float32 images both ways.

The functions take the plain fields of the messages, so they serve ROS nodes, bag readers and
training alike. Raw images decode to views of ``data`` (row padding in ``step`` is skipped by
strides) except where a conversion is unavoidable: big-endian 16-bit (byte swap) and YUV 4:2:2.
"""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np

from liquid_control.data.images.encodings import ImageDecodeError, lookup_encoding


def byte_rows(encoding: str, height: int, width: int, step: int, data, bytes_per_pixel: int) -> np.ndarray:
    """The pixel bytes as a (height, width * bytes_per_pixel) view of ``data``, row padding skipped."""
    if height <= 0 or width <= 0:
        raise ImageDecodeError(f"the image is {width}x{height} pixels: width and height must be positive "
                               "(the publisher sent an empty image)", "empty_image")
    row_bytes = width * bytes_per_pixel
    if step < row_bytes:
        raise ImageDecodeError(f"step {step} is smaller than one row of {width} {encoding} pixels ({row_bytes} "
                               f"bytes); step must be at least width * {bytes_per_pixel}", "step_too_small")
    try:
        buffer = np.frombuffer(data, np.uint8)
    except (TypeError, ValueError) as error:
        raise ImageDecodeError(f"data must be a bytes-like buffer, got {type(data).__name__} ({error})",
                               "bad_data") from None
    expected = step * height
    if buffer.size < expected:
        raise ImageDecodeError(f"data holds {buffer.size} bytes, expected step * height = {step} * {height} = "
                               f"{expected}; the message is truncated or its step/height are wrong", "data_too_short")
    return buffer[:expected].reshape(height, step)[:, :row_bytes]


def decode_image(encoding: str, height: int, width: int, step: int, data, is_bigendian: bool = False) -> np.ndarray:
    """The pixels of a raw image as (height, width, channels) uint8/uint16, a view of ``data`` where possible.

    Channels stay in the encoding's order (bgr8 stays BGR, rgba8 keeps alpha), except packed YUV
    4:2:2, which is converted to RGB. Raises ImageDecodeError naming the problem.
    """
    spec = lookup_encoding(encoding)
    if spec.yuv_code is not None and width % 2:
        raise ImageDecodeError(f"{encoding} packs two pixels into 4 bytes, so the width must be even; got width "
                               f"{width}", "odd_width")
    rows = byte_rows(encoding, height, width, step, data, spec.bytes_per_pixel)
    if spec.yuv_code is not None:
        return cv2.cvtColor(rows.reshape(height, width, 2), spec.yuv_code)
    if spec.dtype is np.uint16:
        if step % 2:
            rows = rows.copy()  # rows would start mid-sample: copy once rather than hand out an unaligned view
        pixels = rows.view(">u2" if is_bigendian else "<u2")
        if pixels.dtype != np.dtype(np.uint16):  # not the machine's byte order: one byte-swapping copy
            pixels = pixels.astype(np.uint16)
        return pixels.reshape(height, width, 1)
    return rows.reshape(height, width, spec.channels)


# A compressed frame may declare any size in its header: a few kilobytes of PNG can claim 20000x20000
# pixels. Larger than this (a 5000x5000 frame) is refused before anything is decoded.
MAX_COMPRESSED_PIXELS = 25_000_000


def _declared_pixels(buffer: np.ndarray) -> int:
    """Width x height from a JPEG/PNG header, read by Pillow without decoding; 0 if it cannot tell
    (then OpenCV decides, and refuses what it cannot decode)."""
    from PIL import Image as PILImage  # noqa: N814

    try:
        with PILImage.open(io.BytesIO(buffer.tobytes())) as header:
            width, height = header.size
    except PILImage.DecompressionBombError:  # Pillow's own limit, far above ours
        return MAX_COMPRESSED_PIXELS * 10
    except Exception:  # noqa: BLE001 - not an image Pillow knows: cv2.imdecode says what it makes of it
        return 0
    return int(width) * int(height)


def decode_compressed(format: str, data) -> np.ndarray:  # noqa: A002 - the message field's name
    """A JPEG or PNG ``sensor_msgs/CompressedImage`` as (height, width, 3) uint8 RGB."""
    if "compresseddepth" in str(format).lower():
        raise ImageDecodeError(f"format {format!r} is a compressedDepth image (a depth header before the PNG), "
                               "which is not supported; subscribe to the raw depth image instead", "undecodable")
    try:
        buffer = np.frombuffer(data, np.uint8)
    except (TypeError, ValueError) as error:
        raise ImageDecodeError(f"data must be a bytes-like buffer, got {type(data).__name__} ({error})",
                               "bad_data") from None
    if buffer.size == 0:
        raise ImageDecodeError(f"the compressed image (format {format!r}) holds no data", "empty_image")
    declared = _declared_pixels(buffer)
    if declared > MAX_COMPRESSED_PIXELS:
        raise ImageDecodeError(f"the compressed image declares {declared} pixels, more than {MAX_COMPRESSED_PIXELS} "
                               "(a camera frame is far smaller; decoding it would take gigabytes and seconds)",
                               "too_large")
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR_RGB)
    if image is None:
        raise ImageDecodeError(f"cannot decode the {buffer.size} bytes of a compressed image (format {format!r}) as "
                               "JPEG or PNG; the data is corrupt or in another format", "undecodable")
    return image


def float_image_fields(array: np.ndarray) -> dict[str, Any]:
    """Fields of a sensor_msgs/Image (32FC<C>, little-endian, unpadded) holding a float32 (H, W[, C]) array.

    ``Image(header=..., **float_image_fields(x))``; ``data`` is bytes (taken by rclpy as one copy).
    """
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4:
        raise ValueError(f"expected a (height, width, channels) array with 1 to 4 channels, got shape {array.shape}")
    height, width, channels = array.shape
    data = np.ascontiguousarray(array, dtype="<f4").tobytes()
    return {"encoding": f"32FC{channels}", "height": height, "width": width, "is_bigendian": 0,
            "step": width * channels * 4, "data": data}


def decode_float_image(encoding: str, height: int, width: int, step: int, data,
                       is_bigendian: bool = False) -> np.ndarray:
    """A 32FC1..32FC4 image (e.g. ``image_preprocessed``) as float32 (H, W, C).

    A view of ``data`` when little-endian with a step divisible by 4 (what float_image_fields writes).
    """
    if not (isinstance(encoding, str) and encoding.startswith("32FC") and encoding[4:] in ("1", "2", "3", "4")):
        raise ImageDecodeError(f"expected a float image (32FC1, 32FC2, 32FC3 or 32FC4), got encoding {encoding!r}",
                               "unknown_encoding")
    channels = int(encoding[4:])
    rows = byte_rows(encoding, height, width, step, data, 4 * channels)
    if step % 4:
        rows = rows.copy()  # row starts would not be float-aligned: copy once rather than hand out an unaligned view
    pixels = rows.view(">f4" if is_bigendian else "<f4")
    if pixels.dtype != np.dtype(np.float32):
        pixels = pixels.astype(np.float32)
    return pixels.reshape(height, width, channels)
