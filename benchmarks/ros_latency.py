"""ROS latency benchmark: a camera Image published in one process -> cmd_vel received in another.

    .venv/bin/python benchmarks/ros_latency.py [--frames 600] [--sizes 66x200 160x320] [--rate 30]
        [--node-threads N] [--transport SHM] [--phases ping echo perception controller pipeline composed]

Prints one JSON object. Target (issue): Image published -> cmd_vel received, p99 <= 3 ms at 30 Hz.
Every process is real: the package's nodes, the child roles of ros_latency_roles.py, and the probe
(this process); all share a private ROS_DOMAIN_ID, ROS_LOG_DIR/ROS_HOME and namespace. The phases are
described in ros_latency_phases.py, how answers are paired with frames in ros_latency_figures.py.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from ros_harness import (
    DEFAULT_MODEL,
    load_average,
    machine_facts,
    node_environment,
    print_json,
    private_ros_environment,
    split_ros_arguments,
)
from ros_latency_in_process import in_process_figures
from ros_latency_phases import Benchmark

PHASES = ("ping", "echo", "echo_reliable", "perception", "controller", "pipeline", "camera", "composed", "onnx_standin",
          "fused_onnx_standin", "in_process")
TARGET_P99_MS = 3.0
QOS_TEXT = {
    "image_raw": "sensor data: BEST_EFFORT, KEEP_LAST 5, VOLATILE (perception_node's subscription)",
    "image_preprocessed": "sensor data: BEST_EFFORT, KEEP_LAST 5, VOLATILE",
    "cmd_vel": "RELIABLE, KEEP_LAST 10, VOLATILE (controller_node's publisher)",
    "echo_image_reliable": "RELIABLE, KEEP_LAST 10, VOLATILE on both sides",
    "echo_return_and_ping": "RELIABLE, KEEP_LAST 10, VOLATILE (std_msgs/Header)",
}
TIMED_END_TO_END = ("pipeline_", "camera_input_", "composed_", "onnx_standin_", "fused_onnx_standin_")


def parse_size(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="measured frames per phase (after warm-up)")
    parser.add_argument("--warmup", type=int, default=60, help="warm-up frames per phase")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz")
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=[(66, 200), (160, 320)],
                        help="camera image sizes HxW (rgb8)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--controller-param", action="append", default=[], metavar="NAME:=VALUE",
                        help="an extra controller_node parameter for the pipeline, camera and composed phases, e.g. "
                             "device:=cuda or realtime_priority:=50 (repeatable)")
    parser.add_argument("--phases", nargs="+", choices=PHASES,
                        default=["ping", "echo", "perception", "controller", "pipeline", "composed"],
                        help="echo_reliable: the echo with RELIABLE QoS; onnx_standin: perception_node "
                        "+ an ONNX Runtime stand-in for controller_node; in_process: no ROS, this process")
    parser.add_argument("--node-threads", type=int, default=None,
                        help="OMP_NUM_THREADS for the node processes (torch intra-op threads); default: inherited")
    parser.add_argument("--transport", default=None, help="FASTDDS_BUILTIN_TRANSPORTS for every process "
                        "(DEFAULT, SHM, UDPv4, LARGE_DATA); default: inherited (Fast DDS: SHM + UDPv4)")
    parser.add_argument("--composed-executor", nargs="+", choices=("single", "events"), default=["single"],
                        help="executor(s) of the composed process (each measured); events is rclpy.experimental."
                        "EventsExecutor, which has stalled with these nodes on the Kilted wheels")
    parser.add_argument("--domain", type=int, default=None, help="ROS_DOMAIN_ID (default: 1 + pid %% 101)")
    own, _ = split_ros_arguments(sys.argv[1:])
    return parser.parse_args(own)


def phase_runs(benchmark: Benchmark, phases, composed_executors) -> list:
    """(name, function) of each group of phases asked for, in the order they run."""
    runs = []
    if {"ping", "echo", "echo_reliable"} & set(phases):
        runs.append(("echo", benchmark.run_echo_phases))
    if "perception" in phases:
        runs.append(("perception", benchmark.run_perception_phase))
    if {"controller", "pipeline"} & set(phases):
        runs.append(("controller/pipeline", benchmark.run_node_phases))
    if "camera" in phases:
        runs.append(("camera", benchmark.run_camera_phase))
    if "composed" in phases:
        runs += [(f"composed_{e}", lambda e=e: benchmark.run_composed_phase(e)) for e in composed_executors]
    if "onnx_standin" in phases:
        runs.append(("onnx_standin", benchmark.run_onnx_standin_phase))
    if "fused_onnx_standin" in phases:
        runs.append(("fused_onnx_standin", lambda: benchmark.run_onnx_standin_phase(fused=True)))
    return runs


def summarise(results: dict) -> dict:
    """The end-to-end phases against the target."""
    summary = {}
    for key, value in results.items():
        if key.startswith(TIMED_END_TO_END) and value.get("latency", {}).get("n"):
            summary[key] = {"p50_ms": value["latency"]["p50_ms"], "p99_ms": value["latency"]["p99_ms"],
                            "target_p99_ms": TARGET_P99_MS, "met": value["latency"]["p99_ms"] <= TARGET_P99_MS and
                            value.get("pairing_exact", True),
                            "pairing_exact": value.get("pairing_exact", True),
                            "node_side_pipeline_latency_p99_ms": value["controller_node"]["pipeline_latency_p99_ms"],
                            "frames_without_command": value["frames_without_answer"],
                            "machine_cpu_busy_fraction": value["machine_cpu_busy_fraction"]}
    return summary


def main() -> None:
    args = parse_arguments()
    args.model = args.model.resolve()
    temporary = private_ros_environment("ros_latency", args.domain, args.transport)  # the probe (this process) too
    env = node_environment(args.node_threads)

    started, load_start = time.monotonic(), load_average()
    benchmark = Benchmark(args, env, temporary / "log")
    errors = {}
    try:
        for name, run in phase_runs(benchmark, args.phases, args.composed_executor):
            try:
                run()
            except (RuntimeError, TimeoutError) as failure:  # recorded; the other phases still run
                errors[name] = str(failure)[-1500:]
    finally:
        benchmark.probe.close()
    error = errors or None
    results = benchmark.results
    load_end = load_average()
    if "in_process" in args.phases:
        results["in_process_no_ros"] = in_process_figures(args.model, args.sizes)

    print_json({
        "benchmark": "ros_latency",
        "target": "camera Image published in one process -> cmd_vel received in another: p99 <= 3 ms at 30 Hz",
        "summary": summarise(results),
        "error": error,
        "machine": machine_facts(load_start, load_end, "other jobs may share the 2 cores; see each phase's "
                                 "load_average and machine_cpu_busy_fraction"),
        "settings": {"rate_hz": args.rate, "frames": args.frames, "warmup_frames": args.warmup,
                     "image_sizes": [f"{h}x{w} rgb8" for h, w in args.sizes], "model": str(args.model),
                     "controller": "trigger:=frame, twist_stamped:=false" + "".join(
                         f", {p}" for p in args.controller_param),
                     "node_env": {"OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "unset (torch default: one per core)"),
                                  "FASTDDS_BUILTIN_TRANSPORTS": env.get("FASTDDS_BUILTIN_TRANSPORTS",
                                                                        "unset (Fast DDS default: SHM + UDPv4)")},
                     "rmw": env.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp (default)"),
                     "qos": QOS_TEXT, "domain_id": env["ROS_DOMAIN_ID"],
                     "probe": "rclpy SingleThreadedExecutor in this process; times are time.perf_counter() at "
                              "publish() and at the start of the answer's callback"},
        "results": results,
        "node_logs": str(temporary / "log") if error else "removed (kept when a phase fails)",
        "wall_s": round(time.monotonic() - started, 1),
    })
    if not error:
        shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
