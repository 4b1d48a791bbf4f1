"""Running a node under test in a child process and talking to it from an in-test rclpy probe.

The node runs as `ros2 run` would start it (`--ros-args --params-file ... -p ...`), its console
output in a file (a pipe could fill up and block it). The probe is an rclpy node in the test
process with its own Context and no signal handlers (pytest keeps Ctrl-C). `import rclpy` in the
test process is clean because the PyPI ROS wheels re-execute every interpreter of the virtual
environment at start-up with LD_LIBRARY_PATH set. Nothing sleeps a fixed time: every wait spins
the probe until a condition holds, with a deadline.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 15.0


def wait_for(condition, what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` (no spinning) until it holds; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def ros_time(seconds: float):
    """builtin_interfaces/Time for a time in seconds (a stamp or a /clock value)."""
    from builtin_interfaces.msg import Time

    nanoseconds = round(seconds * 1e9)
    return Time(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)


def run_to_exit(command: list[str], env: dict, timeout_s: float = 60.0, **popen) -> subprocess.CompletedProcess:
    """Run a process that must end by itself (a node refusing its parameters) and return its result,
    as ``subprocess.run(..., capture_output=True, text=True)`` would. One still running after
    ``timeout_s`` hangs: it gets SIGABRT, on which Python's faulthandler (PYTHONFAULTHANDLER) prints
    every thread's stack, and the test fails with those stacks, so that a rare hang says where."""
    process = subprocess.Popen(command, env={**env, "PYTHONFAULTHANDLER": "1"}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, **popen)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        try:
            stdout, stderr = process.communicate(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        pytest.fail(f"{' '.join(command)} still ran after {timeout_s} s; its output, then its threads' stacks:\n"
                    f"{stdout[-2000:]}{stderr[-8000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


class NodeProcess:
    def __init__(self, module: str, env: dict, log_path: Path, params_file: Path | None = None, parameters=(),
                 namespace: str = "", remaps=()):
        self.name = module.removeprefix("liquid_control.nodes.")
        self.namespace = namespace
        self.log_path = log_path
        self._log = open(log_path, "w")
        args = ["--ros-args"]
        if params_file is not None:
            args += ["--params-file", str(params_file)]
        if namespace:
            args += ["-r", f"__ns:={namespace}"]
        for parameter in parameters:
            args += ["-p", parameter]
        for remap in remaps:
            args += ["-r", remap]
        self.process = subprocess.Popen([sys.executable, "-m", module, *args], env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, cwd=REPO_ROOT)

    def output(self) -> str:
        return self.log_path.read_text()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.process.returncode}:\n{self.output()}")

    def wait(self, timeout: float = WAIT_S) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            self._log.close()

    def interrupt(self, timeout: float = WAIT_S) -> int:
        """Ctrl-C and the exit code; kill only if it does not stop (then the test fails on the code)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


class Probe:
    """An rclpy node in the test process; subclasses add the subscriptions and publishers they need."""

    def __init__(self, node_process: NodeProcess, name: str):
        self.node_process = node_process
        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        # In the node's namespace, so that relative topic names are the node's.
        self.node = rclpy.create_node(name, namespace=node_process.namespace or "/", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def spin_until(self, condition, what: str, timeout: float = WAIT_S, node_must_live: bool = True,
                   resend=None, resend_every: float = 0.25, resend_now: bool = True) -> None:
        """Spin until ``condition()``; with ``resend``, call it now (``resend_now``; else first after
        ``resend_every``) and every ``resend_every`` s meanwhile (best-effort messages, such as camera
        frames, may be lost on the way)."""
        deadline = time.monotonic() + timeout
        next_send = time.monotonic() + (0.0 if resend_now else resend_every)
        while not condition():
            if node_must_live:
                self.node_process.check_alive()
            now = time.monotonic()
            if now > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for {what}; node output:\n"
                            f"{self.node_process.output()[-3000:]}")
            if resend is not None and now >= next_send:
                resend()
                next_send = now + resend_every
            self.executor.spin_once(timeout_sec=0.02)

    def wait_for_more(self, records: list, count: int, what: str, timeout: float = WAIT_S) -> list:
        """Spin until ``count`` more records arrive; return those."""
        start = len(records)
        self.spin_until(lambda: len(records) >= start + count, f"{count} more {what}", timeout)
        return records[start:]

    def wait_for_log(self, text: str, timeout: float = WAIT_S) -> None:
        self.spin_until(lambda: text in self.node_process.output(), f"{text!r} in the node output", timeout)

    def call(self, client, request, what: str, timeout: float = WAIT_S):
        self.spin_until(client.service_is_ready, f"the {what} service", timeout)
        future = client.call_async(request)
        self.spin_until(future.done, f"the {what} response", timeout)
        return future.result()
