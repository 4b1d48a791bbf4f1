"""Which ROS 2 distribution this Python runs with, and the environment that keeps DDS discovery local on it.

Found without importing rclpy (so tests and launchers can ask before any node starts): the
``ROS_DISTRO`` variable that a ROS host's ``setup.bash`` sets, else the version of the installed
rclpy (the PyPI wheels ``ros-rclpy`` / ``ros-jazzy-rclpy`` carry no ROS_DISTRO), else rclpy's
``package.xml`` in the ament index. rclpy's major version names the distribution: 3 Humble,
4 Iron, 7 Jazzy, 9 Kilted.

Discovery: ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` keeps discovery on this machine from Iron on;
Humble does not know that variable and needs ``ROS_LOCALHOST_ONLY=1`` (which Jazzy deprecates
and warns about, so it is set only where it is the one that works).
"""

from __future__ import annotations

import os
import re
import sys
from importlib import metadata
from pathlib import Path

RCLPY_MAJOR = {3: "humble", 4: "iron", 7: "jazzy", 9: "kilted"}
# Distributions older than Iron: ROS_AUTOMATIC_DISCOVERY_RANGE is ignored there.
LOCALHOST_ONLY_DISTROS = ("foxy", "galactic", "humble")


def rclpy_version() -> str | None:
    """The installed rclpy's version, from its wheel or its package.xml; None if none is found."""
    for distribution in ("ros-rclpy", "rclpy"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    for prefix in prefixes:
        package_xml = Path(prefix) / "share" / "rclpy" / "package.xml"
        if package_xml.is_file():
            found = re.search(r"<version>\s*([^<\s]+)\s*</version>", package_xml.read_text(errors="replace"))
            if found:
                return found.group(1)
    return None


def ros_distribution() -> str | None:
    """'humble', 'jazzy', 'kilted', ... or None when neither ROS_DISTRO nor a known rclpy says."""
    named = os.environ.get("ROS_DISTRO", "").strip().lower()
    if named:
        return named
    version = rclpy_version()
    if version is None:
        return None
    major = re.match(r"(\d+)", version)
    return RCLPY_MAJOR.get(int(major.group(1))) if major else None


def local_discovery_environment(distribution: str | None = None) -> dict[str, str]:
    """The variables that keep DDS discovery on this machine with `distribution` (default: this one's)."""
    distribution = ros_distribution() if distribution is None else distribution
    settings = {"ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    if distribution in LOCALHOST_ONLY_DISTROS:
        settings["ROS_LOCALHOST_ONLY"] = "1"
    return settings
