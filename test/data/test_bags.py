"""rosbag2 bags without ROS (liquid_control.data.bags): writing, reading, recovering.

Bags written by real rosbag2 come from ../shared/fixtures/rosbag2 and are copied to a temporary
folder first (nothing may write beside the shared originals). A killed recording is a real child
process that gets SIGKILL after it says what it has flushed.
"""
import json
import shutil
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

from liquid_control.cli import main as cli_main
from liquid_control.data.bags import BagError, BagReader, BagWriter, offered_qos, recover, standard_typestore

STORE = standard_typestore()
T = STORE.types
TIME = T['builtin_interfaces/msg/Time']
HEADER = T['std_msgs/msg/Header']
VECTOR3 = T['geometry_msgs/msg/Vector3']
TWIST = T['geometry_msgs/msg/Twist']


def header(i):
    return HEADER(stamp=TIME(sec=1_700_000_000 + i, nanosec=i * 1000), frame_id=f'frame_{i}')


def twist(i):
    return TWIST(linear=VECTOR3(x=0.5 * i, y=0.0, z=0.0), angular=VECTOR3(x=0.0, y=0.0, z=-0.1 * i))


def make_message(msgtype, i):
    """The message types the recorder records, filled from ``i`` so that every one differs."""
    if msgtype == 'sensor_msgs/msg/Image':
        return T[msgtype](header=header(i), height=4, width=6, encoding='rgb8', is_bigendian=0, step=18,
                          data=((np.arange(72) * (i + 1)) % 256).astype(np.uint8))
    if msgtype == 'geometry_msgs/msg/Twist':
        return twist(i)
    if msgtype == 'geometry_msgs/msg/TwistStamped':
        return T[msgtype](header=header(i), twist=twist(i))
    if msgtype == 'nav_msgs/msg/Odometry':
        pose = T['geometry_msgs/msg/Pose'](position=T['geometry_msgs/msg/Point'](x=1.0 * i, y=2.0, z=0.0),
                                            orientation=T['geometry_msgs/msg/Quaternion'](x=0.0, y=0.0, z=0.0, w=1.0))
        return T[msgtype](header=header(i), child_frame_id='base_link',
                          pose=T['geometry_msgs/msg/PoseWithCovariance'](pose=pose, covariance=np.full(36, 0.01 * i)),
                          twist=T['geometry_msgs/msg/TwistWithCovariance'](twist=twist(i), covariance=np.zeros(36)))
    if msgtype == 'diagnostic_msgs/msg/DiagnosticStatus':
        values = [T['diagnostic_msgs/msg/KeyValue'](key='lateral_error_m', value=f'{0.01 * i:.4f}')]
        return T[msgtype](level=i % 3, name='lane_sim', message=f'step {i}', hardware_id='sim', values=values)
    if msgtype == 'std_msgs/msg/String':
        return T[msgtype](data=f'hello {i} \u00e9')
    raise AssertionError(msgtype)


TOPICS = {
    '/camera/image_raw': 'sensor_msgs/msg/Image',
    '/cmd_vel': 'geometry_msgs/msg/Twist',
    '/cmd_vel_stamped': 'geometry_msgs/msg/TwistStamped',
    '/odom': 'nav_msgs/msg/Odometry',
    '/lane_metrics': 'diagnostic_msgs/msg/DiagnosticStatus',
    '/chatter': 'std_msgs/msg/String',
}
T0 = 1_700_000_000_000_000_000


def write_sample_bag(path, storage, count=5, **writer_options):
    """Every topic of TOPICS ``count`` times, interleaved 10 ms apart; returns [(topic, type, t, raw)]."""
    written = []
    with BagWriter(path, storage, **writer_options) as bag:
        for topic, msgtype in TOPICS.items():
            reliability = 'best_effort' if topic == '/camera/image_raw' else 'reliable'
            bag.add_topic(topic, msgtype, qos=[offered_qos(reliability)])
        step = 0
        for i in range(count):
            for topic, msgtype in TOPICS.items():
                stamp = T0 + step * 10_000_000
                raw = bytes(STORE.serialize_cdr(make_message(msgtype, i), msgtype))
                if i % 2:
                    bag.write(topic, stamp, raw)  # raw bytes, as the rclpy recorder writes them
                else:
                    bag.write_message(topic, stamp, make_message(msgtype, i))
                written.append((topic, msgtype, stamp, raw))
                step += 1
    return written


