"""A robot's recordings in, as its recorder writes them (rosbags directly, never our writer):
JPEG CompressedImage at 640x480, TwistStamped teleop, unrelated topics, both storages, a split
bag, a corrupt frame, commands on another clock, and a killed recording."""

import numpy as np
import pytest

from liquid_control.data.bags import BagError
from liquid_control.data.dataset_report import dataset_report, format_report
from liquid_control.data.frame_decoding import reduced_jpeg_pixels
from liquid_control.data.images import PreprocessSpec, decode_compressed
from liquid_control.data.pairing import episodes_from_recordings, pair_recording
from liquid_control.data.recordings import read_recording
from liquid_control.tasks import TaskError, task_from_dict
from liquid_control.tasks.from_bag import starter_task

from .robot_bags import CAMERA, GAIN, TYPES, line_frame, line_position, write_robot_bag

TASK = task_from_dict({
    "name": "line",
    "camera": {"topic": CAMERA, "type": "sensor_msgs/msg/CompressedImage"},
    "command": {"topic": "/cmd_vel", "type": "geometry_msgs/msg/TwistStamped", "outputs": ["angular.z"]},
    "control_rate_hz": 15,
    "preprocessing": {"size": [64, 96]},
})


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("robot_bags")
    return {
        "mcap": write_robot_bag(root / "mcap", seconds=8, seed=1),
        "split_sqlite3": write_robot_bag(root / "split", seconds=8, seed=2, storage="sqlite3", split=3,
                                         corrupt_frames=(40,)),
        "clock_off": write_robot_bag(root / "clock_off", seconds=8, seed=3, command_clock_offset_s=2.0),
    }


def test_frames_are_decoded_at_the_model_input_and_paired_with_the_command_in_force(bags, tmp_path):
    recording = read_recording(bags["mcap"], TASK, cache=tmp_path, jobs=2, progress=False)
    assert recording.camera_messages == 120 and recording.frames.shape == (120, 64, 96, 3)
    assert isinstance(recording.frames, np.memmap)  # on disk, not in memory
    episodes, report = pair_recording(recording, TASK)
    # Only a first frame captured before teleop's first command may go unpaired.
    assert set(report.dropped) <= {"no_command_yet"} and report.paired + report.dropped.get("no_command_yet", 0) == 120
    assert report.paired >= 119 and abs(report.clock_difference_s) < 0.05
    (episode,) = episodes
    assert episode.preprocessed and np.shares_memory(episode.frames, recording.frames)
    # Each label is the teleop command at or before the frame's own (jittered) header stamp.
    t = episode.stamps - 1_700_000_000
    expected = -GAIN * line_position(np.floor(t * 30) / 30, seed=1)
    assert np.allclose(episode.labels[:, 0], expected, atol=1e-4)
    assert np.all(report.command_ages_s <= 1 / 30 + 1e-6)


def test_a_split_sqlite3_bag_with_a_corrupt_jpeg_is_read_whole_and_the_frame_counted(bags, tmp_path):
    episodes, reports = episodes_from_recordings([bags["split_sqlite3"]], TASK, cache=tmp_path, jobs=1, progress=False)
    (report,) = reports.values()
    assert report.camera_messages == 120 and report.dropped.get("undecodable") == 1
    assert report.paired == 118 and sum(len(e) for e in episodes) == 118


def test_a_second_read_comes_from_the_cache_and_a_changed_bag_does_not(bags, tmp_path):
    first = read_recording(bags["mcap"], TASK, cache=tmp_path, jobs=1, progress=False)
    again = read_recording(bags["mcap"], TASK, cache=tmp_path, jobs=1, progress=False)
    assert not first.from_cache and again.from_cache and np.array_equal(first.frames, again.frames)
    other_size = task_from_dict({**TASK.to_dict(), "preprocessing": {"size": [66, 100]}})
    assert not read_recording(bags["mcap"], other_size, cache=tmp_path, jobs=1, progress=False).from_cache
    # Other outputs or pairing rules need no second decode: the cache keeps whole twists.
    other_outputs = TASK.with_overrides(outputs=("linear.x", "angular.z"))
    assert read_recording(bags["mcap"], other_outputs, cache=tmp_path, jobs=1, progress=False).from_cache


def test_jpeg_decoded_at_reduced_scale_is_within_a_grey_level_or_two_of_the_full_decode():
    import cv2

    frame = line_frame(0.3, np.random.default_rng(0))
    jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    spec = PreprocessSpec(size=(64, 96), crop=(40, 0, 16, 16))
    reduced = reduced_jpeg_pixels(jpeg, spec)
    full = spec.input_pixels(decode_compressed("jpeg", jpeg), "rgb8")
    assert reduced is not None and reduced.shape == full.shape == (64, 96, 3)
    assert np.abs(reduced.astype(int) - full).mean() < 2.0


