"""Camera images <-> numpy arrays, and the preprocessing a network expects. No ROS needed.

``decoding`` turns the plain fields of ``sensor_msgs/Image`` and ``CompressedImage`` into arrays
(and float32 arrays back into Image fields), ``encodings`` knows what each ROS encoding holds, and
``preprocess`` makes the network's input. (PyPI's cv_bridge is a ROS 1 port that breaks on
numpy >= 2.3 and OpenCV 5; a numpy view of the message's bytes is also far cheaper.)

    image = decode_image(msg.encoding, msg.height, msg.width, msg.step, msg.data, msg.is_bigendian)
    spec = PreprocessSpec.from_card(card)              # the model card's "preprocessing" section
    x = spec.apply(image, msg.encoding)                 # float32 (66, 200, 3), C-contiguous
    out = Image(header=msg.header, **float_image_fields(x))
"""

from liquid_control.data.images.decoding import (
                                                 MAX_COMPRESSED_PIXELS,
                                                 decode_compressed,
                                                 decode_float_image,
                                                 decode_image,
                                                 float_image_fields,
)
from liquid_control.data.images.encodings import NETWORK_ENCODINGS, SUPPORTED_ENCODINGS, ImageDecodeError, to_rgb
from liquid_control.data.images.preprocess import INTERPOLATIONS, PreprocessSpec, PreprocessSpecError

__all__ = [
    "INTERPOLATIONS", "MAX_COMPRESSED_PIXELS", "NETWORK_ENCODINGS", "SUPPORTED_ENCODINGS", "ImageDecodeError",
    "PreprocessSpec", "PreprocessSpecError", "decode_compressed", "decode_float_image", "decode_image",
    "float_image_fields", "to_rgb",
]
