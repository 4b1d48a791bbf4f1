"""`bag record` and `bag play` as a ROS user meets them: real processes talking over DDS.

The recorder and player run as `python -m liquid_control bag ...` child processes; the talkers and
listeners they meet are small rclpy scripts in child processes too (their sources are below), so
every byte crosses a real DDS link. Nothing sleeps a fixed time: each wait polls a process's output
until a line appears, with a deadline.
"""
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rclpy  # noqa: F401  (the ros extra must be installed: fail loudly, never skip)

from liquid_control.cli import main as cli_main  # noqa: E402
from liquid_control.data.bags import BagReader, BagWriter, offered_qos, standard_typestore  # noqa: E402

from . import harness

pytestmark = [
    pytest.mark.ros,
    # rclpy loads message type support through rosidl_parser, whose lark imports sre_parse.
    pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning"),
]

STORE = standard_typestore()
STARTUP_S = 60.0  # a cold rclpy process on a loaded 2-core machine, plus discovery
WAIT_S = 30.0
BAG_CLI = [sys.executable, '-m', 'liquid_control', 'bag']

# Publishes camera-like images (sensor-data QoS: best effort) and twists (reliable) at 50 Hz, says
# when both publishers have a subscriber (from then on no twist may be missed), and appends the
# serialised bytes of everything it publishes to <folder>/<image|twist>.bin as (length, bytes)
# records: what the recording must hold, byte for byte (up to CDR padding, see canonical()).
TALKER = textwrap.dedent('''
    import struct, sys
    from pathlib import Path
    import rclpy
    from geometry_msgs.msg import Twist
    from rclpy.qos import qos_profile_sensor_data
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import Image

    sent_dir = Path(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node('bag_test_talker')
    images = node.create_publisher(Image, '/bagtest/image', qos_profile_sensor_data)
    twists = node.create_publisher(Twist, '/bagtest/twist', 10)
    logs = {name: open(sent_dir / f'{name}.bin', 'wb') for name in ('image', 'twist')}
    count = 0
    matched = False

    def send(publisher, name, message):
        publisher.publish(message)
        data = serialize_message(message)
        logs[name].write(struct.pack('<I', len(data)) + data)
        logs[name].flush()

    def tick():
        global count, matched
        if not matched and images.get_subscription_count() and twists.get_subscription_count():
            matched = True
            print(f'matched at {count}', flush=True)
        image = Image(height=6, width=8, encoding='rgb8', step=24, data=bytes((count + k) % 256 for k in range(144)))
        image.header.frame_id = f'frame{count}'
        image.header.stamp = node.get_clock().now().to_msg()
        send(images, 'image', image)
        twist = Twist()
        twist.linear.x, twist.angular.z = float(count), -0.1 * count
        send(twists, 'twist', twist)
        count += 1
        if count % 10 == 0:
            print(f'published {count}', flush=True)

    node.create_timer(0.02, tick)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
''')

# Subscribes to the played topics and /clock, and prints one JSON report once it has the
# expected number of twists and images (and, if asked, once the player has gone, so that the last
# /clock ticks are in too): what arrived, in which order, when (steady clock), and the QoS the
# player's publishers offered.
LISTENER = textwrap.dedent('''
    import json, sys, time
    import rclpy
    from geometry_msgs.msg import Twist
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    want_twists, want_images, until_player_exits = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == 'yes'
    rclpy.init()
    node = rclpy.create_node('bag_test_listener')
    arrivals, clock = [], []

    # The time each message was published (the writer's source timestamp): the player's pace, not
    # how late DDS delivered it on a busy machine.
    def on_twist(message, info):
        arrivals.append(['twist', info['source_timestamp'], message.linear.x])

    def on_image(message, info):
        arrivals.append(['image', info['source_timestamp'], message.header.frame_id])

    node.create_subscription(Twist, '/played/twist', on_twist, 100)
    node.create_subscription(Image, '/played/image', on_image, qos_profile_sensor_data)
    node.create_subscription(Clock, '/clock', lambda m: clock.append(m.clock.sec * 10**9 + m.clock.nanosec),
                             QoSProfile(depth=1000))
    print('ready', flush=True)

    def have(kind):
        return sum(1 for arrival in arrivals if arrival[0] == kind)

    qos = None
    while have('twist') < want_twists or have('image') < want_images:
        rclpy.spin_once(node, timeout_sec=0.1)
        if qos is None and arrivals:  # the player is surely there now
            qos = {topic: sorted({info.qos_profile.reliability.name
                                  for info in node.get_publishers_info_by_topic(topic)})
                   for topic in ('/played/twist', '/played/image')}
    deadline = time.monotonic() + 10
    while until_player_exits and node.count_publishers('/clock') and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    print(json.dumps({'arrivals': arrivals, 'clock': clock, 'qos': qos}), flush=True)
''')


