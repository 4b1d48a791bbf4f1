"""The topic and message type of each command type, for the controller that publishes commands and the
simulators that take them (``command_type``: twist, twist_stamped, ackermann; docs/ackermann.md).

ackermann_msgs is imported only when a node is set to ``ackermann``: PyPI has no wheel of it, so a pip
install lacks it (package.xml names it for rosdep), and a node without it says so in one line at start-up.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Callable

from geometry_msgs.msg import Twist, TwistStamped


def _ackermann_drive_stamped() -> type:
    from ackermann_msgs.msg import AckermannDriveStamped

    return AckermannDriveStamped


@dataclass(frozen=True)
class CommandTopic:
    """Where and as what commands of one command type travel."""

    topic: str  # relative, so namespaces and remapping work
    type_name: str  # for logs and errors
    stamped: bool  # the message has a header (stamp, frame_id)
    message_type: Callable[[], type]
    package: str  # the Python package the message type comes from


COMMAND_TOPICS = {
    "twist": CommandTopic("cmd_vel", "geometry_msgs/Twist", False, lambda: Twist, "geometry_msgs"),
    "twist_stamped": CommandTopic("cmd_vel", "geometry_msgs/TwistStamped", True, lambda: TwistStamped,
                                  "geometry_msgs"),
    # F1TENTH's name: the autonomous input of its ackermann_mux, and what its simulator subscribes to.
    "ackermann": CommandTopic("drive", "ackermann_msgs/AckermannDriveStamped", True, _ackermann_drive_stamped,
                              "ackermann_msgs"),
}


def missing_package(command_type: str) -> str:
    """'' when the message type of ``command_type`` can be imported here, else why not (one line)."""
    package = COMMAND_TOPICS[command_type].package
    if importlib.util.find_spec(package) is not None:
        return ""
    return (f"command_type {command_type} needs the {package} message package, which is not installed "
            f"(on a ROS host: ros-$ROS_DISTRO-{package.replace('_', '-')})")
