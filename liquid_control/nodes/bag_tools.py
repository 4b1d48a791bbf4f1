"""Record and play rosbag2 bags with rclpy: what ``ros2 bag record`` / ``ros2 bag play`` do.

``rosbag2_py`` and ``ros2 bag`` are not installable from PyPI, so these two small nodes do the
ROS side and ``liquid_control.data.bags`` the files. Messages stay serialised end to end: the
recorder's raw subscriptions hand over the CDR bytes as they arrived, the player publishes the
stored bytes unchanged (rclpy publishers accept ``bytes``), so any message type whose Python
package is installed can be recorded and played, and nothing is converted on the way.

Both run until done or until SIGINT/SIGTERM, and then finish cleanly: the recorder finalises the
bag (a SIGKILLed recording keeps what it flushed, see ``bags.recover``). rclpy's own signal
handlers are off; ours only set a flag that the loops check at least every 0.1 s.

Command line: ``python -m liquid_control bag record|play|info|recover``.
"""

from __future__ import annotations

import importlib
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Iterable, Mapping, TextIO

import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.context import Context
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock as ClockMessage

from liquid_control.data.bags import (
    BagError,
    BagReader,
    BagWriter,
    TopicInfo,
    offered_qos,
)

# Messages queued per topic between two spins of the recorder (and per publisher of the player).
# Deep enough to ride out a slow disk write at camera rates; large images make it memory, though.
QUEUE_DEPTH = 100
FLUSH_PERIOD_S = 1.0  # the recorder hands its buffers to the OS at least this often
SPIN_TIMEOUT_S = 0.1  # the longest a stop request waits


class _StopRequest:
    """Set by SIGINT or SIGTERM; the previous handlers come back on ``restore``."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum, frame) -> None:
        self.signal_name = signal.Signals(signum).name

    def __bool__(self) -> bool:
        return self.signal_name is not None

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def message_class(msgtype: str):
    """The rclpy message class of 'pkg/msg/Type' (also 'pkg/Type'), or a ValueError that says what to install."""
    parts = msgtype.split("/")
    if len(parts) == 2:
        parts.insert(1, "msg")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{msgtype!r} is not a message type name (pkg/msg/Type)")
    package, kind, name = parts
    try:
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"message type {msgtype} is not available to Python ({exc}); install its ROS package "
                         f"(e.g. the ros-{package.replace('_', '-')} wheel)") from exc


def _message_definition(msgtype: str) -> str | None:
    """The .msg text of a type from its installed ROS package (for types outside rosbags' standard set)."""
    package, _, name = msgtype.partition("/msg/")
    try:
        from ament_index_python.packages import get_package_share_directory

        return (Path(get_package_share_directory(package)) / "msg" / f"{name}.msg").read_text()
    except (ImportError, OSError, KeyError, ValueError):  # PackageNotFoundError is a KeyError
        return None


def _start_node(name: str, use_sim_time: bool = False) -> tuple[Context, Node]:
    context = Context()
    # args=[]: rcl would otherwise parse sys.argv, take our own --remap FROM:=TO for a (deprecated)
    # global remapping rule, and apply it to the tool's node.
    rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = Node(name, context=context, parameter_overrides=[Parameter("use_sim_time", value=use_sim_time)])
    return context, node


def start_ros_node(name: str, argv: list[str]) -> tuple[Context, Node]:
    """A node that takes its ROS arguments from `argv` (``--ros-args`` with remaps, params files, -p),
    as a node executable started by ``ros2 run`` or ``ros2 launch`` does."""
    context = Context()
    rclpy.init(args=argv, context=context, signal_handler_options=SignalHandlerOptions.NO)
    return context, Node(name, context=context)


def _stop_node(context: Context, node: Node) -> None:
    node.destroy_node()
    rclpy.try_shutdown(context=context)


# ---------------------------------------------------------------------------------------------- record


class Recorder:
    """Subscribes to the wanted topics as their publishers appear and writes what arrives.

    Each topic is subscribed with the type its publishers announce and a QoS they can serve: best
    effort as soon as one publisher is best effort (a reliable subscription would not match it),
    transient local only when all of them are. The stamp written is the receive time on the node
    clock, so with ``use_sim_time`` the recording follows /clock.
    """

    def __init__(self, node: Node, writer: BagWriter, topics: Iterable[str] = (), all_topics: bool = False,
                 out: TextIO = sys.stdout):
        self.node = node
        self.writer = writer
        self.all_topics = all_topics
        self.wanted = {node.resolve_topic_name(topic) for topic in topics}
        self.out = out
        self.received = 0
        self._subscriptions = {}
        self._refused: set[str] = set()  # topics that cannot be recorded (said once)

    def discover(self) -> None:
        for name, types in self.node.get_topic_names_and_types():
            if name in self._subscriptions or name in self._refused:
                continue
            if not (self.all_topics or name in self.wanted):
                continue
            publishers = self.node.get_publishers_info_by_topic(name)
            if not publishers:  # only subscribers so far: their QoS says nothing about the data
                continue
            self._subscribe(name, types, publishers)

    def _subscribe(self, name: str, types: list[str], publishers) -> None:
        msgtype = types[0]
        if len(types) > 1:
            self._say(f"warning: {name} is published with several types ({', '.join(types)}); recording {msgtype}")
        try:
            cls = message_class(msgtype)
            profiles = [publisher.qos_profile for publisher in publishers]
            qos = _subscription_qos(profiles)
            known = msgtype in self.writer.typestore.fielddefs
            self.writer.add_topic(name, msgtype, [_offered(profile) for profile in profiles],
                                  msgdef=None if known else _message_definition(msgtype))
        except ValueError as exc:  # BagError included: an unknown type without a definition
            self._refused.add(name)
            self._say(f"warning: not recording {name}: {exc}")
            return
        self._subscriptions[name] = self.node.create_subscription(
            cls, name, lambda raw, topic=name: self._on_message(topic, raw), qos, raw=True)
        reliability = "best effort" if qos.reliability == ReliabilityPolicy.BEST_EFFORT else "reliable"
        self._say(f"recording {name} ({msgtype}, {reliability})")

    def _on_message(self, topic: str, raw: bytes) -> None:
        self.writer.write(topic, self.node.get_clock().now().nanoseconds, raw)
        self.received += 1

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)


