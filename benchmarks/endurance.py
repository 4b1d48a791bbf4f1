"""Endurance benchmarks (issue 12): a long controller soak, a long recording, and recordings killed with SIGKILL.

    .venv/bin/python benchmarks/endurance.py soak --duration 1800 [--rate 50] [--frame-rate 30] --out FILE
    .venv/bin/python benchmarks/endurance.py recorder --duration 600 [--frame-rate 30] --out FILE
    .venv/bin/python benchmarks/endurance.py kill --kills 6 --every 10 --out FILE

Each prints one JSON object (and writes it to --out). Processes run under a private ROS_DOMAIN_ID.

soak      controller_node (the shipped model, trigger timer at --rate on the wall clock, dedicated
          threads) fed 66x200 32FC3 frames at --frame-rate by a feeder process. Every 10 s: the
          node's RSS, open file descriptors and threads (/proc), and its /diagnostics counters. Missed
          ticks: the node's own tick counter against elapsed time x rate. Late ticks: cmd_vel periods
          (received here) longer than 1.5 periods. RSS growth: from the first sample after warm-up
          (60 s) to the last.
recorder  `python -m liquid_control bag record` of a 30 Hz rgb8 image stream (--size, reliable),
          each frame numbered in its header.frame_id; the bag is then read and every number
          checked: lost = published numbers missing from the bag.
kill      the same stream recorded by a recorder killed with SIGKILL after --every seconds, then
          `bag recover`ed; per kill: the fraction of the frames published during its life that the
          recovered bag holds, and that rosbags (BagReader) and the mcap library read it end to end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

from ros_frames import feeder_command, rgb8_image
from ros_harness import (
    DEFAULT_MODEL,
    ProbeNode,
    Process,
    load_average,
    node_command,
    node_environment,
    print_json,
    private_ros_environment,
    wait_until,
)

SAMPLE_S = 10.0
WARM_UP_S = 60.0
WAIT_S = 120.0  # the longest wait for a process to come up
NAMESPACE = "/endurance_bench"
STREAM_TOPIC = "/endurance/images"


def proc_figures(pid: int) -> dict:
    """RSS (MiB), open file descriptors and threads of a process, from /proc."""
    rss = 0.0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return {"rss_mib": round(rss, 2), "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": len(os.listdir(f"/proc/{pid}/task"))}


class Listener(ProbeNode):
    """An rclpy node in this process, spun in a thread: cmd_vel receive times and the newest diagnostics."""

    def __init__(self, command_topic: str | None = None, diagnostics: bool = True, images: str | None = None):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Twist
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        super().__init__("endurance_probe", args=[])
        self.command_times: list[float] = []
        self.counters: dict[str, str] = {}
        if command_topic:
            self.node.create_subscription(Twist, command_topic, lambda m: self.command_times.append(time.monotonic()),
                                          50)
        if diagnostics:
            self.node.create_subscription(DiagnosticArray, f"{NAMESPACE}/diagnostics", self._on_diagnostics, 10)
        self.publisher = None
        if images:
            self.publisher = self.node.create_publisher(Image, images, QoSProfile(depth=100,
                                                        reliability=ReliabilityPolicy.RELIABLE))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def _on_diagnostics(self, message) -> None:
        for status in message.status:
            if "control loop" in status.name:
                self.counters = {kv.key: kv.value for kv in status.values}
                self.counters["_received"] = str(time.monotonic())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        super().close()


TEMPORARY: list[Path] = []  # removed at the end unless --keep


def environment() -> dict:
    temporary = private_ros_environment("endurance")
    TEMPORARY.append(temporary)
    return {"env": node_environment(), "dir": temporary}


# ------------------------------------------------------------------------------------------ soak
def soak(args) -> dict:
    setup = environment()
    env, logs = setup["env"], setup["dir"] / "log"
    parameters = [f"model_path:={args.model}", "trigger:=timer", f"control_rate_hz:={args.rate}",
                  "diagnostics_rate_hz:=1.0", "backend:=auto"]
    controller = Process("controller_node", node_command("liquid_control.nodes.controller.main", NAMESPACE,
                                                         parameters), env, logs)
    feeder = Process("feeder", feeder_command(args.model, args.frame_rate, NAMESPACE), env, logs)
    listener = Listener(command_topic=f"{NAMESPACE}/cmd_vel")
    samples = []
    try:
        flowing = ("commands", "frames")
        wait_until(lambda: all(listener.counters.get(key, "0") != "0" for key in flowing), "commands while frames flow",
                   WAIT_S)
        started = time.monotonic()
        while time.monotonic() - started < args.duration:
            controller.check_alive()
            feeder.check_alive()
            counters = dict(listener.counters)
            samples.append({"t": round(time.monotonic() - started, 2), **proc_figures(controller.process.pid),
                            **{k: counters.get(k) for k in ("ticks", "commands", "frames", "invalid_frames", "faults",
                                                            "resets", "achieved_rate_hz", "step_latency_p99_ms")}})
            time.sleep(SAMPLE_S)
        commands = [t for t in listener.command_times if t >= started]
    finally:
        listener.close()
        feeder.stop()
        controller.stop()
    after = [s for s in samples if s["t"] >= WARM_UP_S] or samples
    first, last = after[0], after[-1]
    elapsed = last["t"] - first["t"]
    ticks = int(last["ticks"]) - int(first["ticks"])
    expected = elapsed * args.rate
    periods = [b - a for a, b in zip(commands, commands[1:])]
    nominal = 1.0 / args.rate
    return {
        "benchmark": "soak", "duration_s": args.duration, "rate_hz": args.rate, "frame_rate_hz": args.frame_rate,
        "window_s": round(elapsed, 1), "ticks_counted": ticks, "ticks_expected": round(expected),
        "missed_ticks_percent": round(max(0.0, expected - ticks) / expected * 100, 4) if expected else None,
        "late_ticks_percent": round(sum(p > 1.5 * nominal for p in periods) / max(len(periods), 1) * 100, 4),
        "command_period_p99_ms": round(sorted(periods)[int(0.99 * len(periods))] * 1e3, 3) if periods else None,
        "rss_mib_start": first["rss_mib"], "rss_mib_end": last["rss_mib"],
        "rss_growth_percent": round((last["rss_mib"] - first["rss_mib"]) / first["rss_mib"] * 100, 3),
        "rss_mib_max": max(s["rss_mib"] for s in after),
        "fds_start": first["fds"], "fds_end": last["fds"], "threads_start": first["threads"],
        "threads_end": last["threads"], "faults": last["faults"], "invalid_frames": last["invalid_frames"],
        "load_average": load_average(), "samples": samples,
    }


# -------------------------------------------------------------------------------------- recorder
def _recorder(bag: Path, env: dict, logs: Path, name: str) -> Process:
    return Process(name, [sys.executable, "-m", "liquid_control", "bag", "record", "-o", str(bag), STREAM_TOPIC],
                   env, logs)


def _stream(listener: Listener, message, duration: float, rate: float, recorder: Process | None) -> list[int]:
    """Publish numbered frames at `rate` for `duration` s; returns the numbers sent."""
    sent, period = [], 1.0 / rate
    due = time.perf_counter()
    end = due + duration
    number = 0
    while time.perf_counter() < end:
        if recorder is not None and recorder.process.poll() is not None:
            break
        message.header.frame_id = str(number)
        stamp = time.time_ns()
        message.header.stamp.sec, message.header.stamp.nanosec = stamp // 10**9, stamp % 10**9
        listener.publisher.publish(message)
        sent.append(number)
        number += 1
        due += period
        time.sleep(max(0.0, due - time.perf_counter()))
    return sent


def _numbers_in(bag: Path) -> list[int]:
    from liquid_control.data.bags import BagReader

    with BagReader(bag) as reader:
        return [int(reader.deserialize(m.raw, m.msgtype).header.frame_id) for m in reader.messages([STREAM_TOPIC])]


def _mcap_count(bag: Path) -> int:
    from mcap.reader import make_reader

    count = 0
    for path in bag.glob("*.mcap"):
        with open(path, "rb") as stream:
            count += sum(1 for _ in make_reader(stream).iter_messages())
    return count


def recorder(args) -> dict:
    setup = environment()
    env, logs = setup["env"], setup["dir"] / "log"
    bag = setup["dir"] / "bag"
    listener = Listener(diagnostics=False, images=STREAM_TOPIC)
    message = rgb8_image(*args.size)
    process = _recorder(bag, env, logs, "recorder")
    try:
        wait_until(lambda: listener.publisher.get_subscription_count() > 0, "the recorder's subscription", WAIT_S)
        sent = _stream(listener, message, args.duration, args.frame_rate, process)
        # Reliable: wait until the recorder has acknowledged everything before stopping it.
        from rclpy.duration import Duration

        listener.publisher.wait_for_all_acked(Duration(seconds=10))
    finally:
        process.stop()
        listener.close()
    recorded = _numbers_in(bag)
    missing = sorted(set(sent) - set(recorded))
    return {"benchmark": "recorder", "duration_s": args.duration, "frame_rate_hz": args.frame_rate,
            "frame_bytes": len(message.data), "published": len(sent), "recorded": len(recorded), "lost": len(missing),
            "first_lost": missing[:10], "duplicates": len(recorded) - len(set(recorded)),
            "in_order": recorded == sorted(recorded), "mcap_messages": _mcap_count(bag),
            "bag_mib": round(sum(f.stat().st_size for f in bag.iterdir()) / 2**20, 1), "load_average": load_average()}


def kill(args) -> dict:
    from liquid_control.data.bags import BagReader, recover

    setup = environment()
    env, logs = setup["env"], setup["dir"] / "log"
    listener = Listener(diagnostics=False, images=STREAM_TOPIC)
    message = rgb8_image(*args.size)
    runs = []
    try:
        for index in range(args.kills):
            bag = setup["dir"] / f"bag{index}"
            process = _recorder(bag, env, logs, f"recorder{index}")
            wait_until(lambda: listener.publisher.get_subscription_count() > 0, "the recorder's subscription",
                       WAIT_S)
            sent = _stream(listener, message, args.every, args.frame_rate, process)
            process.process.send_signal(signal.SIGKILL)
            process.process.wait()
            wait_until(lambda: listener.publisher.get_subscription_count() == 0, "the killed recorder to vanish", 30)
            report = recover(bag)
            recorded = _numbers_in(bag)
            with BagReader(bag) as reader:
                count = reader.message_count
            runs.append({"published": len(sent), "recovered": len(recorded),
                         "survived_percent": round(len(recorded) / len(sent) * 100, 2) if sent else None,
                         "rosbags_reads": count == len(recorded), "mcap_reads": _mcap_count(bag) == len(recorded),
                         "in_order": recorded == sorted(recorded), "recover": str(report)[:300]})
    finally:
        listener.close()
    survived = [run["survived_percent"] for run in runs]
    return {"benchmark": "kill", "kills": args.kills, "every_s": args.every, "frame_rate_hz": args.frame_rate,
            "survived_percent_median": statistics.median(survived), "survived_percent_min": min(survived),
            "all_readable": all(r["rosbags_reads"] and r["mcap_reads"] for r in runs), "runs": runs,
            "load_average": load_average()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=("soak", "recorder", "kill"))
    parser.add_argument("--duration", type=float, default=None, help="seconds (soak: 1800, recorder: 600)")
    parser.add_argument("--rate", type=float, default=50.0, help="soak: control rate, Hz")
    parser.add_argument("--frame-rate", type=float, default=30.0, help="frames per second fed or recorded")
    parser.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("HEIGHT", "WIDTH"),
                        help="recorder, kill: rgb8 frame size (default 240 320: 230 KB, 6.9 MB/s at 30 Hz)")
    parser.add_argument("--keep", action="store_true", help="keep the bags (default: removed after measuring)")
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--every", type=float, default=10.0, help="kill: seconds each recorder lives")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.model = args.model.resolve()
    if args.duration is None:
        args.duration = 1800.0 if args.which == "soak" else 600.0
    result = {"soak": soak, "recorder": recorder, "kill": kill}[args.which](args)
    if not args.keep:
        for folder in TEMPORARY:
            shutil.rmtree(folder, ignore_errors=True)
    print_json(result, args.out)


if __name__ == "__main__":
    main()
