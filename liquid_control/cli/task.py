"""``task``: write a starter task from a recording, and show a task as YAML."""

from __future__ import annotations

import argparse
import json


def cmd_task_init(args: argparse.Namespace) -> int:
    from liquid_control.tasks import save_task_file
    from liquid_control.tasks.from_bag import starter_task

    outputs = [o.strip() for o in args.outputs.split(",")] if args.outputs else None
    task, found = starter_task(args.bag, name=args.name, camera_topic=args.camera_topic,
                               command_topic=args.command_topic, outputs=outputs)
    save_task_file(task, args.out)
    print(f"image topics: {', '.join(found['image_topics'])}; command topics: {', '.join(found['command_topics'])}")
    print(f"camera {task.camera.topic} ({task.camera.type.split('/')[-1]}, {found['camera_rate_hz']} Hz"
          + (f", {found['frame_size'][1]}x{found['frame_size'][0]}" if found["frame_size"] else "") + ")")
    print(f"command {task.command.topic} ({task.command.type.split('/')[-1]}, {found['commands']} messages); "
          f"standard deviation per field: " + ", ".join(f"{k} {v:g}" for k, v in found["command_std"].items()))
    print(f"outputs: {', '.join(task.command.outputs)}; network input {task.preprocessing['size'][1]}x"
          f"{task.preprocessing['size'][0]}")
    print(f"wrote {args.out}; next: python -m liquid_control dataset report --task {args.out} {args.bag}")
    return 0


def cmd_task_show(args: argparse.Namespace) -> int:
    import yaml

    from liquid_control.tasks import load_task, registered

    if not args.task:
        print("registered tasks: " + ", ".join(registered()))
        return 0
    task = load_task(args.task)
    text = json.dumps(task.to_dict(), indent=1) if args.json else yaml.safe_dump(task.to_dict(), sort_keys=False)
    print(text, end="")
    return 0


def add_parser(verbs) -> None:
    task = verbs.add_parser("task", help="tasks: what a policy sees and commands (write one from a bag, show one)")
    task_verbs = task.add_subparsers(dest="task_verb", metavar="TASK_VERB")
    task_verbs.required = True
    init = task_verbs.add_parser("init", help="write a starter task YAML from a recording of your robot")
    init.add_argument("bag", help="a bag recorded on the robot (folder, MCAP or sqlite3)")
    init.add_argument("--out", required=True, metavar="TASK.yaml", help="the task file to write")
    init.add_argument("--name", help="the task's name (default: the bag's)")
    init.add_argument("--camera-topic", help="the image topic, when the bag has several")
    init.add_argument("--command-topic", help="the Twist/TwistStamped topic, when the bag has several")
    init.add_argument("--outputs", help="comma-separated command fields (default: those that vary in the bag)")
    init.set_defaults(func=cmd_task_init)
    show = task_verbs.add_parser("show", help="print a task as YAML (no argument: list the registered tasks)")
    show.add_argument("task", nargs="?", metavar="NAME|FILE")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_task_show)
