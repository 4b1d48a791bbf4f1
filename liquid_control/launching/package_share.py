"""Finding ROS packages' share folders and the launch files in them, as ``ros2 launch`` does."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .launch_file import LaunchError

PACKAGE = 'liquid_control'
# The repository root: package.xml, launch/, config/ and models/ of a source checkout.
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def find_package_share(package: str) -> Path:
    """The share folder of a ROS package, like launch_ros's $(find-pkg-share).

    Looked up in the ament index of AMENT_PREFIX_PATH first (a ROS host, or a venv with
    AMENT_PREFIX_PATH=<venv>), then in this Python environment's own index (the PyPI ROS wheels
    register their packages under <sys.prefix>/share/ament_index even when AMENT_PREFIX_PATH is
    unset). liquid_control itself falls back to its source tree: `pip install -e` installs no
    data_files, so an editable install has neither share/liquid_control nor an ament index entry
    (checked), while launch/, config/ and models/ sit in the repository root beside package.xml.
    """
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:
        pass
    else:
        try:
            return Path(get_package_share_directory(package))
        except (PackageNotFoundError, OSError, ValueError):
            pass  # OSError: AMENT_PREFIX_PATH unset; ValueError: an invalid package name
    if (Path(sys.prefix) / 'share' / 'ament_index' / 'resource_index' / 'packages' / package).is_file():
        return Path(sys.prefix) / 'share' / package
    if package == PACKAGE and (SOURCE_ROOT / 'package.xml').is_file():
        return SOURCE_ROOT
    raise LookupError(f"package '{package}' not found in the ament index "
                      f"(AMENT_PREFIX_PATH={os.environ.get('AMENT_PREFIX_PATH', '')!r}, nor under {sys.prefix})")


def resolve_launch_file(target: str, package: str | None = None) -> Path:
    """A launch file given as a path, or by name inside a package's launch/ folder (``ros2 launch`` style)."""
    if package is None:
        path = Path(target)
        if path.is_file():
            return path
        if os.sep in target or '/' in target:
            raise LaunchError(f'no such launch file: {target}')
        package = PACKAGE
    try:
        share = find_package_share(package)
    except LookupError as error:
        raise LaunchError(str(error)) from None
    path = share / 'launch' / target
    if not path.is_file():
        available = sorted(p.name for p in (share / 'launch').glob('*.launch.xml'))
        raise LaunchError(f"no launch file '{target}' in {share / 'launch'} "
                          f"(there: {', '.join(available) or 'none'})")
    return path
