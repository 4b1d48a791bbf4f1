"""Supervising a launch: start every node of a plan in its own process group, relay its output, and
stop them all together on a signal or when one dies (the policy is in docs/launch.md).
"""

from __future__ import annotations

import datetime
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .launch_file import LaunchError
from .plan import LaunchPlan, NodeLaunch


def default_log_root() -> Path:
    """Where ROS 2 writes logs: $ROS_LOG_DIR, else $ROS_HOME/log, else ~/.ros/log."""
    if os.environ.get('ROS_LOG_DIR'):
        return Path(os.path.expanduser(os.environ['ROS_LOG_DIR']))
    if os.environ.get('ROS_HOME'):
        return Path(os.path.expanduser(os.environ['ROS_HOME'])) / 'log'
    return Path.home() / '.ros' / 'log'


class LaunchRunner:
    """Starts the nodes of a plan, relays their output and stops them all together (see docs/launch.md)."""

    POLL_S = 0.05
    CLEAN_CODES = (0, -signal.SIGINT, 128 + signal.SIGINT)  # a node that ended on our SIGINT ended cleanly
    HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, plan: LaunchPlan, shutdown_timeout: float = 5.0):
        self.plan = plan
        self.shutdown_timeout = shutdown_timeout
        self._signals: list[int] = []
        self._processes: list[tuple[NodeLaunch, subprocess.Popen]] = []
        self._threads: list[threading.Thread] = []
        self._files: list = []
        self._screen_lock = threading.Lock()

    def log(self, message: str) -> None:
        with self._screen_lock:
            print(f'[launch] {message}', file=sys.stderr, flush=True)

    def run(self) -> int:
        """Run until every node has stopped; returns the exit code for the runner."""
        if not self.plan.nodes:
            self.log('the launch file starts no nodes')
            return 0
        previous = {number: signal.signal(number, self._on_signal) for number in self.HANDLED_SIGNALS}
        try:
            self._start_all()
            return self._supervise()
        finally:
            self._kill_leftovers()
            for thread in self._threads:
                thread.join(timeout=2.0)
            for handle in self._files:
                handle.close()
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _on_signal(self, number: int, frame) -> None:
        # Only record it: the supervising loop acts on it (a signal handler must not take locks).
        self._signals.append(number)

    # ---- starting
    def _start_all(self) -> None:
        log_dir = None
        if any(node.output != 'screen' for node in self.plan.nodes):
            stamp = datetime.datetime.now().strftime('%Y-%m-%d-%H-%M-%S')
            log_dir = default_log_root() / f'launch_runner-{stamp}-{os.getpid()}'
            log_dir.mkdir(parents=True, exist_ok=True)
            self.log(f'node output logged under {log_dir}')
        environment = dict(os.environ)  # the whole environment (see docs/launch.md)
        # Python nodes' print() output arrives line by line, not in 8 KiB blocks through the pipe.
        environment.setdefault('PYTHONUNBUFFERED', '1')
        for node in self.plan.nodes:
            if self._signals:
                return  # a Ctrl-C during start-up: stop what is already running
            try:
                process = subprocess.Popen(node.command, env=environment, stdin=subprocess.DEVNULL,
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            except OSError as error:
                raise LaunchError(f'{node.origin}: cannot start {node.label}: {error}') from None
            self._processes.append((node, process))
            self.log(f'{node.label} started (pid {process.pid}): {shlex.join(node.command)}')
            log_file = None
            if log_dir is not None and node.output != 'screen':
                log_file = open(log_dir / f'{node.label}.log', 'w', encoding='utf-8')
                self._files.append(log_file)
            stdout_screen = node.output in ('screen', 'both')
            self._pump(node.label, process.stdout, sys.stdout if stdout_screen else None, log_file)
            self._pump(node.label, process.stderr, sys.stderr, log_file)

    def _pump(self, label: str, stream, screen, log_file) -> None:
        def relay():
            nonlocal screen
            for raw in iter(stream.readline, b''):
                line = raw.decode('utf-8', errors='replace')
                if not line.endswith('\n'):
                    line += '\n'
                if log_file is not None:
                    log_file.write(line)
                    log_file.flush()
                if screen is not None:
                    with self._screen_lock:
                        try:
                            screen.write(f'[{label}] {line}')
                            screen.flush()
                        except (OSError, ValueError):
                            screen = None  # our terminal or pipe is gone: keep draining, or the node would block
            stream.close()

        thread = threading.Thread(target=relay, name=f'output of {label}', daemon=True)
        thread.start()
        self._threads.append(thread)

    # ---- supervising
    def _supervise(self) -> int:
        running = list(self._processes)
        while True:
            if self._signals:
                self.log(f'{signal.Signals(self._signals[-1]).name} received: stopping {len(running)} node(s)')
                return 0 if self._shutdown() else 1
            for node, process in list(running):
                code = process.poll()
                if code is None:
                    continue
                running.remove((node, process))
                if code == 0:
                    self.log(f'{node.label} exited cleanly (pid {process.pid}, exit code 0)')
                    continue
                self.log(f'{node.label} died (pid {process.pid}, {_describe_code(code)}); '
                         f'stopping the other {len(running)} node(s)')
                self._shutdown()
                self.log(f'launch failed: {node.label} ({node.origin}) died with {_describe_code(code)}')
                return 1
            if not running:
                self.log('all nodes exited')
                return 0
            time.sleep(self.POLL_S)

    def _shutdown(self) -> bool:
        """SIGINT, then SIGTERM, then SIGKILL to every node still running; True if all ended cleanly."""
        seen = len(self._signals)
        escalated = False
        stages = ((signal.SIGINT, self.shutdown_timeout), (signal.SIGTERM, self.shutdown_timeout),
                  (signal.SIGKILL, 5.0))
        previous = None
        for number, timeout in stages:
            alive = [(node, process) for node, process in self._processes if process.poll() is None]
            if not alive:
                break
            if previous is not None:
                escalated = True
                self.log(f"{', '.join(node.label for node, _ in alive)} still running after {previous.name}; "
                         f'sending {number.name}')
            for _, process in alive:
                _signal_group(process, number)
            deadline = time.monotonic() + timeout
            while (any(process.poll() is None for _, process in alive) and time.monotonic() < deadline
                   and len(self._signals) == seen):
                time.sleep(self.POLL_S)
            if len(self._signals) != seen:
                seen = len(self._signals)
                self.log('signal received again: not waiting any longer')
            previous = number
        clean = not escalated
        for node, process in self._processes:
            code = process.wait()
            if code not in self.CLEAN_CODES:
                clean = False
            self.log(f'{node.label} stopped ({_describe_code(code)})')
        return clean

    def _kill_leftovers(self) -> None:
        """Kill any node still running, then anything a node left behind in its process group."""
        for _, process in self._processes:
            if process.poll() is None:
                _signal_group(process, signal.SIGKILL)
                process.wait()
        deadline = time.monotonic() + 1.0
        for node, process in self._processes:
            # Members outlive the node by a moment (an orphaned child being reaped); one that is
            # still there after the grace second was left running by the node.
            while _group_exists(process) and time.monotonic() < deadline:
                time.sleep(self.POLL_S)
            if _group_exists(process):
                self.log(f'killing what {node.label} left running in its process group')
                _signal_group(process, signal.SIGKILL)
                kill_deadline = time.monotonic() + 1.0
                while _group_exists(process) and time.monotonic() < kill_deadline:
                    time.sleep(self.POLL_S)


def _signal_group(process: subprocess.Popen, number: int) -> None:
    """Signal the node's process group (the node and anything it started), not just the node."""
    try:
        os.killpg(process.pid, number)
    except ProcessLookupError:
        pass


def _group_exists(process: subprocess.Popen) -> bool:
    """Whether the node's process group still has a live member (zombies awaiting their reaper do not count)."""
    proc = Path('/proc')
    if not (proc / 'self' / 'stat').is_file():  # not Linux: a zombie then counts as alive
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Fields after the parenthesised command: state, ppid, pgrp, ...
            fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(fields[2]) == process.pid and fields[0] not in ('Z', 'X'):
            return True
    return False


def _describe_code(code: int) -> str:
    if code < 0:
        return f'killed by {signal.Signals(-code).name}'
    return f'exit code {code}'
