"""Control timer jitter benchmark: a 50 Hz rclpy timer, idle and in the real controller_node.

    .venv/bin/python benchmarks/timer_jitter.py [--duration 30] [--rate 50] [--node-threads N]
        [--variants idle controller controller_no_input]

Prints one JSON object. Target (issue): control timer jitter at 50 Hz p99 <= 1 ms, no missed ticks.
Jitter is |period - nominal| between consecutive ticks; a missed tick is a period > 1.5x nominal.

Variants, each a separate process under a private ROS_DOMAIN_ID (this process is the probe):
  idle                 a node with a timer on its clock (system time, as controller_node's) whose
                       callback records time.perf_counter() and publishes a std_msgs/Header. Its own
                       tick times (exact) come back in a file; the probe's receive times of the
                       Headers calibrate the from-outside method used for the controller.
  controller           controller_node (trigger:=timer, control_rate_hz:=50.0, the shipped model),
                       fed 66x200 32FC3 image_preprocessed frames at --frame-rate by a feeder
                       process (not the probe: its publishes would hold the probe's GIL while a
                       command arrives), so every tick steps the network.
  controller_no_input  the same without frames: every tick publishes a stop without a network step
                       (the timer and executor alone).
  controller_hosted    controller_node's own class, run as its main() runs it (rclpy.spin, same
                       signal handling) in a process of this script, fed frames: the node records the
                       start time of each tick for its achieved-rate diagnostic (last 200); that
                       history is lengthened and written out at exit, giving the node's own timer
                       tick times. The node's code is not changed.
controller_node gives no tick times from outside (its /diagnostics have achieved_rate_hz over 200
ticks, a tick counter and the step time), so its periods are those of the cmd_vel messages the
probe receives (one per tick), taken by a thread of the probe's that waits on that subscription alone
(--probe-realtime: under SCHED_FIFO): timer jitter + variation of the step before the publish +
transport + the probe's own wake-up.
Missed ticks are also counted exactly from the node's own tick counter: ticks counted over the
measured window vs window x rate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from liquid_control.distro import local_discovery_environment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ros_latency import (
    DEFAULT_MODEL,
    Process,
    _busy_fraction,
    _cpu_times,
    load_average,
    preprocessed_image,
    served_subscription,
)

NAMESPACE = "/timer_jitter_bench"
DIAGNOSTICS = f"{NAMESPACE}/diagnostics"
STARTUP_S = 90.0
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


def ros_args(parameters=()) -> list[str]:
    args = ["--ros-args", "-r", f"__ns:={NAMESPACE}", "-r", f"/diagnostics:={DIAGNOSTICS}"]
    for parameter in parameters:
        args += ["-p", parameter]
    return args


# --------------------------------------------------------------------------- the idle timer (child)
def run_idle_timer(ros_arguments: list[str], rate: float, ticks_file: Path) -> None:
    import rclpy
    from rclpy.executors import ExternalShutdownException
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
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        ticks_file.write_text(json.dumps(ticks))
        node.destroy_node()
        rclpy.try_shutdown()


def run_hosted_controller(ros_arguments: list[str], ticks_file: Path) -> None:
    """controller_node's own class and spin, as its main() runs them, in a process of this script: the node
    records the start of every tick for its achieved-rate diagnostic (time.monotonic(), last 200 ticks);
    here that history is made long enough for the whole run and written to a file at exit. Nothing else
    of the node is touched."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.signals import SignalHandlerOptions

    from liquid_control.nodes.controller_node import ControllerNode
    from liquid_control.runtime.control import RollingStats

    rclpy.init(args=ros_arguments, signal_handler_options=SignalHandlerOptions.NO)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    node = ControllerNode()
    node._tick_times = RollingStats(size=10**7)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        ticks_file.write_text(json.dumps(node._tick_times.values))
        node.destroy_node()
        rclpy.try_shutdown()


