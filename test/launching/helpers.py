"""What the two launch test files share: a launch file written to a test's folder, the runner's
command line, and a fake ROS package whose shell-script "nodes" start in milliseconds."""
import sys
from pathlib import Path

RUNNER = [sys.executable, '-m', 'liquid_control', 'launch']


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body)
    return path


FAKE_NODES = {
    # Prints its command line, then runs until SIGINT or SIGTERM, and exits 0.
    'talker': 'trap "echo talker stopping; exit 0" INT TERM\necho "talker up: $*"\n'
              'while :; do sleep 0.05; done\n',
    # Prints its command line and exits 0 at once.
    # Prints its argv, then the params files it was given (the runner removes them at the end).
    'oneshot': 'echo "oneshot ran: $*"\n'
               'for a; do case "$a" in */launch_params_*) echo "file $a:"; cat "$a";; esac; done\n',
    # Fails on its own.
    'crasher': 'echo "crasher failing" >&2\nexit 3\n',
    # Ignores SIGINT (its sleeps inherit that), so only SIGTERM stops it.
    'stubborn': 'trap "" INT\necho "stubborn up"\nwhile :; do sleep 0.05; done\n',
    # Leaves a child behind that ignores SIGINT, and exits 0 on SIGINT itself.
    'forker': 'trap "exit 0" INT\n(trap "" INT; echo "child ready"; exec sleep 60) &\n'
              'while :; do sleep 0.05; done\n',
}


def fake_package(root: Path) -> Path:
    """An install prefix with package fake_pkg, laid out the way `ros2 run` and the ament index expect."""
    prefix = root / 'prefix'
    (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages').mkdir(parents=True)
    (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'fake_pkg').touch()
    (prefix / 'share' / 'fake_pkg').mkdir()
    (prefix / 'lib' / 'fake_pkg').mkdir(parents=True)
    for name, script in FAKE_NODES.items():
        path = prefix / 'lib' / 'fake_pkg' / name
        path.write_text('#!/bin/sh\n' + script)
        path.chmod(0o755)
    return prefix
