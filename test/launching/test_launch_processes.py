"""The launch runner's processes, through the command line (`python -m liquid_control launch ...`)
as a user runs it: output relayed, a failing node stopping the launch, SIGINT escalated to SIGTERM,
leftovers of a node's process group killed, and once end to end with the real lane_sim_node.

The other nodes are a fake ROS package (shell scripts under <prefix>/lib/fake_pkg, found through
AMENT_PREFIX_PATH) whose "nodes" start in milliseconds. Nothing sleeps a fixed time: every wait
reads the runner's output until a line appears, with a deadline.
"""
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from .helpers import RUNNER, fake_package, write


class Runner:
    """`python -m liquid_control launch FILE` as a child process; its output read line by line."""

    def __init__(self, launch_file: Path, env: dict, *arguments: str):
        self.process = subprocess.Popen([*RUNNER, str(launch_file), *arguments], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, errors='replace')
        self.lines: list = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip('\n'))
                self._changed.notify_all()

    @property
    def output(self) -> str:
        return '\n'.join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    match = regex.search(line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    pytest.fail(f'no line matching {pattern!r} within {timeout} s; runner output:\n{self.output}')
                self._changed.wait(min(left, 0.5))

    def finish(self, timeout: float = 30.0) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f'the runner did not exit within {timeout} s; output:\n{self.output}')
        self._reader.join(5)
        return code

    def node_pids(self) -> dict:
        return {m.group(1): int(m.group(2)) for m in
                (re.search(r'^\[launch\] (\S+) started \(pid (\d+)\)', line) for line in self.lines) if m}


@pytest.fixture
def start_runner():
    """Starts runners; one still running when the test ends (a failed wait) is stopped with its nodes."""
    started = []

    def start(*args) -> Runner:
        started.append(Runner(*args))
        return started[-1]

    yield start
    for runner in started:
        if runner.process.poll() is None:
            runner.process.send_signal(signal.SIGINT)  # the runner stops its nodes (which run in their own sessions)
            try:
                runner.process.wait(30)
            except subprocess.TimeoutExpired:
                runner.process.kill()
                runner.process.wait()


def assert_gone(pids: dict) -> None:
    """No process is left of any node: each ran in its own process group (pgid = its pid).

    Zombies are ignored: a node's orphaned child is reparented to PID 1, which may take a moment
    (over a second in some containers) to reap it; it is dead, and nothing the runner can wait for.
    """
    assert pids
    for label, pid in pids.items():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped by the runner
        live = [entry.name for entry in Path('/proc').iterdir() if entry.name.isdigit() and in_group(entry, pid)]
        assert not live, f'{label}: processes {live} of its process group survived the runner'


def in_group(proc_entry: Path, pgid: int) -> bool:
    try:
        fields = (proc_entry / 'stat').read_text().rsplit(')', 1)[1].split()
    except OSError:
        return False
    return int(fields[2]) == pgid and fields[0] not in ('Z', 'X')


@pytest.fixture
def fake_env(tmp_path, ros_env):
    return {**ros_env, 'AMENT_PREFIX_PATH': str(fake_package(tmp_path))}


def test_relays_output_keeps_running_after_a_clean_exit_and_stops_on_sigint(tmp_path, fake_env, start_runner):
    path = write(tmp_path, 'fake.launch.xml', """<launch>
  <node pkg="fake_pkg" exec="talker" name="talker" output="screen"/>
  <node pkg="fake_pkg" exec="oneshot" name="oneshot" namespace="ns" output="log">
    <param name="x" value="1"/>
  </node>
</launch>
""")
    runner = start_runner(path, fake_env)
    runner.wait_for(r'^\[talker\] talker up: --ros-args -r __node:=talker$', 15)
    runner.wait_for(r'^\[launch\] oneshot exited cleanly', 15)
    assert runner.process.poll() is None, 'a node that exits 0 leaves the others running'
    runner.process.send_signal(signal.SIGINT)
    assert runner.finish() == 0, runner.output
    assert '[talker] talker stopping' in runner.lines
    assert_gone(runner.node_pids())
    # output="log": the node's stdout went to a file under ROS_LOG_DIR, not to the screen.
    assert 'oneshot ran' not in runner.output
    (log,) = Path(fake_env['ROS_LOG_DIR']).glob('launch_runner-*/oneshot.log')
    ran, _, file = log.read_text().partition('\nfile ')
    argv = ran.removeprefix('oneshot ran: ').split()
    assert argv[:-1] == ['--ros-args', '-r', '__node:=oneshot', '-r', '__ns:=/ns', '--params-file'], ran
    assert re.fullmatch(r'/.*/launch_params_\w+', argv[-1]), argv
    path, _, text = file.partition(':\n')
    assert path == argv[-1] and yaml.safe_load(text) == {'/ns/oneshot': {'ros__parameters': {'x': 1}}}, file
    assert not Path(path).exists(), 'the runner removes its params files when the launch ends'