@pytest.fixture
def fixture_bag(tmp_path, shared_fixtures):
    """Copy a shared rosbag2 fixture bag into tmp_path (writable) and return its path."""
    def copy(name):
        source = shared_fixtures / 'rosbag2' / name
        if not source.is_dir():
            pytest.fail(f'shared fixture {source} is missing: the project keeps ../shared/fixtures beside the checkout')
        target = tmp_path / name
        shutil.copytree(source, target)
        for file in target.iterdir():
            file.chmod(0o644)
        return target
    return copy


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_round_trip_is_byte_exact_for_the_recorded_types(tmp_path, storage):
    written = write_sample_bag(tmp_path / 'bag', storage)

    metadata = yaml.safe_load((tmp_path / 'bag' / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert metadata['version'] == 8 and metadata['storage_identifier'] == storage
    with BagReader(tmp_path / 'bag') as bag:
        read = list(bag.messages())
        assert [tuple(m) for m in read] == written
        for message in read:
            decoded = bag.deserialize(message.raw, message.msgtype)
            assert bytes(STORE.serialize_cdr(decoded, message.msgtype)) == message.raw
        image = bag.deserialize(read[0].raw, read[0].msgtype)
        assert image.header.frame_id == 'frame_0' and image.data.tolist() == list(range(72))
        assert bag.deserialize(read[5].raw, read[5].msgtype).data == 'hello 0 \u00e9'

        info = bag.info()
    assert info['storage'] == storage and info['message_count'] == 30
    assert (info['start_ns'], info['end_ns']) == (T0, T0 + 29 * 10_000_000)
    assert info['duration_s'] == pytest.approx(0.29)
    topics = {t['name']: t for t in info['topics']}
    assert {name: (t['type'], t['count']) for name, t in topics.items()} == {n: (m, 5) for n, m in TOPICS.items()}
    assert all(t['definition'] and t['decodable'] for t in topics.values())
    assert topics['/camera/image_raw']['reliability'] == 'best_effort'
    assert topics['/cmd_vel']['reliability'] == 'reliable'


def test_topic_and_time_filters(tmp_path):
    written = write_sample_bag(tmp_path / 'bag', 'mcap')
    with BagReader(tmp_path / 'bag') as bag:
        twists = list(bag.messages(['cmd_vel']))  # relative names are taken as absolute
        assert [m.raw for m in twists] == [raw for topic, _, _, raw in written if topic == '/cmd_vel']
        start, stop = T0 + 60_000_000, T0 + 120_000_000
        window = list(bag.messages(start_ns=start, stop_ns=stop))
        assert [tuple(m) for m in window] == [w for w in written if start <= w[2] < stop]
        assert len(window) == 6


def test_mcap_files_are_valid_for_the_mcap_library(tmp_path):
    """Foxglove's own reader (seeking, through the summary) reads the chunks that flushes cut."""
    from mcap.reader import make_reader

    written = write_sample_bag(tmp_path / 'bag', 'mcap', flush_interval_s=0.0)  # a chunk per message
    with open(tmp_path / 'bag' / 'bag.mcap', 'rb') as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        assert summary.statistics.message_count == 30 and len(summary.chunk_indexes) == 30
        messages = [(channel.topic, schema.name, message.log_time, message.data)
                    for schema, channel, message in reader.iter_messages(log_time_order=True)]
    assert messages == written


@pytest.mark.parametrize('name, storage', [('talker_mcap', 'mcap'), ('talker_sqlite3', 'sqlite3')])
def test_reads_bags_written_by_rosbag2(fixture_bag, name, storage):
    with BagReader(fixture_bag(name)) as bag:
        info = bag.info()
        assert info['storage'] == storage and info['message_count'] == 20
        assert {t['name']: (t['type'], t['count']) for t in info['topics']} == {
            '/topic': ('std_msgs/msg/String', 10), '/rosout': ('rcl_interfaces/msg/Log', 10),
            '/parameter_events': ('rcl_interfaces/msg/ParameterEvent', 0)}
        assert bag.topic('/rosout').durability == 'transient_local'
        texts = [bag.deserialize(m.raw, m.msgtype).data for m in bag.messages(['/topic'])]
        assert texts == [f'Hello, world! {i}' for i in range(10)]
        logs = [bag.deserialize(m.raw, m.msgtype) for m in bag.messages(['/rosout'])]
        assert logs[0].name == 'minimal_publisher' and logs[0].msg == "Publishing: 'Hello, world! 0'"
        stamps = [m.timestamp_ns for m in bag.messages()]
        assert stamps == sorted(stamps) and (stamps[0], stamps[-1]) == (info['start_ns'], info['end_ns'])


def test_types_outside_the_standard_set_come_from_the_bags_definitions(fixture_bag):
    assert 'test_msgs/msg/BasicTypes' not in STORE.fielddefs
    with BagReader(fixture_bag('cdr_test_mcap')) as bag:
        assert {t.name: (t.msgtype, t.count, t.definition, t.decodable) for t in bag.topics.values()} == {
            '/array_topic': ('test_msgs/msg/Arrays', 4, True, True),
            '/test_topic': ('test_msgs/msg/BasicTypes', 3, True, True)}
        basics = [bag.deserialize(m.raw, m.msgtype) for m in bag.messages(['/test_topic'])]
        assert [b.int32_value for b in basics] == [123] * 3
        arrays = [bag.deserialize(m.raw, m.msgtype) for m in bag.messages(['/array_topic'])]
        first = arrays[0]
        assert first.bool_values.tolist() == [True, False, True]
        assert first.string_values == ['Complex Hello1', 'Complex Hello2', 'Complex Hello3']
        assert first.float64_values_default.tolist() == [3.1415, 0.0, -3.1415]
        assert type(first.basic_types_values[0]).__name__ == 'test_msgs__msg__BasicTypes'
        assert bag.info()['duration_s'] == pytest.approx(0.151137181)


def test_reads_an_mcap_file_written_by_mcap_ros2_support(tmp_path):
    from mcap_ros2.writer import Writer

    msgdef, _ = STORE.generate_msgdef('geometry_msgs/msg/TwistStamped', ros_version=2)
    path = tmp_path / 'foreign.mcap'
    with open(path, 'wb') as stream:  # zstd-compressed chunks, no metadata.yaml, no QoS metadata
        writer = Writer(stream)
        schema = writer.register_msgdef('geometry_msgs/msg/TwistStamped', msgdef)
        for i in range(4):
            writer.write_message('/cmd_vel', schema, {
                'header': {'stamp': {'sec': 10 + i, 'nanosec': 0}, 'frame_id': 'base_link'},
                'twist': {'linear': {'x': 0.25 * i, 'y': 0.0, 'z': 0.0}, 'angular': {'x': 0.0, 'y': 0.0, 'z': 1.0}},
            }, log_time=T0 + i * 50_000_000)
        writer.finish()
    with BagReader(path) as bag:
        assert bag.storage == 'mcap' and bag.topic('/cmd_vel').count == 4
        messages = list(bag.messages())
        decoded = [bag.deserialize(m.raw, m.msgtype) for m in messages]
    assert [m.timestamp_ns for m in messages] == [T0 + i * 50_000_000 for i in range(4)]
    assert [d.twist.linear.x for d in decoded] == [0.0, 0.25, 0.5, 0.75]
    assert decoded[3].header.stamp.sec == 13 and decoded[3].header.frame_id == 'base_link'
    # The same bytes our writer would produce for the same message: CDR is CDR.
    assert messages[1].raw == bytes(STORE.serialize_cdr(decoded[1], 'geometry_msgs/msg/TwistStamped'))


KILLED_WRITER = textwrap.dedent('''
    import sys, time
    from liquid_control.data.bags import BagWriter
    path, storage, interval = sys.argv[1], sys.argv[2], float(sys.argv[3])
    bag = BagWriter(path, storage, flush_interval_s=interval if interval >= 0 else None)
    String = bag.typestore.types['std_msgs/msg/String']
    bag.add_topic('/chatter', 'std_msgs/msg/String')
    for i in range(60):
        if i == 40:
            bag.flush()
            print('flushed 40', flush=True)
        bag.write_message('/chatter', 1000 + i, String(data=f'message {i}'))
    print('wrote 60', flush=True)
    time.sleep(60)  # killed here
''')


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
@pytest.mark.parametrize('interval, least', [(-1, 40), (0.0, 60)], ids=['explicit-flush', 'flush-every-write'])
def test_a_killed_recording_is_recovered_up_to_what_was_flushed(tmp_path, ros_env, storage, interval, least):
    bag_path = tmp_path / 'killed'
    writer = subprocess.Popen([sys.executable, '-c', KILLED_WRITER, str(bag_path), storage, str(interval)],
                              env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [writer.stdout.readline().strip(), writer.stdout.readline().strip()]
        assert lines == ['flushed 40', 'wrote 60'], writer.stderr.read() if writer.poll() is not None else lines
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        writer.stdout.close()
        writer.stderr.close()

    assert not (bag_path / 'metadata.yaml').exists()  # what a kill leaves: no metadata, no footer/commit
    with pytest.raises(BagError, match=r'has no metadata.yaml: the recording did not finish .*bag recover'):
        BagReader(bag_path)

    report = recover(bag_path)
    assert report.recovered and least <= report.message_count <= 60
    assert report.original.name == f'killed.{"mcap" if storage == "mcap" else "db3"}.incomplete'
    with BagReader(bag_path) as bag:
        texts = [bag.deserialize(m.raw, m.msgtype).data for m in bag.messages()]
        stamps = [m.timestamp_ns for m in bag.messages()]
        assert bag.info()['topics'][0]['count'] == len(texts)
    assert texts == [f'message {i}' for i in range(len(texts))]  # a prefix, nothing garbled
    assert stamps == [1000 + i for i in range(len(texts))]
    assert recover(bag_path).recovered is False  # a complete bag is left alone
    assert sorted(p.name for p in bag_path.iterdir() if not p.name.endswith('-journal')) == sorted(
        ['metadata.yaml', report.original.name, report.original.name.removesuffix('.incomplete')])


def test_a_truncated_mcap_file_is_named_and_its_complete_chunks_recovered(tmp_path):
    written = write_sample_bag(tmp_path / 'bag', 'mcap', flush_interval_s=0.0)
    data = tmp_path / 'bag' / 'bag.mcap'
    content = data.read_bytes()
    data.write_bytes(content[:len(content) // 2])
    with pytest.raises(BagError, match=r'cannot read the bag .*truncated or corrupt.*bag recover'):
        BagReader(tmp_path / 'bag')

    report = recover(tmp_path / 'bag')
    assert report.recovered and 0 < report.message_count < 30 and 'EndOfFile' in report.stopped_at
    with BagReader(tmp_path / 'bag') as bag:
        assert [tuple(m) for m in bag.messages()] == written[:report.message_count]


@pytest.mark.parametrize('storage, file', [('mcap', 'bag.mcap'), ('sqlite3', 'bag.db3')])
def test_corrupt_data_is_a_clear_error(tmp_path, storage, file):
    write_sample_bag(tmp_path / 'bag', storage)
    data = tmp_path / 'bag' / file
    data.write_bytes(b'not a bag at all' * 64)
    with pytest.raises(BagError, match=r'cannot read the bag .*truncated or corrupt'):
        with BagReader(tmp_path / 'bag') as bag:
            list(bag.messages())


def test_corrupt_message_bytes_and_metadata_are_clear_errors(tmp_path):
    write_sample_bag(tmp_path / 'bag', 'mcap', count=1)
    with BagReader(tmp_path / 'bag') as bag:
        with pytest.raises(BagError, match=r'cannot deserialise a nav_msgs/msg/Odometry message \(3 bytes\)'):
            bag.deserialize(b'\x00\x01\x00', 'nav_msgs/msg/Odometry')
    (tmp_path / 'bag' / 'metadata.yaml').write_text('just: [unbalanced')
    with pytest.raises(BagError, match=r'metadata.yaml is not rosbag2 metadata'):
        BagReader(tmp_path / 'bag')


def test_what_is_not_a_bag_says_so(tmp_path):
    with pytest.raises(BagError, match=r'no bag at .*nowhere: no such file or folder'):
        BagReader(tmp_path / 'nowhere')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BagError, match=r'empty is not a rosbag2 bag: it holds no metadata.yaml and no .mcap or .db3'):
        BagReader(tmp_path / 'empty')
    (tmp_path / 'notes.txt').write_text('hello')
    with pytest.raises(BagError, match=r'notes.txt is not a bag: expected a bag folder, or a .mcap or .db3 file'):
        BagReader(tmp_path / 'notes.txt')
    with pytest.raises(BagError, match=r'holds no .mcap or .db3 file: nothing to recover'):
        recover(tmp_path / 'empty')


def test_asking_for_a_missing_topic_lists_the_topics(fixture_bag):
    with BagReader(fixture_bag('talker_mcap')) as bag:
        with pytest.raises(BagError, match=r'topic /cmd_vel is not in the bag .*; its topics: '
                                           r'/parameter_events, /rosout, /topic$'):
            bag.messages(['/topic', '/cmd_vel'])


def test_an_unknown_type_without_definition_reads_raw_but_cannot_be_decoded(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer

    with Writer(tmp_path / 'bag', version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection('/thing', 'my_pkg/msg/Thing', msgdef='', rihs01='RIHS01_' + '0' * 64)
        writer.write(connection, 5, b'\x00\x01\x00\x00\x2a\x00\x00\x00')
    with BagReader(tmp_path / 'bag') as bag:
        topic = bag.topic('/thing')
        assert (topic.definition, topic.decodable) == (False, False)
        [message] = bag.messages()
        assert message.raw == b'\x00\x01\x00\x00\x2a\x00\x00\x00'
        with pytest.raises(BagError, match=r'cannot deserialise my_pkg/msg/Thing: my_pkg/msg/Thing is not a standard '
                                           r'ROS 2 type and the bag holds no definition for it'):
            bag.deserialize(message.raw, message.msgtype)


def test_custom_types_are_written_with_their_definition(tmp_path):
    definition = 'int32 count\nstring label\ngeometry_msgs/Vector3 offset\n'
    with BagWriter(tmp_path / 'bag', 'sqlite3') as bag:
        bag.add_topic('/custom', 'my_pkg/msg/Thing', msgdef=definition)
        thing = bag.typestore.types['my_pkg/msg/Thing'](count=42, label='x', offset=VECTOR3(x=1.0, y=2.0, z=3.0))
        bag.write_message('/custom', 7, thing)
    with BagReader(tmp_path / 'bag') as bag:  # a reader with a fresh store decodes it from the bag
        [message] = bag.messages()
        decoded = bag.deserialize(message.raw, message.msgtype)
    assert (decoded.count, decoded.label, decoded.offset.z) == (42, 'x', 3.0)


def test_writer_refuses_what_it_cannot_write(tmp_path):
    (tmp_path / 'exists').mkdir()
    with pytest.raises(BagError, match=r'exists already'):
        BagWriter(tmp_path / 'exists')
    with pytest.raises(BagError, match=r"unknown bag storage 'rosbag1'; one of mcap, sqlite3"):
        BagWriter(tmp_path / 'new', 'rosbag1')
    with pytest.raises(BagError, match=r"unknown QoS reliability 'sometimes'"):
        offered_qos('sometimes')
    with BagWriter(tmp_path / 'bag') as bag:
        with pytest.raises(BagError,
                           match=r"unknown message type 'my_pkg/msg/Thing' for topic /x: .*give its definition"):
            bag.add_topic('/x', 'my_pkg/msg/Thing')
        bag.add_topic('/chatter', 'std_msgs/msg/String')
        with pytest.raises(BagError, match=r'topic /cmd_vel was not added to the bag .*added: /chatter'):
            bag.write('/cmd_vel', 0, b'')
        with pytest.raises(BagError, match=r'topic /chatter was added already'):
            bag.add_topic('/chatter', 'std_msgs/msg/String')
        with pytest.raises(BagError, match=r'cannot serialise .* as std_msgs/msg/String'):
            bag.write_message('/chatter', 0, twist(1))
    with pytest.raises(BagError, match=r'is closed'):
        bag.write('/chatter', 0, b'')


def test_cli_info_and_recover(fixture_bag, tmp_path, capsys):
    assert cli_main(['bag', 'info', str(fixture_bag('cdr_test_mcap')), '--json']) == 0
    info = json.loads(capsys.readouterr().out)
    assert info['message_count'] == 7 and {t['type'] for t in info['topics']} == {
        'test_msgs/msg/Arrays', 'test_msgs/msg/BasicTypes'}

    assert cli_main(['bag', 'info', str(fixture_bag('talker_sqlite3'))]) == 0
    text = capsys.readouterr().out
    assert 'sqlite3' in text and '4.531 s' in text and '/topic' in text and 'std_msgs/msg/String' in text

    write_sample_bag(tmp_path / 'bag', 'mcap', count=1)
    (tmp_path / 'bag' / 'metadata.yaml').unlink()
    assert cli_main(['bag', 'info', str(tmp_path / 'bag')]) == 1
    error = capsys.readouterr().err
    assert error.startswith('error: ') and 'bag recover' in error and len(error.strip().splitlines()) == 1
    assert cli_main(['bag', 'recover', str(tmp_path / 'bag')]) == 0
    assert '6 messages' in capsys.readouterr().out
    assert BagReader(tmp_path / 'bag').message_count == 6
