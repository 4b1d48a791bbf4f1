"""ROS latency benchmark: a camera Image published in one process -> cmd_vel received in another.

    .venv/bin/python benchmarks/ros_latency.py [--frames 600] [--sizes 66x200 160x320] [--rate 30]
        [--node-threads N] [--transport SHM] [--phases ping echo perception controller pipeline composed]

Prints one JSON object. Target (issue): Image published -> cmd_vel received, p99 <= 3 ms at 30 Hz.

Every process is real: perception_node and controller_node run as `python -m
liquid_control.nodes.<name> --ros-args ...` with the shipped model (controller `trigger:=frame`,
so each frame gives exactly one command), the echo and the composed container are this script in
another role, and the probe is this process (rclpy). All share a private ROS_DOMAIN_ID, a
temporary ROS_LOG_DIR/ROS_HOME, and a namespace (/diagnostics is remapped into it).

Phases (each: discovery, frames until the first answer, `--warmup` frames, then `--frames` frames
at `--rate`; the probe records the perf_counter time of each publish and each answer):
  ping        std_msgs/Header probe -> echo -> probe: round trip of a small message (the floor)
  echo        Image (rgb8) probe -> echo process -> Header back: DDS image transport with the
              sensor-data QoS of the pipeline
  perception  Image -> perception_node -> image_preprocessed (32FC3 66x200) -> probe
  controller  image_preprocessed (32FC3) -> controller_node -> cmd_vel; its /diagnostics step time
  pipeline    Image -> perception_node -> controller_node -> cmd_vel (the target)
  camera      Image -> controller_node with input:=camera (it preprocesses image_raw itself) -> cmd_vel:
              the target with one process and one DDS hop less
  composed    the same, both nodes in one process (one executor: `--composed-executor single events`)
and on request: echo_reliable (the echo with RELIABLE, as the DESIGN's 4.8 ms figure), onnx_standin
(perception_node -> a stand-in controller stepping policy.onnx with ONNX Runtime -> cmd_vel),
fused_onnx_standin (one stand-in process doing the preprocessing and the ONNX step on image_raw) and
in_process (perception's work and the policy step timed in this process without ROS: torch with its
default threads and 1 thread, ONNX Runtime 1 thread).
Answers that carry the header stamp (echo, perception) are paired with their frame exactly; a
cmd_vel carries no frame identity, so commands are paired with frames in order when none was lost,
otherwise each command with the last frame published before it (exact while latency < 1 period;
`commands_sharing_a_window` counts where that assumption fails). Losses are counted per hop from
the nodes' /diagnostics counters, never hidden.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from liquid_control.distro import local_discovery_environment

REPO_ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "/ros_latency_bench"
DIAGNOSTICS = f"{NAMESPACE}/diagnostics"
DEFAULT_MODEL = REPO_ROOT / "models" / "ncp19_lane"
PHASES = ("ping", "echo", "echo_reliable", "perception", "controller", "pipeline", "camera", "composed", "onnx_standin",
          "fused_onnx_standin", "in_process")
STARTUP_S = 90.0  # torch import and model load on a loaded 2-core machine
QOS_TEXT = {
    "image_raw": "sensor data: BEST_EFFORT, KEEP_LAST 5, VOLATILE (perception_node's subscription)",
    "image_preprocessed": "sensor data: BEST_EFFORT, KEEP_LAST 5, VOLATILE",
    "cmd_vel": "RELIABLE, KEEP_LAST 10, VOLATILE (controller_node's publisher)",
    "echo_image_reliable": "RELIABLE, KEEP_LAST 10, VOLATILE on both sides",
    "echo_return_and_ping": "RELIABLE, KEEP_LAST 10, VOLATILE (std_msgs/Header)",
}


# --------------------------------------------------------------------------- statistics
def latency_stats(seconds) -> dict:
    if len(seconds) == 0:
        return {"n": 0}
    ms = np.asarray(seconds) * 1e3
    return {"n": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p90_ms": round(float(np.percentile(ms, 90)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "max_ms": round(float(ms.max()), 3), "mean_ms": round(float(ms.mean()), 3)}


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def pair_by_key(sent: list[tuple[float, int]], received: list[tuple[float, int]]) -> tuple[list[float], int]:
    """Latencies of answers that carry their frame's stamp; and how many frames got no answer."""
    published = {stamp: t for t, stamp in sent}
    latencies, seen = [], set()
    for t, stamp in received:
        if stamp in published and stamp not in seen:
            seen.add(stamp)
            latencies.append(t - published[stamp])
    return latencies, len(sent) - len(seen)


