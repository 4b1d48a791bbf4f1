"""perception_node as a ROS user meets it: real node processes, fed and read over DDS.

As in test_lane_sim_node.py, nodes run as child processes started like `ros2 run` would, and the
probe is an rclpy node inside the test process with its own Context (no signal handlers).
Frames go out with sensor-data QoS (best effort), as cameras send them, so a frame can be lost:
before the node's subscription matched, and also afterwards (measured here with Fast DDS's
default transports on a loaded 2-core machine: a third to a half of 640x480 rgb8 frames never
arrive, while 320x240 ones all do). The probe therefore resends a frame until the node's answer
(or, for a bad frame, its warning) shows up; most tests use 320x240 frames. Nothing sleeps a
fixed time.

Three nodes (raw frames with config/perception.yaml in the root namespace; compressed frames in
/compressed; a model card with an override in /card) start together when the module does, so
their start-ups overlap (the card's node imports torch, which takes seconds); namespaces keep
their topics apart.
"""
import itertools
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image

from liquid_control.data.images import PreprocessSpec, decode_compressed, decode_float_image

from . import harness

pytestmark = pytest.mark.ros

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / 'config' / 'perception.yaml'
NODE = [sys.executable, '-m', 'liquid_control.nodes.perception_node']
STARTUP_S = 45.0  # the model-card node imports torch: seconds on a loaded 2-core machine
WAIT_S = 20.0  # generous: while another node imports torch, frames can be lost for seconds on end
RESEND_S = 0.25
STATUS_NAME = 'perception_node: preprocessing'
RNG = np.random.default_rng(3)
FRAME = RNG.integers(0, 256, (480, 640, 3), dtype=np.uint8)  # rgb8, as a camera sends it
SMALL = np.ascontiguousarray(FRAME[:240, :320])
# A smooth scene with a little noise, so JPEG and PNG stay small (noise does not compress).
_rows, _cols = np.mgrid[0:480, 0:640]
SCENE = np.clip(np.stack([_rows / 2, _cols / 3, 255 - _rows / 4 - _cols / 5], axis=2)
                + RNG.normal(0, 2, (480, 640, 3)), 0, 255).astype(np.uint8)


def image_message(pixels: np.ndarray, encoding: str, **fields) -> Image:
    height, width = pixels.shape[:2]
    message = Image(height=height, width=width, encoding=encoding, step=pixels[0].nbytes, data=pixels.tobytes())
    for name, value in fields.items():
        setattr(message, name, value)
    message.header.frame_id = 'test_camera'
    return message


def decoded(image: Image) -> np.ndarray:
    return decode_float_image(image.encoding, image.height, image.width, image.step, image.data, image.is_bigendian)


def NodeProcess(log_path: Path, *parameters: str, namespace: str = '') -> harness.NodeProcess:
    """perception_node with the package's params file; the whole environment (nodes are per module,
    conftest's ros_env fixture per test)."""
    return harness.NodeProcess('liquid_control.nodes.perception_node', dict(os.environ), log_path, PARAMS_FILE,
                               parameters, namespace)


class Probe(harness.Probe):
    """Sends camera frames, records image_preprocessed and /diagnostics."""

    def __init__(self, node_process: harness.NodeProcess, input_topic: str):
        super().__init__(node_process, 'perception_probe')
        self.input_topic = input_topic  # the node's, as its diagnostics name it
        self.outputs = {}  # stamp (ns) -> Image
        self.statuses = []
        self.stamps = itertools.count(1)
        node = self.node
        node.create_subscription(Image, 'image_preprocessed', self._on_output, qos_profile_sensor_data)
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self.raw = node.create_publisher(Image, 'image_raw', qos_profile_sensor_data)
        self.compressed = node.create_publisher(CompressedImage, 'image_raw/compressed', qos_profile_sensor_data)

    def _on_output(self, image: Image) -> None:
        self.outputs[image.header.stamp.sec * 10**9 + image.header.stamp.nanosec] = image

    def _on_diagnostics(self, array: DiagnosticArray) -> None:
        for status in array.status:
            if status.name == STATUS_NAME and status.hardware_id == self.input_topic:
                self.statuses.append({kv.key: kv.value for kv in status.values} | {'': status})

    def _stamped(self, message):
        stamp = next(self.stamps)
        message.header.stamp = Time(sec=stamp, nanosec=123)
        return message, stamp * 10**9 + 123

    def _publisher(self, message):
        return self.compressed if isinstance(message, CompressedImage) else self.raw

    def exchange(self, message, timeout: float = WAIT_S) -> Image:
        """Send a frame (resending while unanswered) and return the node's image_preprocessed for it."""
        message, stamp = self._stamped(message)
        publisher = self._publisher(message)
        self.spin_until(lambda: stamp in self.outputs, f'image_preprocessed for the frame stamped {stamp} ns',
                        timeout, resend=lambda: publisher.publish(message), resend_every=RESEND_S)
        return self.outputs[stamp]

    def send_bad(self, message, warning: str) -> int:
        """Send a frame the node must drop (resending until its warning appears); returns its stamp."""
        message, stamp = self._stamped(message)
        publisher = self._publisher(message)
        self.spin_until(lambda: warning in self.node_process.output(), f'{warning!r} in the node output',
                        resend=lambda: publisher.publish(message), resend_every=RESEND_S)
        return stamp


