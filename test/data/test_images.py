"""liquid_control.data.images: raw bytes built by hand from known pixels, decoded and preprocessed."""
import cv2
import numpy as np
import pytest

from liquid_control.data.images import (
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

HEIGHT, WIDTH = 5, 6
RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
GRAY = RNG.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
GRAY16 = RNG.integers(0, 65536, (HEIGHT, WIDTH), dtype=np.uint16)
ALPHA = RNG.integers(0, 256, (HEIGHT, WIDTH, 1), dtype=np.uint8)


def raw(pixels: np.ndarray, padding: int = 0) -> tuple[int, bytes]:
    """(step, data) of an image whose rows are ``pixels`` (any dtype, already in byte order) plus padding."""
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.full((rows.shape[0], padding), 0xAB, np.uint8)], axis=1)
    return padded.shape[1], padded.tobytes()


def decode(encoding: str, pixels: np.ndarray, padding: int = 0, width: int | None = None, **kwargs) -> np.ndarray:
    step, data = raw(pixels, padding)
    return decode_image(encoding, pixels.shape[0], width or pixels.shape[1], step, data, **kwargs)


# encoding -> (bytes as the camera sends them, the decoded array, its RGB)
EIGHT_BIT = {
    'rgb8': (RGB, RGB, RGB),
    'bgr8': (RGB[..., ::-1], RGB[..., ::-1], RGB),
    '8UC3': (RGB[..., ::-1], RGB[..., ::-1], RGB),  # OpenCV's (and cv_bridge's) BGR order
    'rgba8': (np.concatenate([RGB, ALPHA], 2), np.concatenate([RGB, ALPHA], 2), RGB),
    'bgra8': (np.concatenate([RGB[..., ::-1], ALPHA], 2), np.concatenate([RGB[..., ::-1], ALPHA], 2), RGB),
    'mono8': (GRAY, GRAY[..., None], np.repeat(GRAY[..., None], 3, 2)),
    '8UC1': (GRAY, GRAY[..., None], np.repeat(GRAY[..., None], 3, 2)),
}


@pytest.mark.parametrize('encoding', EIGHT_BIT)
@pytest.mark.parametrize('padding', [0, 5])
def test_eight_bit_encodings_decode_to_a_view_of_the_data(encoding, padding):
    sent, decoded_expected, rgb_expected = EIGHT_BIT[encoding]
    step, data = raw(np.ascontiguousarray(sent), padding)
    decoded = decode_image(encoding, HEIGHT, WIDTH, step, data)
    assert decoded.dtype == np.uint8 and decoded.shape == decoded_expected.shape
    np.testing.assert_array_equal(decoded, decoded_expected)
    assert np.shares_memory(decoded, np.frombuffer(data, np.uint8)), 'decoding copied the pixels'
    np.testing.assert_array_equal(to_rgb(decoded, encoding), rgb_expected)


@pytest.mark.parametrize('encoding', ['mono16', '16UC1'])
@pytest.mark.parametrize('big_endian', [False, True])
def test_sixteen_bit_encodings_honour_the_byte_order(encoding, big_endian):
    sent = GRAY16.astype('>u2' if big_endian else '<u2')
    decoded = decode(encoding, sent, padding=4, is_bigendian=big_endian)
    assert decoded.dtype == np.uint16 and decoded.shape == (HEIGHT, WIDTH, 1)
    np.testing.assert_array_equal(decoded[..., 0], GRAY16)
    np.testing.assert_array_equal(to_rgb(decoded, encoding), np.repeat((GRAY16 >> 8).astype(np.uint8)[..., None], 3, 2))


def test_sixteen_bit_with_an_odd_step_is_still_decoded():
    np.testing.assert_array_equal(decode('mono16', GRAY16.astype('<u2'), padding=3)[..., 0], GRAY16)


