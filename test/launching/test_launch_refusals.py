"""The launch-file runner's refusals: a launch file it cannot run as `ros2 launch` would is refused
with the file and line at fault and what to write instead, in-process and through the command line.
"""
import subprocess
from pathlib import Path

import pytest

from liquid_control.launching import LaunchError, plan_launch

from .helpers import RUNNER, write


def line_of(path: Path, marker: str) -> int:
    """1-based line of the first line of the file that contains marker."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f'{marker!r} not in {path}')


REFUSALS = [
    # (what, launch file body, arguments, marker on the line the message must name, words in the message)
    ('unknown tag', '<launch>\n  <executable cmd="ls"/>\n</launch>\n', {}, '<executable',
     ['<executable>', 'not supported', '<node>']),
    ('unknown attribute', '<launch>\n  <node pkg="liquid_control" exec="x" respawn="true"/>\n</launch>\n', {},
     'respawn', ["'respawn'", 'not supported', 'pkg, exec, name']),
    ('unknown child', '<launch>\n  <node pkg="liquid_control" exec="x">\n    <env name="A" value="1"/>\n'
     '  </node>\n</launch>\n', {}, '<env', ['<env>', 'inside <node>', '<param>, <remap>']),
    ('unknown substitution', '<launch>\n  <let name="a" value="$(anon x)"/>\n</launch>\n', {}, 'anon',
     ["unknown substitution 'anon'", '$(var NAME)', '$(find-pkg-share PKG)']),
    ('eval', '<launch>\n  <let name="a" value="$(eval 1 + 1)"/>\n</launch>\n', {}, 'eval',
     ['$(eval', 'not supported']),
    ('unterminated substitution', '<launch>\n  <let name="a" value="$(var x"/>\n</launch>\n', {}, '$(var x',
     ['unterminated']),
    ('required argument', '<launch>\n  <arg name="x" default="1"/>\n  <arg name="robot"/>\n</launch>\n', {},
     'robot', ["'robot' is required", 'robot:=VALUE']),
    ('unset configuration', '<launch>\n  <let name="a" value="$(var nope)"/>\n</launch>\n', {}, 'nope',
     ["'nope' is not set"]),
    ('unset environment variable', '<launch>\n  <let name="a" value="$(env LAUNCH_TEST_UNSET)"/>\n</launch>\n',
     {}, 'LAUNCH_TEST_UNSET', ["'LAUNCH_TEST_UNSET' is not set"]),
    ('missing params file', '<launch>\n  <node pkg="liquid_control" exec="lane_sim_node">\n'
     '    <param from="/no/such/params.yaml"/>\n  </node>\n</launch>\n', {}, 'params.yaml',
     ['parameters file not found: /no/such/params.yaml']),
    ('unknown package share', '<launch>\n  <let name="a" value="$(find-pkg-share no_such_pkg)"/>\n</launch>\n',
     {}, 'no_such_pkg', ["package 'no_such_pkg' not found"]),
    ('unknown node package', '<launch>\n  <node pkg="no_such_pkg" exec="x"/>\n</launch>\n', {}, 'no_such_pkg',
     ["package 'no_such_pkg' not found"]),
    ('unknown executable of ours', '<launch>\n  <node pkg="liquid_control" exec="lane_sim_node"/>\n'
     '  <node pkg="liquid_control" exec="no_such_node"/>\n</launch>\n', {}, 'no_such_node',
     ["package 'liquid_control' has no executable 'no_such_node'",
      'its console_scripts entry points: bag_recorder, controller_node, drone_sim_node, lane_sim_node, '
      'liquid_control, perception_node']),
    ('bad output', '<launch>\n  <node pkg="liquid_control" exec="x" output="own_log"/>\n</launch>\n', {},
     'own_log', ['screen, log, both']),
    ('bad node name', '<launch>\n  <node pkg="liquid_control" exec="x" name="1st"/>\n</launch>\n', {}, '1st',
     ["invalid ROS node name '1st'"]),
    ('malformed XML', '<launch>\n  <node pkg="liquid_control"\n</launch>\n', {}, '</launch>',
     ['not well-formed XML']),
    ('wrong root', '<robot>\n</robot>\n', {}, '<robot>', ['root element', '<launch>']),
    ('include of a missing file', '<launch>\n  <include file="$(dirname)/missing.launch.xml"/>\n</launch>\n', {},
     'missing.launch', ['launch file not found']),
    ('include of itself', '<launch>\n  <include file="$(dirname)/refused.launch.xml"/>\n</launch>\n', {},
     'refused.launch', ['includes itself']),
]


@pytest.mark.parametrize('body, arguments, marker, words', [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusals_name_file_and_line(tmp_path, monkeypatch, body, arguments, marker, words):
    monkeypatch.delenv('LAUNCH_TEST_UNSET', raising=False)
    path = write(tmp_path, 'refused.launch.xml', body)
    with pytest.raises(LaunchError) as error:
        plan_launch(path, arguments)
    message = str(error.value)
    assert f'{path}:{line_of(path, marker)}:' in message, message
    for word in words:
        assert word in message, message


def test_unknown_command_line_argument_is_refused(tmp_path):
    path = write(tmp_path, 'args.launch.xml', '<launch>\n  <arg name="camera_topic" default="x"/>\n</launch>\n')
    with pytest.raises(LaunchError, match=r"unknown launch argument\(s\) camera_topc \(declared: camera_topic\)"):
        plan_launch(path, {'camera_topc': 'y'})


def test_command_line_reports_refusals(tmp_path, ros_env):
    path = write(tmp_path, 'bad.launch.xml',
                 '<launch>\n  <node pkg="liquid_control" exec="x" respawn="true"/>\n</launch>\n')
    result = subprocess.run([*RUNNER, str(path)], env=ros_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"error: {path}:2: <node>: attribute 'respawn' is not supported" in result.stderr
