"""Recorded camera messages to the model's input pixels, in worker processes.

A chunk of raw CDR messages (``sensor_msgs/Image`` or ``CompressedImage``) goes in; for each,
its header stamp and either its pixels at the model's input (cropped, resized, in the network's
channel order, uint8) or the reason it could not be decoded comes out. A JPEG much larger than
the model's input is decoded at 1/2, 1/4 or 1/8 scale (libjpeg scales in the DCT, several times
cheaper than a full decode and a resize), the crop scaled with it; the result differs from a full
decode and area resize by about a grey level (``test_frame_decoding``).
"""

from __future__ import annotations

import io
import warnings
from typing import NamedTuple

import cv2
import numpy as np

from liquid_control.data.images import (
    MAX_COMPRESSED_PIXELS,
    ImageDecodeError,
    PreprocessSpec,
    decode_compressed,
    decode_image,
)

_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


class DecodedFrame(NamedTuple):
    header_ns: int  # the message's header stamp (0 when the camera left it unset)
    pixels: np.ndarray | None  # (height, width, channels) uint8 at the model's input, or None
    reason: str  # why pixels is None ("" when decoded)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's header, or None if it is not a readable JPEG."""
    if data[:2] != b"\xff\xd8":
        return None
    from PIL import Image as PILImage  # noqa: N814

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)  # only the header is read
            with PILImage.open(io.BytesIO(data)) as header:
                return header.size
    except Exception:  # noqa: BLE001 - a damaged header: the full decoder says what it makes of it
        return None


def reduced_jpeg_pixels(data: bytes, spec: PreprocessSpec) -> np.ndarray | None:
    """A JPEG's model input decoded at the smallest DCT scale that keeps at least the input's
    size after the (scaled) crop; None when no reduction applies (then decode in full)."""
    size = _jpeg_size(data)
    if size is None or size[0] * size[1] > MAX_COMPRESSED_PIXELS:  # the full path refuses it, saying why
        return None
    width, height = size
    top, bottom, left, right = spec.crop
    for factor, flag in _REDUCED:
        rows, cols = (height - top - bottom) // factor, (width - left - right) // factor
        if rows >= spec.size[0] and cols >= spec.size[1]:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
            if image is None:
                return None
            scaled = spec.with_overrides(crop=[round(c / factor) for c in spec.crop])
            return scaled.input_pixels(image, "bgr8")
    return None


def decode_to_input(message, msgtype: str, spec: PreprocessSpec) -> np.ndarray:
    """The model input pixels of a deserialised Image or CompressedImage; ImageDecodeError if none."""
    if msgtype.endswith("CompressedImage"):
        data = bytes(message.data)
        pixels = reduced_jpeg_pixels(data, spec)
        if pixels is not None:
            return pixels
        return spec.input_pixels(decode_compressed(message.format, data), "rgb8")
    image = decode_image(message.encoding, message.height, message.width, message.step, bytes(message.data),
                         bool(message.is_bigendian))
    return spec.input_pixels(image, message.encoding)


_worker_state: dict = {}


def decode_chunk(chunk: list[tuple[bytes, str]], spec_settings: dict) -> list[DecodedFrame]:
    """Decode a chunk of (raw CDR, msgtype) camera messages; a worker process's unit of work."""
    if "typestore" not in _worker_state:
        from liquid_control.data.bags import standard_typestore

        cv2.setNumThreads(1)  # one process per core already
        _worker_state["typestore"] = standard_typestore()
    key = repr(sorted(spec_settings.items()))
    if _worker_state.get("spec_key") != key:
        _worker_state["spec"], _worker_state["spec_key"] = PreprocessSpec.from_dict(spec_settings), key
    typestore, spec = _worker_state["typestore"], _worker_state["spec"]
    decoded = []
    for raw, msgtype in chunk:
        try:
            message = typestore.deserialize_cdr(raw, msgtype)
        except Exception:  # noqa: BLE001 - malformed CDR fails in generated code with assorted errors
            decoded.append(DecodedFrame(0, None, "corrupt_message"))
            continue
        header_ns = message.header.stamp.sec * 10**9 + message.header.stamp.nanosec
        try:
            decoded.append(DecodedFrame(header_ns, decode_to_input(message, msgtype, spec), ""))
        except ImageDecodeError as error:
            decoded.append(DecodedFrame(header_ns, None, error.reason))
        except ValueError:
            decoded.append(DecodedFrame(header_ns, None, "undecodable"))
    return decoded
