"""bag_recorder: ``bag record`` as a node executable, for launch files (``ros2 run liquid_control bag_recorder``).

Everything before ``--ros-args`` is the ``bag record`` command line (``-o DIR [--storage mcap]
TOPIC ...``); of the ROS arguments only ``use_sim_time:=true`` is used (stamps from /clock).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from liquid_control.cli import main as cli_main

    argv = sys.argv[1:] if argv is None else list(argv)
    split = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    own, ros = argv[:split], argv[split:]
    sim_time = any(arg.replace(" ", "") in ("use_sim_time:=true", "use_sim_time:=True") for arg in ros)
    return cli_main(["bag", "record", *own, *(["--use-sim-time"] if sim_time else [])])


if __name__ == "__main__":
    sys.exit(main())
