"""Control timer jitter benchmark: a 50 Hz rclpy timer, idle and in the real controller_node.

    .venv/bin/python benchmarks/timer_jitter.py [--duration 30] [--rate 50] [--node-threads N]
        [--variants idle controller controller_no_input]

Prints one JSON object. Target (issue): control timer jitter at 50 Hz p99 <= 1 ms, no missed ticks.
Jitter is |period - nominal| between consecutive ticks; a missed tick is a period > 1.5x nominal.
Each variant runs in a separate process under a private ROS_DOMAIN_ID; this process is the probe.
controller_node gives no tick times from outside, so its periods are those of the cmd_vel messages
the probe receives (timer jitter + step variation + transport + the probe's wake-up); its missed
ticks are also counted exactly from the node's own tick counter.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from ros_frames import feeder_command
from ros_harness import (
    DEFAULT_MODEL,
    STARTUP_S,
    ProbeNode,
    Process,
    busy_fraction,
    cpu_times,
    load_average,
    machine_facts,
    node_command,
    node_environment,
    print_json,
    private_ros_environment,
    served_subscription,
    split_ros_arguments,
)
from timer_jitter_roles import role_command

NAMESPACE = "/timer_jitter_bench"
DIAGNOSTICS = f"{NAMESPACE}/diagnostics"
MISSED_FACTOR = 1.5
VARIANTS = ("idle", "controller", "controller_no_input", "controller_hosted")


def period_stats(times, rate: float) -> dict:
    """Period and jitter statistics of tick (or receive) times, in ms."""
    times = np.asarray(times, dtype=float)
    if times.size < 3:
        return {"ticks": int(times.size)}
    nominal = 1.0 / rate
    periods = np.diff(times)
    jitter = np.abs(periods - nominal) * 1e3
    missed = periods > MISSED_FACTOR * nominal
    return {
        "ticks": int(times.size),
        "span_s": round(float(times[-1] - times[0]), 3),
        "period_mean_ms": round(float(periods.mean() * 1e3), 4),
        "period_min_ms": round(float(periods.min() * 1e3), 3),
        "period_max_ms": round(float(periods.max() * 1e3), 3),
        "jitter_p50_ms": round(float(np.percentile(jitter, 50)), 3),
        "jitter_p90_ms": round(float(np.percentile(jitter, 90)), 3),
        "jitter_p99_ms": round(float(np.percentile(jitter, 99)), 3),
        "jitter_max_ms": round(float(jitter.max()), 3),
        "periods_over_1_ms_off": int((jitter > 1.0).sum()),
        "missed_ticks": int(missed.sum()),
        "ticks_skipped_estimate": int(np.maximum(np.round(periods[missed] / nominal) - 1, 0).sum()),
    }


class Probe(ProbeNode):
    """Receive times of one topic (ticks or cmd_vel) and controller_node's /diagnostics."""

    def __init__(self):
        from diagnostic_msgs.msg import DiagnosticArray

        super().__init__("jitter_probe", namespace=NAMESPACE)
        self.received: list[float] = []
        self.diagnostics: list[tuple[float, dict]] = []
        self.node.create_subscription(DiagnosticArray, DIAGNOSTICS, self._on_diagnostics, 50)

    def _on_diagnostics(self, array) -> None:
        now = time.perf_counter()
        stamp = array.header.stamp.sec + array.header.stamp.nanosec * 1e-9  # the node's clock when it counted
        for status in array.status:
            if status.name.startswith("controller_node"):
                self.diagnostics.append((now, {"stamp": stamp, **{pair.key: pair.value for pair in status.values}}))

    def on_message(self, message) -> None:
        self.received.append(time.perf_counter())

    def receive(self, message_type, topic: str, realtime_priority: int = 0):
        """Subscribe `topic` (RELIABLE, depth 10) in a thread of its own that stamps each message as it is
        taken: the probe's executor adds nothing to the periods. Returns the function that ends it."""
        from rclpy.qos import QoSProfile

        return served_subscription(self.node, message_type, topic, self.on_message, QoSProfile(depth=10),
                                   realtime_priority)

    def wait(self, condition, what: str, timeout: float, process: Process | None = None) -> None:
        self.spin_until(condition, what, timeout, [process] if process is not None else [], spin_s=0.005)

    def fresh_diagnostics(self, timeout: float = 5.0) -> tuple[float, dict]:
        mark = time.perf_counter()
        self.wait(lambda: any(t > mark for t, _ in self.diagnostics), "controller diagnostics", timeout)
        return next((t, v) for t, v in self.diagnostics if t > mark)


