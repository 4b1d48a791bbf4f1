"""Dedicated threads for a node's hot path: ``ServingThread`` serves chosen subscriptions and timers
from a wait set of its own, ``DeadlineThread`` calls a callback at wall-clock deadlines.

rclpy's executors rebuild a wait set from every entity on each wake and run callbacks through
coroutine plumbing, and a control timer waits behind whatever callback the executor is in; no
library offers the middle ground, so this is written by hand. Entities are created with
``callback_group=thread.group`` (a ``ServedOutside`` group no executor runs), then handed to
``ServingThread.start``; the executor still runs everything else. Optional SCHED_FIFO scheduling.
The thread uses rclpy's C extension as rclpy's executors do (the same on Humble, Jazzy and Kilted,
docs/distributions.md); ``serving_available`` checks for it, and a node falls back to its executor.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from rclpy.callback_groups import CallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

# What ServingThread needs of rclpy's C extension, as (object, attributes).
_EXTENSION_NEEDS = (
    ("WaitSet", ("clear_entities", "add_subscription", "add_timer", "add_guard_condition", "wait", "is_ready")),
    ("Timer", ("call_timer",)),
    ("Subscription", ("take_message",)),
)


def serving_available(extension=_rclpy) -> str:
    """'' when this rclpy's extension has what ServingThread uses, else what is missing."""
    missing = []
    for name, attributes in _EXTENSION_NEEDS:
        kind = getattr(extension, name, None)
        if kind is None:
            missing.append(f"_rclpy.{name}")
            continue
        missing += [f"_rclpy.{name}.{attribute}" for attribute in attributes if not hasattr(kind, attribute)]
    return ", ".join(missing)


class ServedOutside(CallbackGroup):
    """A callback group no executor runs: its entities are served by a :class:`ServingThread`."""

    def can_execute(self, entity) -> bool:
        return False

    def beginning_execution(self, entity) -> bool:
        return False

    def ending_execution(self, entity) -> None:
        pass


def set_realtime_priority(priority: int) -> str:
    """Put the calling thread under SCHED_FIFO at `priority` (1-99); '' or the reason it could not."""
    if priority <= 0:
        return ""
    if not hasattr(os, "sched_setscheduler"):
        return "real-time scheduling is not available on this platform"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0: this thread, on Linux
    except (PermissionError, OSError) as error:
        return (f"SCHED_FIFO priority {priority} refused ({error.strerror or error}); allow it with "
                "`ulimit -r 99` / an rtprio limit in /etc/security/limits.conf, or CAP_SYS_NICE")
    return ""


