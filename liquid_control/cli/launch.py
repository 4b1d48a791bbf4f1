"""``launch``: run a ROS 2 XML launch file without ros2 launch (the runner is liquid_control.launching)."""

from __future__ import annotations

import argparse


def cmd_launch(args: argparse.Namespace) -> int:
    from liquid_control.launching import launch, parse_launch_arguments

    words, arguments = parse_launch_arguments([args.file, *args.arguments])
    if len(words) == 2:  # `ros2 launch` order: PACKAGE FILE
        package, target = words
    elif len(words) == 1:
        package, target = None, words[0]
    else:
        raise SystemExit("error: expected a launch file (or PACKAGE FILE) and name:=value arguments, got "
                         f"{' '.join(words)}")
    return launch(target, package, arguments, dry_run=args.print, shutdown_timeout=args.shutdown_timeout)


def add_parser(verbs) -> None:
    lch = verbs.add_parser(
        "launch", help="run a ROS 2 XML launch file without ros2 launch (e.g. sim_demo.launch.xml seed:=1000)",
        description="Run a ROS 2 XML launch file (a subset of launch_xml; anything else is refused with its file "
                    "and line). A bare file name is looked up in liquid_control's launch/ folder; PACKAGE FILE "
                    "works as with ros2 launch. Ctrl-C stops every node (SIGINT, then SIGTERM, then SIGKILL); a "
                    "node that dies with a non-zero exit code stops the launch (exit code 1).")
    lch.add_argument("file", help="launch file path, or a name in liquid_control's launch/ folder (or PACKAGE)")
    lch.add_argument("arguments", nargs="*", metavar="NAME:=VALUE", help="launch arguments (or FILE after PACKAGE)")
    lch.add_argument("--print", action="store_true", help="print the resolved node commands and start nothing")
    lch.add_argument("--shutdown-timeout", type=float, default=5.0, metavar="SECONDS",
                     help="wait this long after SIGINT before SIGTERM, and after SIGTERM before SIGKILL "
                          "(default: %(default)s)")
    lch.set_defaults(func=cmd_launch)