class Process:
    """A child process whose console output goes to a file (a pipe could fill up and block it)."""

    def __init__(self, command, env, log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, 'w')
        self.process = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text()

    def wait_for(self, pattern: str, timeout: float = WAIT_S) -> re.Match:
        """Poll the output until ``pattern`` (a regex) appears; fail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output(), re.MULTILINE)
            if match:
                return match
            if self.process.poll() is not None:
                pytest.fail(f'{self.log_path.stem} exited ({self.process.returncode}) before printing '
                            f'{pattern!r}:\n{self.output()[-3000:]}')
            if time.monotonic() > deadline:
                pytest.fail(f'timed out after {timeout} s waiting for {pattern!r} from {self.log_path.stem}:\n'
                            f'{self.output()[-3000:]}')
            time.sleep(0.02)

    def finish(self, timeout: float = WAIT_S) -> int:
        """Wait for the exit code; kill it if it hangs (the test then fails on the code)."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        return self.process.returncode

    def interrupt(self, timeout: float = WAIT_S, how: signal.Signals = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
        return self.finish(timeout)


def canonical(raw: bytes, msgtype: str) -> bytes:
    """CDR bytes with zeroed alignment padding (as rosbags and DDS write them).

    rclpy.serialization.serialize_message leaves the padding bytes uninitialised (e.g. the two
    bytes after an Image's is_bigendian often hold leftovers such as b'b8' from 'rgb8'), so the
    talker's own copies of what it sent differ there from what went over the wire.
    """
    return bytes(STORE.serialize_cdr(STORE.deserialize_cdr(raw, msgtype), msgtype))


def read_sent(path: Path) -> list[bytes]:
    data, records, offset = path.read_bytes(), [], 0
    while offset + 4 <= len(data):
        length = int.from_bytes(data[offset:offset + 4], 'little')
        if offset + 4 + length > len(data):
            break
        records.append(data[offset + 4:offset + 4 + length])
        offset += 4 + length
    return records


def test_record_sigint_info_and_the_exact_bytes(tmp_path, ros_env, capsys):
    bag_path = tmp_path / 'recording'
    talker = Process([sys.executable, '-c', TALKER, str(tmp_path)], ros_env, tmp_path / 'talker.log')
    recorder = Process(BAG_CLI + ['record', '-o', str(bag_path), '/bagtest/image', 'bagtest/twist',
                                  '--discovery-period', '0.1'], ros_env, tmp_path / 'recorder.log')
    try:
        recorder.wait_for(r'^recording /bagtest/image \(sensor_msgs/msg/Image, best effort\)$', STARTUP_S)
        recorder.wait_for(r'^recording /bagtest/twist \(geometry_msgs/msg/Twist, reliable\)$', STARTUP_S)
        matched = int(talker.wait_for(r'^matched at (\d+)$', STARTUP_S).group(1))
        talker.wait_for(rf'^published {(matched // 10 + 5) * 10}$')  # 40-50 messages of each since then
        assert recorder.interrupt() == 0, recorder.output()
    finally:
        recorder.interrupt()
        talker.interrupt()
    output = recorder.output()
    assert 'Traceback' not in output and re.search(r'^stopped by SIGINT: \d+ messages', output, re.MULTILINE), output

    sent = {'/bagtest/image': [canonical(raw, 'sensor_msgs/msg/Image') for raw in read_sent(tmp_path / 'image.bin')],
            '/bagtest/twist': [canonical(raw, 'geometry_msgs/msg/Twist') for raw in read_sent(tmp_path / 'twist.bin')]}
    with BagReader(bag_path) as bag:
        recorded = {topic: [m.raw for m in bag.messages([topic])] for topic in sent}
        stamps = [m.timestamp_ns for m in bag.messages()]
        topics = bag.topics
    assert cli_main(['bag', 'info', str(bag_path), '--json']) == 0
    info = {t['name']: t for t in json.loads(capsys.readouterr().out)['topics']}
    for topic, raws in recorded.items():
        assert topics[topic].count == info[topic]['count'] == len(raws)
        assert re.search(rf'^\s+{topic}\s+\S+\s+{len(raws)}$', output, re.MULTILINE), output  # the summary
    assert (topics['/bagtest/image'].reliability, topics['/bagtest/twist'].reliability) == ('best_effort', 'reliable')
    assert stamps == sorted(stamps)
    # What DDS delivered, stored unchanged, is canonical CDR (zeroed padding), so it compares byte
    # for byte with the canonical form of what the talker sent.
    for topic, raws in recorded.items():
        assert all(raw == canonical(raw, topics[topic].msgtype) for raw in raws)

    # Reliable: every twist from the match on, in order, byte for byte.
    twists = recorded['/bagtest/twist']
    first = sent['/bagtest/twist'].index(twists[0])
    assert first <= matched and len(twists) >= 40 + matched - first
    assert twists == sent['/bagtest/twist'][first:first + len(twists)]
    # Best effort: what arrived is byte-identical to what was sent, in order (losses allowed, none expected).
    images = recorded['/bagtest/image']
    positions = [sent['/bagtest/image'].index(raw) for raw in images]
    assert positions == sorted(positions) and len(images) >= 0.8 * len(twists)


def test_recorder_refuses_an_existing_folder_in_one_line(tmp_path, capsys):
    (tmp_path / 'taken').mkdir()
    assert cli_main(['bag', 'record', '-o', str(tmp_path / 'taken'), '/x']) == 1
    error = capsys.readouterr().err
    assert error == f'error: {tmp_path / "taken"} exists already; a bag is written into a new folder\n'


TWISTS, IMAGES = 20, 10
T0 = 1_700_000_000_000_000_000
TWIST_PERIOD_NS, IMAGE_PERIOD_NS = 100_000_000, 200_000_000


@pytest.fixture
def drive_bag(tmp_path):
    """20 twists every 100 ms (reliable) and 10 images every 200 ms (best effort, 50 ms after a twist)."""
    store = standard_typestore()
    types = store.types
    path = tmp_path / 'drive'
    with BagWriter(path) as bag:
        bag.add_topic('/bagtest/twist', 'geometry_msgs/msg/Twist', qos=[offered_qos('reliable')])
        bag.add_topic('/bagtest/image', 'sensor_msgs/msg/Image', qos=[offered_qos('best_effort')])
        vector = types['geometry_msgs/msg/Vector3']
        for i in range(TWISTS):
            bag.write_message('/bagtest/twist', T0 + i * TWIST_PERIOD_NS,
                              types['geometry_msgs/msg/Twist'](linear=vector(x=float(i), y=0.0, z=0.0),
                                                               angular=vector(x=0.0, y=0.0, z=0.0)))
            if i % 2 == 0:
                header = types['std_msgs/msg/Header'](stamp=types['builtin_interfaces/msg/Time'](sec=i, nanosec=0),
                                                      frame_id=f'frame{i // 2}')
                image = types['sensor_msgs/msg/Image'](header=header, height=1, width=2, encoding='mono8',
                                                       is_bigendian=0, step=2, data=np.array([i, i], np.uint8))
                bag.write_message('/bagtest/image', T0 + i * TWIST_PERIOD_NS + 50_000_000, image)
    return path


REMAP = ['--remap', '/bagtest/twist:=/played/twist', 'bagtest/image:=/played/image']


def test_play_with_clock_remap_and_double_rate(tmp_path, ros_env, drive_bag):
    listener = Process([sys.executable, '-c', LISTENER, str(TWISTS), str(IMAGES), 'yes'], ros_env,
                       tmp_path / 'listener.log')
    player = None
    try:
        listener.wait_for('^ready$', STARTUP_S)
        player = Process(BAG_CLI + ['play', str(drive_bag), '--rate', '2.0', '--clock', '--wait-for-subscribers', '30']
                         + REMAP, ros_env, tmp_path / 'player.log')
        report = json.loads(listener.wait_for(r'^\{.*\}$', STARTUP_S).group(0))
        assert player.finish() == 0, player.output()
    finally:
        listener.interrupt()
        if player:
            player.interrupt()
    assert f'end of bag: played {TWISTS + IMAGES} messages' in player.output(), player.output()
    assert 'no subscriber' not in player.output()

    arrivals = report['arrivals']
    # Content and order: each topic in the bag's order. Not across topics: DDS orders a writer's
    # messages, not two writers' (a RELIABLE twist can reach the listener after the best-effort
    # image the player published 50 ms of bag time later, seen on a busy 2-core machine).
    assert [value for kind, _, value in arrivals if kind == 'twist'] == [float(i) for i in range(TWISTS)]
    assert [value for kind, _, value in arrivals if kind == 'image'] == [f'frame{i}' for i in range((TWISTS + 1) // 2)]
    assert report['qos'] == {'/played/twist': ['RELIABLE'], '/played/image': ['BEST_EFFORT']}

    # Timing, from the publish times: twists 100 ms and images 200 ms apart in the bag, so 50 and
    # 100 ms at rate 2. The median gap is the pace; one late start on a busy machine makes the player
    # catch up (as ros2 bag play does), which shortens the whole span but not the median.
    for kind, bag_period_s, count in (('twist', 0.1, TWISTS), ('image', 0.2, IMAGES)):
        times = [at for what, at, _ in arrivals if what == kind]
        gaps = np.diff(times) / 1e9
        assert 0.8 * bag_period_s / 2 <= np.median(gaps) <= 1.3 * bag_period_s / 2, (kind, gaps.round(3))
        span = (times[-1] - times[0]) / 1e9
        assert span <= 1.5 * (count - 1) * bag_period_s / 2, f'{kind}: {span:.3f} s, played too slowly'

    # /clock: the bag's time, at every message and in between (100 Hz for ~0.95 s).
    clock = report['clock']
    assert clock == sorted(clock) and T0 <= clock[0] and clock[-1] <= T0 + (TWISTS - 1) * TWIST_PERIOD_NS
    assert {T0 + i * TWIST_PERIOD_NS for i in range(TWISTS)} <= set(clock)
    assert len(clock) >= 60, len(clock)


def test_loop_plays_again_until_stopped(tmp_path, ros_env, drive_bag):
    wanted = 2 * TWISTS + 5
    listener = Process([sys.executable, '-c', LISTENER, str(wanted), '0', 'no'], ros_env, tmp_path / 'listener.log')
    player = None
    try:
        listener.wait_for('^ready$', STARTUP_S)
        player = Process(BAG_CLI + ['play', str(drive_bag), '--rate', '10', '--loop', '--topics', '/bagtest/twist',
                                    '--wait-for-subscribers', '30'] + REMAP, ros_env, tmp_path / 'player.log')
        report = json.loads(listener.wait_for(r'^\{.*\}$', STARTUP_S).group(0))
        assert player.interrupt(how=signal.SIGTERM) == 0, player.output()  # as a launcher or systemd stops it
    finally:
        listener.interrupt()
        if player:
            player.interrupt()
    assert re.search(r'^stopped by SIGTERM: played \d+ messages$', player.output(), re.MULTILINE), player.output()
    values = [value for kind, _, value in report['arrivals'] if kind == 'twist']
    assert values[:wanted] == [float(i % TWISTS) for i in range(wanted)]
    assert not [kind for kind, _, _ in report['arrivals'] if kind == 'image']  # --topics left it out


@pytest.mark.parametrize('arguments, message', [
    (['--ros-args', '-p', 'topics:=[/a]'], "parameter 'output' is required"),
    (['--ros-args', '-p', 'output:=OUT'], "name the topics to record, or record all of them"),
    (['--ros-args', '-p', 'output:=OUT', '-p', 'all_topics:=true', '-p', 'storage:=rosbag'],
     "parameter 'storage' must be one of mcap, sqlite3, got 'rosbag'"),
    (['-o', 'OUT', '/a'], "unexpected arguments -o OUT /a: bag_recorder takes ROS parameters only"),
])
def test_bag_recorder_node_refuses_bad_parameters_with_one_line(tmp_path, ros_env, arguments, message):
    arguments = [a.replace('OUT', str(tmp_path / 'bag')) for a in arguments]
    result = harness.run_to_exit([sys.executable, '-m', 'liquid_control.nodes.bag_recorder', *arguments], ros_env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message.replace('OUT', str(tmp_path / 'bag')) in result.stderr
    assert 'Traceback' not in result.stderr
    assert not (tmp_path / 'bag').exists()
