"""How a camera frame becomes the network's input: ``PreprocessSpec`` (crop, resize, channel order,
per-channel normalisation), plain data as the model card's ``preprocessing`` section stores it.
"""

from __future__ import annotations

import array
import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Mapping

import cv2
import numpy as np

from liquid_control.data.images.encodings import (
    NETWORK_ENCODINGS,
    ImageDecodeError,
    convert_channels,
    lookup_encoding,
    to_8bit,
)

INTERPOLATIONS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST,
                  "cubic": cv2.INTER_CUBIC}


class PreprocessSpecError(ValueError):
    """An invalid preprocessing setting; ``field`` names the PreprocessSpec field at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


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
    """cv2.INTER_AREA on the float32 image, faster than cv2 alone when shrinking.

    OpenCV's area resampling with non-integer ratios walks every source pixel in a slow generic
    path. Area averaging is separable, so the rows are averaged here
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
        source = lookup_encoding(encoding)
        rows, cols = image.shape[:2]
        top, bottom, left, right = self.crop
        cropped_size = (rows - top - bottom, cols - left - right)
        if image.ndim != 3 or image.shape[2] != source.channels or cropped_size != tuple(self.size):
            return None
        if image.dtype != np.uint8:
            return None
        cropped = image[top:rows - bottom, left:cols - right]
        return np.ascontiguousarray(convert_channels(cropped, source.layout, self.input_encoding))

    def _cropped_and_resized(self, image: np.ndarray, encoding: str) -> tuple[np.ndarray, str]:
        """The frame cropped and resized to ``size`` in its own channel order (8-bit, or float32
        after an area resize), and that order's layout name."""
        if image.ndim == 2:
            image = image[:, :, np.newaxis]
        source = lookup_encoding(encoding)
        if image.ndim != 3 or image.shape[2] != source.channels:
            raise ValueError(f"a decoded {encoding} image has {source.channels} channel(s); got an array of shape "
                             f"{image.shape}")
        rows, cols = image.shape[:2]
        top, bottom, left, right = self.crop
        if top + bottom >= rows or left + right >= cols:
            raise ImageDecodeError(f"crop (top, bottom, left, right) = {self.crop} leaves nothing of a {cols}x{rows} "
                                   "frame; reduce the crop or send larger frames", "crop_too_large")
        cropped = to_8bit(image[top:rows - bottom, left:cols - right])
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
        return np.ascontiguousarray(convert_channels(resized, layout, self.input_encoding))

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
        pixels = convert_channels(resized, layout, self.input_encoding)
        gain, offset = self._affine_rows
        out = np.empty((height, width * self.channels), np.float32)
        np.multiply(pixels.reshape(height, width * self.channels), gain, out=out)
        np.subtract(out, offset, out=out)
        return out.reshape(height, width, self.channels)