def pair_in_order(sent: list[tuple[float, int]], received: list[tuple[float, object]]) -> tuple[list[float], str, int]:
    """Latencies of answers without frame identity (cmd_vel); the method used; windows with > 1 answer."""
    times = np.array([t for t, _ in sent])
    answers = [t for t, _ in received]
    if len(answers) == len(sent):
        return [a - s for a, s in zip(answers, times)], "in order (no frame lost)", 0
    latencies, used, shared = [], set(), 0
    for t in answers:
        index = int(np.searchsorted(times, t, side="right")) - 1
        if index < 0:
            continue
        if index in used:
            shared += 1
            continue
        used.add(index)
        latencies.append(t - times[index])
    return latencies, "window (last frame published before the command)", shared


# --------------------------------------------------------------------------- processes
class Process:
    """A child process with its console output in a file, stopped with Ctrl-C (killed if it hangs)."""

    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        with open(self.log_path, "w") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)

    def output(self) -> str:
        return self.log_path.read_text()

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (all its threads) so far."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def ros_args(parameters=()) -> list[str]:
    args = ["--ros-args", "-r", f"__ns:={NAMESPACE}", "-r", f"/diagnostics:={DIAGNOSTICS}"]
    for parameter in parameters:
        args += ["-p", parameter]
    return args


def node_command(module: str, parameters=()) -> list[str]:
    return [sys.executable, "-m", module, *ros_args(parameters)]


def role_command(role: str, extra=(), parameters=()) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--role", role, *extra, *ros_args(parameters)]


CONTROLLER_PARAMETERS: list[str] = []  # --controller-param


def pipeline_parameters(model: Path) -> list[str]:
    return [f"model_path:={model}", "trigger:=frame", "twist_stamped:=false", "diagnostics_rate_hz:=1.0",
            *CONTROLLER_PARAMETERS]


