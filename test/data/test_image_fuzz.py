"""Fuzzing perception's decoding and preprocessing (hypothesis): random and mutated sensor_msgs/Image
fields (every encoding, sizes, steps, endianness, truncated or padded data) and CompressedImage data
(real JPEG/PNG bytes mutated, truncated, garbage) through decode_image / decode_compressed and
PreprocessSpec.apply, exactly as perception_node calls them. The only exception allowed out is our
own ImageDecodeError (a ValueError with a reason), and every frame is done within a time bound.
"""


import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import liquid_control.data.images.encodings as images
from liquid_control.data.images import ImageDecodeError, PreprocessSpec, decode_compressed, decode_image

ENCODINGS = sorted(images._ENCODINGS) + ["32FC1", "rgb16", "bayer_rggb8", "", "RGB8", "nonsense"]
SPECS = [PreprocessSpec(), PreprocessSpec(input_encoding="mono8", crop=(2, 2, 3, 3), size=(20, 30)),
         PreprocessSpec(input_encoding="bgr8", interpolation="linear", size=(66, 200))]

fuzz = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _through_perception(decode, encoding: str, spec: PreprocessSpec) -> None:
    """Any input either preprocesses to a finite frame of the spec's size or is refused with a reason.
    (How long it takes is a benchmark's question; pytest-timeout catches a hang.)"""
    try:
        out = spec.apply(decode(), encoding)
    except ImageDecodeError as error:
        assert str(error) and error.reason, "our errors say what is wrong"
        return
    assert out.dtype == np.float32 and out.shape[:2] == spec.size and np.isfinite(out).all()


@fuzz
@given(encoding=st.sampled_from(ENCODINGS), height=st.integers(-2, 70), width=st.integers(-2, 70),
       step_extra=st.integers(-8, 16), data_extra=st.integers(-64, 64), bigendian=st.booleans(),
       spec=st.sampled_from(SPECS), seed=st.integers(0, 2**16))
def test_raw_images_give_a_frame_or_our_error(encoding, height, width, step_extra, data_extra, bigendian, spec, seed):
    rng = np.random.default_rng(seed)
    bytes_per_pixel = images._ENCODINGS[encoding].bytes_per_pixel if encoding in images._ENCODINGS else 3
    step = max(width, 0) * bytes_per_pixel + step_extra
    size = max(step * height + data_extra, 0)
    data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    _through_perception(lambda: decode_image(encoding, height, width, step, data, bigendian), encoding, spec)


def _encoded(kind: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (rng.integers(1, 80), rng.integers(1, 80), 3), dtype=np.uint8)
    return cv2.imencode(kind, image)[1].tobytes()


@fuzz
@given(kind=st.sampled_from([".jpg", ".png"]), seed=st.integers(0, 2**16),
       mutation=st.sampled_from(["none", "truncate", "flip", "garbage", "prefix", "empty"]),
       where=st.floats(0.0, 1.0), spec=st.sampled_from(SPECS))
def test_compressed_images_give_a_frame_or_our_error(kind, seed, mutation, where, spec):
    data = bytearray(_encoded(kind, seed))
    cut = int(where * len(data))
    if mutation == "truncate":
        data = data[:cut]
    elif mutation == "flip":
        data[min(cut, len(data) - 1)] ^= 0xFF
    elif mutation == "garbage":
        data = bytearray(np.random.default_rng(seed).integers(0, 256, cut + 1, dtype=np.uint8).tobytes())
    elif mutation == "prefix":
        data = bytearray(b"\x00" * 7) + data
    elif mutation == "empty":
        data = bytearray()
    _through_perception(lambda: decode_compressed(kind[1:], bytes(data)), "rgb8", spec)


def test_a_4000x4000_frame_is_preprocessed_to_the_networks_input():
    """A camera far larger than the network's input is reduced, not refused: the area average of a
    uniform frame stays that grey everywhere (its time is benchmarks/', not a test's)."""
    big = np.full((4000, 4000, 3), 128, dtype=np.uint8)
    big[::2, ::2] = 0  # a fine pattern that an area reduction averages away and a sampling resize would not
    out = PreprocessSpec().apply(decode_image("rgb8", 4000, 4000, 12000, big.tobytes()), "rgb8")
    reference = PreprocessSpec().apply(decode_image("rgb8", 4000, 4000, 12000, np.full_like(big, 96).tobytes()), "rgb8")
    assert out.shape == (66, 200, 3) and np.allclose(out, reference, atol=0.02)


@pytest.mark.parametrize("kind", [".png", ".jpg"])
def test_a_compressed_frame_declaring_a_huge_size_is_refused_before_decoding(kind):
    """A decompression bomb: a few kilobytes of PNG/JPEG that claim a 20000x20000 image would take
    1.2 GB and seconds to decode. The header's size is read first and refused."""
    image = np.zeros((20000, 20000, 3) if kind == ".png" else (12000, 12000, 3), dtype=np.uint8)
    data = cv2.imencode(kind, image)[1].tobytes()
    del image
    with pytest.raises(ImageDecodeError, match="pixels, more than"):
        decode_compressed(kind[1:], data)
