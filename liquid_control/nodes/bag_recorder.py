"""bag_recorder: the rosbag2 recorder of ``bag record`` as a node of its own, for launch files.

    ros2 run liquid_control bag_recorder --ros-args -p output:=/data/run1 \\
        -p topics:="[/camera/image_raw, /cmd_vel]" -p use_sim_time:=true

Everything it is told comes through ROS parameters, read by rclpy: ``<param>`` tags of a launch
file (which the real ``ros2 launch`` hands over as ``--params-file`` files), params files, or ``-p``.
``use_sim_time`` is rclpy's own parameter: with it the messages are stamped with /clock time.
Ctrl-C (SIGINT) or SIGTERM stops it and finalises the bag; it exits 2 with one line for a bad
parameter (no ``output``, no topics, an unknown storage, an existing bag folder).

subscribes  the topics named in ``topics`` (or every topic, ``all_topics``), with the type and a QoS
            their publishers offer, as they appear
"""

from __future__ import annotations

import sys

import rclpy
from rclpy.logging import get_logger
from rclpy.parameter import Parameter
from rclpy.utilities import remove_ros_args

from liquid_control.data.bags import BagError
from liquid_control.nodes.bag_tools import check_record_options, record_with_node, start_ros_node
from liquid_control.nodes.settings import EXIT_BAD_PARAMETER, ParameterError, Setting, declare_settings

NODE_NAME = "bag_recorder"
STORAGES = ("mcap", "sqlite3")

SETTINGS = (
    Setting("output", "", "Bag folder to create; it must not exist yet."),
    Setting("topics", None, "Topics to record (they may appear later), e.g. [/camera/image_raw, /cmd_vel].",
            type=Parameter.Type.STRING_ARRAY),
    Setting("all_topics", False, "Record every topic, including ones that appear later (topics is then ignored)."),
    Setting("storage", "mcap", "Storage plugin of the bag: mcap or sqlite3."),
    Setting("duration_s", 0.0, "Stop after this many seconds of wall time; 0: until Ctrl-C.", low=0.0, high=1e9),
    Setting("discovery_period_s", 0.5, "Look for the topics' publishers this often.", low=0.01, high=60.0),
)


def _options(values: dict) -> dict:
    if not values["output"]:
        raise ParameterError("parameter 'output' is required: the bag folder to create (e.g. -p output:=data/run1)")
    if values["storage"] not in STORAGES:
        raise ParameterError(f"parameter 'storage' must be one of {', '.join(STORAGES)}, got {values['storage']!r}")
    topics = [topic for topic in (values["topics"] or []) if topic]
    duration = values["duration_s"] or None
    try:
        check_record_options(topics, values["all_topics"], duration)
    except ValueError as error:
        raise ParameterError(f"{error} (parameters 'topics' / 'all_topics')") from None
    return dict(output=values["output"], topics=topics, storage=values["storage"], all_topics=values["all_topics"],
                duration=duration, discovery_period=values["discovery_period_s"])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else list(argv)
    extra = remove_ros_args(argv)[1:]
    if extra:
        get_logger(NODE_NAME).fatal(f"unexpected arguments {' '.join(extra)}: bag_recorder takes ROS parameters "
                                    "only (--ros-args -p output:=DIR -p topics:=[...]); the command line tool is "
                                    "`python -m liquid_control bag record`")
        return EXIT_BAD_PARAMETER
    context, node = start_ros_node(NODE_NAME, argv)
    try:
        options = _options(declare_settings(node, SETTINGS))
        return record_with_node(context, node, **options)
    except (ParameterError, BagError) as error:  # BagError: e.g. the bag folder exists already
        node.get_logger().fatal(str(error))
        if context.ok():
            node.destroy_node()
            rclpy.try_shutdown(context=context)
        return EXIT_BAD_PARAMETER


if __name__ == "__main__":
    sys.exit(main())