# --------------------------------------------------------------------------- roles in child processes
def run_echo(ros_arguments: list[str]) -> None:
    """Echo the header of each image (two QoS) and each ping back on `echo` (a small reliable message)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    rclpy.init(args=ros_arguments)
    node = rclpy.create_node("latency_echo")
    reliable = QoSProfile(depth=10)
    echo = node.create_publisher(Header, "echo", reliable)
    node.create_subscription(Image, "echo_image", lambda m: echo.publish(m.header), qos_profile_sensor_data)
    node.create_subscription(Image, "echo_image_reliable", lambda m: echo.publish(m.header), reliable)
    node.create_subscription(Header, "ping", echo.publish, reliable)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def run_composed(ros_arguments: list[str], executor_kind: str) -> None:
    """perception_node and controller_node in one process, one executor (rclpy has no intra-process
    comms; Fast DDS delivers between the two nodes' endpoints of one participant without a transport)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from liquid_control.nodes.controller_node import ControllerNode
    from liquid_control.nodes.perception_node import PerceptionNode

    rclpy.init(args=ros_arguments, signal_handler_options=SignalHandlerOptions.NO)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    nodes = [PerceptionNode(), ControllerNode()]
    if executor_kind == "events":
        from rclpy.experimental import EventsExecutor
        executor = EventsExecutor()
    else:
        executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()


def run_onnx_controller(ros_arguments: list[str], model: Path, fused: bool) -> None:
    """A stand-in for controller_node with an ONNX Runtime policy step (1 thread), to measure that option
    end to end: the same subscription, QoS, decoding, finiteness check, step and cmd_vel; no command
    shaping or safety logic (microseconds). Its /diagnostics use controller_node's keys. `fused`: it
    subscribes to image_raw and does perception_node's preprocessing in the same callback (one hop less)."""
    from collections import deque

    import onnxruntime
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from geometry_msgs.msg import Twist
    from rclpy.clock import Clock, ClockType
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from liquid_control.data.images import (
        PreprocessSpec,
        decode_float_image,
        decode_image,
    )
    from liquid_control.nets import read_card

    spec = PreprocessSpec.from_card(read_card(model))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model / "policy.onnx"), options, providers=["CPUExecutionProvider"])
    state_input = next(i for i in session.get_inputs() if i.name == "state_0")
    speed = 2.0
    rclpy.init(args=ros_arguments)
    node = rclpy.create_node("controller_node")
    commands = node.create_publisher(Twist, "cmd_vel", 10)
    diagnostics = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
    counts = {"frames": 0, "invalid_frames": 0, "commands": 0, "resets": 0, "faults": 0}
    steps, pipeline = deque(maxlen=500), deque(maxlen=500)
    memory = {"state": np.zeros((1, state_input.shape[1]), np.float32), "last": None}

    def on_image(message):
        counts["frames"] += 1
        if fused:
            image = spec.apply(decode_image(message.encoding, message.height, message.width, message.step,
                                            message.data, message.is_bigendian), message.encoding)
        else:
            image = decode_float_image(message.encoding, message.height, message.width, message.step, message.data,
                                       message.is_bigendian)
        if not np.isfinite(image).all():
            counts["invalid_frames"] += 1
            return
        stamp = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
        dt = 1 / 30 if memory["last"] is None else max(1e-3, stamp - memory["last"])
        started = time.perf_counter()
        output, memory["state"] = session.run(None, {
            "image": np.ascontiguousarray(image.transpose(2, 0, 1))[None], "dt": np.array([dt], np.float32),
            "state_0": memory["state"]})
        steps.append(time.perf_counter() - started)
        memory["last"] = stamp
        command = Twist()
        command.linear.x, command.angular.z = speed, speed * float(output[0, 0])
        commands.publish(command)
        counts["commands"] += 1
        pipeline.append(time.time() - stamp)

    def publish_diagnostics():
        def ms(values, q):
            return f"{np.percentile(values, q) * 1e3:.3f}" if values else "n/a"
        values = {"step_latency_p50_ms": ms(steps, 50), "step_latency_p99_ms": ms(steps, 99),
                  "pipeline_latency_p50_ms": ms(pipeline, 50), "pipeline_latency_p99_ms": ms(pipeline, 99),
                  "device": "cpu (onnxruntime, 1 thread)", **{k: str(v) for k, v in counts.items()}}
        diagnostics.publish(DiagnosticArray(status=[DiagnosticStatus(
            name="controller_node: onnx stand-in", values=[KeyValue(key=k, value=v) for k, v in values.items()])]))

    node.create_subscription(Image, "image_raw" if fused else "image_preprocessed", on_image, qos_profile_sensor_data)
    node.create_timer(1.0, publish_diagnostics, clock=Clock(clock_type=ClockType.STEADY_TIME))
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# --------------------------------------------------------------------------- the probe (this process)
def served_subscription(node, message_type, topic: str, callback, qos, realtime_priority: int = 0):
    """A subscription served by a thread of its own (liquid_control.nodes.serving) that waits on it alone and
    calls `callback` as each message is taken, so the probe's executor (busy publishing on schedule) adds
    nothing to what is timed. Returns the function that ends it."""
    from liquid_control.nodes.serving import ServingThread

    thread = ServingThread(node, f"receive {topic}", lambda text: print(text, file=sys.stderr),
                           realtime_priority=realtime_priority)
    subscription = node.create_subscription(message_type, topic, callback, qos, callback_group=thread.group)
    thread.start(subscriptions=[subscription])

    def close():
        thread.destroy()
        node.destroy_subscription(subscription)
    return close



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
        self.node = rclpy.create_node("latency_probe", namespace=NAMESPACE, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: list[tuple[float, object]] = []
        self.diagnostics: dict[str, list[tuple[float, dict]]] = {}
        self.node.create_subscription(DiagnosticArray, DIAGNOSTICS, self._on_diagnostics, 50)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)

    def _on_diagnostics(self, array) -> None:
        now = time.perf_counter()
        for status in array.status:
            name = status.name.split(":")[0]
            values = {pair.key: pair.value for pair in status.values}
            self.diagnostics.setdefault(name, []).append((now, values))

    def answers(self, message_type, topic: str, key, qos):
        """Subscribe the answers on `topic`, each stamped with perf_counter as it is taken (see
        `served_subscription`). Returns the function that ends the subscription."""
        return served_subscription(self.node, message_type, topic, self.record(key), qos)

    def record(self, key):
        def callback(message):
            self.received.append((time.perf_counter(), key(message)))
        return callback

    def spin_until(self, condition, what: str, timeout: float, processes=()) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for process in processes:
                process.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def spin_to(self, due: float) -> None:
        while (now := time.perf_counter()) < due:
            self.executor.spin_once(timeout_sec=due - now)

    def spin_quiet(self, quiet_s: float = 0.7, limit_s: float = 10.0) -> None:
        """Spin until no answer has arrived for `quiet_s` (a lagging node may still be working through its queue)."""
        start = time.perf_counter()
        while time.perf_counter() < start + limit_s:
            last = max(start, self.received[-1][0] if self.received else start)
            if time.perf_counter() - last > quiet_s:
                return
            self.executor.spin_once(timeout_sec=0.05)

    def fresh_diagnostics(self, names, timeout: float = 5.0) -> dict[str, dict]:
        """The first /diagnostics of each node published after now (counters at a quiet moment)."""
        mark = time.perf_counter()

        def fresh(name):
            return any(t > mark for t, _ in self.diagnostics.get(name, ()))
        self.spin_until(lambda: all(fresh(n) for n in names), f"fresh diagnostics of {names}", timeout)
        return {n: next(v for t, v in self.diagnostics[n] if t > mark) for n in names}

    def stream(self, publisher, message, count: int, rate: float) -> list[tuple[float, int]]:
        """Publish `message` `count` times at `rate`, each with a fresh stamp; (publish time, stamp ns)."""
        from builtin_interfaces.msg import Time

        period = 1.0 / rate
        sent = []
        start = time.perf_counter() + 0.01
        for i in range(count):
            self.spin_to(start + i * period)
            stamp = time.time_ns()  # the node clock (system time): pipeline latency and input age
            message.header.stamp = Time(sec=stamp // 10**9, nanosec=stamp % 10**9)
            published = time.perf_counter()
            publisher.publish(message)
            sent.append((published, stamp))
        return sent

    def measure(self, publisher, message, answer_topic: str, args, processes=(), node_names=()) -> dict:
        """Discovery, first answer, warm-up, then the measured stream; raw records and diagnostics."""
        self.spin_until(lambda: publisher.get_subscription_count() > 0 and self.node.count_publishers(answer_topic) > 0,
                        f"the subscriber of {publisher.topic_name} and the publisher of {answer_topic}", STARTUP_S,
                        processes)
        # Discovery is not symmetric: a best-effort frame sent before the reader sees our writer is lost.
        self.received.clear()
        deadline = time.monotonic() + STARTUP_S
        while not self.received:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer on {answer_topic}")
            for process in processes:
                process.check_alive()
            self.stream(publisher, message, 1, args.rate)
            self.spin_to(time.perf_counter() + 0.2)
        self.stream(publisher, message, args.warmup, args.rate)
        self.spin_quiet()  # nothing in flight: the counters below are a clean cut
        before = self.fresh_diagnostics(node_names) if node_names else {}
        self.received.clear()
        load_before = load_average()
        cpu_before, own_before = _cpu_times(), [p.cpu_seconds() for p in processes]
        probe_before, wall_before = time.process_time(), time.perf_counter()
        sent = self.stream(publisher, message, args.frames, args.rate)
        self.spin_quiet()
        cpu_busy = _busy_fraction(cpu_before, _cpu_times())
        wall = time.perf_counter() - wall_before
        own = {p.name: round((p.cpu_seconds() - b) / wall, 3) for p, b in zip(processes, own_before)}
        own["probe"] = round((time.process_time() - probe_before) / wall, 3)
        received = list(self.received)
        during = {n: [v for t, v in self.diagnostics.get(n, ()) if sent[0][0] <= t] for n in node_names}
        after = self.fresh_diagnostics(node_names) if node_names else {}
        return {"sent": sent, "received": received, "before": before, "after": after, "during": during,
                "load_average": {"before": load_before, "after": load_average()},
                "machine_cpu_busy_fraction": cpu_busy, "cores_used_by_our_processes": own}


def _cpu_times() -> list[int]:
    with open("/proc/stat") as stat:
        return [int(v) for v in stat.readline().split()[1:]]


def _busy_fraction(before: list[int], after: list[int]) -> float:
    delta = [b - a for a, b in zip(before, after)]
    idle = delta[3] + delta[4]  # idle + iowait
    return round(1.0 - idle / max(1, sum(delta)), 3)


def rgb8_image(height: int, width: int):
    from sensor_msgs.msg import Image

    pixels = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    message = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
    message.data = pixels.tobytes()
    message.header.frame_id = "camera"
    return message


def preprocessed_image(model: Path):
    from sensor_msgs.msg import Image

    from liquid_control.data.images import (
        PreprocessSpec,
        decode_image,
        float_image_fields,
    )
    from liquid_control.nets import read_card

    spec = PreprocessSpec.from_card(read_card(model))
    height, width = spec.size
    raw = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    array = spec.apply(decode_image("rgb8", height, width, width * 3, raw.tobytes()), "rgb8")
    message = Image(**float_image_fields(array))
    message.header.frame_id = "camera"
    return message


def hop_losses(measured: dict, published: int) -> dict:
    """Frames lost per hop, from the nodes' own counters (deltas over the measured run)."""
    def delta(name, key):
        if name not in measured["before"]:
            return None
        return int(measured["after"][name][key]) - int(measured["before"][name][key])

    losses = {"published": published}
    if "perception_node" in measured["before"]:
        losses["perception_frames_in"] = delta("perception_node", "frames_in")
        losses["perception_frames_out"] = delta("perception_node", "frames_out")
        losses["lost_probe_to_perception"] = published - losses["perception_frames_in"]
        losses["dropped_by_perception"] = delta("perception_node", "frames_dropped")
    if "controller_node" in measured["before"]:
        losses["controller_frames_in"] = delta("controller_node", "frames")
        losses["controller_invalid_frames"] = delta("controller_node", "invalid_frames")
        losses["controller_commands"] = delta("controller_node", "commands")
        upstream = losses.get("perception_frames_out", published)
        losses["lost_to_controller"] = upstream - losses["controller_frames_in"]
    losses["answers_received"] = len(measured["received"])
    return losses


def controller_figures(measured: dict, frames: int) -> dict:
    values = measured["after"]["controller_node"]
    keys = ("step_latency_p50_ms", "step_latency_p99_ms", "pipeline_latency_p50_ms", "pipeline_latency_p99_ms",
            "resets", "faults", "device")
    figures = {k: values[k] for k in keys}
    figures["window"] = ("the node's last 500 steps" + ("" if frames >= 500 else
                         f" (includes {500 - frames} warm-up steps: run with --frames >= 500)"))
    figures["pipeline_latency_means"] = "frame stamp (probe's publish, system clock) -> command published, node side"
    return figures


def perception_figures(measured: dict) -> dict:
    before, after = measured["before"]["perception_node"], measured["after"]["perception_node"]
    n0, n1 = int(before["frames_out"]), int(after["frames_out"])
    m0 = float(before["mean_preprocess_ms"] or 0.0)
    m1 = float(after["mean_preprocess_ms"] or 0.0)
    maxima = [float(v["max_preprocess_ms_last_period"]) for v in measured["during"]["perception_node"]
              if v.get("max_preprocess_ms_last_period")]
    return {"mean_preprocess_ms": round((m1 * n1 - m0 * n0) / max(1, n1 - n0), 3),
            "max_preprocess_ms": max(maxima) if maxima else None,
            "what": "decode + crop/resize/normalise in the node's callback (its /diagnostics)"}


class Benchmark:
    def __init__(self, args, env: dict, log_dir: Path):
        self.args, self.env, self.log_dir = args, env, log_dir
        self.probe = Probe()
        self.results: dict = {}

    def start(self, name: str, command: list[str]) -> Process:
        return Process(name, command, self.env, self.log_dir)

    def _phase(self, publisher, message, answer_topic, processes, node_names, keyed: bool) -> dict:
        measured = self.probe.measure(publisher, message, answer_topic, self.args, processes, node_names)
        sent, received = measured["sent"], measured["received"]
        periods = np.diff([t for t, _ in sent])
        result = {"achieved_rate_hz": round(float(1.0 / periods.mean()), 2),
                  "publish_period_max_ms": round(float(periods.max() * 1e3), 3)}
        if keyed:
            latencies, lost = pair_by_key(sent, received)
            result["pairing"] = "exact (header stamp echoed back)"
            result["frames_without_answer"] = lost
        else:
            latencies, method, shared = pair_in_order(sent, received)
            result["pairing"] = method
            if method.startswith("window"):
                node_p99 = measured["after"].get("controller_node", {}).get("pipeline_latency_p99_ms", "n/a")
                period_ms = 1e3 / self.args.rate
                exact = shared == 0 and node_p99 != "n/a" and float(node_p99) < 0.8 * period_ms
                result["pairing_exact"] = exact
                if not exact:
                    result["pairing"] += (": a LOWER BOUND here: the node-side pipeline latency reaches a frame period, "
                                          "so a command may belong to an earlier frame; see controller_node."
                                          "pipeline_latency_*")
            result["commands_sharing_a_window"] = shared
            result["frames_without_answer"] = len(sent) - len(received)
        result["latency"] = latency_stats(latencies)
        result["losses"] = hop_losses(measured, len(sent))
        result["load_average"] = measured["load_average"]
        result["machine_cpu_busy_fraction"] = measured["machine_cpu_busy_fraction"]
        result["cores_used_by_our_processes"] = own = measured["cores_used_by_our_processes"]
        result["cores_used_by_other_jobs_estimate"] = round(
            measured["machine_cpu_busy_fraction"] * os.cpu_count() - sum(v for v in own.values() if not np.isnan(v)), 2)
        if "perception_node" in node_names:
            result["perception_node"] = perception_figures(measured)
        if "controller_node" in node_names:
            result["controller_node"] = controller_figures(measured, self.args.frames)
        return result

    def run_echo_phases(self) -> None:
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from std_msgs.msg import Header

        node = self.probe.node
        echo = self.start("echo", role_command("echo"))
        answers = self.probe.answers(Header, "echo", (lambda m: m.stamp.sec * 10**9 + m.stamp.nanosec),
                                           QoSProfile(depth=10))
        try:
            if "ping" in self.args.phases:
                ping = node.create_publisher(Header, "ping", QoSProfile(depth=10))

                class Ping:  # stream() stamps message.header
                    header = Header(frame_id="ping")
                publisher = _HeaderPublisher(ping)
                self.results["ping_small_message_round_trip"] = self._phase(publisher, Ping(), f"{NAMESPACE}/echo",
                                                                            [echo], (), keyed=True)
                node.destroy_publisher(ping)
            variants = [("sensor_data", "echo_image", qos_profile_sensor_data)] if "echo" in self.args.phases else []
            if "echo_reliable" in self.args.phases:
                variants.append(("reliable", "echo_image_reliable", QoSProfile(depth=10)))
            if variants:
                for qos_name, topic, qos in variants:
                    from sensor_msgs.msg import Image
                    publisher = node.create_publisher(Image, topic, qos)
                    for size in self.args.sizes:
                        key = f"echo_image_{size[0]}x{size[1]}_{qos_name}"
                        self.results[key] = self._phase(publisher, rgb8_image(*size), f"{NAMESPACE}/echo", [echo], (),
                                                        keyed=True)
                        self.results[key]["what"] = "image one way + a Header back (round trip minus ping ~ one way)"
                    node.destroy_publisher(publisher)
        finally:
            answers()
            echo.stop()

    def run_perception_phase(self) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image

        node = self.probe.node
        perception = self.start("perception_node", node_command("liquid_control.nodes.perception_node",
                                                                [f"model_path:={self.args.model}"]))
        answers = self.probe.answers(Image, "image_preprocessed", (
            lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec), qos_profile_sensor_data)
        publisher = node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        try:
            for size in self.args.sizes:
                self.results[f"perception_{size[0]}x{size[1]}"] = self._phase(
                    publisher, rgb8_image(*size), f"{NAMESPACE}/image_preprocessed", [perception],
                    ("perception_node",), keyed=True)
        finally:
            node.destroy_publisher(publisher)
            answers()
            perception.stop()

    def run_node_phases(self) -> None:
        """controller alone, then the pipeline: separate perception_node and controller_node processes."""
        from geometry_msgs.msg import Twist
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from sensor_msgs.msg import Image

        node = self.probe.node
        parameters = pipeline_parameters(self.args.model)
        perception = self.start("perception_node", node_command("liquid_control.nodes.perception_node",
                                                                [f"model_path:={self.args.model}"]))
        controller = self.start("controller_node", node_command("liquid_control.nodes.controller_node", parameters))
        processes = [perception, controller]
        commands = self.probe.answers(Twist, "cmd_vel", (lambda m: None), QoSProfile(depth=10))
        try:
            if "controller" in self.args.phases:
                publisher = node.create_publisher(Image, "image_preprocessed", qos_profile_sensor_data)
                message = preprocessed_image(self.args.model)
                self.results["controller_alone_32FC3"] = self._phase(
                    publisher, message, f"{NAMESPACE}/cmd_vel", processes, ("controller_node",), keyed=False)
                self.results["controller_alone_32FC3"]["what"] = (
                    f"{message.height}x{message.width} 32FC3 image_preprocessed -> controller_node -> cmd_vel")
                node.destroy_publisher(publisher)
            if "pipeline" in self.args.phases:
                publisher = node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
                for size in self.args.sizes:
                    self.results[f"pipeline_{size[0]}x{size[1]}"] = self._phase(
                        publisher, rgb8_image(*size), f"{NAMESPACE}/cmd_vel", processes,
                        ("perception_node", "controller_node"), keyed=False)
                node.destroy_publisher(publisher)
        finally:
            commands()
            controller.stop()
            perception.stop()

    def _camera_to_cmd_vel(self, processes, node_names, key_prefix: str, what: str | None = None) -> None:
        """rgb8 image_raw frames of each size -> `processes` -> cmd_vel; the processes are stopped after."""
        from geometry_msgs.msg import Twist
        from rclpy.qos import QoSProfile, qos_profile_sensor_data
        from sensor_msgs.msg import Image

        node = self.probe.node
        commands = self.probe.answers(Twist, "cmd_vel", (lambda m: None), QoSProfile(depth=10))
        publisher = node.create_publisher(Image, "image_raw", qos_profile_sensor_data)
        try:
            for size in self.args.sizes:
                key = f"{key_prefix}_{size[0]}x{size[1]}"
                self.results[key] = self._phase(publisher, rgb8_image(*size), f"{NAMESPACE}/cmd_vel", processes,
                                                node_names, keyed=False)
                if what:
                    self.results[key]["what"] = what
        finally:
            node.destroy_publisher(publisher)
            commands()
            for process in reversed(processes):
                process.stop()

    def run_camera_phase(self) -> None:
        """controller_node subscribing image_raw itself (input:=camera): camera -> one process -> cmd_vel."""
        controller = self.start("controller_node", node_command(
            "liquid_control.nodes.controller_node", [*pipeline_parameters(self.args.model), "input:=camera"]))
        self._camera_to_cmd_vel([controller], ("controller_node",), "camera_input",
                                "rgb8 image_raw -> controller_node (input:=camera: decode, preprocess, conv head, "
                                "liquid core in its frames thread) -> cmd_vel")

    def run_composed_phase(self, executor: str) -> None:
        composed = self.start(f"composed_{executor}", role_command("composed", ["--composed-executor", executor],
                                                                    pipeline_parameters(self.args.model)))
        self._camera_to_cmd_vel([composed], ("perception_node", "controller_node"), f"composed_{executor}_executor")

    def run_onnx_standin_phase(self, fused: bool = False) -> None:
        processes, node_names = [], ("controller_node",)
        if not fused:
            processes.append(self.start("perception_node", node_command("liquid_control.nodes.perception_node",
                                                                        [f"model_path:={self.args.model}"])))
            node_names = ("perception_node", "controller_node")
        processes.append(self.start("onnx_controller", role_command(
            "onnx_controller", ["--model", str(self.args.model), *(["--fused"] if fused else [])])))
        self._camera_to_cmd_vel(
            processes, node_names, f"{'fused_' if fused else ''}onnx_standin_pipeline",
            "one process: a stand-in controller (this script) that preprocesses image_raw like perception_node and "
            "steps policy.onnx with ONNX Runtime (1 thread) in the same callback -> cmd_vel" if fused else
            "perception_node -> a stand-in controller (this script, ONNX Runtime 1 thread, no command shaping) -> "
            "cmd_vel; separate processes")


class _HeaderPublisher:
    """stream() publishes `message` with a fresh header stamp; a ping is the header itself."""

    def __init__(self, publisher):
        self._publisher = publisher
        self.topic_name = publisher.topic_name

    def get_subscription_count(self) -> int:
        return self._publisher.get_subscription_count()

    def publish(self, message) -> None:
        self._publisher.publish(message.header)


# --------------------------------------------------------------------------- in-process floor
def in_process_figures(model: Path, sizes, steps: int = 300) -> dict:
    """What the pipeline costs with no ROS at all, in this process: perception's work and the policy step
    (torch with its default threads and with 1 thread; ONNX Runtime with 1 thread)."""
    import onnxruntime
    import torch

    from liquid_control.data.images import (
        PreprocessSpec,
        decode_float_image,
        decode_image,
        float_image_fields,
    )
    from liquid_control.nets import load_model, read_card

    spec = PreprocessSpec.from_card(read_card(model))
    figures = {"steps": steps}
    for height, width in sizes:
        data = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8).tobytes()
        times = []
        for _ in range(steps):
            started = time.perf_counter()
            fields = float_image_fields(spec.apply(decode_image("rgb8", height, width, width * 3, data), "rgb8"))
            decode_float_image(fields["encoding"], fields["height"], fields["width"], fields["step"], fields["data"])
            times.append(time.perf_counter() - started)
        figures[f"preprocess_{height}x{width}"] = latency_stats(times[20:])
    policy, _ = load_model(model, device="cpu")
    policy.eval()
    image = torch.from_numpy(np.random.default_rng(1).normal(size=policy.image_shape).astype(np.float32))

    def torch_steps():
        state, times = None, []
        with torch.inference_mode():
            for _ in range(steps):
                started = time.perf_counter()
                _, state = policy.step(image, 1 / 30, state)
                times.append(time.perf_counter() - started)
        return latency_stats(times[30:])

    default_threads = torch.get_num_threads()
    figures[f"policy_step_torch_{default_threads}_threads"] = torch_steps()
    torch.set_num_threads(1)
    figures["policy_step_torch_1_thread"] = torch_steps()
    torch.set_num_threads(default_threads)
    onnx_path = model / "policy.onnx"
    if onnx_path.exists():
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        state_input = next(i for i in session.get_inputs() if i.name == "state_0")
        feeds = {"image": image.numpy()[None], "dt": np.array([1 / 30], np.float32),
                 "state_0": np.zeros((1, state_input.shape[1]), np.float32)}
        times = []
        for _ in range(steps):
            started = time.perf_counter()
            results = session.run(None, feeds)
            feeds["state_0"] = results[1]
            times.append(time.perf_counter() - started)
        figures["policy_step_onnxruntime_1_thread"] = latency_stats(times[30:])
        figures["onnxruntime_version"] = onnxruntime.__version__
    return figures


