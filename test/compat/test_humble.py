"""Humble (Ubuntu 22.04, Python 3.10, rclpy 3.3) has no wheels to test on here, so compatibility is
proven two other ways: every ROS name the package uses is checked against Humble's recorded API
surface (humble_surface.json, made by make_surface.py from the humble branches; the commits are in
the file), and every module must parse and run on Python 3.10 (vermin, and ast's 3.10 grammar).
"""
import ast
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from .surface import Surface, check_package

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / 'liquid_control'
HUMBLE = Surface(json.loads((Path(__file__).parent / 'humble_surface.json').read_text()))


def test_the_surface_is_humbles_and_says_where_it_comes_from():
    assert HUMBLE.data['branch'] == 'humble'
    sources = HUMBLE.data['sources']
    assert set(sources) == {'ros2/rclpy', 'ros2/common_interfaces', 'ros2/rcl_interfaces', 'ament/ament_index'}
    assert all(len(source['commit']) == 40 and source['branch'] == 'humble' for source in sources.values())
    # Known Humble facts, so a broken generator cannot pass: no Kilted names, the old timer call.
    assert 'TimerCancelledError' not in HUMBLE.modules['rclpy.executors']
    assert 'call_timer' in HUMBLE.extension['classes']['Timer']
    assert 'call_timer_with_info' not in HUMBLE.extension['classes']['Timer']
    assert 'autostart' not in HUMBLE.classes['rclpy.node.Node']['members']['create_timer']['params']


def test_every_ros_name_the_package_uses_exists_in_humble():
    findings, resolved = check_package(HUMBLE, PACKAGE)
    assert resolved > 60, f'only {resolved} ROS names were resolved: is the checker looking at the package?'
    assert [str(f) for f in findings] == []


def test_the_check_finds_names_newer_than_humble(tmp_path):
    package = tmp_path / 'newer'
    package.mkdir()
    (package / 'uses.py').write_text('''
import rclpy
from rclpy.executors import TimerCancelledError
from rclpy.node import Node
from rclpy.parameter_client import AsyncParameterClient
from rclpy.clock import Clock, ClockType
from rclpy.qos import ReliabilityPolicy
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from geometry_msgs.msg import TwistStamped


class Late(Node):
    def __init__(self):
        super().__init__("late", enable_rosout=True, not_a_parameter=1)
        self.create_timer(1.0, self.tick, autostart=False)
        self.fine = self.create_publisher(TwistStamped, "cmd_vel", 10)

    def tick(self):
        self.no_such_method()
        self.fine.publish(TwistStamped(twist=None, no_field=1))


def main(node: Node, message: "TwistStamped | None"):
    rclpy.init(args=None, bogus=True)
    clock = Clock(clock_type=ClockType.STEADY_TIME)
    clock.sleep_for_ever()
    node.create_timer(1.0, main, autostart=True)
    command = TwistStamped()
    command.tiwst = message.twist
    return (_rclpy.Timer.call_timer_with_info, _rclpy.WaitSet, ReliabilityPolicy.BEST_AVAILABLE,
            ReliabilityPolicy.RELIABLE.name)
''')
    findings, _ = check_package(HUMBLE, package)
    assert [str(f) for f in findings] == [
        'newer/uses.py:3: rclpy.executors has no TimerCancelledError',
        'newer/uses.py:5: module rclpy.parameter_client does not exist',
        "newer/uses.py:14: super().__init__() has no parameter 'not_a_parameter' in humble",
        "newer/uses.py:15: self.create_timer() has no parameter 'autostart' in humble",
        'newer/uses.py:19: self.no_such_method: no such name in humble',
        "newer/uses.py:20: TwistStamped() has no parameter 'no_field' in humble",
        "newer/uses.py:24: rclpy.init() has no parameter 'bogus' in humble",
        'newer/uses.py:26: clock.sleep_for_ever: no such name in humble',
        "newer/uses.py:27: node.create_timer() has no parameter 'autostart' in humble",
        'newer/uses.py:29: command.tiwst: no such name in humble',
        'newer/uses.py:30: _rclpy.Timer.call_timer_with_info: no such name in humble',
        'newer/uses.py:30: ReliabilityPolicy.BEST_AVAILABLE: no such name in humble',
    ]


def _extension(classes: dict):
    return SimpleNamespace(**{name: type(name, (), {m: None for m in methods}) for name, methods in classes.items()})


def test_the_serving_threads_need_only_what_humbles_extension_has():
    """What dedicated_threads.py takes from rclpy's C extension goes through handles the static check cannot
    follow, so its own feature check runs against Humble's recorded extension instead."""
    from liquid_control.nodes.dedicated_threads import serving_available

    assert serving_available(_extension(HUMBLE.extension['classes'])) == ''
    # The fallback's trigger: an extension without them is named, piece by piece.
    reduced = {**HUMBLE.extension['classes'], 'Timer': ['cancel_timer']}
    del reduced['WaitSet']
    assert serving_available(_extension(reduced)) == '_rclpy.WaitSet, _rclpy.Timer.call_timer'


@pytest.mark.parametrize('path', sorted(PACKAGE.rglob('*.py')), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_module_parses_with_the_python_3_10_grammar(path):
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 10))


def vermin(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / 'vermin'), '--no-tips', '--violations',
                           '--eval-annotations', '--backport', 'typing_extensions', '-t=3.10-', str(path)],
                          capture_output=True, text=True, timeout=300)


def test_vermin_finds_nothing_newer_than_python_3_10(tmp_path):
    """vermin also knows library features (tomllib, datetime.UTC, typing.Self, ...), not only syntax."""
    result = vermin(PACKAGE)
    assert result.returncode == 0, result.stdout + result.stderr
    (tmp_path / 'newer.py').write_text('import tomllib\n')
    assert vermin(tmp_path / 'newer.py').returncode != 0, 'vermin must flag a 3.11 module'