def measure_idle(probe: Probe, args, env: dict, log_dir: Path) -> dict:
    """A bare node with a timer: its own tick times (exact) come back in a file; the probe's receive times of
    its Headers calibrate the from-outside method used for the controller."""
    from std_msgs.msg import Header

    ticks_file = log_dir / "idle_ticks.json"
    process = Process("idle_timer", role_command("idle_timer", ticks_file, NAMESPACE, ["--rate", str(args.rate)]),
                      env, log_dir)
    close_receiver = probe.receive(Header, "tick")
    try:
        probe.received.clear()
        probe.wait(lambda: len(probe.received) > args.rate, "the idle timer's first second", STARTUP_S, process)
        probe.received.clear()
        load_before, cpu_before = load_average(), cpu_times()
        end = time.perf_counter() + args.duration
        probe.wait(lambda: time.perf_counter() > end, "the end of the run", args.duration + 5, process)
        received = list(probe.received)
        cpu_busy = busy_fraction(cpu_before, cpu_times())
        load_after = load_average()
    finally:
        close_receiver()
        process.stop()
    ticks = json.loads(ticks_file.read_text()) if ticks_file.exists() else []
    window = [t for t in ticks if received and received[0] - 0.1 <= t <= received[-1]]
    return {"what": "a bare rclpy node: 50 Hz timer, callback records the time and publishes a Header",
            "timer_in_process": period_stats(window, args.rate),
            "received_by_probe": period_stats(received, args.rate),
            "_series": {"timer_in_process": window, "received_by_probe": received},
            "load_average": {"before": load_before, "after": load_after}, "machine_cpu_busy_fraction": cpu_busy}


def measure_controller(probe: Probe, args, env: dict, log_dir: Path, with_frames: bool, hosted: bool = False) -> dict:
    """controller_node (trigger:=timer at --rate, the shipped model): fed preprocessed frames by a feeder process
    (not the probe: its publishes would hold the probe's GIL while a command arrives), so every tick steps the
    network, or without frames (every tick publishes a stop: the timer and executor alone). `hosted`: the
    node's class run in a process of timer_jitter_roles.py, which gives the node's own tick start times."""
    from geometry_msgs.msg import Twist

    name = "controller_hosted" if hosted else "controller" if with_frames else "controller_no_input"
    parameters = [f"model_path:={args.model}", "trigger:=timer", f"control_rate_hz:={float(args.rate)}",
                  "twist_stamped:=false", "diagnostics_rate_hz:=1.0", *args.controller_param]
    ticks_file = log_dir / f"{name}_ticks.json"
    if hosted:
        command = role_command("hosted_controller", ticks_file, NAMESPACE, parameters=parameters)
    else:
        command = node_command("liquid_control.nodes.controller.main", NAMESPACE, parameters)
    process = Process(name, command, env, log_dir)
    close_receiver = probe.receive(Twist, "cmd_vel", args.probe_realtime)
    feeder = None
    if with_frames:
        feeder = Process(f"{name}_feeder", feeder_command(args.model, args.frame_rate, NAMESPACE), env, log_dir)
    try:
        probe.received.clear()
        probe.wait(lambda: len(probe.received) > args.rate, "the controller's first second of commands",
                   STARTUP_S, process)
        warm_end = time.perf_counter() + 3.0  # the first steps (allocations, caches) are not the steady state
        probe.wait(lambda: time.perf_counter() > warm_end, "warm-up", 10, process)
        _, before = probe.fresh_diagnostics()
        probe.received.clear()
        load_before, cpu_before = load_average(), cpu_times()
        end = time.perf_counter() + args.duration
        probe.wait(lambda: time.perf_counter() > end, "the end of the run", args.duration + 5, process)
        received = list(probe.received)
        _, after = probe.fresh_diagnostics()  # still fed: the input age stays that of the run
        cpu_busy = busy_fraction(cpu_before, cpu_times())
        load_after = load_average()
    finally:
        close_receiver()
        if feeder is not None:
            feeder.stop()
        process.stop()
    window_s = after["stamp"] - before["stamp"]
    ticks = int(after["ticks"]) - int(before["ticks"])
    expected = window_s * args.rate
    result = {
        "what": (f"controller_node fed frames at {args.frame_rate:g} Hz (every tick steps the network)" if with_frames
                 else "controller_node without frames (every tick publishes a stop, no network step)"),
        "cmd_vel_received_by_probe": period_stats(received, args.rate),
        "_series": {"cmd_vel_received_by_probe": received},
        "node_tick_counter": {"window_s": round(window_s, 3), "ticks": ticks, "expected": round(expected, 1),
                              "missed_ticks": max(0, round(expected - ticks) - 1),
                              "note": "ticks counted by the node between the header stamps of two of its "
                                      "/diagnostics vs window x rate; 1 tick of the difference is phase uncertainty"},
        "node_diagnostics": {k: after[k] for k in ("achieved_rate_hz", "step_latency_p50_ms", "step_latency_p99_ms",
                                                   "input_age_ms", "resets", "faults")},
        "load_average": {"before": load_before, "after": load_after}, "machine_cpu_busy_fraction": cpu_busy,
    }
    if feeder is not None:
        result["frames_taken_by_node_during_run"] = int(after["frames"]) - int(before["frames"])
    if hosted:
        # time.monotonic() and the probe's perf_counter() are both CLOCK_MONOTONIC on Linux
        ticks = json.loads(ticks_file.read_text()) if ticks_file.exists() else []
        window = [t for t in ticks if received and received[0] - 0.1 <= t <= received[-1]]
        result["node_timer_tick_starts"] = period_stats(window, args.rate)
        result["_series"]["node_timer_tick_starts"] = window
        result["what"] = (f"controller_node's class and spin in a process of this script, fed frames at "
                          f"{args.frame_rate:g} Hz; node_timer_tick_starts are the node's own tick start times (its "
                          "achieved-rate history, lengthened)")
    return result


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds per variant")
    parser.add_argument("--controller-param", action="append", default=[], metavar="NAME:=VALUE",
                        help="an extra controller_node parameter, e.g. realtime_priority:=50 (repeatable)")
    parser.add_argument("--rate", type=float, default=50.0, help="timer rate, Hz")
    parser.add_argument("--probe-realtime", type=int, default=0, metavar="PRIORITY",
                        help="run the probe's cmd_vel receiving thread under SCHED_FIFO at this priority (as a "
                             "robot's motor driver would); 0: normal scheduling")
    parser.add_argument("--series-out", type=Path, default=None,
                        help="also write every variant's raw tick / receive times (s) to this JSON file, for "
                             "benchmarks/plot_jitter.py")
    parser.add_argument("--frame-rate", type=float, default=30.0, help="rate of the frames fed to the controller")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--node-threads", type=int, default=None,
                        help="OMP_NUM_THREADS for the node processes (torch intra-op threads); default: inherited")
    parser.add_argument("--domain", type=int, default=None, help="ROS_DOMAIN_ID (default: 1 + pid %% 101)")
    own, _ = split_ros_arguments(sys.argv[1:])
    return parser.parse_args(own)


