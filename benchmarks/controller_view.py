"""The view topics' overhead on controller_node's ticks: the tick p99 with the view subscribed, against without.

    .venv/bin/python benchmarks/controller_view.py [--duration 15] [--repeats 2] [--rate 50] [--frame-rate 30]

Prints one JSON object. Target (issue 23): with ~/saliency/overlay, ~/neurons, ~/neurons/names and
~/wiring/image subscribed at their default rates, the controller's tick p99 <= 1.1x without them.
Off and on runs alternate (--repeats pairs), each timer_jitter.py's controller variant (the shipped
model fed preprocessed frames, the periods of the cmd_vel messages received, the node's step latency
from /diagnostics) with publish_saliency:=true; "on" adds a RELIABLE subscriber per view topic, in a
process of its own (this script run with --view-subscriber), so that taking the images costs the
probe nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from ros_harness import (
    DEFAULT_MODEL,
    Process,
    load_average,
    machine_facts,
    node_environment,
    print_json,
    private_ros_environment,
    run_until_stopped,
    script_command,
    split_ros_arguments,
)
from timer_jitter import NAMESPACE, Probe, measure_controller

VIEW_TOPICS = ("saliency/overlay", "neurons", "neurons/names", "wiring/image")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per run")
    parser.add_argument("--repeats", type=int, default=2, help="off/on pairs, measured in turn")
    parser.add_argument("--rate", type=float, default=50.0, help="control rate, Hz")
    parser.add_argument("--frame-rate", type=float, default=30.0, help="rate of the frames fed to the controller")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--controller-param", action="append", default=[], metavar="NAME:=VALUE",
                        help="an extra controller_node parameter for both runs (repeatable)")
    parser.add_argument("--domain", type=int, default=None, help="ROS_DOMAIN_ID (default: 1 + pid %% 101)")
    parser.add_argument("--topics", nargs="+", default=list(VIEW_TOPICS), choices=VIEW_TOPICS,
                        help="the view topics subscribed in the on runs (default: all)")
    parser.add_argument("--view-subscriber", type=Path, default=None, metavar="COUNTS_FILE",
                        help="(the child role) subscribe the view topics until Ctrl-C, then write the counts here")
    own, ros = split_ros_arguments(sys.argv[1:])
    args = parser.parse_args(own)
    args.ros = ros
    args.controller_param = ["publish_saliency:=true", *args.controller_param]
    args.probe_realtime = 0
    return args


def run_view_subscriber(ros_arguments: list[str], counts_file: Path, topics: list[str]) -> None:
    """The child role: a RELIABLE subscriber per view topic (names: transient local), as rviz2 or
    foxglove_bridge subscribe, counting what arrives until Ctrl-C; the counts go to ``counts_file``."""
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32MultiArray, String

    rclpy.init(args=["view_subscriber", *ros_arguments])
    node = rclpy.create_node("view_subscriber")
    types = {"saliency/overlay": Image, "neurons": Float32MultiArray, "neurons/names": String, "wiring/image": Image}
    counts = dict.fromkeys(topics, 0)
    for topic in topics:
        durability = DurabilityPolicy.TRANSIENT_LOCAL if topic == "neurons/names" else DurabilityPolicy.VOLATILE
        qos = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE, durability=durability)

        def count(message, topic=topic):
            counts[topic] += 1
        node.create_subscription(types[topic], f"controller_node/{topic}", count, qos)
    run_until_stopped(lambda: rclpy.spin(node), [node], lambda: counts_file.write_text(json.dumps(counts)))


def view_renders(probe: Probe) -> dict:
    """The view's render counters in the newest /diagnostics of the run just measured."""
    return {key: int(value) for key, value in probe.diagnostics[-1][1].items() if key.startswith("view_")}


def pooled_figures(runs: list[dict], rate: float) -> dict:
    """One condition's runs together: the jitter p99 of all their cmd_vel periods, the node's step latency p99
    (the median of the runs'), the longest period and the missed ticks."""
    periods = np.concatenate([np.diff(run["_series"]["cmd_vel_received_by_probe"]) for run in runs])
    jitter = np.abs(periods - 1.0 / rate) * 1e3
    steps = [float(run["node_diagnostics"]["step_latency_p99_ms"]) for run in runs]
    return {"cmd_vel_periods": int(periods.size), "cmd_vel_jitter_p99_ms": round(float(np.percentile(jitter, 99)), 3),
            "cmd_vel_period_max_ms": round(float(periods.max() * 1e3), 3),
            "step_latency_p99_ms": round(float(np.median(steps)), 3), "step_latency_p99_ms_per_run": steps,
            "missed_ticks": sum(run["cmd_vel_received_by_probe"]["missed_ticks"] for run in runs)}


def measure_with_view(probe: Probe, args, env: dict, log_dir: Path, counts_file: Path) -> dict:
    """A controller run with the view subscriber process running throughout."""
    command = script_command("controller_view.py", ["--view-subscriber", str(counts_file), "--topics", *args.topics],
                             NAMESPACE)
    subscriber = Process("view_subscriber", command, env, log_dir)
    try:
        return measure_controller(probe, args, env, log_dir, with_frames=True)
    finally:
        subscriber.stop()


def main() -> None:
    args = parse_arguments()
    if args.view_subscriber is not None:
        return run_view_subscriber(args.ros, args.view_subscriber, args.topics)
    args.model = args.model.resolve()
    temporary = private_ros_environment("controller_view", args.domain)
    env, log_dir = node_environment(), temporary / "log"
    started, load_start = time.monotonic(), load_average()
    probe = Probe()
    runs, view_counters, received = {"off": [], "on": []}, {"off": [], "on": []}, []
    try:
        for repeat in range(args.repeats):  # off and on in turn: a load that drifts meets both alike
            runs["off"].append(measure_controller(probe, args, env, log_dir, with_frames=True))
            view_counters["off"].append(view_renders(probe))
            counts_file = temporary / f"view_counts_{repeat}.json"
            runs["on"].append(measure_with_view(probe, args, env, log_dir, counts_file))
            view_counters["on"].append(view_renders(probe))
            received.append(json.loads(counts_file.read_text()) if counts_file.exists() else "no counts")
    finally:
        probe.close()
    off, on = pooled_figures(runs["off"], args.rate), pooled_figures(runs["on"], args.rate)
    ratios = {key: round(on[key] / off[key], 3) for key in ("cmd_vel_jitter_p99_ms", "step_latency_p99_ms")
              if off[key]}
    for run in (*runs["off"], *runs["on"]):
        run.pop("_series", None)
    print_json({
        "benchmark": "controller_view",
        "target": "tick p99 with the view topics subscribed at default rates <= 1.1x without",
        "summary": {"off": off, "on": on, "on_over_off": ratios,
                    "met": all(ratio <= 1.1 for ratio in ratios.values()),
                    "view_messages_received_per_on_run": received,
                    "view_renders_counted_by_node_per_run": view_counters},
        "machine": machine_facts(load_start, load_average(), "other jobs may share the cores"),
        "settings": {"rate_hz": args.rate, "duration_s": args.duration, "repeats": args.repeats,
                     "frame_rate_hz": args.frame_rate, "model": str(args.model),
                     "controller_parameters": args.controller_param,
                     "view_topics_subscribed": args.topics,
                     "view_rates": "defaults (saliency_rate_hz, neurons_rate_hz, wiring_rate_hz)"},
        "results": runs,
        "wall_s": round(time.monotonic() - started, 1),
    })
    shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
