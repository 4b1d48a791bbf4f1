"""Session-wide test isolation, set up before any test module is imported.

Every pytest process gets its own ROS 2 world:

* ROS_DOMAIN_ID: DDS participants only discover peers in the same domain, so a distinct domain
  per test process keeps two concurrent test runs (or a robot on the network) from seeing each
  other's topics. It is derived from the pid and kept in 1..101: domain 0 is everybody's default,
  and with Fast DDS's default port mapping (7400 + 250 * domain + offsets) domains above 101 use
  ports inside Linux's ephemeral range (32768-60999), where they can clash with other sockets.
  Two processes may still draw the same domain (1 in 101); the topics a test uses should be
  specific enough that this does not matter. Under pytest-xdist (`-n 2`) each worker is such a
  process; the workers of one run take consecutive domains from their parent's pid, so they never
  share one.
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


def _domain_id() -> int:
    """This test process's ROS_DOMAIN_ID in 1..101 (see the module's docstring)."""
    worker = os.environ.get('PYTEST_XDIST_WORKER')  # 'gw0', 'gw1', ... in an xdist worker
    if worker:
        return 1 + (os.getppid() + int(worker.removeprefix('gw'))) % 101
    return 1 + os.getpid() % 101


def pytest_configure(config):
    global _session_tmp
    _session_tmp = Path(tempfile.mkdtemp(prefix='liquid_control-tests-'))
    (_session_tmp / 'ros_log').mkdir()
    (_session_tmp / 'ros_home').mkdir()
    os.environ.update({
        'ROS_DOMAIN_ID': str(_domain_id()),
        'ROS_LOG_DIR': str(_session_tmp / 'ros_log'),
        'ROS_HOME': str(_session_tmp / 'ros_home'),
        'MPLBACKEND': 'Agg',
        'LIQUID_CONTROL_CACHE': str(_session_tmp / 'recordings'),  # decoded recordings: never in $HOME
        **local_discovery_environment(),
    })


def pytest_unconfigure(config):
    if _session_tmp is not None:
        shutil.rmtree(_session_tmp, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, start the files that hold `slow` tests first.

    `make test` runs the files on two workers (`--dist loadfile`, in collection order); a
    several-minute study test that starts last would run alone at the end while the other worker
    idles. Started first, the long files overlap each other and the short ones fill the gaps.
    """
    if not os.environ.get('PYTEST_XDIST_WORKER'):
        return
    slow_files = {item.path for item in items if item.get_closest_marker('slow')}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: files keep their order


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