CARD_PREPROCESSING = {'input_encoding': 'mono8', 'crop': [100, 20, 0, 0], 'size': [66, 200],
                      'interpolation': 'linear', 'mean': [0.5], 'std': [0.25]}


@pytest.fixture(scope='module')
def nodes(tmp_path_factory):
    """The three nodes, started at once; each is stopped at the end unless a test stopped it first."""
    logs = tmp_path_factory.mktemp('perception_nodes')
    started = {}
    try:
        started['raw'] = NodeProcess(logs / 'raw.log')
        started['compressed'] = NodeProcess(logs / 'compressed.log', 'use_compressed:=true', namespace='/compressed')
        from liquid_control.nets import save_model
        from liquid_control.nets.policy import make_policy
        model = save_model(make_policy('cnn', image_shape=(1, 66, 200)), logs / 'mono_cnn',
                           preprocessing=CARD_PREPROCESSING)
        started['card'] = NodeProcess(logs / 'card.log', f'model_path:={model}', 'interpolation:=area',
                                      namespace='/card')
        yield started
    finally:
        for node_process in started.values():
            node_process.interrupt()


def probe_for(node_process: NodeProcess, input_topic: str):
    probe = Probe(node_process, input_topic)
    try:
        yield probe
    finally:
        probe.close()


@pytest.fixture(scope='class')
def raw_node(nodes):
    yield from probe_for(nodes['raw'], '/image_raw')


@pytest.fixture(scope='class')
def compressed_node(nodes):
    yield from probe_for(nodes['compressed'], '/compressed/image_raw/compressed')


@pytest.fixture(scope='class')
def card_node(nodes):
    yield from probe_for(nodes['card'], '/card/image_raw')


class TestRawFrames:
    """One node for the whole class; the tests run in order and the last one stops it."""

    def test_rgb8_frame_becomes_the_network_input_with_the_same_header(self, raw_node):
        message = image_message(FRAME, 'rgb8')
        out = raw_node.exchange(message, timeout=STARTUP_S)
        assert (out.encoding, out.height, out.width, out.step, out.is_bigendian) == ('32FC3', 66, 200, 200 * 3 * 4, 0)
        assert out.header.stamp == message.header.stamp and out.header.frame_id == 'test_camera'
        np.testing.assert_allclose(decoded(out), PreprocessSpec().apply(FRAME, 'rgb8'), rtol=0, atol=1e-6)

    @pytest.mark.parametrize('encoding, pixels', [
        ('bgr8', np.ascontiguousarray(SMALL[..., ::-1])),
        ('mono8', cv2.cvtColor(SMALL, cv2.COLOR_RGB2GRAY)),
    ])
    def test_bgr8_and_mono8_frames(self, raw_node, encoding, pixels):
        out = raw_node.exchange(image_message(pixels, encoding))
        expected = PreprocessSpec().apply(pixels, encoding)
        assert out.encoding == '32FC3'
        np.testing.assert_allclose(decoded(out), expected, rtol=0, atol=1e-6)
        if encoding == 'bgr8':  # the same scene in another channel order is the same network input
            np.testing.assert_allclose(expected, PreprocessSpec().apply(SMALL, 'rgb8'), atol=1e-6)

    def test_bad_frames_are_dropped_with_a_warning_and_the_node_carries_on(self, raw_node):
        small = FRAME[:48, :64].copy()
        bad = [
            (image_message(small, 'rgb16'), "unknown image encoding 'rgb16'"),
            (image_message(small, 'rgb8', data=small.tobytes()[:1000]),
             'data holds 1000 bytes, expected step * height = 192 * 48 = 9216'),
            (image_message(small, 'rgb8', step=100), 'step 100 is smaller than one row of 64 rgb8 pixels'),
            (image_message(small, 'rgb8', data=b'', height=0, width=0, step=0), 'the image is 0x0 pixels'),
        ]
        bad_stamps = [raw_node.send_bad(message, warning) for message, warning in bad]
        out = raw_node.exchange(image_message(SMALL, 'rgb8'))
        np.testing.assert_allclose(decoded(out), PreprocessSpec().apply(SMALL, 'rgb8'), atol=1e-6)
        assert not set(bad_stamps) & set(raw_node.outputs), 'a bad frame was published'
        output = raw_node.node_process.output()
        assert 'Traceback' not in output and output.count('[WARN]') >= len(bad)

    def test_diagnostics_count_frames_and_drops(self, raw_node):
        raw_node.spin_until(lambda: raw_node.statuses and int(raw_node.statuses[-1]['frames_dropped']) >= 4
                            and int(raw_node.statuses[-1]['frames_out']) >= 4,
                            'diagnostics that count the frames published and dropped')
        status = raw_node.statuses[-1]
        assert int(status['frames_out']) >= 4 and int(status['frames_in']) >= 8
        assert int(status['dropped_unknown_encoding']) >= 1 and int(status['dropped_step_too_small']) >= 1
        assert int(status['dropped_data_too_short']) >= 1 and int(status['dropped_empty_image']) >= 1
        assert status['output_encoding'] == '32FC3' and status['input_topic'] == '/image_raw'
        assert float(status['mean_preprocess_ms']) > 0 and status['last_error']

    def test_ctrl_c_exits_cleanly(self, raw_node):
        exit_code = raw_node.node_process.interrupt()
        output = raw_node.node_process.output()
        assert exit_code == 0, output
        assert 'Traceback' not in output and 'frames in' in output


