"""record.launch.xml and drone_record.launch.xml end to end: a simulator's closed loop plus the
recorder, then the bag trains (curvature labels for the lane, body-frame velocities for the drone)."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import rclpy
import yaml
from geometry_msgs.msg import Twist
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image

from liquid_control.data.bags import BagReader
from liquid_control.data.episodes import LABEL_NAMES, TWIST_LABELS, episodes_from_bag

from .harness import REPO_ROOT

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def camera_rate_hz(world: str) -> float:
    node = f"{world}_sim_node"
    parameters = yaml.safe_load((REPO_ROOT / "config" / f"{world}_sim.yaml").read_text())[f"/**/{node}"]
    return parameters["ros__parameters"]["camera_rate_hz"]


# (launch file, world, labels the bag's commands give, bound on them)
CASES = [("record.launch.xml", "lane", LABEL_NAMES, 1.2), ("drone_record.launch.xml", "drone", TWIST_LABELS, 3.1)]


@pytest.mark.parametrize("launch_file, world, label_names, bound", CASES, ids=["lane", "drone"])
def test_recording_a_simulated_drive_gives_a_bag_ready_for_training(tmp_path, launch_file, world, label_names, bound):
    bag = tmp_path / "run"
    log = open(tmp_path / "launch.log", "w")
    runner = subprocess.Popen([sys.executable, "-m", "liquid_control", "launch", launch_file, f"output:={bag}",
                               "seed:=5"], env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                              start_new_session=True)
    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("record_test_probe", context=context)
    commands = []
    node.create_subscription(Twist, "/cmd_vel", commands.append, 100)
    frames = []  # stamps only: the frames the simulator sent (best effort, as the recorder takes them)
    node.create_subscription(Image, "/camera/image_raw", lambda message: frames.append(message.header.stamp),
                             qos_profile_sensor_data)
    # (wall time, sim time) of each /clock message seen here: how fast the lock-step world runs.
    clock_pairs = []
    node.create_subscription(Clock, "/clock", lambda message: clock_pairs.append(
        (time.monotonic(), message.clock.sec + 1e-9 * message.clock.nanosec)), 100)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        # The simulator does not wait for the controller to come up (its lock-step times out), and
        # the recorder subscribes to a topic when it next looks for publishers: wait until it
        # records /cmd_vel, then count the commands here and stop once a hundred more went out
        # (the recorder holds up to a second of messages in memory: the bag's size on disk says
        # little).
        deadline = time.monotonic() + 180

        def spin_until(condition, what: str) -> None:
            while time.monotonic() < deadline and not condition():
                assert runner.poll() is None, (tmp_path / "launch.log").read_text()[-3000:]
                executor.spin_once(timeout_sec=0.1)
            assert condition(), f"{what}:\n" + (tmp_path / "launch.log").read_text()[-3000:]

        spin_until(lambda: "recording /cmd_vel" in (tmp_path / "launch.log").read_text(), "the recorder on /cmd_vel")
        start, clock_start, frames_start = len(commands), len(clock_pairs), len(frames)
        # On a busy machine the controller answers some frames with more than one command: count both.
        spin_until(lambda: len(commands) >= start + 100 and len(frames) >= frames_start + 80,
                   "a hundred commands and eighty frames")
    finally:
        runner.send_signal(signal.SIGINT)
        code = runner.wait(60)
        log.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    output = (tmp_path / "launch.log").read_text()
    assert code == 0, output[-3000:]
    with BagReader(bag) as reader:
        counts = {topic["name"]: topic["count"] for topic in reader.info()["topics"]}
    assert counts["/camera/image_raw"] >= 50 and counts["/cmd_vel"] >= 25 and counts["/odom"] >= 50, counts
    # use_sim_time reached the recorder through the launch file's <param>, which the runner hands over
    # as a params file as ros2 launch does: bag times are the simulator's clock, not wall time. A
    # frame is stamped with the tick's /clock time; the recorder stamps it with its clock when it
    # takes the frame: that time, or a tick or a few off when the frame and the /clock messages (two
    # topics, two queues) are taken in another order or the recorder falls behind for a moment.
    # (Wall time would be some 1.7e9 s away.)
    with BagReader(bag) as reader:
        frames = [(m.timestamp_ns, reader.deserialize(m.raw, m.msgtype).header.stamp)
                  for m in reader.messages(["/camera/image_raw"])]
    lags = sorted(stamp.sec * 10**9 + stamp.nanosec - bag_ns for bag_ns, stamp in frames)
    period_ns = round(1e9 / camera_rate_hz(world))
    # The bounds depend on how fast the lock-step world runs (some 29x real time for the lane): a
    # recorder that takes its frames 20 ms of wall time late, as on a busy two-core CI machine, is
    # ~0.6 s of sim time late. So they are set in wall time, through the real-time factor this probe
    # saw on /clock while it counted the commands (the loop running): a stall of up to a second, a
    # median lag of half a second (0.32 s was measured once with two other processes busy on the two
    # cores; at least three camera ticks). Both still tell sim time from wall time by many orders of
    # magnitude.
    assert len(clock_pairs) - clock_start >= 2, "the probe saw no /clock while the loop ran"
    (wall_first, sim_first), (wall_last, sim_last) = clock_pairs[clock_start], clock_pairs[-1]
    realtime_factor = (sim_last - sim_first) / max(wall_last - wall_first, 1e-9)
    assert -max(5e9, 1e9 * realtime_factor) < lags[0] and lags[-1] <= period_ns, \
        f"stamp - bag time, ns: {lags[:3]} ... {lags[-3:]} at {realtime_factor:.1f}x real time"
    median_lag_ns = lags[len(lags) // 2]
    allowed_ns = max(3 * period_ns, 0.5e9 * realtime_factor)
    assert abs(median_lag_ns) <= allowed_ns, (f"median stamp - bag time {median_lag_ns / 1e9:.3f} s of sim time, "
                                              f"{median_lag_ns / 1e9 / realtime_factor:.3f} s of wall time at "
                                              f"{realtime_factor:.1f}x real time")
    assert counts[f"/{world}_metrics"] >= 50, counts
    # /cmd_vel is a plain Twist: the bag stamps it with the recorder's (sim) clock when it takes it, so
    # a recorder that falls behind for a moment stamps commands late by its wall-time lag times the
    # real-time factor, and a frame's newest command at or before it looks older than it was. Pair
    # within the same wall-time allowance as the lag bounds above (half a second), in sim time.
    max_age_s = max(0.5, 0.5 * realtime_factor)
    episodes = episodes_from_bag(bag, command_topic="/cmd_vel", label_names=label_names, max_command_age_s=max_age_s)
    assert sum(len(e) for e in episodes) >= 50, (counts, [len(e) for e in episodes], f"{realtime_factor:.1f}x")
    assert all(abs(e.labels).max() < bound for e in episodes)
    labels = np.concatenate([e.labels for e in episodes])
    assert (labels.max(axis=0) - labels.min(axis=0)).max() > 1e-3, "the policy's commands vary (it is not stuck)"
