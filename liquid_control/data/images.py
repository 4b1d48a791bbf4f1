"""Camera images <-> numpy arrays, and the preprocessing a network expects. No ROS needed.

The functions take the plain fields of ``sensor_msgs/Image`` (encoding, height, width, step,
is_bigendian, data) and ``sensor_msgs/CompressedImage`` (format, data), so they serve ROS nodes,
bag readers and training alike. (PyPI's cv_bridge is a ROS 1 port that breaks on numpy >= 2.3
and OpenCV 5; a numpy view of the message's bytes is also ~100x cheaper than a conversion.)

    image = decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.data, msg.is_bigendian)
    spec = PreprocessSpec.from_card(card)              # the model card's "preprocessing" section
    x = spec.apply(image, msg.encoding)                 # float32 (66, 200, 3), C-contiguous
    out = Image(header=msg.header, **float_image_fields(x))

Raw images decode to zero-copy views of ``data`` (row padding in ``step`` is skipped by strides)
except where a conversion is unavoidable: big-endian 16-bit (byte swap) and YUV 4:2:2 (to RGB).
"""

from __future__ import annotations

import array
import dataclasses
import io
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Mapping, NamedTuple

import cv2
import numpy as np


class ImageDecodeError(ValueError):
    """A frame that cannot be turned into pixels; ``reason`` is a short key for counting drops."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class PreprocessSpecError(ValueError):
    """An invalid preprocessing setting; ``field`` names the PreprocessSpec field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


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
INTERPOLATIONS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST,
                  "cubic": cv2.INTER_CUBIC}


def _lookup(encoding: str) -> _Encoding:
    try:
        return _ENCODINGS[encoding]
    except (KeyError, TypeError):
        raise ImageDecodeError(
            f"unknown image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)} "
            "(or JPEG/PNG as a CompressedImage); publish one of these", "unknown_encoding") from None


def _byte_rows(encoding: str, height: int, width: int, step: int, data, bytes_per_pixel: int) -> np.ndarray:
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
    spec = _lookup(encoding)
    if spec.yuv_code is not None and width % 2:
        raise ImageDecodeError(f"{encoding} packs two pixels into 4 bytes, so the width must be even; got width "
                               f"{width}", "odd_width")
    rows = _byte_rows(encoding, height, width, step, data, spec.bytes_per_pixel)
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


@lru_cache(maxsize=16)
def _area_taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """For shrinking ``source`` pixels to ``target``: the source indices each target pixel covers
    (target, taps) and their weights (the covered fraction of each source pixel / the ratio)."""
    ratio = source / target
    low = np.arange(target) * ratio
    high = low + ratio
    first = np.floor(low).astype(np.intp)
    taps = int(np.max(np.ceil(high - 1e-9).astype(np.intp) - first))
    index = first[:, np.newaxis] + np.arange(taps)
    covered = np.clip(np.minimum(index + 1, high[:, np.newaxis]) - np.maximum(index, low[:, np.newaxis]), 0, None)
    return np.minimum(index, source - 1), (covered / ratio).astype(np.float32)