def yuv422(rgb: np.ndarray, order: str) -> np.ndarray:
    """Pack RGB as 4:2:2 (BT.601, video range, as OpenCV decodes it), chroma from each pixel pair's mean."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    u = (u[:, 0::2] + u[:, 1::2]) / 2
    v = (v[:, 0::2] + v[:, 1::2]) / 2
    packed = np.empty((rgb.shape[0], rgb.shape[1] // 2, 4))
    if order == 'uyvy':
        packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = u, y[:, 0::2], v, y[:, 1::2]
    else:
        packed[..., 0], packed[..., 1], packed[..., 2], packed[..., 3] = y[:, 0::2], u, y[:, 1::2], v
    return np.clip(np.round(packed), 0, 255).astype(np.uint8).reshape(rgb.shape[0], -1)


@pytest.mark.parametrize('encoding, order', [('yuv422', 'uyvy'), ('uyvy', 'uyvy'), ('yuv422_yuy2', 'yuyv'),
                                             ('yuyv', 'yuyv')])
def test_yuv422_round_trip(encoding, order):
    # Pixel pairs share their chroma, so pairs of equal pixels survive 4:2:2 up to rounding; keep
    # colours inside the video range's gamut.
    rgb = np.repeat(RNG.integers(40, 216, (HEIGHT, WIDTH // 2, 3), dtype=np.uint8), 2, axis=1)
    decoded = decode(encoding, yuv422(rgb, order), padding=2, width=WIDTH)
    assert decoded.shape == (HEIGHT, WIDTH, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - rgb).max() <= 3
    np.testing.assert_array_equal(to_rgb(decoded, encoding), decoded)


def test_supported_encodings_are_all_tested():
    tested = set(EIGHT_BIT) | {'mono16', '16UC1', 'yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv'}
    assert tested == set(SUPPORTED_ENCODINGS)


@pytest.mark.parametrize('arguments, reason, words', [
    (('rgb16', 5, 6, 36, bytes(180)), 'unknown_encoding', ["unknown image encoding 'rgb16'", 'rgb8, bgr8', 'yuyv']),
    (('rgb8', 0, 6, 18, b''), 'empty_image', ['6x0', 'must be positive']),
    (('rgb8', 5, 0, 18, bytes(90)), 'empty_image', ['0x5', 'must be positive']),
    (('rgb8', 5, 6, 12, bytes(90)), 'step_too_small', ['step 12 is smaller', '18 bytes', 'width * 3']),
    (('mono16', 5, 6, 6, bytes(60)), 'step_too_small', ['step 6', '12 bytes', 'width * 2']),
    (('rgb8', 5, 6, 18, bytes(89)), 'data_too_short', ['89 bytes', 'expected step * height = 18 * 5 = 90']),
    (('rgb8', 5, 6, 18, b''), 'data_too_short', ['0 bytes', '= 90']),
    (('yuv422', 4, 5, 10, bytes(40)), 'odd_width', ['width must be even', 'got width 5']),
])
def test_decode_errors_name_the_problem(arguments, reason, words):
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(*arguments)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize('extension, tolerance', [('.png', 0), ('.jpg', 4)])
def test_compressed_images_decode_to_rgb(extension, tolerance):
    # A smooth picture, so JPEG stays close to it.
    rows, cols = np.mgrid[0:48, 0:64]
    rgb = np.stack([rows * 5, cols * 4, 255 - rows * 2 - cols], axis=2).astype(np.uint8)
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    decoded = decode_compressed('rgb8; ' + extension[1:] + ' compressed bgr8', encoded.tobytes())
    assert decoded.shape == rgb.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - rgb).mean() <= tolerance


@pytest.mark.parametrize('format_, data, reason, words', [
    ('jpeg', b'not a jpeg at all', 'undecodable', ['cannot decode the 17 bytes', "format 'jpeg'", 'JPEG or PNG']),
    ('png', b'', 'empty_image', ['holds no data']),
    ('16UC1; compressedDepth png', b'\x00' * 20, 'undecodable', ['compressedDepth', 'not supported']),
])
def test_compressed_errors_name_the_problem(format_, data, reason, words):
    with pytest.raises(ImageDecodeError) as caught:
        decode_compressed(format_, data)
    assert caught.value.reason == reason
    for word in words:
        assert word in str(caught.value)


# ---------------------------------------------------------------------------- PreprocessSpec
def crafted_frame() -> np.ndarray:
    """8x12 RGB, every pixel different, so a wrong crop or block average shows."""
    return (np.arange(8 * 12 * 3).reshape(8, 12, 3) % 251).astype(np.uint8)


def block_means(image: np.ndarray, block: int) -> np.ndarray:
    rows, cols, channels = image.shape
    return image.reshape(rows // block, block, cols // block, block, channels).astype(np.float64).mean(axis=(1, 3))


def test_crop_resize_and_normalise_give_exact_numbers():
    spec = PreprocessSpec(crop=(2, 2, 0, 4), size=(2, 4), scale=0.5, mean=(1.0, 2.0, 3.0), std=(2.0, 4.0, 8.0))
    frame = crafted_frame()
    out = spec.apply(frame, 'rgb8')
    assert out.dtype == np.float32 and out.shape == (2, 4, 3) and out.flags.c_contiguous
    expected = (block_means(frame[2:6, 0:8], 2) * 0.5 - [1.0, 2.0, 3.0]) / [2.0, 4.0, 8.0]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)


def test_network_encodings_reorder_and_reduce_channels():
    frame = crafted_frame()
    means = block_means(frame, 2) / 255
    bgr = PreprocessSpec(input_encoding='bgr8', size=(4, 6)).apply(frame, 'rgb8')
    np.testing.assert_allclose(bgr, means[..., ::-1], atol=1e-6)
    mono = PreprocessSpec(input_encoding='mono8', size=(4, 6)).apply(frame, 'rgb8')
    assert mono.shape == (4, 6, 1)
    np.testing.assert_allclose(mono[..., 0], means @ [0.299, 0.587, 0.114], atol=1e-5)
    # The frame's own encoding is undone first: a BGR frame gives the same network input.
    np.testing.assert_allclose(PreprocessSpec(size=(4, 6)).apply(np.ascontiguousarray(frame[..., ::-1]), 'bgr8'),
                               means, atol=1e-6)


def test_area_averages_the_covered_part_of_each_pixel():
    column = np.array([10, 40, 100], np.uint8).reshape(3, 1, 1)  # 3 rows -> 2: the middle row is split in half
    out = PreprocessSpec(input_encoding='mono8', size=(2, 1), scale=1.0).apply(column, 'mono8')
    np.testing.assert_allclose(out[:, 0, 0], [(10 + 20) / 1.5, (20 + 100) / 1.5], atol=1e-4)


@pytest.mark.parametrize('crop', [(0, 0, 0, 0), (100, 20, 10, 30)])
def test_area_equals_opencv_area_on_the_float_image(crop):
    frame = RNG.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    top, bottom, left, right = crop
    expected = cv2.resize(frame[top:480 - bottom, left:640 - right].astype(np.float32), (200, 66),
                          interpolation=cv2.INTER_AREA) / 255
    np.testing.assert_allclose(PreprocessSpec(crop=crop).apply(frame, 'rgb8'), expected, atol=1e-6)
    # Enlarging goes through OpenCV itself.
    small = frame[:30, :40]
    np.testing.assert_allclose(PreprocessSpec(size=(60, 100)).apply(small, 'rgb8'),
                               cv2.resize(small.astype(np.float32), (100, 60), interpolation=cv2.INTER_AREA) / 255,
                               atol=1e-6)


@pytest.mark.parametrize('interpolation, flag', [('linear', cv2.INTER_LINEAR), ('nearest', cv2.INTER_NEAREST),
                                                 ('cubic', cv2.INTER_CUBIC)])
def test_other_interpolations_are_opencvs(interpolation, flag):
    frame = RNG.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    out = PreprocessSpec(size=(33, 100), interpolation=interpolation).apply(frame, 'rgb8')
    np.testing.assert_allclose(out, cv2.resize(frame, (100, 33), interpolation=flag) / 255, atol=1e-6)


def test_sixteen_bit_frames_are_shifted_to_eight_bits_first():
    frame = decode('mono16', GRAY16.astype('<u2'))
    out = PreprocessSpec(size=(HEIGHT, WIDTH), scale=1.0).apply(frame, 'mono16')
    np.testing.assert_array_equal(out, np.repeat((GRAY16 >> 8)[..., None], 3, 2).astype(np.float32))


def test_padded_frames_and_yuv_frames_go_through_apply():
    frame = RNG.integers(0, 256, (66, 200, 3), dtype=np.uint8)
    decoded = decode('rgb8', frame, padding=7)
    np.testing.assert_allclose(PreprocessSpec().apply(decoded, 'rgb8'), frame / 255, atol=1e-6)
    rgb = np.repeat(RNG.integers(40, 216, (66, 100, 3), dtype=np.uint8), 2, axis=1)
    out = PreprocessSpec(scale=1.0).apply(decode('yuv422', yuv422(rgb, 'uyvy'), width=200), 'yuv422')
    assert np.abs(out - rgb).max() <= 3


def test_a_crop_that_leaves_nothing_is_a_decode_error():
    with pytest.raises(ImageDecodeError) as caught:
        PreprocessSpec(crop=(4, 4, 0, 0)).apply(crafted_frame(), 'rgb8')
    assert caught.value.reason == 'crop_too_large' and 'leaves nothing of a 12x8 frame' in str(caught.value)


def test_defaults_channels_and_output_encoding():
    spec = PreprocessSpec()
    assert (spec.input_encoding, spec.crop, spec.size, spec.interpolation) == ('rgb8', (0, 0, 0, 0), (66, 200), 'area')
    assert spec.scale == 1 / 255 and spec.mean == (0.0, 0.0, 0.0) and spec.std == (1.0, 1.0, 1.0)
    assert (spec.channels, spec.output_encoding) == (3, '32FC3')
    mono = spec.with_overrides(input_encoding='mono8')  # the default mean/std are the same for every channel
    assert (mono.channels, mono.output_encoding) == (1, '32FC1')


def test_from_card_from_dict_to_dict_and_overrides():
    assert PreprocessSpec.from_card({'preprocessing': None}) == PreprocessSpec()
    assert PreprocessSpec.from_card({'name': 'no preprocessing section'}) == PreprocessSpec()
    card = {'preprocessing': {'input_encoding': 'bgr8', 'crop': [10, 0, 2, 2], 'size': [33, 100],
                              'mean': [0.5, 0.5, 0.5], 'std': [0.25]}}
    spec = PreprocessSpec.from_card(card)
    assert spec.crop == (10, 0, 2, 2) and spec.size == (33, 100) and spec.std == (0.25,)
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict()['crop'] == [10, 0, 2, 2]  # plain lists, for YAML
    changed = spec.with_overrides(size=[66, 200], interpolation='nearest', crop=None)
    assert changed.size == (66, 200) and changed.interpolation == 'nearest' and changed.crop == spec.crop
    assert spec.size == (33, 100), 'with_overrides must not change the original'


@pytest.mark.parametrize('settings, field, words', [
    ({'input_encoding': 'rgba8'}, 'input_encoding', ['rgb8, bgr8, mono8', "'rgba8'"]),
    ({'crop': [1, 2, 3]}, 'crop', ['4 integers >= 0', 'top, bottom, left, right']),
    ({'crop': [0, -1, 0, 0]}, 'crop', ['4 integers >= 0']),
    ({'crop': [0.5, 0, 0, 0]}, 'crop', ['integers']),
    ({'size': [0, 200]}, 'size', ['2 integers >= 1', 'height, width']),
    ({'interpolation': 'bilinear'}, 'interpolation', ['area, linear, nearest, cubic']),
    ({'scale': 0.0}, 'scale', ['> 0']),
    ({'scale': float('nan')}, 'scale', ['finite']),
    ({'std': [1.0, 0.0, 1.0]}, 'std', ['> 0']),
    ({'mean': [0.1, 0.2]}, 'mean', ['2 values', '3 channels']),
    ({'input_encoding': 'mono8', 'mean': [0.1, 0.2, 0.3]}, 'mean', ['3 values', 'mono8 has 1 channel']),
    ({'mean': ['0.5']}, 'mean', ['finite numbers']),
    ({'colour': 'rgb8', 'zoom': 2}, 'colour', ["'colour', 'zoom'", 'valid: input_encoding, crop, size']),
])
def test_invalid_settings_are_named(settings, field, words):
    with pytest.raises(PreprocessSpecError) as caught:
        PreprocessSpec.from_dict(settings)
    assert caught.value.field == field and isinstance(caught.value, ValueError)
    for word in words:
        assert word in str(caught.value)
    with pytest.raises(ValueError):
        PreprocessSpec.from_card({'preprocessing': settings})


def test_a_card_whose_preprocessing_is_not_a_mapping_is_refused():
    with pytest.raises(PreprocessSpecError, match='must be a mapping'):
        PreprocessSpec.from_card({'preprocessing': [66, 200]})


# ---------------------------------------------------------------------------- float images
@pytest.mark.parametrize('shape, encoding', [((5, 7, 3), '32FC3'), ((5, 7), '32FC1'), ((5, 7, 1), '32FC1')])
def test_float_image_fields_round_trip(shape, encoding):
    array = RNG.standard_normal(shape).astype(np.float32)
    fields = float_image_fields(array)
    channels = 1 if len(shape) == 2 else shape[2]
    assert fields['encoding'] == encoding and (fields['height'], fields['width']) == shape[:2]
    assert fields['step'] == 7 * channels * 4 and fields['is_bigendian'] == 0
    assert len(fields['data']) == fields['step'] * fields['height']
    decoded = decode_float_image(**fields)
    np.testing.assert_array_equal(decoded, array.reshape(5, 7, channels))
    assert np.shares_memory(decoded, np.frombuffer(fields['data'], np.uint8)), 'decoding copied the floats'


def test_float_images_big_endian_padded_and_errors():
    array = RNG.standard_normal((4, 3, 3)).astype(np.float32)
    step, data = raw(array.astype('>f4'), padding=8)
    np.testing.assert_array_equal(decode_float_image('32FC3', 4, 3, step, data, is_bigendian=True), array)
    with pytest.raises(ImageDecodeError, match="expected a float image .* got encoding 'rgb8'"):
        decode_float_image('rgb8', 4, 3, 36, bytes(144))
    with pytest.raises(ImageDecodeError, match='expected step \\* height = 36 \\* 4 = 144'):
        decode_float_image('32FC3', 4, 3, 36, bytes(100))
    with pytest.raises(ValueError, match='1 to 4 channels'):
        float_image_fields(np.zeros((2, 2, 5), np.float32))


def test_apply_refuses_an_array_that_does_not_match_its_encoding():
    with pytest.raises(ValueError, match='a decoded rgb8 image has 3 channel'):
        PreprocessSpec().apply(GRAY, 'rgb8')