# --------------------------------------------------------------------------- main
def parse_size(text: str) -> tuple[int, int]:
    height, width = text.lower().split("x")
    return int(height), int(width)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=("probe", "echo", "composed", "onnx_controller"), default="probe", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=600, help="measured frames per phase (after warm-up)")
    parser.add_argument("--warmup", type=int, default=60, help="warm-up frames per phase")
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz")
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=[(66, 200), (160, 320)],
                        help="camera image sizes HxW (rgb8)")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--controller-param", action="append", default=[], metavar="NAME:=VALUE",
                        help="an extra controller_node parameter for the pipeline, camera and composed phases, e.g. "
                             "device:=cuda or realtime_priority:=50 (repeatable)")
    parser.add_argument("--phases", nargs="+", default=["ping", "echo", "perception", "controller", "pipeline", "composed"],
                        choices=PHASES, help="echo_reliable: the echo with RELIABLE QoS; onnx_standin: perception_node "
                        "+ an ONNX Runtime stand-in for controller_node; in_process: no ROS, this process")
    parser.add_argument("--node-threads", type=int, default=None,
                        help="OMP_NUM_THREADS for the node processes (torch intra-op threads); default: inherited")
    parser.add_argument("--transport", default=None, help="FASTDDS_BUILTIN_TRANSPORTS for every process "
                        "(DEFAULT, SHM, UDPv4, LARGE_DATA); default: inherited (Fast DDS: SHM + UDPv4)")
    parser.add_argument("--composed-executor", nargs="+", choices=("single", "events"), default=["single"],
                        help="executor(s) of the composed process (each measured); events is rclpy.experimental."
                        "EventsExecutor, which stalled at 100%% CPU with these nodes on the Kilted wheels")
    parser.add_argument("--fused", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--domain", type=int, default=None, help="ROS_DOMAIN_ID (default: 1 + pid %% 101)")
    argv = sys.argv[1:]
    split = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    args, ros_arguments = parser.parse_args(argv[:split]), ["ros_latency", *argv[split:]]
    CONTROLLER_PARAMETERS.extend(args.controller_param)
    if args.role == "echo":
        return run_echo(ros_arguments)
    if args.role == "composed":
        return run_composed(ros_arguments, args.composed_executor[0])
    if args.role == "onnx_controller":
        return run_onnx_controller(ros_arguments, args.model.resolve(), args.fused)
    args.model = args.model.resolve()

    temporary = Path(tempfile.mkdtemp(prefix="ros_latency-"))
    (temporary / "log").mkdir()
    (temporary / "home").mkdir()
    settings = {"ROS_DOMAIN_ID": str(args.domain if args.domain is not None else 1 + os.getpid() % 101),
                **local_discovery_environment(), "ROS_LOG_DIR": str(temporary / "log"),
                "ROS_HOME": str(temporary / "home")}
    if args.transport:
        settings["FASTDDS_BUILTIN_TRANSPORTS"] = args.transport
    os.environ.update(settings)  # the probe (this process) too
    env = dict(os.environ)  # whole: the ROS wheels' re-exec needs LD_LIBRARY_PATH and its marker together
    if args.node_threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.node_threads)

    started, load_start = time.monotonic(), load_average()
    benchmark = Benchmark(args, env, temporary / "log")
    runs = []
    if {"ping", "echo", "echo_reliable"} & set(args.phases):
        runs.append(("echo", benchmark.run_echo_phases))
    if "perception" in args.phases:
        runs.append(("perception", benchmark.run_perception_phase))
    if {"controller", "pipeline"} & set(args.phases):
        runs.append(("controller/pipeline", benchmark.run_node_phases))
    if "camera" in args.phases:
        runs.append(("camera", benchmark.run_camera_phase))
    if "composed" in args.phases:
        runs += [(f"composed_{e}", lambda e=e: benchmark.run_composed_phase(e)) for e in args.composed_executor]
    if "onnx_standin" in args.phases:
        runs.append(("onnx_standin", benchmark.run_onnx_standin_phase))
    if "fused_onnx_standin" in args.phases:
        runs.append(("fused_onnx_standin", lambda: benchmark.run_onnx_standin_phase(fused=True)))
    errors = {}
    try:
        for name, run in runs:
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

    target_ms = 3.0
    summary = {}
    for key, value in results.items():
        if key.startswith(("pipeline_", "camera_input_", "composed_", "onnx_standin_", "fused_onnx_standin_")) and value.get("latency", {}).get("n"):
            summary[key] = {"p50_ms": value["latency"]["p50_ms"], "p99_ms": value["latency"]["p99_ms"],
                            "target_p99_ms": target_ms, "met": value["latency"]["p99_ms"] <= target_ms and
                            value.get("pairing_exact", True),
                            "pairing_exact": value.get("pairing_exact", True),
                            "node_side_pipeline_latency_p99_ms": value["controller_node"]["pipeline_latency_p99_ms"],
                            "frames_without_command": value["frames_without_answer"],
                            "machine_cpu_busy_fraction": value["machine_cpu_busy_fraction"]}
    print(json.dumps({
        "benchmark": "ros_latency",
        "target": "camera Image published in one process -> cmd_vel received in another: p99 <= 3 ms at 30 Hz",
        "summary": summary,
        "error": error,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "niceness": os.nice(0),
                    "scheduler": {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}.get(
                        os.sched_getscheduler(0), str(os.sched_getscheduler(0))),
                    "load_average_1_5_15_min": {"start": load_start, "end": load_end},
                    "note": "other jobs may share the 2 cores; see each phase's load_average and machine_cpu_busy_fraction"},
        "settings": {"rate_hz": args.rate, "frames": args.frames, "warmup_frames": args.warmup,
                     "image_sizes": [f"{h}x{w} rgb8" for h, w in args.sizes], "model": str(args.model),
                     "controller": "trigger:=frame, twist_stamped:=false" + "".join(f", {p}" for p in args.controller_param),
                     "node_env": {"OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "unset (torch default: one per core)"),
                                  "FASTDDS_BUILTIN_TRANSPORTS": env.get("FASTDDS_BUILTIN_TRANSPORTS",
                                                                        "unset (Fast DDS default: SHM + UDPv4)")},
                     "rmw": env.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp (default)"),
                     "qos": QOS_TEXT, "domain_id": settings["ROS_DOMAIN_ID"],
                     "probe": "rclpy SingleThreadedExecutor in this process; times are time.perf_counter() at "
                              "publish() and at the start of the answer's callback"},
        "results": results,
        "node_logs": str(temporary / "log") if error else "removed (kept when a phase fails)",
        "wall_s": round(time.monotonic() - started, 1),
    }, indent=1))
    if not error:
        shutil.rmtree(temporary, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
