"""The launch-file runner's resolution: parsing and substitution, parameter types, and the shipped
launch files' exact node commands, tested in-process on small launch files written to tmp_path and
through the command line's dry run. Its refusals are tested in test_launch_refusals.py, the processes
it starts in test_launch_processes.py.
"""
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from liquid_control.launching import (
    SOURCE_ROOT,
    LaunchError,
    executable_command,
    find_package_share,
    format_plan,
    plan_launch,
    resolve_launch_file,
)

from .helpers import RUNNER, fake_package, write

REPO_ROOT = Path(__file__).resolve().parents[2]
# The entry points of setup.py each executable of ours is started through (module:function).
ENTRY_POINTS = {
    'lane_sim_node': 'liquid_control.nodes.lane_sim_node:main',
    'perception_node': 'liquid_control.nodes.perception_node:main',
    'controller_node': 'liquid_control.nodes.controller.main:main',
    'drone_sim_node': 'liquid_control.nodes.drone_sim_node:main',
    'bag_recorder': 'liquid_control.nodes.bag_recorder:main',
}
SHARE = find_package_share('liquid_control')


def node_key(name, namespace) -> str:
    """The node key launch_ros writes in the params file of a <param name value/>."""
    if name is None or namespace is None:
        return '/**'
    return namespace.rstrip('/') + '/' + name


def readable(command: list, key: str) -> list:
    """The command with each params file the runner wrote for a <param name value/> read back and
    shown as -p NAME:=VALUE, after checking the file is launch_ros's: one parameter under
    {key: {ros__parameters: ...}}, in the temporary folder, named launch_params_*."""
    shown, items = [], iter(command)
    for item in items:
        if item != '--params-file':
            shown.append(item)
            continue
        path = Path(next(items))
        if not path.name.startswith('launch_params_'):
            shown += [item, str(path)]
            continue
        assert path.parent == Path(tempfile.gettempdir())
        content = yaml.safe_load(path.read_text())
        assert list(content) == [key], f'{path}: node key {list(content)}, expected {key}'
        ((name, value),) = content[key]['ros__parameters'].items()
        flow = yaml.safe_dump(value, default_flow_style=True).removesuffix(chr(10)).removesuffix("...").strip()
        shown += ['-p', f'{name}:={flow}']
    return shown


def commands(plan) -> dict:
    return {node.label: readable(node.command, node_key(node.name, node.namespace)) for node in plan.nodes}


def entry_point_command(executable: str) -> list:
    """The command that starts an executable of ours: its entry point's function run by this Python."""
    module, function = ENTRY_POINTS[executable].split(':')
    return [sys.executable, '-c', f'import sys; from {module} import {function}; sys.argv[0] = "{executable}"; '
                                  f'sys.exit({function}())']


def node_command(executable: str, *ros_args: str) -> list:
    return [*entry_point_command(executable), '--ros-args', *ros_args]


@pytest.fixture
def params(tmp_path):
    path = tmp_path / 'params.yaml'
    path.write_text('/**:\n  ros__parameters:\n    x: 1\n')
    return path


# ------------------------------------------------------------------------- resolution
def test_arguments_lets_and_substitutions(tmp_path, monkeypatch):
    monkeypatch.setenv('LAUNCH_TEST_TOPIC', 'from_env')
    monkeypatch.delenv('LAUNCH_TEST_UNSET', raising=False)
    path = write(tmp_path, 'subst.launch.xml', """<launch>
  <arg name="rate" default="20.0"/>
  <arg name="which" default="rate"/>
  <arg name="label" default="$(var rate)hz"/>
  <let name="share" value="$(find-pkg-share liquid_control)"/>
  <node pkg="liquid_control" exec="lane_sim_node" name="n" args="--flag 'two words'">
    <param name="a" value="$(var $(var which))"/>
    <param name="b" value="$(var label)"/>
    <param name="c" value="$(env LAUNCH_TEST_TOPIC)"/>
    <param name="d" value="$(env LAUNCH_TEST_UNSET 'fallback value')"/>
    <param name="e" value="$(var share)/models"/>
    <param name="f" value="$(dirname)"/>
    <param name="g" value=""/>
    <param name="h" value="\\$(var rate)"/>
  </node>
</launch>
""")
    plan = plan_launch(path, {'rate': '30.0'})
    assert commands(plan)['n'] == [
        *entry_point_command('lane_sim_node'), '--flag', 'two words', '--ros-args',
        '-r', '__node:=n', '-p', 'a:=30.0', '-p', 'b:=30.0hz', '-p', 'c:=from_env', '-p', 'd:=fallback value',
        '-p', f'e:={SHARE}/models', '-p', f'f:={tmp_path.resolve()}', '-p', "g:=''", '-p', 'h:=$(var rate)']
    assert plan.arguments['rate'] == ('30.0', '')
    assert plan.arguments['label'] == ('30.0hz', '')


