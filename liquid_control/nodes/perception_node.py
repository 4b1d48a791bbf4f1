"""perception_node: camera frames in, the network's input image out.

subscribes  image_raw             sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8, mono8, mono16, 8UC1,
                                  8UC3, 16UC1, yuv422/uyvy, yuv422_yuy2/yuyv), sensor-data QoS
            image_raw/compressed  sensor_msgs/CompressedImage (JPEG or PNG) instead, when
                                  ``use_compressed`` is true
publishes   image_preprocessed    sensor_msgs/Image 32FC3 (32FC1 for mono8 networks): cropped,
                                  resized, reordered and normalised as the model card says; the
                                  input's header (stamp and frame_id) unchanged; sensor-data QoS
            /diagnostics          diagnostic_msgs/DiagnosticArray, 1 Hz, status
                                  ``<node name>: preprocessing``: frames in/out, drops by reason,
                                  the last error, preprocessing time

The preprocessing is ``liquid_control.data.images.PreprocessSpec``: by default that of the model
card in ``model_path``; any of its settings given as a parameter replaces the card's value.
Frames that cannot be used (unknown encoding, wrong step or size, undecodable JPEG, ...) are
dropped, counted and reported with a warning at most every 5 s per reason; the node carries on.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from liquid_control.data.images import (
    ImageDecodeError,
    PreprocessSpec,
    PreprocessSpecError,
    decode_compressed,
    decode_image,
    float_image_fields,
)
from liquid_control.nodes import qos
from liquid_control.nodes.dedicated_threads import ServingThread, serving_available
from liquid_control.nodes.settings import (
    ParameterError,
    Setting,
    declare_settings,
    run_node,
)
from liquid_control.nodes.throttle import LogThrottle

NODE_NAME = 'perception_node'
WARN_THROTTLE_S = 5.0
DIAGNOSTICS_PERIOD_S = 1.0
COMPRESSED_ENCODING = 'rgb8'  # what decode_compressed returns


SETTINGS = (
    Setting('model_path', '', description="Model folder (or its card.yaml) whose card's preprocessing "
            "section gives every setting below that is not set here; '' = no model (defaults: rgb8, no crop, "
            '66x200, area, scale 1/255, mean 0, std 1).'),
    Setting('dedicated_thread', True, description='Take and preprocess frames in a thread of their own, waiting on '
            "the image subscription alone, instead of on the node's executor (less Python per frame)."),
    Setting('use_compressed', False, description='Subscribe to image_raw/compressed (sensor_msgs/CompressedImage, '
            'JPEG or PNG) instead of image_raw (sensor_msgs/Image).'),
    Setting('input_encoding', None, type=Parameter.Type.STRING,
            description="Channel order the network expects. Unset or '' = the card's.",
            constraints='rgb8, bgr8 or mono8'),
    Setting('crop', None, type=Parameter.Type.INTEGER_ARRAY,
            description='Pixels removed from the raw frame before resizing, '
            "[top, bottom, left, right]. Unset or [] = the card's.", constraints='4 integers >= 0'),
    Setting('size', None, type=Parameter.Type.INTEGER_ARRAY,
            description="Network input [height, width] after resizing. Unset or [] = "
            "the card's.", constraints='2 integers >= 1'),
    Setting('interpolation', None, type=Parameter.Type.STRING, description="Resizing method. Unset or '' = the card's.",
            constraints='area, linear, nearest or cubic'),
    Setting('scale', None, type=Parameter.Type.DOUBLE,
            description="Pixel factor: output = (pixel * scale - mean) / std per channel. "
            "Unset = the card's.", constraints='> 0', low=0.0, high=1000.0),
    Setting('mean', None, type=Parameter.Type.DOUBLE_ARRAY,
            description="Per-channel mean subtracted after scaling. Unset or [] = the "
            "card's.", constraints='one value per network channel, or one for all'),
    Setting('std', None, type=Parameter.Type.DOUBLE_ARRAY,
            description="Per-channel divisor applied last. Unset or [] = the card's.",
            constraints='one value > 0 per network channel, or one for all'),
)
OVERRIDES = PreprocessSpec.field_names()


def _given(value: Any) -> bool:
    """An override is given unless unset, '' or an empty array."""
    return value is not None and not (hasattr(value, '__len__') and len(value) == 0)


def preprocess_spec(values: dict[str, Any]) -> tuple[PreprocessSpec, str]:
    """The spec the parameters ask for, and a few words on where it came from."""
    model_path = values['model_path']
    if model_path:
        if not Path(model_path).exists():  # said before importing torch, which takes seconds
            raise ParameterError(f"parameter 'model_path' rejected: {model_path} does not exist")
        # Imported here: liquid_control.nets loads torch, which reading a card does not need.
        from liquid_control.nets import ModelFileError, read_card
        try:
            card = read_card(model_path)
        except (ModelFileError, OSError) as error:
            raise ParameterError(f"parameter 'model_path' rejected: {error}") from None
        try:
            spec = PreprocessSpec.from_card(card)
        except PreprocessSpecError as error:
            raise ParameterError(f"parameter 'model_path': the preprocessing in the card of {model_path} is "
                                 f'invalid: {error}') from None
        source = f'the card of {model_path}'
    else:
        spec, source = PreprocessSpec(), 'the defaults'
    overrides = {name: values[name] for name in OVERRIDES if _given(values[name])}
    try:
        spec = spec.with_overrides(**overrides)
    except PreprocessSpecError as error:
        if error.field in overrides:
            raise ParameterError(f"parameter '{error.field}' rejected: {error}") from None
        names = ', '.join(f"'{name}'" for name in overrides)
        fit = f'parameters {names} do not fit' if len(overrides) > 1 else f'parameter {names} does not fit'
        raise ParameterError(f'{fit} {source}: {error}') from None
    if overrides:
        source += f" with {', '.join(overrides)} from parameters"
    return spec, source


class FrameStatistics:
    """Counters behind /diagnostics: since start, and since the last report."""

    def __init__(self):
        self.frames_in = self.frames_out = 0
        self.dropped = Counter()
        self.last_error = ''
        self.seconds = 0.0  # preprocessing time of the frames published
        self.period_in = self.period_out = self.period_dropped = 0
        self.period_seconds = self.period_max = 0.0

    def received(self) -> None:
        self.frames_in += 1
        self.period_in += 1

    def published(self, seconds: float) -> None:
        self.frames_out += 1
        self.period_out += 1
        self.seconds += seconds
        self.period_seconds += seconds
        self.period_max = max(self.period_max, seconds)

    def drop(self, reason: str, error: str) -> None:
        self.dropped[reason] += 1
        self.period_dropped += 1
        self.last_error = error

    def start_period(self) -> None:
        self.period_in = self.period_out = self.period_dropped = 0
        self.period_seconds = self.period_max = 0.0


class PerceptionNode(Node):
    """image_raw -> PreprocessSpec -> image_preprocessed; callbacks only call into liquid_control.data."""

    def __init__(self, **node_options):
        super().__init__(NODE_NAME, **node_options)
        self._frames_thread = None  # set first: a node that refuses its parameters is destroyed too
        values = declare_settings(self, SETTINGS)
        self._spec, source = preprocess_spec(values)
        self._stats = FrameStatistics()
        self._warnings = LogThrottle(WARN_THROTTLE_S)
        self._stats_lock = threading.Lock()  # frames thread counts, the diagnostics timer reads and resets
        group = None
        missing = serving_available() if values['dedicated_thread'] else ''
        if missing:
            self.get_logger().warning(f'dedicated_thread: this rclpy lacks {missing}; frames are served by the '
                                      'executor instead')
        if values['dedicated_thread'] and not missing:
            self._frames_thread = ServingThread(self, 'frames', lambda text: self.get_logger().error(text))
            group = self._frames_thread.group

        self._publisher = qos.publisher(self, Image, 'image_preprocessed', qos.SENSOR_PUBLISHER)
        if values['use_compressed']:
            self._subscription = qos.subscription(self, CompressedImage, 'image_raw/compressed', self._on_compressed,
                                                  qos.SENSOR_SUBSCRIPTION, callback_group=group)
        else:
            self._subscription = qos.subscription(self, Image, 'image_raw', self._on_image, qos.SENSOR_SUBSCRIPTION,
                                                  callback_group=group)
        if self._frames_thread is not None:
            self._frames_thread.start(subscriptions=[self._subscription])
        self._diagnostics = qos.publisher(self, DiagnosticArray, '/diagnostics', qos.RELIABLE)
        # A steady-clock timer: with use_sim_time and no /clock a ROS-time timer would never fire.
        self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics,
                          clock=Clock(clock_type=ClockType.STEADY_TIME))

        spec = self._spec
        self.get_logger().info(
            f'{self._subscription.topic_name} -> {self._publisher.topic_name} ({spec.output_encoding}), '
            f'preprocessing from {source}: {spec.input_encoding}, crop {list(spec.crop)} (top, bottom, left, right), '
            f'size {spec.size[0]}x{spec.size[1]} (height x width), {spec.interpolation}, scale {spec.scale:g}, '
            f'mean {list(spec.mean)}, std {list(spec.std)}')

    def destroy_node(self) -> None:
        if self._frames_thread is not None:
            self._frames_thread.destroy()  # before the subscription it serves
            self._frames_thread = None
        super().destroy_node()

    def account(self) -> str:
        """A one-line summary of the run, for the caller to log at exit."""
        stats = self._stats
        return (f'{stats.frames_in} frames in, {stats.frames_out} published, '
                f'{sum(stats.dropped.values())} dropped{self._reasons_text(" ")}')

    # ----------------------------------------------------------------- callbacks
    def _on_image(self, message: Image) -> None:
        self._process(message, message.encoding, lambda: decode_image(
            message.encoding, message.height, message.width, message.step, message.data, message.is_bigendian))

    def _on_compressed(self, message: CompressedImage) -> None:
        self._process(message, COMPRESSED_ENCODING, lambda: decode_compressed(message.format, message.data))

    def _process(self, message: Image | CompressedImage, encoding: str, decode) -> None:
        """Decode, preprocess and publish one frame, or drop it (timed: decoding and preprocessing)."""
        with self._stats_lock:
            self._stats.received()
        start = time.perf_counter()
        try:
            fields = float_image_fields(self._spec.apply(decode(), encoding))
        except ImageDecodeError as error:
            self._drop(error.reason, str(error))
            return
        except cv2.error as error:  # OpenCV refusing an odd frame is a bad frame, not a reason to stop
            self._drop('opencv_error', ' '.join(str(error).split()))
            return
        seconds = time.perf_counter() - start
        self._publisher.publish(Image(header=message.header, **fields))  # first: the frame waits for nothing
        with self._stats_lock:
            self._stats.published(seconds)

    def _drop(self, reason: str, error: str) -> None:
        with self._stats_lock:
            self._stats.drop(reason, error)
        if self._warnings.allows(reason):  # per reason: one recurring problem cannot hide another
            self.get_logger().warning(
                f'dropped a frame from {self._subscription.topic_name}: {error} [{reason}: '
                f'{self._stats.dropped[reason]} dropped so far; this warning repeats at most every '
                f'{WARN_THROTTLE_S:g} s]')

    # ----------------------------------------------------------------- diagnostics
    def _reasons_text(self, prefix: str = '') -> str:
        reasons = ', '.join(f'{reason}: {count}' for reason, count in sorted(self._stats.dropped.items()))
        return f'{prefix}({reasons})' if reasons else ''

    def _publish_diagnostics(self) -> None:
        with self._stats_lock:
            self._publish_diagnostics_locked()

    def _publish_diagnostics_locked(self) -> None:
        stats, topic = self._stats, self._subscription.topic_name
        period = f'the last {DIAGNOSTICS_PERIOD_S:g} s'
        if stats.period_dropped:
            level = DiagnosticStatus.WARN
            message = f'{stats.period_dropped} of {stats.period_in} frames dropped in {period}: {stats.last_error}'
        elif not stats.period_in:
            level, message = DiagnosticStatus.WARN, f'no frames on {topic} in {period}'
        else:
            level, message = DiagnosticStatus.OK, f'{stats.period_out} frames preprocessed in {period}'
        values = {
            'input_topic': topic,
            'output_encoding': self._spec.output_encoding,
            'frames_in': stats.frames_in,
            'frames_out': stats.frames_out,
            'frames_dropped': sum(stats.dropped.values()),
            **{f'dropped_{reason}': count for reason, count in sorted(stats.dropped.items())},
            'last_error': stats.last_error,
            'frames_in_last_period': stats.period_in,
            'mean_preprocess_ms': f'{1e3 * stats.seconds / stats.frames_out:.3f}' if stats.frames_out else '',
            'mean_preprocess_ms_last_period':
                f'{1e3 * stats.period_seconds / stats.period_out:.3f}' if stats.period_out else '',
            'max_preprocess_ms_last_period': f'{1e3 * stats.period_max:.3f}' if stats.period_out else '',
        }
        array = DiagnosticArray(status=[DiagnosticStatus(
            level=level, name=f'{self.get_name()}: preprocessing', message=message, hardware_id=topic,
            values=[KeyValue(key=key, value=str(value)) for key, value in values.items()])])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)
        stats.start_period()


def main(args=None) -> int:
    """Run the node until Ctrl-C; exit code 0, or 2 when a parameter is invalid."""
    return run_node(PerceptionNode, NODE_NAME, finish=PerceptionNode.account, args=args)


if __name__ == '__main__':
    sys.exit(main())