def test_a_failing_node_stops_the_launch(tmp_path, fake_env, start_runner):
    path = write(tmp_path, 'fail.launch.xml', """<launch>
  <node pkg="fake_pkg" exec="talker" output="screen"/>
  <node pkg="fake_pkg" exec="crasher" output="screen"/>
</launch>
""")
    runner = start_runner(path, fake_env, '--shutdown-timeout', '10')
    assert runner.finish() == 1, runner.output
    assert '[crasher] crasher failing' in runner.lines
    assert re.search(r'^\[launch\] crasher died \(pid \d+, exit code 3\); stopping the other 1 node', runner.output,
                     re.M), runner.output
    assert re.search(rf'launch failed: crasher \({re.escape(str(path))}:3\) died with exit code 3', runner.output)
    assert_gone(runner.node_pids())


@pytest.mark.parametrize('how', ['after the grace period', 'on a second signal'])
def test_sigterm_escalates_when_a_node_ignores_sigint(tmp_path, fake_env, how, start_runner):
    path = write(tmp_path, 'stubborn.launch.xml', """<launch>
  <node pkg="fake_pkg" exec="stubborn" output="screen"/>
  <node pkg="fake_pkg" exec="talker" output="screen"/>
</launch>
""")
    runner = start_runner(path, fake_env, '--shutdown-timeout', '0.5' if how == 'after the grace period' else '60')
    runner.wait_for(r'^\[stubborn\] stubborn up', 15)
    runner.wait_for(r'^\[talker\] talker up', 15)
    runner.process.send_signal(signal.SIGTERM)
    if how == 'on a second signal':
        runner.wait_for(r'^\[launch\] talker stopped|^\[talker\] talker stopping', 15)
        runner.process.send_signal(signal.SIGINT)
    assert runner.finish(20) == 1, runner.output  # not every node stopped cleanly
    assert '[launch] SIGTERM received: stopping 2 node(s)' in runner.lines
    assert '[launch] stubborn still running after SIGINT; sending SIGTERM' in runner.lines
    assert '[launch] talker stopped (exit code 0)' in runner.lines
    assert '[launch] stubborn stopped (killed by SIGTERM)' in runner.lines
    assert_gone(runner.node_pids())


def test_what_a_node_leaves_behind_is_killed(tmp_path, fake_env, start_runner):
    path = write(tmp_path, 'forker.launch.xml',
                 '<launch>\n  <node pkg="fake_pkg" exec="forker" output="screen"/>\n</launch>\n')
    runner = start_runner(path, fake_env)
    runner.wait_for(r'^\[forker\] child ready', 15)
    runner.process.send_signal(signal.SIGINT)
    assert runner.finish() == 0, runner.output
    assert '[launch] killing what forker left running in its process group' in runner.lines
    assert_gone(runner.node_pids())


@pytest.mark.ros
def test_runs_lane_sim_node_end_to_end(tmp_path, ros_env, start_runner):
    """The real node, started by the runner: named, namespaced and parameterised as the file says."""
    path = write(tmp_path, 'sim.launch.xml', """<launch>
  <arg name="seed" default="0"/>
  <group>
    <push-ros-namespace namespace="launch_test"/>
    <node pkg="liquid_control" exec="lane_sim_node" name="sim_under_test" output="screen">
      <param from="$(find-pkg-share liquid_control)/config/lane_sim.yaml"/>
      <param name="seed" value="$(var seed)"/>
      <param name="mode" value="realtime"/>
    </node>
  </group>
</launch>
""")
    runner = start_runner(path, ros_env, 'seed:=1000', '--shutdown-timeout', '20')
    # rclpy names a node's logger <namespace>.<name>: this line shows the runner's prefix, and that
    # the node came up with the name, namespace and seed of the launch file.
    line = runner.wait_for(r'^\[sim_under_test\] .*\[launch_test\.sim_under_test\]: .*', 90).group()
    assert re.search(r'seed\D*1000\b', line), line
    runner.process.send_signal(signal.SIGINT)
    assert runner.finish(60) == 0, runner.output
    assert '[launch] sim_under_test stopped (exit code 0)' in runner.lines, runner.output
    assert_gone(runner.node_pids())