def lower_to_background() -> str:
    """Give the calling thread the lowest CPU priority (nice 19; a per-thread value on Linux), so that on
    a busy machine the control thread and DDS win the cores; '' or the reason it could not."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError) as error:
        return f"could not lower the thread's priority ({error})"
    return ""


class _WorkerThread:
    """What both threads share: a name, a start that waits until the thread runs (at its priority), a
    stop that waits for a callback in progress (never from inside one), and calling callbacks so that
    an exception is reported through `on_error` and the thread carries on."""

    def __init__(self, name: str, on_error: Callable[[str], None], realtime_priority: int, background: bool = False):
        self.name = name
        self._on_error = on_error
        self._priority = realtime_priority
        self._background = background
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.scheduling_problem = ""
        self.callbacks = 0

    def _launch(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already running")
        self._stopping.clear()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), name=self.name, daemon=True)
        self._thread.start()
        ready.wait(5.0)

    def _main(self, ready: threading.Event) -> None:
        self.scheduling_problem = lower_to_background() if self._background else set_realtime_priority(self._priority)
        ready.set()
        self._run()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wake_up()
        if thread is not threading.current_thread():
            thread.join(timeout)

    def _wake_up(self) -> None:
        pass

    def _call(self, callback, *args) -> None:
        self.callbacks += 1
        try:
            callback(*args)
        except Exception as error:  # noqa: BLE001 - a failing callback must not end the thread
            self._on_error(f"{self.name}: {type(error).__name__} in {getattr(callback, '__name__', callback)}: {error}")

    def _run(self) -> None:
        raise NotImplementedError


class ServingThread(_WorkerThread):
    """Serve the given subscriptions and timers of `node` from one thread until :meth:`stop`.

    Callbacks run in this thread, one at a time. An exception in a callback is logged through
    `on_error` (the node's logger) and the thread carries on: one bad message must not stop
    the control loop.
    """

    def __init__(self, node, name: str, on_error: Callable[[str], None], realtime_priority: int = 0,
                 background: bool = False):
        super().__init__(name, on_error, realtime_priority, background)
        self.node = node
        self.group = ServedOutside()
        self._subscriptions = []
        self._timers = []
        self._wake = node.create_guard_condition(lambda: None, callback_group=self.group)

    def start(self, subscriptions=(), timers=()) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already running")
        for entity in (*subscriptions, *timers):
            if entity.callback_group is not self.group:
                raise ValueError(f"{self.name}: create the entity with callback_group=<this thread>.group, "
                                 "or the node's executor would serve it too")
        self._subscriptions, self._timers = list(subscriptions), list(timers)
        self._launch()

    def _wake_up(self) -> None:
        try:
            self._wake.trigger()
        except Exception:  # noqa: BLE001 - the context is already gone: its wait has ended with it
            pass

    def destroy(self) -> None:
        self.stop()
        self.node.destroy_guard_condition(self._wake)

    def _run(self) -> None:
        subscriptions, timers = self._subscriptions, self._timers
        context = self.node.context.handle
        wait_set = _rclpy.WaitSet(len(subscriptions), 1, len(timers), 0, 0, 0, context)
        handles = [entity.handle for entity in (*subscriptions, *timers, self._wake)]
        entered = []
        try:
            for handle in handles:  # held for the thread's life: destroying them waits for us
                handle.__enter__()
                entered.append(handle)
            with context:
                while not self._stopping.is_set():
                    wait_set.clear_entities()
                    for subscription in subscriptions:
                        wait_set.add_subscription(subscription.handle)
                    for timer in timers:
                        wait_set.add_timer(timer.handle)
                    wait_set.add_guard_condition(self._wake.handle)
                    wait_set.wait(-1)
                    if self._stopping.is_set():
                        break
                    for index, timer in enumerate(timers):
                        if wait_set.is_ready("timer", index):
                            self._fire(timer)
                    for index, subscription in enumerate(subscriptions):
                        if wait_set.is_ready("subscription", index):
                            self._take(subscription)
        except Exception as error:  # noqa: BLE001 - the context shut down under us, or rcl failed: say so, end quietly
            if not self._stopping.is_set() and self.node.context.ok():
                self._on_error(f"{self.name} stopped: {type(error).__name__}: {error}")
        finally:
            for handle in reversed(entered):
                handle.__exit__(None, None, None)

    def _fire(self, timer) -> None:
        if timer.is_canceled():
            return
        try:
            timer.handle.call_timer()
        except RuntimeError:
            if timer.is_canceled():  # cancelled after the wait: rcl said so with an RCLError
                return
            raise
        self._call(timer.callback)

    def _take(self, subscription) -> None:
        taken = subscription.handle.take_message(subscription.msg_type, subscription.raw)
        if taken is not None:
            self._call(subscription.callback, taken[0])


class DeadlineThread(_WorkerThread):
    """Call `callback` every `period` seconds of the monotonic clock, from a thread of its own.

    The thread sleeps until `spin` seconds before each deadline, then spins on the clock to it:
    waking from a sleep is what varies on a loaded or virtual machine, far more than the spin's end.
    The spin costs `spin / period` of a core; `spin` = 0 only sleeps. Deadlines
    keep their phase; a late tick runs at once, but deadlines overrun by a whole period are skipped
    (counted in `missed`), never run in a burst. For wall-clock control loops only: a simulated
    clock needs a ROS timer (:class:`ServingThread`).
    """

    def __init__(self, name: str, period: float, callback: Callable[[], None], on_error: Callable[[str], None],
                 spin: float = 0.001, realtime_priority: int = 0):
        if period <= 0:
            raise ValueError(f"period must be > 0 s, got {period}")
        super().__init__(name, on_error, realtime_priority)
        self.period = float(period)
        self.spin = min(max(float(spin), 0.0), self.period / 4)  # never spin most of the period away
        self._callback = callback
        self.missed = 0

    def start(self) -> None:
        self._launch()

    def destroy(self) -> None:
        self.stop()

    def _run(self) -> None:
        clock, period, spin = time.monotonic, self.period, self.spin
        deadline = clock() + period
        while True:
            pause = deadline - spin - clock()
            if self._stopping.wait(pause) if pause > 0 else self._stopping.is_set():
                return
            while clock() < deadline:
                pass
            self._call(self._callback)
            deadline += period
            behind = clock() - deadline  # > 0: the next tick is already late, and runs at once
            if behind >= period:
                skipped = int(behind // period)
                self.missed += skipped
                deadline += skipped * period
