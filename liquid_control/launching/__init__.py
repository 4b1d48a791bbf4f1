"""Run ROS 2 XML launch files where the real launcher (``ros2 launch``) is not installed.

``python -m liquid_control launch sim_demo.launch.xml seed:=1000`` reads the files ``ros2 launch``
reads and starts the same node command lines; what is supported, refused and how the nodes are
supervised is in docs/launch.md. One module per step: launch_file (XML), substitutions,
package_share, executables (a node's command, as ``ros2 run`` finds it), planner (into a plan),
parameters, supervise (the processes), command_line (the verb).
"""

from .command_line import launch, parse_launch_arguments
from .executables import executable_command, package_entry_points
from .launch_file import LaunchError
from .package_share import SOURCE_ROOT, find_package_share, resolve_launch_file
from .plan import LaunchPlan, NodeLaunch, format_plan
from .planner import plan_launch
from .supervise import LaunchRunner

__all__ = [
    'LaunchError', 'LaunchPlan', 'LaunchRunner', 'NodeLaunch', 'SOURCE_ROOT', 'executable_command',
    'find_package_share', 'format_plan', 'launch', 'package_entry_points', 'parse_launch_arguments', 'plan_launch',
    'resolve_launch_file',
]
