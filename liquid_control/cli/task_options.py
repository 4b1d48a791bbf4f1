"""The options that choose a task on the command line: ``--task NAME|FILE`` (``--world`` is its
alias) and the overrides a user without a task file gives directly."""

from __future__ import annotations

import argparse


def add_task_options(parser: argparse.ArgumentParser, default: str | None = "lane", recordings: bool = True) -> None:
    parser.add_argument("--task", "--world", dest="task", default=default, required=default is None,
                        metavar="NAME|FILE",
                        help="a registered task (lane, drone) or a task YAML file (`task init` writes one); "
                             "--world is an alias (default: %(default)s)")
    if not recordings:
        return
    parser.add_argument("--camera-topic", help="the image topic to learn from (overrides the task's)")
    parser.add_argument("--command-topic", default="auto", help="the Twist/TwistStamped topic whose commands are the "
                        "labels (default: the task's; its expert topic when recorded)")
    parser.add_argument("--outputs", help="comma-separated command fields the policy outputs, e.g. angular.z,linear.x "
                                          "(overrides the task's)")
    parser.add_argument("--cache", metavar="DIR", help="where decoded recordings are cached (default: "
                                                        "$LIQUID_CONTROL_CACHE or ~/.cache/liquid_control/recordings)")
    parser.add_argument("--no-cache", action="store_true", help="decode into a temporary folder, removed at exit")


def task_from_args(args: argparse.Namespace):
    """The task the options name, with their overrides applied (a TaskError says what is wrong)."""
    from liquid_control.tasks import load_task

    task = load_task(args.task)
    command = getattr(args, "command_topic", "auto")
    outputs = getattr(args, "outputs", None)
    camera = getattr(args, "camera_topic", None)
    if camera or (command and command != "auto") or outputs:
        camera_type = None
        if camera and camera.endswith("/compressed"):
            camera_type = "sensor_msgs/msg/CompressedImage"
        task = task.with_overrides(camera_topic=camera, camera_type=camera_type,
                                   command_topic=None if command == "auto" else command,
                                   outputs=tuple(o.strip() for o in outputs.split(",")) if outputs else None)
    return task


def recording_cache(args: argparse.Namespace):
    """The ``cache`` argument of ``read_recording`` the options ask for."""
    if getattr(args, "no_cache", False):
        return None
    return args.cache or True