@pytest.mark.parametrize('executable', ENTRY_POINTS)
def test_our_executables_start_through_their_entry_points(executable):
    assert executable_command('liquid_control', executable) == entry_point_command(executable)


def test_find_pkg_share_falls_back_to_the_source_tree_for_an_editable_install(monkeypatch, tmp_path):
    monkeypatch.delenv('AMENT_PREFIX_PATH', raising=False)
    # The PyPI ROS wheels' own index in the venv is searched, with no AMENT_PREFIX_PATH.
    real_index = Path(sys.prefix) / 'share' / 'ament_index' / 'resource_index' / 'packages'
    if (real_index / 'rclpy').is_file():
        assert find_package_share('rclpy') == Path(sys.prefix) / 'share' / 'rclpy'
    # An editable install registers nothing (pip installs no data_files for it): the source tree.
    # The environment is a stand-in prefix, so this runs the same whichever way the package is installed.
    monkeypatch.setattr(sys, 'prefix', str(tmp_path))
    assert find_package_share('liquid_control') == SOURCE_ROOT == REPO_ROOT
    # A non-editable install registers the package in the environment's index: its share folder wins.
    index = tmp_path / 'share' / 'ament_index' / 'resource_index' / 'packages'
    index.mkdir(parents=True)
    (index / 'liquid_control').write_text('')
    assert find_package_share('liquid_control') == tmp_path / 'share' / 'liquid_control'
    with pytest.raises(LookupError, match="package 'no_such_package' not found"):
        find_package_share('no_such_package')


def test_groups_scope_namespaces_and_lets(tmp_path):
    path = write(tmp_path, 'ns.launch.xml', """<launch>
  <let name="where" value="outside"/>
  <node pkg="liquid_control" exec="lane_sim_node" name="root"/>
  <group>
    <push-ros-namespace namespace="a"/>
    <let name="where" value="inside"/>
    <node pkg="liquid_control" exec="lane_sim_node" name="in_a"/>
    <group>
      <push_ros_namespace namespace="b/"/>
      <node pkg="liquid_control" exec="lane_sim_node" name="in_ab"/>
      <node pkg="liquid_control" exec="lane_sim_node" name="in_abc" namespace="c"/>
      <node pkg="liquid_control" exec="lane_sim_node" name="absolute" namespace="/abs"/>
    </group>
    <node pkg="liquid_control" exec="lane_sim_node" name="back_in_a">
      <param name="where" value="$(var where)"/>
    </node>
  </group>
  <node pkg="liquid_control" exec="lane_sim_node" name="after">
    <param name="where" value="$(var where)"/>
  </node>
  <group scoped="false">
    <push-ros-namespace namespace="/leaky"/>
  </group>
  <node pkg="liquid_control" exec="lane_sim_node" name="leaked" namespace="x"/>
  <node pkg="liquid_control" exec="lane_sim_node" name="leaked"/>
</launch>
""")
    plan = plan_launch(path)
    assert {node.label: node.namespace for node in plan.nodes} == {
        'root': None, 'in_a': '/a', 'in_ab': '/a/b', 'in_abc': '/a/b/c', 'absolute': '/abs',
        'back_in_a': '/a', 'after': None, 'leaked': '/leaky/x', 'leaked-2': '/leaky'}
    got = commands(plan)
    assert got['root'] == node_command('lane_sim_node', '-r', '__node:=root')
    assert got['in_abc'] == node_command('lane_sim_node', '-r', '__node:=in_abc', '-r', '__ns:=/a/b/c')
    assert got['back_in_a'][-2:] == ['-p', 'where:=inside']
    assert got['after'][-2:] == ['-p', 'where:=outside']


