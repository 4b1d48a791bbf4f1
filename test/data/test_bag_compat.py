"""Our bags' metadata.yaml, field by field, against what each distribution's rosbag2 reader decodes.

The readers are written down below from their sources (ros2/rosbag2, per branch):
``rosbag2_storage/src/rosbag2_storage/metadata_io.cpp`` on humble (commit d256a5bad515), and
``rosbag2_storage/include/rosbag2_storage/yaml.hpp`` with ``rosbag2_storage/src/rosbag2_storage/qos.cpp``
on jazzy (64717ee802a2) and rolling (25304dd36e51, the parent of kilted: the files that decode the
metadata are identical on jazzy and rolling). Every field is read with yaml-cpp's ``as<T>()``, so a
missing key or a value of the wrong YAML kind (a list where a string is read) throws, and neither
``ros2 bag info`` nor ``ros2 bag play`` opens the bag. Humble parses the QoS profiles only at
``play``, as integers. Unknown keys are ignored by all of them, and no reader refuses a version
newer than its own; the version only selects what is read.
"""
import pytest
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer

from liquid_control.data.bags import METADATA_VERSION, BagWriter, offered_qos, recover, standard_typestore

from .test_bags import write_sample_bag

SCALAR, SEQUENCE, MAPPING = 'scalar', 'sequence', 'mapping'

# (field, from metadata version, YAML kind); the QoS profiles are described by QOS_FORM.
TOP_LEVEL = {
    'humble': [('version', 0, SCALAR), ('storage_identifier', 0, SCALAR), ('duration', 0, MAPPING),
               ('starting_time', 0, MAPPING), ('message_count', 0, SCALAR),
               ('topics_with_message_count', 0, SEQUENCE), ('relative_file_paths', 0, SEQUENCE),
               ('compression_format', 3, SCALAR), ('compression_mode', 3, SCALAR), ('files', 5, SEQUENCE)],
}
TOP_LEVEL['jazzy'] = TOP_LEVEL['humble'] + [('custom_data', 6, 'mapping or null'), ('ros_distro', 8, SCALAR)]
TOP_LEVEL['kilted'] = TOP_LEVEL['jazzy']
TOPIC = {
    'humble': [('name', 0, SCALAR), ('type', 0, SCALAR), ('serialization_format', 0, SCALAR)],
}
TOPIC['jazzy'] = TOPIC['humble'] + [('type_description_hash', 7, SCALAR)]
TOPIC['kilted'] = TOPIC['jazzy']
QOS_KEYS = ('history', 'depth', 'reliability', 'durability', 'deadline', 'lifespan', 'liveliness',
            'liveliness_lease_duration', 'avoid_ros_namespace_conventions')
ENUM_KEYS = ('history', 'reliability', 'durability', 'liveliness')


def qos_form(distro: str, version: int) -> str:
    """How offered_qos_profiles must be written for this reader and metadata version."""
    if version < 4:
        return 'absent'
    if distro == 'humble' or version < 9:
        return 'string'  # a scalar holding YAML: humble always, jazzy/kilted below version 9
    return 'sequence'


def kind(value) -> str:
    if isinstance(value, dict):
        return MAPPING
    if isinstance(value, list):
        return SEQUENCE
    return 'null' if value is None else SCALAR


def reader_problems(metadata: dict, distro: str) -> list:
    """What this distribution's reader would fail on in a metadata.yaml (empty: it opens the bag)."""
    info = metadata['rosbag2_bagfile_information']
    version = info.get('version')
    if not isinstance(version, int):
        return [f'version {version!r} is not an integer']
    problems = []

    def check(where: str, node: dict, fields) -> None:
        for name, since, wanted in fields:
            if version < since:
                continue
            if name not in node:
                problems.append(f'{where}{name}: missing (read from version {since})')
            elif kind(node[name]) not in wanted.split(' or '):
                problems.append(f'{where}{name}: a {kind(node[name])}, the reader wants a {wanted}')

    check('', info, TOP_LEVEL[distro])
    for entry in info.get('topics_with_message_count') or []:
        topic = entry.get('topic_metadata', {})
        where = f"{topic.get('name')}: "
        check(where, topic, TOPIC[distro])
        form, profiles = qos_form(distro, version), topic.get('offered_qos_profiles')
        if form == 'absent':
            continue
        if form == 'string':
            if not isinstance(profiles, str):
                problems.append(f'{where}offered_qos_profiles: a {kind(profiles)}, the reader wants a string of YAML')
                continue
            profiles = yaml.safe_load(profiles) if profiles else []
        elif not isinstance(profiles, list):
            problems.append(f'{where}offered_qos_profiles: a {kind(profiles)}, the reader wants a sequence')
            continue
        for profile in profiles:
            missing = [key for key in QOS_KEYS if key not in profile]
            if missing:
                problems.append(f'{where}QoS profile without {", ".join(missing)}')
            if distro == 'humble' and not all(isinstance(profile.get(key), int) for key in ENUM_KEYS):
                problems.append(f'{where}QoS policies must be integers for humble, got '
                                f'{[profile.get(key) for key in ENUM_KEYS]}')
    return problems


def metadata_of(folder) -> dict:
    return yaml.safe_load((folder / 'metadata.yaml').read_text())


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
@pytest.mark.parametrize('distro', ['humble', 'jazzy', 'kilted'])
def test_every_distribution_reads_our_bags(tmp_path, storage, distro):
    write_sample_bag(tmp_path / 'bag', storage)
    metadata = metadata_of(tmp_path / 'bag')
    assert metadata['rosbag2_bagfile_information']['version'] == METADATA_VERSION == 8
    assert reader_problems(metadata, distro) == []
    # The QoS profiles are really there, as integers (what humble's player parses).
    topics = metadata['rosbag2_bagfile_information']['topics_with_message_count']
    profiles = [p for t in topics for p in yaml.safe_load(t['topic_metadata']['offered_qos_profiles'] or '[]')]
    assert profiles and all(isinstance(p['reliability'], int) for p in profiles)


def test_a_recovered_bag_is_read_by_every_distribution(tmp_path):
    with BagWriter(tmp_path / 'bag', flush_interval_s=None) as bag:
        bag.add_topic('/a', 'std_msgs/msg/String', [offered_qos('best_effort')])
    (tmp_path / 'bag' / 'metadata.yaml').unlink()  # as a killed recording leaves it
    recover(tmp_path / 'bag')
    for distro in ('humble', 'jazzy', 'kilted'):
        assert reader_problems(metadata_of(tmp_path / 'bag'), distro) == [], distro


def test_the_check_fails_on_what_humble_cannot_open(tmp_path):
    """Version 9, what rosbags (and Jazzy's own recorder) write by default: the QoS profiles are a list."""
    with Writer(tmp_path / 'v9', version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        writer.add_connection('/a', 'std_msgs/msg/String', typestore=standard_typestore(),
                              offered_qos_profiles=[offered_qos('reliable')])
    metadata = metadata_of(tmp_path / 'v9')
    assert reader_problems(metadata, 'jazzy') == reader_problems(metadata, 'kilted') == []
    assert reader_problems(metadata, 'humble') == [
        '/a: offered_qos_profiles: a sequence, the reader wants a string of YAML']
    # The version and the form must agree: Jazzy refuses the same file labelled version 8, and
    # without custom_data.
    del metadata['rosbag2_bagfile_information']['custom_data']
    metadata['rosbag2_bagfile_information']['version'] = 8
    assert reader_problems(metadata, 'jazzy') == [
        'custom_data: missing (read from version 6)',
        '/a: offered_qos_profiles: a sequence, the reader wants a string of YAML']