def summarise(results: dict) -> dict:
    """Each variant against the target, from its most exact tick times."""
    summary = {}
    for variant, result in results.items():
        source = next(k for k in ("timer_in_process", "node_timer_tick_starts", "cmd_vel_received_by_probe")
                      if k in result)
        stats = result[source]
        if "jitter_p99_ms" not in stats:
            continue
        missed = stats["missed_ticks"]
        if "node_tick_counter" in result:
            missed = max(missed, result["node_tick_counter"]["missed_ticks"])
        summary[variant] = {"measured_from": source, "period_mean_ms": stats["period_mean_ms"],
                            "jitter_p99_ms": stats["jitter_p99_ms"], "jitter_max_ms": stats["jitter_max_ms"],
                            "missed_ticks": missed,
                            "met": stats["jitter_p99_ms"] <= 1.0 and missed == 0,
                            "machine_cpu_busy_fraction": result["machine_cpu_busy_fraction"]}
    return summary


def main() -> None:
    args = parse_arguments()
    args.model = args.model.resolve()
    temporary = private_ros_environment("timer_jitter", args.domain)
    env = node_environment(args.node_threads)

    started, load_start = time.monotonic(), load_average()
    probe = Probe()
    results, errors = {}, {}
    try:
        for variant in args.variants:
            try:
                if variant == "idle":
                    results[variant] = measure_idle(probe, args, env, temporary / "log")
                else:
                    results[variant] = measure_controller(probe, args, env, temporary / "log",
                                                          variant != "controller_no_input",
                                                          hosted=variant == "controller_hosted")
            except (RuntimeError, TimeoutError) as failure:
                errors[variant] = str(failure)[-1500:]
    finally:
        probe.close()

    series = {variant: result.pop("_series") for variant, result in results.items() if "_series" in result}
    if args.series_out is not None:
        args.series_out.write_text(json.dumps({"rate_hz": args.rate, "controller_parameters": args.controller_param,
                                               "series": series}))
    print_json({
        "benchmark": "timer_jitter",
        "target": f"control timer jitter at {args.rate:g} Hz: p99 <= 1 ms, no missed ticks (period > "
                  f"{MISSED_FACTOR}x nominal)",
        "summary": summarise(results),
        "error": errors or None,
        "machine": machine_facts(load_start, load_average(),
                                 "other jobs may share the cores; see each variant's machine_cpu_busy_fraction"),
        "settings": {"rate_hz": args.rate, "duration_s": args.duration, "frame_rate_hz": args.frame_rate,
                     "model": str(args.model), "clock": "timers on the node clock (system time, no use_sim_time)",
                     "controller_parameters": args.controller_param or "defaults",
                     "probe_receive_realtime_priority": args.probe_realtime,
                     "probe_receive": "a thread of its own waiting on the subscription alone (liquid_control.nodes."
                                      "dedicated_threads.ServingThread), perf_counter when each message is taken",
                     "node_env": {"OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "unset (torch default: one per core)")},
                     "domain_id": env["ROS_DOMAIN_ID"]},
        "results": results,
        "node_logs": str(temporary / "log") if errors else "removed (kept when a variant fails)",
        "wall_s": round(time.monotonic() - started, 1),
    })
    if not errors:
        shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
