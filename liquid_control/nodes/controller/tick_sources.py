"""What makes controller_node tick, started and stopped together: the control timer (with dedicated threads,
a deadline thread on the wall clock or a served timer on the sim clock), the frame-trigger watchdog, and the
thread that serves the frames (the view's timers are view_topics.py's).

The node keeps what a tick does; this module keeps which timer or thread calls it.
"""

from __future__ import annotations

from typing import Callable

from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node

from liquid_control.nodes.dedicated_threads import DeadlineThread, ServingThread


class TickSources:
    """The timers and dedicated threads that call a controller node's tick and watchdog callbacks."""

    def __init__(self, node: Node, on_tick: Callable[[], None], on_watchdog: Callable[[], None]):
        self._node = node
        self._on_tick, self._on_watchdog = on_tick, on_watchdog
        self.frames_thread: ServingThread | None = None
        self.control_thread: ServingThread | DeadlineThread | None = None
        self._timer = self._watchdog_timer = None

    def _log_error(self, text: str) -> None:
        self._node.get_logger().error(text)

    def _serving_thread(self, name: str, priority: int, realtime: bool) -> ServingThread:
        # The frames thread runs one step below the control thread: at normal priority it could be
        # preempted while it holds the GIL, and the control thread would wait for it.
        return ServingThread(self._node, name, self._log_error,
                             realtime_priority=priority if realtime else max(priority - 1, 1) if priority else 0)

    def _report_scheduling(self, thread: ServingThread | DeadlineThread) -> None:
        if thread.scheduling_problem:
            self._node.get_logger().warning(f"{thread.name} thread at normal priority: {thread.scheduling_problem}")

    # ----------------------------------------------------------------- frames
    def open_frames_thread(self, values: dict) -> CallbackGroup:
        """A thread of its own for the frame subscription: create it in the group returned, then serve_frames."""
        self.frames_thread = self._serving_thread("frames", values["realtime_priority"], realtime=False)
        return self.frames_thread.group

    def serve_frames(self, subscription) -> None:
        self.frames_thread.start(subscriptions=[subscription])
        self._report_scheduling(self.frames_thread)

    def close_frames_thread(self) -> None:
        if self.frames_thread is not None:
            self.frames_thread.destroy()  # before the subscription it serves goes
            self.frames_thread = None

    # ----------------------------------------------------------------- control
    def start(self, values: dict, sim_time: bool) -> None:
        """Start the ticks as ``values`` say: stepping on frames (a watchdog), or at the control rate."""
        period = 1.0 / values["control_rate_hz"]
        if values["trigger"] == "frame":
            # Frames step the network; this watchdog on the node clock commands the stops when they
            # stop coming (without it the last command would stand).
            self._watchdog_timer = self._node.create_timer(period, self._on_watchdog)
        elif values["dedicated_threads"] and not sim_time:
            self.control_thread = DeadlineThread("control", period, self._on_tick, self._log_error,
                                                 spin=values["timer_spin_ms"] * 1e-3,
                                                 realtime_priority=values["realtime_priority"])
            self.control_thread.start()
            self._report_scheduling(self.control_thread)
        elif values["dedicated_threads"]:  # the sim clock: a ROS timer, served by its own thread
            self.control_thread = self._serving_thread("control", values["realtime_priority"], realtime=True)
            self._timer = self._node.create_timer(period, self._on_tick, callback_group=self.control_thread.group)
            self.control_thread.start(timers=[self._timer])
            self._report_scheduling(self.control_thread)
        else:
            self._timer = self._node.create_timer(period, self._on_tick)

    def stop_control_thread(self) -> None:
        if self.control_thread is not None:
            self.control_thread.destroy()  # waits for a tick in progress
            self.control_thread = None

    def destroy_timers(self) -> None:
        for timer in (self._timer, self._watchdog_timer):
            if timer is not None:
                self._node.destroy_timer(timer)
        self._timer = self._watchdog_timer = None

    def destroy_threads(self) -> None:
        """Stop both threads, before rclpy destroys the entities they wait on."""
        self.stop_control_thread()
        self.close_frames_thread()