# --------------------------------------------------------------------------- the probe (this process)
class Probe:
    def __init__(self):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self.rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("jitter_probe", namespace=NAMESPACE, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: list[float] = []
        self.diagnostics: list[tuple[float, dict]] = []
        self.node.create_subscription(DiagnosticArray, DIAGNOSTICS, self._on_diagnostics, 50)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)

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

    def spin_until(self, condition, what: str, timeout: float, process: Process | None = None, tick=None) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if process is not None:
                process.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.005)
            if tick is not None:
                tick()

    def fresh_diagnostics(self, timeout: float = 5.0, tick=None) -> tuple[float, dict]:
        mark = time.perf_counter()
        self.spin_until(lambda: any(t > mark for t, _ in self.diagnostics), "controller diagnostics", timeout,
                        tick=tick)
        return next((t, v) for t, v in self.diagnostics if t > mark)


def run_feeder(ros_arguments: list[str], model: Path, rate: float) -> None:
    """Publish 32FC3 image_preprocessed frames at `rate` until Ctrl-C: in a process of its own, so that the
    probe's receiving thread never waits for the GIL behind a 158 KB publish."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(args=ros_arguments, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    node = rclpy.create_node("jitter_feeder")
    feeder = FrameFeeder(node, model, rate)
    try:
        while True:
            feeder()
            time.sleep(max(0.0, feeder.due - time.perf_counter()))
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


class FrameFeeder:
    """Publishes a preprocessed frame, stamped now, every 1/rate s when called."""

    def __init__(self, node, model: Path, rate: float):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        self.publisher = node.create_publisher(Image, "image_preprocessed", qos_profile_sensor_data)
        self.message = preprocessed_image(model)
        self.period = 1.0 / rate
        self.due = time.perf_counter()
        self.sent = 0

    def __call__(self) -> None:
        from builtin_interfaces.msg import Time

        now = time.perf_counter()
        if now < self.due:
            return
        self.due = max(self.due + self.period, now)
        stamp = time.time_ns()
        self.message.header.stamp = Time(sec=stamp // 10**9, nanosec=stamp % 10**9)
        self.publisher.publish(self.message)
        self.sent += 1


def measure_idle(probe: Probe, args, env: dict, log_dir: Path) -> dict:
    from std_msgs.msg import Header

    ticks_file = log_dir / "idle_ticks.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--role", "idle_timer", "--rate", str(args.rate),
               "--ticks-file", str(ticks_file), *ros_args()]
    process = Process("idle_timer", command, env, log_dir)
    close_receiver = probe.receive(Header, "tick")
    try:
        probe.received.clear()
        probe.spin_until(lambda: len(probe.received) > args.rate, "the idle timer's first second", STARTUP_S, process)
        probe.received.clear()
        load_before, cpu_before = load_average(), _cpu_times()
        end = time.perf_counter() + args.duration
        probe.spin_until(lambda: time.perf_counter() > end, "the end of the run", args.duration + 5, process)
        received = list(probe.received)
        cpu_busy = _busy_fraction(cpu_before, _cpu_times())
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
    from geometry_msgs.msg import Twist

    name = "controller_hosted" if hosted else "controller" if with_frames else "controller_no_input"
    parameters = [f"model_path:={args.model}", "trigger:=timer", f"control_rate_hz:={float(args.rate)}",
                  "twist_stamped:=false", "diagnostics_rate_hz:=1.0", *args.controller_param]
    ticks_file = log_dir / f"{name}_ticks.json"
    if hosted:
        command = [sys.executable, str(Path(__file__).resolve()), "--role", "hosted_controller", "--ticks-file",
                   str(ticks_file), *ros_args(parameters)]
    else:
        command = [sys.executable, "-m", "liquid_control.nodes.controller_node", *ros_args(parameters)]
    process = Process(name, command, env, log_dir)
    close_receiver = probe.receive(Twist, "cmd_vel", args.probe_realtime)
    feeder = None
    if with_frames:
        feeder = Process(f"{name}_feeder", [sys.executable, str(Path(__file__).resolve()), "--role", "feeder",
                                            "--model", str(args.model), "--frame-rate", str(args.frame_rate),
                                            *ros_args()], env, log_dir)
    try:
        probe.received.clear()
        probe.spin_until(lambda: len(probe.received) > args.rate, "the controller's first second of commands",
                         STARTUP_S, process)
        warm_end = time.perf_counter() + 3.0  # the first steps (allocations, caches) are not the steady state
        probe.spin_until(lambda: time.perf_counter() > warm_end, "warm-up", 10, process)
        _, before = probe.fresh_diagnostics()
        probe.received.clear()
        load_before, cpu_before = load_average(), _cpu_times()
        end = time.perf_counter() + args.duration
        probe.spin_until(lambda: time.perf_counter() > end, "the end of the run", args.duration + 5, process)
        received = list(probe.received)
        _, after = probe.fresh_diagnostics()  # still fed: the input age stays that of the run
        cpu_busy = _busy_fraction(cpu_before, _cpu_times())
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("probe", "idle_timer", "hosted_controller", "feeder"), default="probe",
                        help=argparse.SUPPRESS)
    parser.add_argument("--ticks-file", type=Path, help=argparse.SUPPRESS)
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
    argv = sys.argv[1:]
    split = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    args, ros_arguments = parser.parse_args(argv[:split]), ["timer_jitter", *argv[split:]]
    if args.role == "idle_timer":
        return run_idle_timer(ros_arguments, args.rate, args.ticks_file)
    if args.role == "hosted_controller":
        return run_hosted_controller(ros_arguments, args.ticks_file)
    if args.role == "feeder":
        return run_feeder(ros_arguments, args.model, args.frame_rate)
    args.model = args.model.resolve()

    temporary = Path(tempfile.mkdtemp(prefix="timer_jitter-"))
    for folder in ("log", "home"):
        (temporary / folder).mkdir()
    os.environ.update({"ROS_DOMAIN_ID": str(args.domain if args.domain is not None else 1 + os.getpid() % 101),
                       **local_discovery_environment(), "ROS_LOG_DIR": str(temporary / "log"),
                       "ROS_HOME": str(temporary / "home")})
    env = dict(os.environ)  # whole: the ROS wheels' re-exec needs LD_LIBRARY_PATH and its marker together
    if args.node_threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.node_threads)

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
    print(json.dumps({
        "benchmark": "timer_jitter",
        "target": f"control timer jitter at {args.rate:g} Hz: p99 <= 1 ms, no missed ticks (period > "
                  f"{MISSED_FACTOR}x nominal)",
        "summary": summary,
        "error": errors or None,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "niceness": os.nice(0),
                    "scheduler": {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}.get(
                        os.sched_getscheduler(0), str(os.sched_getscheduler(0))),
                    "load_average_1_5_15_min": {"start": load_start, "end": load_average()},
                    "note": "other jobs may share the cores; see each variant's machine_cpu_busy_fraction"},
        "settings": {"rate_hz": args.rate, "duration_s": args.duration, "frame_rate_hz": args.frame_rate,
                     "model": str(args.model), "clock": "timers on the node clock (system time, no use_sim_time)",
                     "controller_parameters": args.controller_param or "defaults",
                     "probe_receive_realtime_priority": args.probe_realtime,
                     "probe_receive": "a thread of its own waiting on the subscription alone (liquid_control.nodes."
                                      "serving.ServingThread), perf_counter when each message is taken",
                     "node_env": {"OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "unset (torch default: one per core)")},
                     "domain_id": os.environ["ROS_DOMAIN_ID"]},
        "results": results,
        "node_logs": str(temporary / "log") if errors else "removed (kept when a variant fails)",
        "wall_s": round(time.monotonic() - started, 1),
    }, indent=1))
    if not errors:
        shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
