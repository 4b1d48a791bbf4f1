"""liquid_control.nodes.dedicated_threads: entities served from a thread of their own, and the deadline thread."""

import threading
import time

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile
from rclpy.signals import SignalHandlerOptions
from std_msgs.msg import Header

from liquid_control.nodes.dedicated_threads import DeadlineThread, ServingThread, set_realtime_priority

from .harness import wait_for

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]


@pytest.fixture
def node():
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("serving_test", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [executor.spin_once(0.02) for _ in iter(stop.is_set, True)], daemon=True)
    spinner.start()  # the node's executor runs all along: it must leave the served entities alone
    yield node
    stop.set()
    spinner.join(5)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_subscriptions_and_timers_run_in_the_serving_thread_only(node):
    errors, seen = [], []
    serving = ServingThread(node, "served", errors.append)

    def on_message(message):
        seen.append(("message", message.frame_id, threading.current_thread().name))
        if message.frame_id == "bad":
            raise ValueError("a bad message")

    subscription = node.create_subscription(Header, "served_topic", on_message, QoSProfile(depth=10),
                                            callback_group=serving.group)
    timer = node.create_timer(0.01, lambda: seen.append(("timer", "", threading.current_thread().name)),
                              callback_group=serving.group)
    serving.start(subscriptions=[subscription], timers=[timer])
    publisher = node.create_publisher(Header, "served_topic", QoSProfile(depth=10))
    wait_for(lambda: publisher.get_subscription_count() > 0, "the subscription")
    for frame_id in ("a", "bad", "b"):
        publisher.publish(Header(frame_id=frame_id))
    wait_for(lambda: [s[1] for s in seen if s[0] == "message"] == ["a", "bad", "b"], "three messages")
    wait_for(lambda: sum(s[0] == "timer" for s in seen) >= 5, "five timer calls")
    assert {s[2] for s in seen} == {"served"}, "every callback ran in the serving thread"
    assert errors == ["served: ValueError in on_message: a bad message"], "reported, and serving went on"
    serving.destroy()
    assert not serving.running
    calls = len(seen)
    publisher.publish(Header(frame_id="after"))
    time.sleep(0.1)  # the executor is spinning all along: a callback it wrongly ran would show up here
    assert len(seen) == calls, "nothing runs the entities once the thread is stopped"


def test_entities_of_another_group_are_refused(node):
    serving = ServingThread(node, "served", print)
    timer = node.create_timer(1.0, lambda: None)
    with pytest.raises(ValueError, match="callback_group=<this thread>.group"):
        serving.start(timers=[timer])
    serving.destroy()


def test_deadline_thread_keeps_the_phase_and_skips_overruns_without_a_burst():
    times, errors = [], []

    def callback():
        times.append(time.monotonic())
        if len(times) == 5:
            time.sleep(0.22)  # overruns four 50 ms deadlines
        if len(times) == 12:
            raise RuntimeError("one failing tick")

    thread = DeadlineThread("ticks", 0.05, callback, errors.append, spin=0.001)
    thread.start()
    wait_for(lambda: len(times) >= 15, "15 ticks")
    thread.stop()
    assert not thread.running
    assert thread.missed >= 3, thread.missed
    assert times[5] - times[4] > 0.2 and times[6] - times[5] > 0.02, "after an overrun: one late tick, then on the beat"
    assert errors == ["ticks: RuntimeError in callback: one failing tick"] and len(times) >= 15


def test_deadline_thread_limits_its_spin_and_stops_from_its_own_callback():
    assert DeadlineThread("spin", 0.004, lambda: None, print, spin=0.01).spin == pytest.approx(0.001)
    with pytest.raises(ValueError, match="period must be > 0"):
        DeadlineThread("bad", 0.0, lambda: None, print)
    holder = {}
    calls = []

    def callback():
        calls.append(1)
        holder["thread"].stop()  # must not wait for itself

    holder["thread"] = DeadlineThread("self-stopping", 0.01, callback, print)
    holder["thread"].start()
    wait_for(lambda: calls, "the first tick")
    time.sleep(0.05)
    assert len(calls) == 1


def test_realtime_priority_is_applied_or_refused_with_the_reason():
    assert set_realtime_priority(0) == ""
    result = {}

    def in_a_thread():
        import os
        result["problem"] = set_realtime_priority(10)
        result["policy"] = os.sched_getscheduler(0)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    import os
    if result["problem"]:
        assert "refused" in result["problem"] and "CAP_SYS_NICE" in result["problem"]
    else:
        assert result["policy"] == os.SCHED_FIFO
    assert os.sched_getscheduler(0) == os.SCHED_OTHER, "only the thread that asked changes"


def test_a_background_serving_thread_runs_at_the_lowest_cpu_priority_and_the_node_keeps_its_own(node):
    """The view's renders run in such a thread: on a busy machine the control thread wins the cores."""
    import os

    seen, noted = {}, threading.Event()

    def note_priority():
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        noted.set()

    thread = ServingThread(node, "background", pytest.fail, background=True)
    timer = node.create_timer(0.01, note_priority, callback_group=thread.group)
    thread.start(timers=[timer])
    try:
        assert noted.wait(10.0), "the background thread never ran its timer"
    finally:
        thread.destroy()
    assert thread.scheduling_problem == ""
    assert seen["nice"] == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != 19
