"""The `.[ros]` extra gives a working ROS 2 on a machine without a system ROS install."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

# Runs in a child process, as real nodes will: one node publishes on a topic it also
# subscribes to, spinning until its own message comes back (no fixed sleeps: matching the
# publisher to the subscription takes anywhere from milliseconds to about two seconds).
LOOPBACK_SCRIPT = r'''
import json
import time

import rclpy
from std_msgs.msg import String

rclpy.init()
node = rclpy.create_node('liquid_control_environment_check')
received = []
node.create_subscription(String, 'environment_check', lambda msg: received.append(msg.data), 10)
publisher = node.create_publisher(String, 'environment_check', 10)
sent = 0
deadline = time.monotonic() + 10.0
while not received and time.monotonic() < deadline:
    publisher.publish(String(data='ping'))
    sent += 1
    rclpy.spin_once(node, timeout_sec=0.1)
node.destroy_node()
rclpy.shutdown()
print(json.dumps({'received': received[:1], 'sent': sent}))
'''


def test_rclpy_publishes_and_receives_in_a_child_process(ros_env):
    child = subprocess.run(
        [sys.executable, '-c', LOOPBACK_SCRIPT],
        env=ros_env, capture_output=True, text=True, timeout=30)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result['received'] == ['ping'], f'no message came back after {result["sent"]} sent'


def test_ament_index_finds_packages_of_the_ros_wheels(monkeypatch):
    from ament_index_python.packages import get_package_share_directory

    # The PyPI ROS wheels register themselves in the environment's own ament index.
    monkeypatch.setenv('AMENT_PREFIX_PATH', sys.prefix)
    assert (Path(get_package_share_directory('std_msgs')) / 'package.xml').is_file()


def test_the_distribution_is_the_imported_rclpys_and_the_lane_runs_the_one_it_says():
    """The distribution the package detects is that of the rclpy imported here (its wheel's version,
    not a ROS_DISTRO variable), conftest set that distribution's local-discovery variables, and under
    `make test-kilted` / `make test-jazzy` (which name the distribution their environment must have)
    it is the lane's: a lane cannot pass on the other distribution's rclpy."""
    import os
    from importlib import metadata

    import rclpy  # noqa: F401 - the rclpy that the nodes under test import

    from liquid_control.distro import RCLPY_MAJOR, local_discovery_environment, ros_distribution

    owners = metadata.packages_distributions().get('rclpy', [])
    assert owners, 'rclpy does not come from an installed distribution in this environment'
    version = metadata.version(owners[0])
    imported = RCLPY_MAJOR.get(int(version.split('.')[0]))
    assert imported is not None, f'rclpy {version} from {owners[0]} is of no distribution we know'
    if 'ROS_DISTRO' not in os.environ:  # a sourced ROS host names its own, which then wins by design
        assert ros_distribution() == imported
    for name, value in local_discovery_environment().items():
        assert os.environ[name] == value, f'conftest must set {name}={value} on {imported}'
    expected = os.environ.get('LIQUID_CONTROL_EXPECT_DISTRO')
    if expected is not None:
        assert imported == expected, f'the {expected} lane imported rclpy {version} from {owners[0]} ({imported})'
