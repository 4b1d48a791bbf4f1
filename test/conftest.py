"""Session-wide test isolation, set up before any test module is imported.

Every pytest process gets its own ROS 2 world:

* ROS_DOMAIN_ID: DDS participants only discover peers in the same domain, so a distinct domain
  per test process keeps two concurrent test runs (or a robot on the network) from seeing each
  other's topics. It is derived from the pid and kept in 1..101: domain 0 is everybody's default,
  and with Fast DDS's default port mapping (7400 + 250 * domain + offsets) domains above 101 use
  ports inside Linux's ephemeral range (32768-60999), where they can clash with other sockets.
  Two processes may still draw the same domain (1 in 101); the topics a test uses should be
  specific enough that this does not matter.
* ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (and ROS_LOCALHOST_ONLY=1 on Humble, which ignores the
  former; liquid_control.distro): discovery stays on this machine, nothing is sent to the LAN's
  multicast group.
* ROS_LOG_DIR / ROS_HOME: rcl writes logs under ~/.ros by default; the tests point both into a
  temporary folder that is removed when the session ends, so they leave nothing in $HOME.
* MPLBACKEND=Agg: plots render without a display.
* LIQUID_CONTROL_CACHE: decoded recordings are cached in the temporary folder, not ~/.cache.

Child processes (nodes under test) inherit all of this through the `ros_env` fixture.
"""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from liquid_control.distro import local_discovery_environment

REPO_ROOT = Path(__file__).resolve().parents[1]
# Data shared by the project but kept out of the repository (e.g. bags written by real rosbag2);
# it lies beside the checkout, both on developer machines and in CI.
SHARED_FIXTURES = REPO_ROOT.parent / 'shared' / 'fixtures'

_session_tmp = None


def pytest_configure(config):
    global _session_tmp
    _session_tmp = Path(tempfile.mkdtemp(prefix='liquid_control-tests-'))
    (_session_tmp / 'ros_log').mkdir()
    (_session_tmp / 'ros_home').mkdir()
    os.environ.update({
        'ROS_DOMAIN_ID': str(1 + os.getpid() % 101),
        'ROS_LOG_DIR': str(_session_tmp / 'ros_log'),
        'ROS_HOME': str(_session_tmp / 'ros_home'),
        'MPLBACKEND': 'Agg',
        'LIQUID_CONTROL_CACHE': str(_session_tmp / 'recordings'),  # decoded recordings: never in $HOME
        **local_discovery_environment(),
    })


def pytest_unconfigure(config):
    if _session_tmp is not None:
        shutil.rmtree(_session_tmp, ignore_errors=True)


@pytest.fixture
def ros_env():
    """A copy of the whole environment, to pass unchanged to a child process.

    It must be the whole environment: `import rclpy` from the PyPI wheels re-executes the
    interpreter with LD_LIBRARY_PATH set and marks that with _ROS_WHEELS_BOOTSTRAP_COMPLETE=1; a
    child that inherits the marker without LD_LIBRARY_PATH cannot import rclpy. Tests may add
    to the copy (e.g. a per-test variable) without affecting other tests.
    """
    return dict(os.environ)


@pytest.fixture(scope='session')
def shared_fixtures():
    """Path of ../shared/fixtures beside the repository (see SHARED_FIXTURES)."""
    return SHARED_FIXTURES