def _resize_area(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """cv2.INTER_AREA on the float32 image, ~3x faster than cv2 alone when shrinking.

    OpenCV's area resampling with non-integer ratios walks every source pixel in a slow generic
    path (~2 ms for 640x480 -> 200x66). Area averaging is separable, so the rows are averaged here
    (each output row is a weighted sum of the ~ratio source rows it covers: one gather and one
    batched matrix product) and cv2 then shrinks the few remaining rows horizontally.
    """
    rows, cols, channels = image.shape
    if rows < height or cols < width:  # enlarging: cv2's own (bilinear-like) area rule throughout
        resized = cv2.resize(image.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
        return resized[:, :, np.newaxis] if resized.ndim == 2 else resized
    index, weights = _area_taps(rows, height)
    source_rows = image.reshape(rows, cols * channels)[index].astype(np.float32)  # (height, taps, cols * channels)
    averaged = np.matmul(weights[:, np.newaxis, :], source_rows).reshape(height, cols, channels)
    if cols == width:
        return averaged
    resized = cv2.resize(averaged, (width, height), interpolation=cv2.INTER_AREA)
    return resized[:, :, np.newaxis] if resized.ndim == 2 else resized


def _to_8bit(image: np.ndarray) -> np.ndarray:
    return (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image


def _convert(image: np.ndarray, layout: str, network_encoding: str) -> np.ndarray:
    """A decoded (H, W, C) array in ``layout`` (8/16-bit, or float32 after an area resize) in the channel
    order of ``network_encoding``; 16-bit becomes 8-bit, and nothing is copied if nothing changes."""
    image = _to_8bit(image)
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
    return _convert(array, _lookup(encoding).layout, "rgb8")


def _as_tuple(value: Any) -> tuple:
    """Lists, tuples and arrays (YAML, ROS parameters, numpy) as a tuple; anything else as a 1-tuple."""
    return tuple(value) if isinstance(value, (list, tuple, np.ndarray, array.array)) else (value,)


def _int_tuple(field: str, value: Any, length: int, what: str, minimum: int) -> tuple[int, ...]:
    values = _as_tuple(value)
    if (len(values) != length or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in values)
            or any(v < minimum for v in values)):
        raise PreprocessSpecError(field, f"must be {length} integers >= {minimum} ({what}), got {value!r}")
    return tuple(int(v) for v in values)


def _float_tuple(field: str, value: Any) -> tuple[float, ...]:
    values = _as_tuple(value)
    if (not values or any(isinstance(v, bool) or not isinstance(v, (int, float, np.number)) for v in values)
            or not all(math.isfinite(v) for v in values)):
        raise PreprocessSpecError(field, f"must be finite numbers (one per channel, or one for all), got {value!r}")
    return tuple(float(v) for v in values)


def _per_channel(field: str, values: tuple[float, ...], channels: int, encoding: str) -> tuple[float, ...]:
    """One value per channel; a single value, or equal values of any count, apply to every channel."""
    if len(values) == channels:
        return values
    if len(set(values)) == 1:
        return values[:1] * channels
    raise PreprocessSpecError(field, f"has {len(values)} values {values} but input_encoding {encoding} has "
                                     f"{channels} channel{'s' if channels > 1 else ''}; give one value per channel")


@dataclass(frozen=True)
class PreprocessSpec:
    """How a camera frame becomes the network's input; plain data, as the model card stores it.

    apply(): crop (pixels removed from the raw frame's top, bottom, left, right), resize to
    ``size`` = (height, width), reorder channels to ``input_encoding``, then per channel
    ``(pixel * scale - mean) / std`` as float32. ``mean``/``std`` hold one value per channel (a
    single value, or equal values, apply to all). Constructing a spec validates it.
    """

    input_encoding: str = "rgb8"
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)
    size: tuple[int, int] = (66, 200)
    interpolation: str = "area"
    scale: float = 1 / 255
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)

    def __post_init__(self):
        # Lists (YAML, ROS parameters) become tuples, so specs compare and hash like the values they hold.
        set_field = object.__setattr__
        set_field(self, "crop", _int_tuple("crop", self.crop, 4, "top, bottom, left, right", 0))
        set_field(self, "size", _int_tuple("size", self.size, 2, "height, width", 1))
        set_field(self, "mean", _float_tuple("mean", self.mean))
        set_field(self, "std", _float_tuple("std", self.std))
        if isinstance(self.scale, (int, float, np.number)) and not isinstance(self.scale, bool):
            set_field(self, "scale", float(self.scale))
        self.validate()

    def validate(self) -> None:
        """Raise PreprocessSpecError (a ValueError naming the field) for any setting apply() cannot use."""
        if not isinstance(self.input_encoding, str) or self.input_encoding not in NETWORK_ENCODINGS:
            raise PreprocessSpecError("input_encoding", f"must be one of {', '.join(NETWORK_ENCODINGS)}, "
                                                        f"got {self.input_encoding!r}")
        if not isinstance(self.interpolation, str) or self.interpolation not in INTERPOLATIONS:
            raise PreprocessSpecError("interpolation", f"must be one of {', '.join(INTERPOLATIONS)}, "
                                                       f"got {self.interpolation!r}")
        _int_tuple("crop", self.crop, 4, "top, bottom, left, right", 0)
        _int_tuple("size", self.size, 2, "height, width", 1)
        if isinstance(self.scale, bool) or not isinstance(self.scale, (int, float)) or not (
                math.isfinite(self.scale) and self.scale > 0):
            raise PreprocessSpecError("scale", f"must be a finite number > 0 (e.g. 1/255 = 0.00392156862745098), "
                                               f"got {self.scale!r}")
        _per_channel("mean", _float_tuple("mean", self.mean), self.channels, self.input_encoding)
        if any(s <= 0 for s in _per_channel("std", _float_tuple("std", self.std), self.channels, self.input_encoding)):
            raise PreprocessSpecError("std", f"must be > 0 for every channel, got {self.std}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any]) -> "PreprocessSpec":
        """A spec from a plain mapping (missing keys keep their defaults; lists are fine for tuples)."""
        if not isinstance(settings, Mapping):
            raise PreprocessSpecError("preprocessing", f"must be a mapping of settings, got {type(settings).__name__}")
        unknown = sorted(set(settings) - set(cls.field_names()))
        if unknown:
            names, valid = ", ".join(map(repr, unknown)), ", ".join(cls.field_names())
            plural = "s" if len(unknown) > 1 else ""
            raise PreprocessSpecError(unknown[0], f"unknown preprocessing setting{plural} {names}; valid: {valid}")
        return cls(**settings)

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> "PreprocessSpec":
        """The spec in a model card's ``preprocessing`` section (absent or null: the defaults)."""
        return cls.from_dict(card.get("preprocessing") or {})

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-friendly data (lists, not tuples); ``from_dict(spec.to_dict()) == spec``."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in dataclasses.asdict(self).items()}

    def with_overrides(self, **overrides: Any) -> "PreprocessSpec":
        """A copy with some settings replaced; an override of None leaves that setting as it is."""
        given = {name: value for name, value in overrides.items() if value is not None}
        return self.from_dict({**self.to_dict(), **given})

    @property
    def channels(self) -> int:
        return 1 if self.input_encoding == "mono8" else 3

    @property
    def output_encoding(self) -> str:
        """The sensor_msgs/Image encoding of apply()'s output."""
        return f"32FC{self.channels}"

    @cached_property
    def _affine_rows(self) -> tuple[np.ndarray, np.ndarray]:
        # (p * scale - mean) / std  ==  p * (scale / std) - mean / std: one multiply and one subtract,
        # with the per-channel factors repeated along a whole output row (numpy is slow on
        # 3-element inner loops, which broadcasting over the channel axis alone would give).
        std = np.array(_per_channel("std", self.std, self.channels, self.input_encoding), np.float64)
        mean = np.array(_per_channel("mean", self.mean, self.channels, self.input_encoding), np.float64)
        width = self.size[1]
        return np.tile(self.scale / std, width).astype(np.float32), np.tile(mean / std, width).astype(np.float32)

    @property
    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel (gain, offset) of the normalisation: input = pixels * gain - offset."""
        gain, offset = self._affine_rows
        return gain[:self.channels].copy(), offset[:self.channels].copy()

    def pixels(self, image: np.ndarray, encoding: str) -> np.ndarray | None:
        """The 8-bit pixels ``apply`` normalises, (height, width, channels) uint8, when no resize is
        needed (the cropped frame has the model's size); None when one is (``area`` resizes in
        float). ``pixels * gain - offset`` (``affine``) in float32 is then exactly ``apply``'s output:
        a dataset can keep frames as uint8 and normalise on the fly."""
        if image.ndim == 2:
            image = image[:, :, np.newaxis]
        source = _lookup(encoding)
        rows, cols = image.shape[:2]
        top, bottom, left, right = self.crop
        if image.ndim != 3 or image.shape[2] != source.channels or (rows - top - bottom, cols - left - right) != tuple(self.size):
            return None
        if image.dtype != np.uint8:
            return None
        return np.ascontiguousarray(_convert(image[top:rows - bottom, left:cols - right], source.layout, self.input_encoding))

    def _cropped_and_resized(self, image: np.ndarray, encoding: str) -> tuple[np.ndarray, str]:
        """The frame cropped and resized to ``size`` in its own channel order (8-bit, or float32
        after an area resize), and that order's layout name."""
        if image.ndim == 2:
            image = image[:, :, np.newaxis]
        source = _lookup(encoding)
        if image.ndim != 3 or image.shape[2] != source.channels:
            raise ValueError(f"a decoded {encoding} image has {source.channels} channel(s); got an array of shape "
                             f"{image.shape}")
        rows, cols = image.shape[:2]
        top, bottom, left, right = self.crop
        if top + bottom >= rows or left + right >= cols:
            raise ImageDecodeError(f"crop (top, bottom, left, right) = {self.crop} leaves nothing of a {cols}x{rows} "
                                   "frame; reduce the crop or send larger frames", "crop_too_large")
        cropped = _to_8bit(image[top:rows - bottom, left:cols - right])
        height, width = self.size
        if cropped.shape[:2] == (height, width):
            return cropped, source.layout
        if self.interpolation == "area":
            return _resize_area(cropped, height, width), source.layout
        resized = cv2.resize(cropped, (width, height), interpolation=INTERPOLATIONS[self.interpolation])
        return (resized[:, :, np.newaxis] if resized.ndim == 2 else resized), source.layout

    def input_pixels(self, image: np.ndarray, encoding: str) -> np.ndarray:
        """The frame cropped, resized to ``size`` and in ``input_encoding``'s channel order, as
        (height, width, channels) uint8: what ``apply`` normalises, rounded to 8 bits (at most half
        a grey level from it). A dataset keeps these and normalises with ``affine``."""
        resized, layout = self._cropped_and_resized(image, encoding)
        if resized.dtype != np.uint8:
            resized = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
        return np.ascontiguousarray(_convert(resized, layout, self.input_encoding))

    def apply(self, image: np.ndarray, encoding: str) -> np.ndarray:
        """The network input for a decoded frame: float32 (height, width, channels), C-contiguous.

        ``encoding`` is the frame's ROS encoding (as given to decode_image), or "rgb8" for
        decode_compressed's output. Cropping is a view, the resize works on the frame's own
        channels, and colour conversion then touches only the small image. "area" is
        cv2.INTER_AREA computed on float32 (pixel-area averages, not rounded to integers); the
        other interpolations resize the 8-bit image with cv2.
        """
        resized, layout = self._cropped_and_resized(image, encoding)
        height, width = self.size
        pixels = _convert(resized, layout, self.input_encoding)
        gain, offset = self._affine_rows
        out = np.empty((height, width * self.channels), np.float32)
        np.multiply(pixels.reshape(height, width * self.channels), gain, out=out)
        np.subtract(out, offset, out=out)
        return out.reshape(height, width, self.channels)


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
    rows = _byte_rows(encoding, height, width, step, data, 4 * channels)
    if step % 4:
        rows = rows.copy()  # row starts would not be float-aligned: copy once rather than hand out an unaligned view
    pixels = rows.view(">f4" if is_bigendian else "<f4")
    if pixels.dtype != np.dtype(np.float32):
        pixels = pixels.astype(np.float32)
    return pixels.reshape(height, width, channels)