def _subscription_qos(profiles) -> QoSProfile:
    best_effort = any(p.reliability == ReliabilityPolicy.BEST_EFFORT for p in profiles)
    transient = all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in profiles)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=QUEUE_DEPTH,
                      reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if transient else DurabilityPolicy.VOLATILE)


def _offered(profile: QoSProfile):
    """An rclpy publisher QoS as rosbag2 stores it in the bag."""
    return offered_qos(profile.reliability.name.lower(), profile.durability.name.lower(),
                       history=profile.history.name.lower(), depth=profile.depth,
                       deadline_ns=profile.deadline.nanoseconds, lifespan_ns=profile.lifespan.nanoseconds,
                       liveliness=profile.liveliness.name.lower(),
                       liveliness_lease_ns=profile.liveliness_lease_duration.nanoseconds)


def record(output, topics: Iterable[str] = (), storage: str = "mcap", all_topics: bool = False,
           duration: float | None = None, discovery_period: float = 0.5, use_sim_time: bool = False,
           out: TextIO = sys.stdout) -> int:
    """Record ``topics`` (or every topic with ``all_topics``) into the new bag folder ``output``.

    Runs until SIGINT/SIGTERM or for ``duration`` seconds (wall time), looking for the topics'
    publishers every ``discovery_period`` seconds, so topics that appear later are picked up.
    Prints a summary and returns the exit code.
    """
    check_record_options(topics, all_topics, duration)
    return record_with_node(*_start_node("bag_recorder", use_sim_time), output, topics, storage, all_topics,
                            duration, discovery_period, out)


def check_record_options(topics: Iterable[str], all_topics: bool, duration: float | None) -> None:
    if not list(topics) and not all_topics:
        raise ValueError("name the topics to record, or record all of them (--all)")
    if duration is not None and duration <= 0:
        raise ValueError(f"the duration must be positive, got {duration}")


