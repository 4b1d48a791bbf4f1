"""What the ``launch`` verb calls: split ``ros2 launch``-style words, then print the plan or run it."""

from __future__ import annotations

import sys
from typing import Sequence

from .launch_file import LaunchError
from .package_share import resolve_launch_file
from .plan import format_plan
from .planner import plan_launch
from .supervise import LaunchRunner


def launch(target: str, package: str | None, arguments: dict[str, str], dry_run: bool = False,
           shutdown_timeout: float = 5.0) -> int:
    """The `launch` verb: resolve the file, then print the commands or run them."""
    plan = plan_launch(resolve_launch_file(target, package), arguments)
    if dry_run:  # the params files stay, so that the printed commands run as they are
        sys.stdout.write(format_plan(plan))
        return 0
    try:
        return LaunchRunner(plan, shutdown_timeout).run()
    finally:
        plan.remove_param_files()


def parse_launch_arguments(items: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Split ``ros2 launch``-style words into positional words and ``name:=value`` arguments."""
    positional, arguments = [], {}
    for item in items:
        name, sep, value = item.partition(':=')
        if sep:
            if not name:
                raise LaunchError(f'launch argument {item!r} has no name (expected name:=value)')
            arguments[name] = value
        else:
            positional.append(item)
    return positional, arguments