def test_include_passes_arguments_and_is_not_a_scope(tmp_path):
    write(tmp_path, 'inner.launch.xml', """<launch>
  <arg name="topic" default="inner_default"/>
  <arg name="rate" default="1.0"/>
  <arg name="extra" default="none"/>
  <let name="set_by_inner" value="yes"/>
  <node pkg="liquid_control" exec="lane_sim_node" name="inner">
    <param name="rate" value="$(var rate)"/>
    <param name="extra" value="$(var extra)"/>
    <remap from="image_raw" to="$(var topic)"/>
  </node>
</launch>
""")
    outer = write(tmp_path, 'outer.launch.xml', """<launch>
  <let name="given" value="camera/image"/>
  <include file="$(dirname)/inner.launch.xml">
    <arg name="topic" value="$(var given)"/>
    <let name="rate" value="5.0"/>
  </include>
  <node pkg="liquid_control" exec="lane_sim_node" name="outer">
    <param name="leaked" value="$(var set_by_inner) $(var topic)"/>
  </node>
</launch>
""")
    got = commands(plan_launch(outer))
    assert got['inner'] == node_command('lane_sim_node', '-r', '__node:=inner', '-p', 'rate:=5.0', '-p', 'extra:=none',
                                        '-r', 'image_raw:=camera/image')
    # As in launch: an include's arguments and lets stay set after it (a <group> would scope them).
    assert got['outer'][-2:] == ['-p', 'leaked:=yes camera/image']
    # Command-line arguments reach included files; the include's own arguments win over them.
    got = commands(plan_launch(outer, {'rate': '7.0', 'extra': 'cli'}))
    assert got['inner'] == node_command('lane_sim_node', '-r', '__node:=inner', '-p', 'rate:=5.0', '-p', 'extra:=cli',
                                        '-r', 'image_raw:=camera/image')


def test_params_and_remaps_in_launch_ros_order(tmp_path, params):
    other = tmp_path / 'other.yaml'
    other.write_text('n:\n  ros__parameters:\n    x: 2\n')
    path = write(tmp_path, 'order.launch.xml', f"""<launch>
  <node pkg="liquid_control" exec="controller_node" name="n" namespace="robot" output="both">
    <remap from="a" to="b"/>
    <param from="{params}"/>
    <param name="x" value="3"/>
    <remap from="~/out" to="/global"/>
    <param from="{other}"/>
    <param name="list" value="[1, 2]"/>
  </node>
</launch>
""")
    (node,) = plan_launch(path).nodes
    assert (node.label, node.name, node.namespace, node.output) == ('n', 'n', '/robot', 'both')
    assert readable(node.command, '/robot/n') == node_command(
        'controller_node', '-r', '__node:=n', '-r', '__ns:=/robot', '--params-file', str(params), '-p', 'x:=3',
        '--params-file', str(other), '-p', 'list:=[1, 2]', '-r', 'a:=b', '-r', '~/out:=/global')
    # As launch_ros writes them: the value typed by YAML rules, the node under its full name.
    files = list(node.param_files.values())
    assert [yaml.safe_load(text) for text in files] == [{'/robot/n': {'ros__parameters': {'x': 3}}},
                                                        {'/robot/n': {'ros__parameters': {'list': [1, 2]}}}]
    paths = list(node.param_files)
    assert all(Path(path).is_file() for path in paths)


def test_other_packages_run_from_their_lib_folder(tmp_path, monkeypatch):
    prefix = fake_package(tmp_path)
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(prefix))
    path = write(tmp_path, 'other.launch.xml', """<launch>
  <node pkg="fake_pkg" exec="talker" args="--count 3"/>
</launch>
""")
    (node,) = plan_launch(path).nodes
    assert node.label == 'talker'
    assert node.command == [str(prefix / 'lib' / 'fake_pkg' / 'talker'), '--count', '3', '--ros-args']


def test_launch_file_lookup():
    assert resolve_launch_file('sim_demo.launch.xml') == SHARE / 'launch' / 'sim_demo.launch.xml'
    lane_keeping = resolve_launch_file('lane_keeping.launch.xml', 'liquid_control')
    assert lane_keeping == SHARE / 'launch' / 'lane_keeping.launch.xml'
    with pytest.raises(LaunchError, match=r"no launch file 'nope.launch.xml' .*sim_demo.launch.xml"):
        resolve_launch_file('nope.launch.xml')


# ---------------------------------------------------------------- the shipped launch files
def dry_run_commands(text: str) -> list:
    return [shlex.split(line) for line in text.splitlines() if line and not line.startswith('#')]


def lane_keeping_commands(params, namespace='/', use_sim_time='false', model=None, trigger='timer', backend='auto',
                          controller_input='preprocessed', camera_topic='camera/image_raw', twist_stamped='false',
                          compressed='false', shadow='false', command_type='twist'):
    model = model or f'{SHARE}/models/ncp19_lane'
    common = ['-r', f'__ns:={namespace}', '--params-file', str(params), '-p', f'model_path:={model}',
              '-p', f'use_sim_time:={use_sim_time}']
    return [
        node_command('perception_node', '-r', '__node:=perception_node', *common, '-p', f'use_compressed:={compressed}',
                     '-r', f'image_raw:={camera_topic}', '-r', f'image_raw/compressed:={camera_topic}/compressed'),
        node_command('controller_node', '-r', '__node:=controller_node', *common, '-p', f'trigger:={trigger}',
                     '-p', f'backend:={backend}', '-p', f'input:={controller_input}',
                     '-p', f'twist_stamped:={twist_stamped}', '-p', f'command_type:={command_type}',
                     '-p', f'shadow:={shadow}',
                     '-r', f'image_raw:={camera_topic}'),
    ]


