"""What the ROS benchmarks share: child processes, a private ROS environment, waiting, machine facts.

The ROS benchmarks (ros_latency.py, timer_jitter.py, endurance.py) start real node processes under a
ROS_DOMAIN_ID and ROS_LOG_DIR of their own, wait for conditions while checking those processes live,
and print one JSON object. Imported by the scripts of this folder (their folder is on sys.path).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

from liquid_control.distro import local_discovery_environment

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO_ROOT / "models" / "ncp19_lane"
STARTUP_S = 90.0  # torch import and model load on a loaded 2-core machine


# --------------------------------------------------------------------------- child processes
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


def ros_arguments(namespace: str, parameters: Iterable[str] = ()) -> list[str]:
    """`--ros-args` putting a node in `namespace`, its /diagnostics remapped into it, with `parameters`."""
    args = ["--ros-args", "-r", f"__ns:={namespace}", "-r", f"/diagnostics:={namespace}/diagnostics"]
    for parameter in parameters:
        args += ["-p", parameter]
    return args


def node_command(module: str, namespace: str, parameters: Iterable[str] = ()) -> list[str]:
    """A node of the package run as `python -m <module>` in `namespace`."""
    return [sys.executable, "-m", module, *ros_arguments(namespace, parameters)]


def script_command(script: str, arguments: Iterable[str] = (), namespace: str | None = None,
                   parameters: Iterable[str] = ()) -> list[str]:
    """A script of this folder run in a child process (in `namespace` when given)."""
    ros = ros_arguments(namespace, parameters) if namespace is not None else []
    return [sys.executable, str(Path(__file__).resolve().parent / script), *arguments, *ros]


def split_ros_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """A script's own arguments, and from `--ros-args` on those for rclpy.init."""
    split = argv.index("--ros-args") if "--ros-args" in argv else len(argv)
    return argv[:split], argv[split:]


# --------------------------------------------------------------------------- the private ROS environment
def private_ros_environment(prefix: str, domain: int | None = None, transport: str | None = None) -> Path:
    """Give this process (and so its children) a ROS_DOMAIN_ID of its own (default: 1 + pid % 101),
    discovery on this host, and a temporary ROS_LOG_DIR and ROS_HOME; returns the temporary folder
    (with log/ and home/ in it)."""
    temporary = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    for folder in ("log", "home"):
        (temporary / folder).mkdir()
    settings = {"ROS_DOMAIN_ID": str(domain if domain is not None else 1 + os.getpid() % 101),
                **local_discovery_environment(), "ROS_LOG_DIR": str(temporary / "log"),
                "ROS_HOME": str(temporary / "home")}
    if transport:
        settings["FASTDDS_BUILTIN_TRANSPORTS"] = transport
    os.environ.update(settings)
    return temporary


def node_environment(node_threads: int | None = None) -> dict:
    """The environment of the node processes: this process's whole (the ROS wheels' re-exec needs
    LD_LIBRARY_PATH and its marker together), with OMP/MKL threads set when `node_threads` is."""
    env = dict(os.environ)
    if node_threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(node_threads)
    return env


# --------------------------------------------------------------------------- waiting
def wait_until(condition: Callable[[], bool], what: str, timeout: float, processes: Iterable[Process] = (),
               step: Callable[[], None] | None = None) -> None:
    """Call `step` (default: sleep 50 ms) until `condition` holds; raise if a process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        for process in processes:
            process.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        if step is None:
            time.sleep(0.05)
        else:
            step()


def run_until_stopped(spin: Callable[[], None], nodes: Iterable, at_exit: Callable[[], None] | None = None) -> None:
    """A child role's end: `spin` until Ctrl-C or shutdown, then `at_exit`, destroy `nodes`, shut rclpy down."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    try:
        spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if at_exit is not None:
            at_exit()
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()


class ProbeNode:
    """The benchmark's own rclpy node, in a context of its own with a single-threaded executor."""

    def __init__(self, name: str, namespace: str | None = None, args: list[str] | None = None):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self.rclpy = rclpy
        self.context = Context()
        rclpy.init(args=args, context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition, what: str, timeout: float, processes: Iterable[Process] = (),
                   spin_s: float = 0.02, between: Callable[[], None] | None = None) -> None:
        """Spin the executor (`spin_s` at most at a time, then `between`) until `condition` holds."""
        def step():
            self.executor.spin_once(timeout_sec=spin_s)
            if between is not None:
                between()
        wait_until(condition, what, timeout, processes, step)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def served_subscription(node, message_type, topic: str, callback, qos, realtime_priority: int = 0):
    """A subscription served by a thread of its own (liquid_control.nodes.dedicated_threads) that waits on it alone and
    calls `callback` as each message is taken, so the probe's executor (busy publishing on schedule) adds
    nothing to what is timed. Returns the function that ends it."""
    from liquid_control.nodes.dedicated_threads import ServingThread

    thread = ServingThread(node, f"receive {topic}", lambda text: print(text, file=sys.stderr),
                           realtime_priority=realtime_priority)
    subscription = node.create_subscription(message_type, topic, callback, qos, callback_group=thread.group)
    thread.start(subscriptions=[subscription])

    def close():
        thread.destroy()
        node.destroy_subscription(subscription)
    return close


# --------------------------------------------------------------------------- machine facts
def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def cpu_times() -> list[int]:
    """The machine's CPU time counters (/proc/stat, all cores)."""
    with open("/proc/stat") as stat:
        return [int(v) for v in stat.readline().split()[1:]]


def busy_fraction(before: list[int], after: list[int]) -> float:
    """The fraction of the machine's CPU time not idle between two `cpu_times()`."""
    delta = [b - a for a, b in zip(before, after)]
    idle = delta[3] + delta[4]  # idle + iowait
    return round(1.0 - idle / max(1, sum(delta)), 3)


def machine_facts(load_start: list[float], load_end: list[float], note: str) -> dict:
    """Cores, Python, this process's niceness and scheduler, and the load over the run."""
    policy = os.sched_getscheduler(0)
    names = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}
    return {"cores": os.cpu_count(), "python": platform.python_version(), "niceness": os.nice(0),
            "scheduler": names.get(policy, str(policy)),
            "load_average_1_5_15_min": {"start": load_start, "end": load_end}, "note": note}


def print_json(result: dict, out: Path | None = None) -> None:
    """Print the benchmark's one JSON object (and write it to `out` when given)."""
    text = json.dumps(result, indent=1)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    print(text)