def record_with_node(context: Context, node: Node, output, topics: Iterable[str] = (), storage: str = "mcap",
                     all_topics: bool = False, duration: float | None = None, discovery_period: float = 0.5,
                     out: TextIO = sys.stdout) -> int:
    """:func:`record` on a node already started (its clock, use_sim_time included, stamps the messages);
    the node and its context are shut down at the end."""
    topics = list(topics)
    with ExitStack() as cleanup:  # unwinds in reverse: node, then bag (finalised), then signal handlers
        cleanup.callback(_stop_node, context, node)  # also when the bag cannot be created
        stop = _StopRequest()
        cleanup.callback(stop.restore)
        writer = cleanup.enter_context(BagWriter(output, storage, flush_interval_s=FLUSH_PERIOD_S))
        started = time.monotonic()
        recorder = Recorder(node, writer, topics, all_topics, out)
        steady = Clock(clock_type=ClockType.STEADY_TIME)  # with use_sim_time the node clock may stand still
        node.create_timer(discovery_period, recorder.discover, clock=steady)
        node.create_timer(FLUSH_PERIOD_S, writer.flush, clock=steady)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        cleanup.callback(executor.shutdown)
        wanted = "every topic" if all_topics else ", ".join(sorted(recorder.wanted))
        print(f"recording into {output} ({storage}): {wanted}; Ctrl-C stops", file=out, flush=True)
        recorder.discover()
        while not stop and (duration is None or time.monotonic() - started < duration):
            executor.spin_once(timeout_sec=SPIN_TIMEOUT_S)
        _drain(executor, recorder)
    elapsed = time.monotonic() - started
    reason = f"stopped by {stop.signal_name}" if stop else "duration reached"
    print(f"{reason}: {sum(writer.counts.values())} messages in {elapsed:.1f} s written to {output}", file=out)
    for name, count in sorted(writer.counts.items()):
        print(f"  {name:<40} {writer.topics[name]:<40} {count:>8}", file=out)
    if not writer.counts:
        print("  (no topic was found: nothing recorded)", file=out)
    out.flush()
    return 0


def _drain(executor: SingleThreadedExecutor, recorder: Recorder, limit_s: float = 1.0) -> None:
    """Write what arrived before the stop and is still queued, until nothing more comes (at most limit_s)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = recorder.received
        executor.spin_once(timeout_sec=0.05)
        if recorder.received == before:
            return


# ---------------------------------------------------------------------------------------------- play


def _absolute(topic: str) -> str:
    return "/" + topic.lstrip("/")


def _publisher_qos(topic: TopicInfo) -> QoSProfile:
    """The QoS the topic's recorded publishers offered (what ``ros2 bag play`` uses)."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=QUEUE_DEPTH,
                      reliability=ReliabilityPolicy.BEST_EFFORT if topic.reliability == "best_effort"
                      else ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL if topic.durability == "transient_local"
                      else DurabilityPolicy.VOLATILE)


