"""The probe of ros_latency.py: the benchmark's own rclpy node, which publishes frames and times answers.

It publishes on schedule from its executor and records the perf_counter time of each publish; each
answer is stamped with perf_counter as it is taken, by a thread that waits on that subscription alone.
It also keeps the nodes' /diagnostics, whose counters give the losses per hop.
"""

from __future__ import annotations

import time

from ros_harness import STARTUP_S, ProbeNode, busy_fraction, cpu_times, load_average, served_subscription

NAMESPACE = "/ros_latency_bench"
DIAGNOSTICS = f"{NAMESPACE}/diagnostics"
SKIP = object()  # an answer key meaning: not an answer (see Probe.record)


def command_key(message):
    """cmd_vel as an answer to a frame: the frame-trigger watchdog's stops (all zero, at the control
    rate once no fresh frame comes, as after each stream) answer no frame and are skipped."""
    moving = any((message.linear.x, message.linear.y, message.linear.z, message.angular.z))
    return None if moving else SKIP


class Probe(ProbeNode):
    def __init__(self):
        from diagnostic_msgs.msg import DiagnosticArray

        super().__init__("latency_probe", namespace=NAMESPACE)
        self.received: list[tuple[float, object]] = []
        self.diagnostics: dict[str, list[tuple[float, dict]]] = {}
        self.node.create_subscription(DiagnosticArray, DIAGNOSTICS, self._on_diagnostics, 50)

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
        """A callback keeping (arrival time, key(message)) of each answer; a message whose key is SKIP is no answer."""
        def callback(message):
            value = key(message)
            if value is not SKIP:
                self.received.append((time.perf_counter(), value))
        return callback

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
        cpu_before, own_before = cpu_times(), [p.cpu_seconds() for p in processes]
        probe_before, wall_before = time.process_time(), time.perf_counter()
        sent = self.stream(publisher, message, args.frames, args.rate)
        self.spin_quiet()
        cpu_busy = busy_fraction(cpu_before, cpu_times())
        wall = time.perf_counter() - wall_before
        own = {p.name: round((p.cpu_seconds() - b) / wall, 3) for p, b in zip(processes, own_before)}
        own["probe"] = round((time.process_time() - probe_before) / wall, 3)
        received = list(self.received)
        during = {n: [v for t, v in self.diagnostics.get(n, ()) if sent[0][0] <= t] for n in node_names}
        after = self.fresh_diagnostics(node_names) if node_names else {}
        return {"sent": sent, "received": received, "before": before, "after": after, "during": during,
                "load_average": {"before": load_before, "after": load_average()},
                "machine_cpu_busy_fraction": cpu_busy, "cores_used_by_our_processes": own}