def test_lane_keeping_dry_run(params):
    plan = plan_launch(SHARE / 'launch' / 'lane_keeping.launch.xml', {'params_file': str(params)})
    assert [(n.label, n.output) for n in plan.nodes] == [('perception_node', 'screen'), ('controller_node', 'screen')]
    assert [readable(c, f'/{n.name}') for c, n in zip(dry_run_commands(format_plan(plan)), plan.nodes)] == \
        lane_keeping_commands(params)

    plan = plan_launch(SHARE / 'launch' / 'lane_keeping.launch.xml', {
        'params_file': str(params), 'namespace': 'car1', 'use_sim_time': 'true', 'model': '/m',
        'camera_topic': '/front/image_raw', 'controller_input': 'camera'})
    expected = lane_keeping_commands(params, '/car1', 'true', '/m', controller_input='camera',
                                     camera_topic='/front/image_raw')
    assert [readable(n.command, f'/car1/{n.name}') for n in plan.nodes] == expected

    # A robot's JPEG camera: perception_node subscribes to CAMERA_TOPIC/compressed.
    plan = plan_launch(SHARE / 'launch' / 'lane_keeping.launch.xml', {
        'params_file': str(params), 'camera_topic': '/front_cam/color/image_raw', 'compressed': 'true',
        'twist_stamped': 'true', 'shadow': 'true'})
    expected = lane_keeping_commands(params, camera_topic='/front_cam/color/image_raw', compressed='true',
                                     twist_stamped='true', shadow='true')
    assert [readable(n.command, f'/{n.name}') for n in plan.nodes] == expected


def test_lane_keeping_default_params_file():
    default = SHARE / 'config' / 'lane_keeping.yaml'
    launch_file = SHARE / 'launch' / 'lane_keeping.launch.xml'
    assert [readable(n.command, f'/{n.name}') for n in plan_launch(launch_file).nodes] == \
        lane_keeping_commands(default)


def test_sim_demo_dry_run_through_the_command_line(params, ros_env):
    result = subprocess.run([*RUNNER, 'sim_demo.launch.xml', f'params_file:={params}', 'seed:=1000', '--print'],
                            env=ros_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    sim = node_command('lane_sim_node', '-r', '__node:=lane_sim_node', '-r', '__ns:=/',
                       '--params-file', f'{SHARE}/config/lane_sim.yaml', '-p', 'mode:=lockstep', '-p', 'seed:=1000',
                       '-p', 'use_sim_time:=true', '-p', 'cmd_vel_stamped:=false', '-p', 'command_type:=twist')
    names = ['lane_sim_node', 'perception_node', 'controller_node']
    assert [readable(c, f'/{name}') for c, name in zip(dry_run_commands(result.stdout), names)] == \
        [sim, *lane_keeping_commands(params, use_sim_time='true', trigger='frame')]
    assert '# arg seed:=1000' in result.stdout


# ------------------------------------------------------------------------- parameter types
def test_param_values_are_typed_as_launch_ros_types_them(tmp_path):
    path = write(tmp_path, 'typed.launch.xml', """<launch>
  <arg name="list" default="[0.5, 1.5]"/>
  <node pkg="liquid_control" exec="lane_sim_node" name="n" namespace="ns">
    <param name="flag" value="true"/>
    <param name="count" value="3"/>
    <param name="rate" value="20.0"/>
    <param name="text" value="@home"/>
    <param name="empty_list" value="[]"/>
    <param name="gains" value="$(var list)"/>
    <param name="names" value="[a, b]"/>
  </node>
</launch>
""")
    (node,) = plan_launch(path).nodes
    values = [yaml.safe_load(text)['/ns/n']['ros__parameters'] for text in node.param_files.values()]
    assert values == [{'flag': True}, {'count': 3}, {'rate': 20.0}, {'text': '@home'}, {'empty_list': []},
                      {'gains': [0.5, 1.5]}, {'names': ['a', 'b']}]
    for bad, why in (('[1, true]', 'a list of one of those'), ('{a: 1}', 'a list of one of those')):
        write(tmp_path, 'bad.launch.xml', f"""<launch>
  <node pkg="liquid_control" exec="lane_sim_node" name="n"><param name="x" value="{bad}"/></node>
</launch>
""")
        with pytest.raises(LaunchError, match=why):
            plan_launch(tmp_path / 'bad.launch.xml')