def play(bag, rate: float = 1.0, loop: bool = False, clock: bool = False, remap: Mapping[str, str] | None = None,
         topics: Iterable[str] | None = None, start_offset: float = 0.0, wait_for_subscribers: float = 0.0,
         clock_rate_hz: float = 100.0, out: TextIO = sys.stdout) -> int:
    """Publish a bag's messages with their original timing, ``rate`` times as fast.

    ``clock`` publishes /clock (rosgraph_msgs/Clock) with the bag's time, ``clock_rate_hz`` times a
    second and at each message, so nodes with use_sim_time follow the bag. ``remap`` maps bag
    topics to the topics published; ``topics`` plays only those; ``start_offset`` skips that many
    seconds from the bag's start; ``loop`` starts again at the end; ``wait_for_subscribers``
    waits up to that many seconds for every publisher to have a subscriber before starting
    (messages published before discovery completes would reach nobody). Runs until the end (or
    SIGINT/SIGTERM) and returns the exit code.
    """
    if not rate > 0:
        raise ValueError(f"the rate must be positive, got {rate}")
    if start_offset < 0:
        raise ValueError(f"the start offset must not be negative, got {start_offset}")
    remap = {_absolute(source): _absolute(target) for source, target in (remap or {}).items()}
    with ExitStack() as cleanup:
        reader = cleanup.enter_context(BagReader(bag))
        selected = [reader.topic(name) for name in topics] if topics else list(reader.topics.values())
        names = {topic.name for topic in selected}
        if unknown := set(remap) - set(reader.topics):
            raise BagError(f"cannot remap {', '.join(sorted(unknown))}: not a topic of the bag; its topics: "
                           f"{', '.join(reader.topics)}")
        classes = {topic.name: message_class(topic.msgtype) for topic in selected if topic.count}
        if not classes:
            print(f"{bag}: no messages to play", file=out)
            return 0
        start_ns = reader.start_ns + int(start_offset * 1e9)
        stop = _StopRequest()
        cleanup.callback(stop.restore)
        context, node = _start_node("bag_player")
        cleanup.callback(_stop_node, context, node)
        publishers = {name: node.create_publisher(cls, remap.get(name, name), _publisher_qos(reader.topics[name]))
                      for name, cls in classes.items()}
        clock_publisher = node.create_publisher(ClockMessage, "/clock", 10) if clock else None
        player = _Player(publishers, clock_publisher, rate, 1.0 / clock_rate_hz, stop)
        if wait_for_subscribers > 0:
            player.wait_for_subscribers(wait_for_subscribers, out)
        span = (reader.end_ns - start_ns) / 1e9
        print(f"playing {bag}: {len(publishers)} topic(s), {max(span, 0.0):.2f} s of bag time at rate {rate:g}"
              f"{' with /clock' if clock else ''}{', looping' if loop else ''}; Ctrl-C stops", file=out, flush=True)
        while True:
            player.run(reader.messages(names & set(classes), start_ns=start_ns), start_ns)
            if not loop or stop:
                break
        # The last messages of a reliable topic may still be in flight when the bag ends; leaving
        # now would destroy the publisher under them (seen under load: the last /clock tick lost).
        for publisher in [*publishers.values(), *([clock_publisher] if clock_publisher else [])]:
            publisher.wait_for_all_acked(Duration(seconds=1.0))
    reason = f"stopped by {stop.signal_name}" if stop else "end of bag"
    print(f"{reason}: played {player.published} messages", file=out, flush=True)
    return 0


class _Player:
    """Publishes one pass over the messages at the bag's pace (scaled by rate), with /clock."""

    def __init__(self, publishers, clock_publisher, rate: float, clock_period_s: float, stop: _StopRequest):
        self.publishers = publishers
        self.clock_publisher = clock_publisher
        self.rate = rate
        self.clock_period_ns = int(clock_period_s * 1e9)
        self.stop = stop
        self.published = 0

    def wait_for_subscribers(self, timeout: float, out: TextIO) -> None:
        everyone = dict(self.publishers)
        if self.clock_publisher is not None:
            everyone["/clock"] = self.clock_publisher
        deadline = time.monotonic() + timeout
        while not self.stop and time.monotonic() < deadline:
            if all(publisher.get_subscription_count() > 0 for publisher in everyone.values()):
                return
            time.sleep(0.01)
        if lonely := [publisher.topic_name for publisher in everyone.values()
                      if publisher.get_subscription_count() == 0]:
            print(f"no subscriber after {timeout:g} s on {', '.join(lonely)}; playing anyway", file=out, flush=True)

    def run(self, messages, start_ns: int) -> None:
        begin = time.monotonic_ns()
        last_clock = None
        for topic, _, stamp, raw in messages:
            due = begin + (stamp - start_ns) / self.rate
            while not self.stop:
                now = time.monotonic_ns()
                clock_due = last_clock is None or now - last_clock >= self.clock_period_ns
                if self.clock_publisher is not None and clock_due:
                    # Never past the message: its own clock tick must not go backwards.
                    self._publish_clock(min(start_ns + int((now - begin) * self.rate), stamp))
                    last_clock = now
                if now >= due:
                    break
                wake = due if self.clock_publisher is None else min(due, last_clock + self.clock_period_ns)
                time.sleep(min(max(wake - now, 0) / 1e9, SPIN_TIMEOUT_S))
            if self.stop:
                return
            if self.clock_publisher is not None:
                self._publish_clock(stamp)  # subscribers on sim time see the message's time as now
            self.publishers[topic].publish(raw)
            self.published += 1

    def _publish_clock(self, stamp_ns: int) -> None:
        message = ClockMessage()
        message.clock.sec, message.clock.nanosec = divmod(stamp_ns, 10**9)
        self.clock_publisher.publish(message)