def test_commands_on_another_clock_are_reported_and_an_offset_in_the_task_pairs_them(bags, tmp_path):
    report = dataset_report([bags["clock_off"]], TASK, cache=tmp_path, jobs=1, progress=False)
    text = format_report(report)
    # Each frame has a command 2 s off within the age limit: paired, wrongly. The report says so.
    assert "stamped 2.0 s later than the frames" in text and "command_clock_offset_s: -2.0" in text, text
    fixed = task_from_dict({**TASK.to_dict(), "pairing": {"command_clock_offset_s": -2.0}})
    episodes, reports = episodes_from_recordings([bags["clock_off"]], fixed, cache=tmp_path, jobs=1, progress=False)
    fixed_report = reports[str(bags["clock_off"])]
    assert fixed_report.paired >= 119 and abs(fixed_report.clock_difference_s) < 0.05
    t = episodes[0].stamps - 1_700_000_000
    assert np.allclose(episodes[0].labels[:, 0], -GAIN * line_position(np.floor(t * 30) / 30, seed=3), atol=1e-4)
    by_receive_time = task_from_dict({**TASK.to_dict(),
                                      "pairing": {"command_stamp": "receive", "frame_stamp": "receive"}})
    assert episodes_from_recordings([bags["clock_off"]], by_receive_time, cache=tmp_path, progress=False)[0]


def test_the_report_warns_about_an_output_that_never_varies_and_too_short_a_recording(bags, tmp_path):
    still = TASK.with_overrides(outputs=("linear.y",))
    report = dataset_report([bags["mcap"]], still, seq_len=500, cache=tmp_path, jobs=1, progress=False)
    text = " ".join(report["warnings"])
    assert "linear.y never varies" in text and "fewer than one training sequence (500)" in text
    assert "same image" not in text and "clock" not in text


def test_wrong_topics_and_a_killed_recording_say_what_to_do(bags, tmp_path):
    wrong = TASK.with_overrides(camera_topic="/camera/image_raw")
    with pytest.raises(BagError, match=f"no camera topic /camera/image_raw \\(its image topics: {CAMERA}\\); pass "
                                       "--camera-topic"):
        read_recording(bags["mcap"], wrong, cache=tmp_path, progress=False)
    with pytest.raises(BagError, match="Twist/TwistStamped topics: /cmd_vel"):
        read_recording(bags["mcap"], TASK.with_overrides(command_topic="/teleop"), cache=tmp_path, progress=False)
    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "killed_0.mcap").write_bytes((bags["mcap"] / "mcap.mcap").read_bytes()[:5000])
    with pytest.raises(BagError, match="bag recover"):
        read_recording(killed, TASK, cache=tmp_path, progress=False)


def test_task_init_writes_a_task_from_a_bag_with_the_outputs_that_vary(bags, tmp_path):
    task, found = starter_task(bags["mcap"])
    assert task.camera.topic == CAMERA and task.camera.type.endswith("CompressedImage")
    assert task.command.type.endswith("TwistStamped") and task.label_names == ("linear.x", "angular.z")
    assert found["frame_size"] == [480, 640] and task.preprocessing["size"] == [96, 128]
    assert task.control_rate_hz == pytest.approx(15, abs=0.5)


def test_task_init_asks_which_topic_when_a_bag_has_several(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    image = TYPES["sensor_msgs/msg/Image"](header=TYPES["std_msgs/msg/Header"](
        stamp=TYPES["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id="c"), height=2, width=2, encoding="rgb8",
        is_bigendian=0, step=6, data=np.zeros(12, np.uint8))
    with Writer(tmp_path / "two", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        for topic in ("/left/image_raw", "/right/image_raw"):
            connection = writer.add_connection(topic, "sensor_msgs/msg/Image", typestore=store)
            writer.write(connection, 10**9, store.serialize_cdr(image, "sensor_msgs/msg/Image"))
    with pytest.raises(TaskError, match="several image topics \\(/left/image_raw, /right/image_raw\\); choose one with "
                                        "--camera-topic"):
        starter_task(tmp_path / "two")


def test_a_jpeg_declaring_a_huge_size_is_refused_before_any_decode():
    import struct

    import cv2

    from liquid_control.data.frame_decoding import decode_to_input
    from liquid_control.data.images import ImageDecodeError

    jpeg = bytearray(cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    marker = jpeg.index(b"\xff\xc0")  # the frame header: precision, then height and width
    jpeg[marker + 5:marker + 9] = struct.pack(">HH", 12000, 12000)
    message = TYPES["sensor_msgs/msg/CompressedImage"](header=TYPES["std_msgs/msg/Header"](
        stamp=TYPES["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id=""), format="jpeg",
        data=np.frombuffer(bytes(jpeg), np.uint8))
    with pytest.raises(ImageDecodeError) as error:
        decode_to_input(message, "sensor_msgs/msg/CompressedImage", PreprocessSpec(size=(64, 96)))
    assert error.value.reason == "too_large"
