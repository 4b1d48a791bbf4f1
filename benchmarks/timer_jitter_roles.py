"""The child processes of timer_jitter.py whose timer ticks are recorded in the process itself.

    python benchmarks/timer_jitter_roles.py idle_timer|hosted_controller --ticks-file FILE [--rate 50] --ros-args ...

idle_timer         a bare node with a timer that records each tick and publishes a Header;
hosted_controller  controller_node's own class and spin, its tick history lengthened and saved.
Both write their tick times (CLOCK_MONOTONIC, as the probe's perf_counter) to --ticks-file at exit.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from ros_harness import run_until_stopped, script_command, split_ros_arguments

ROLES = ("idle_timer", "hosted_controller")


def role_command(role: str, ticks_file: Path, namespace: str, extra=(), parameters=()) -> list[str]:
    """The command of a process of this script in `role`, in `namespace`."""
    return script_command("timer_jitter_roles.py", [role, "--ticks-file", str(ticks_file), *extra], namespace,
                          parameters)


def run_idle_timer(ros_arguments: list[str], rate: float, ticks_file: Path) -> None:
    """A node with a timer on its clock (system time, as controller_node's) whose callback records
    time.perf_counter() and publishes a std_msgs/Header on `tick`."""
    import rclpy
    from rclpy.qos import QoSProfile
    from std_msgs.msg import Header

    rclpy.init(args=ros_arguments)
    node = rclpy.create_node("jitter_timer")
    publisher = node.create_publisher(Header, "tick", QoSProfile(depth=10))
    ticks = []

    def on_tick():
        ticks.append(time.perf_counter())  # CLOCK_MONOTONIC: the same clock in every process
        publisher.publish(Header(frame_id="tick"))

    node.create_timer(1.0 / rate, on_tick)  # the node clock (system time), like controller_node's
    run_until_stopped(lambda: rclpy.spin(node), [node], lambda: ticks_file.write_text(json.dumps(ticks)))


def run_hosted_controller(ros_arguments: list[str], ticks_file: Path) -> None:
    """controller_node's own class and spin, as its main() runs them, in a process of this script: the node
    records the start of every tick for its achieved-rate diagnostic (time.monotonic(), last 200 ticks);
    here that history is made long enough for the whole run and written to a file at exit. Nothing else
    of the node is touched."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from liquid_control.nodes.controller.node import ControllerNode
    from liquid_control.runtime.rolling_stats import RollingStats

    rclpy.init(args=ros_arguments, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    node = ControllerNode()
    node.stats.tick_times = RollingStats(size=10**7)
    run_until_stopped(lambda: rclpy.spin(node), [node],
                      lambda: ticks_file.write_text(json.dumps(node.stats.tick_times.values)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--ticks-file", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=50.0, help="idle_timer: timer rate, Hz")
    own, ros = split_ros_arguments(sys.argv[1:])
    args, ros_arguments = parser.parse_args(own), ["timer_jitter", *ros]
    if args.role == "idle_timer":
        run_idle_timer(ros_arguments, args.rate, args.ticks_file)
    else:
        run_hosted_controller(ros_arguments, args.ticks_file)


if __name__ == "__main__":
    main()