class TestCompressedFrames:
    @pytest.mark.parametrize('extension', ['.jpg', '.png'])
    def test_jpeg_and_png_frames(self, compressed_node, extension):
        ok, encoded = cv2.imencode(extension, cv2.cvtColor(SCENE, cv2.COLOR_RGB2BGR))
        assert ok
        message = CompressedImage(format=extension[1:], data=encoded.tobytes())
        message.header.frame_id = 'test_camera'
        out = compressed_node.exchange(message, timeout=STARTUP_S)
        assert out.encoding == '32FC3' and out.header.frame_id == 'test_camera'
        expected = PreprocessSpec().apply(decode_compressed(message.format, encoded.tobytes()), 'rgb8')
        np.testing.assert_allclose(decoded(out), expected, rtol=0, atol=1e-6)

    def test_undecodable_frame_is_dropped_and_the_node_carries_on(self, compressed_node):
        garbage = CompressedImage(format='jpeg', data=b'\xff\xd8 not really a jpeg')
        stamp = compressed_node.send_bad(garbage, "cannot decode the 20 bytes of a compressed image (format 'jpeg')")
        ok, encoded = cv2.imencode('.jpg', SCENE)
        compressed_node.exchange(CompressedImage(format='jpeg', data=encoded.tobytes()))
        assert stamp not in compressed_node.outputs


class TestModelCard:
    def test_card_preprocessing_is_used_and_a_parameter_overrides_it(self, card_node):
        out = card_node.exchange(image_message(SMALL, 'rgb8'), timeout=STARTUP_S)
        spec = PreprocessSpec.from_dict(CARD_PREPROCESSING).with_overrides(interpolation='area')
        assert (out.encoding, out.height, out.width) == ('32FC1', 66, 200)
        np.testing.assert_allclose(decoded(out), spec.apply(SMALL, 'rgb8'), rtol=0, atol=1e-6)
        # The override mattered: the card's own interpolation gives other numbers.
        card_only = PreprocessSpec.from_dict(CARD_PREPROCESSING).apply(SMALL, 'rgb8')
        assert np.abs(decoded(out) - card_only).max() > 1e-3
        log = card_node.node_process.output()
        assert 'preprocessing from the card of' in log and 'with interpolation from parameters' in log


INVALID_PARAMETERS = {
    'crop:=[1,2,3]': "parameter 'crop' rejected: crop: must be 4 integers >= 0",
    'scale:=1': "parameter 'scale' must be a double",
    'mean:=[0.1,0.2]': "parameter 'mean' rejected: mean: has 2 values",
    'model_path:=/nonexistent/model': "parameter 'model_path' rejected: /nonexistent/model does not exist",
}


def test_invalid_parameters_stop_the_node_with_one_line(ros_env):
    # Started together: each is a whole interpreter start-up, and they do not talk to each other.
    runs = {parameter: subprocess.Popen(NODE + ['--ros-args', '--params-file', str(PARAMS_FILE), '-p', parameter],
                                        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for parameter in INVALID_PARAMETERS}
    for parameter, run in runs.items():
        output = run.communicate(timeout=60)[0].strip()
        assert run.returncode == 2, f'{parameter}: exit code {run.returncode}\n{output}'
        assert INVALID_PARAMETERS[parameter] in output and 'Traceback' not in output, output
        assert len(output.splitlines()) == 1, output
