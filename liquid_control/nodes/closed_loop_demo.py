"""The closed-loop demos: a simulator, perception and the liquid controller as real ROS nodes.

``run_demo`` starts ``launch/sim_demo.launch.xml`` through the package's launch runner (three
node processes talking over DDS, the simulator in lock-step publishing /clock), watches the
simulator's ``lane_metrics``, ``odom`` and camera topics from a monitor node in this process,
and stops everything once the car has driven the requested distance (or left the road, or ran
out of time). It then writes a trajectory plot, a video and a strip of camera frames, and
returns the report: distance, mean |lateral error|, departures.

``run_drone_demo`` does the same with ``launch/drone_demo.launch.xml`` (or, through px4_bridge
and the simulated PX4, ``drone_px4_demo.launch.xml``): the velocity policy flies the drone to the
target; the flight ends when the simulator starts its next episode (target reached, collision,
out of the area or time limit), and the report takes the flight's end and final figures from the
summary the simulator publishes with the next episode (``previous_episode.*``), not from the last
message the monitor happened to see.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from nav_msgs.msg import Odometry
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Image

from liquid_control.distro import local_discovery_environment

REPO_ROOT = Path(__file__).resolve().parents[2]
# The drone demo's launch file by flight controller: the simulator takes cmd_vel, or PX4's offboard interface.
DRONE_LAUNCH_FILES = {"none": "drone_demo.launch.xml", "px4": "drone_px4_demo.launch.xml"}


def local_ros_environment() -> dict:
    """The environment for nodes this process starts and talks to: a domain of its own unless one
    is set, discovery on this machine only, logs in a temporary folder (applied here too)."""
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    discovery = local_discovery_environment()  # Humble also needs ROS_LOCALHOST_ONLY=1
    for name, value in discovery.items():
        env.setdefault(name, value)
    env.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="liquid_control-demo-logs-"))
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_LOG_DIR", *discovery)})
    return env


class _Monitor:
    def __init__(self, frame_every: int, metrics_topic: str = "lane_metrics", key: str = "lateral_error_m"):
        self.context = Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("demo_monitor", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.metrics: dict[str, str] = {}
        self.path: list[tuple[float, float, float]] = []
        self.frames: list[np.ndarray] = []
        self.frame_every = frame_every
        self._images = 0
        self.key = key  # the metric kept with each odometry point
        self.view_outputs: dict = {}  # where the live view went (--live, --mcap)
        self.node.create_subscription(DiagnosticStatus, metrics_topic, self._on_metrics, 10)
        self.node.create_subscription(Odometry, "odom", self._on_odom, 10)
        self.node.create_subscription(Image, "camera/image_raw", self._on_image, qos_profile_sensor_data)

    def _on_metrics(self, message: DiagnosticStatus) -> None:
        self.metrics = {pair.key: pair.value for pair in message.values}

    def _on_odom(self, message: Odometry) -> None:
        position = message.pose.pose.position
        self.path.append((float(self.metrics.get(self.key, "nan")), position.x, position.y, position.z))

    def _on_image(self, message: Image) -> None:
        if self._images % self.frame_every == 0:
            self.frames.append(np.frombuffer(message.data, np.uint8).reshape(message.height, message.width, 3).copy())
        self._images += 1

    def spin(self, seconds: float) -> None:
        self.executor.spin_once(timeout_sec=seconds)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _launch(arguments: list[str], out: Path, monitor_args: tuple, timeout_s: float,
            done, view: dict | None = None) -> tuple[str, float, dict, "_Monitor"]:
    """Run ``launch ARGUMENTS`` until ``done(metrics)`` gives a reason (or the nodes exit, or the
    time runs out); returns (stop reason, wall time, the last metrics, the monitor). ``view``: the
    ``open_relay`` arguments of the live view (live, mcap, world, seed, domain), or None."""
    env = local_ros_environment()
    log_path = out / "nodes.log"
    command = [sys.executable, "-m", "liquid_control", "launch", *arguments]
    with open(log_path, "w") as log:
        monitor = _Monitor(*monitor_args)
        relay = None
        if view:  # before the nodes start: their view publishers then find its subscriptions as they appear
            from liquid_control.nodes.view_relay import open_relay  # the view's libraries only when asked

            relay = open_relay(monitor.context, monitor.executor, **view)
            monitor.view_outputs = relay.view.outputs()
        runner = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                  start_new_session=True)
        started = time.monotonic()
        stop_reason = "time limit"
        try:
            while time.monotonic() - started < timeout_s:
                monitor.spin(0.05)
                if runner.poll() is not None:
                    stop_reason = f"the nodes exited (code {runner.returncode}); see {log_path}"
                    break
                reason = done(monitor.metrics) if monitor.metrics else ""
                if reason and (relay is None or relay.has_heard_the_controller()):  # the view holds the end
                    stop_reason = reason
                    break
            wall = time.monotonic() - started
            final = dict(monitor.metrics)
        finally:
            if runner.poll() is None:
                runner.send_signal(signal.SIGINT)
                try:
                    runner.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(runner.pid, signal.SIGKILL)
                    runner.wait()
            if relay is not None:
                relay.close()
            monitor.close()
    return stop_reason, wall, final, monitor


def _view_options(live: str | None, mcap: str | None, world: str, seed: int, domain: str = "summer",
                  command_type: str = "twist") -> dict | None:
    """What ``_launch`` passes to ``open_relay`` (None: no view, the demo as without it)."""
    if not (live or mcap):
        return None
    return dict(live=live, mcap=mcap, world=world, seed=seed, domain=domain, command_type=command_type)


def _previous_episode(metrics: dict) -> dict:
    """The summary of the episode that ended last, which the simulator publishes with every
    message of the next one (``previous_episode.<key>``), without the prefix; {} before any ended."""
    prefix = "previous_episode."
    return {key[len(prefix):]: value for key, value in metrics.items() if key.startswith(prefix)}


def run_demo(model: str, seed: int = 1000, distance_m: float = 1000.0, out_dir: str = "out/demo",
             timeout_s: float = 900.0, frame_every: int = 4, quiet: bool = True, live: str | None = None,
             mcap: str | None = None, command_type: str = "twist") -> dict:
    """Drive ``distance_m`` on track ``seed``; ``live``/``mcap``: the live view of the nodes (view_relay);
    ``command_type``: the commands between controller and simulator (twist, twist_stamped, ackermann)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def done(metrics: dict) -> str:
        if int(metrics.get("episode", "1")) > 1:
            return "the car left the road (episode restarted)"
        if float(metrics.get("distance_m", 0)) >= distance_m:
            return "distance reached"
        return ""

    stop_reason, wall, final, monitor = _launch(["sim_demo.launch.xml", f"seed:={seed}", f"model:={model}",
                                                 f"command_type:={command_type}"], out, (frame_every,), timeout_s, done,
                                                _view_options(live, mcap, "lane", seed, command_type=command_type))
    drive = {**final, **_previous_episode(final)}  # the car left the road: that drive's figures, not the next one's
    report = {
        "model": model,
        "seed": seed,
        "command_type": command_type,
        "track_family": final.get("track_family"),
        "distance_m": float(drive.get("distance_m", 0.0)),
        "mean_abs_lateral_m": float(drive.get("mean_abs_lateral_m", "nan")),
        "max_abs_lateral_m": float(drive.get("max_abs_lateral_m", "nan")),
        "departures": int(drive.get("departures", -1)),
        "episodes": int(final.get("episode", 0)),
        "stop_reason": stop_reason,
        "wall_time_s": round(wall, 1),
        "nodes_log": str(out / "nodes.log"),
        **({"view": monitor.view_outputs} if monitor.view_outputs else {}),
    }
    report.update(_pictures(monitor, seed, out))
    return report


def run_drone_demo(model: str, seed: int = 1000, domain: str = "summer", out_dir: str = "out/drone_demo",
                   timeout_s: float = 600.0, frame_every: int = 2, live: str | None = None,
                   mcap: str | None = None, flight_controller: str = "none") -> dict:
    """Fly one episode through the ROS nodes; the report says whether the drone reached the target.
    ``flight_controller`` px4: through px4_bridge and the simulated PX4 (drone_px4_demo.launch.xml)."""
    if flight_controller not in DRONE_LAUNCH_FILES:
        raise ValueError(f"flight_controller must be one of {', '.join(DRONE_LAUNCH_FILES)}, got {flight_controller!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last: dict = {}

    def done(metrics: dict) -> str:
        if int(metrics.get("episode", "1")) > 1:
            # The simulator restarted: every message of the new episode carries the flight's own
            # summary (a busy monitor may have missed the flight's last messages: once it reported
            # a success 12 m from the target, the distance it had last seen).
            last.update(_previous_episode(metrics))
            last["target_distance_m"] = last.get("final_distance_m", last.get("target_distance_m", "nan"))
            last["episode_time_s"] = last.get("sim_time_s", last.get("episode_time_s", "nan"))
            return last.get("reason") or metrics.get("stop_reasons", "episode ended").split(":")[0]
        last.update(metrics)  # the flight so far (its final figures if the time runs out first)
        return ""

    stop_reason, wall, final, monitor = _launch([DRONE_LAUNCH_FILES[flight_controller], f"seed:={seed}",
                                                 f"domain:={domain}",
                                                 f"model:={model}"], out,
                                                (frame_every, "drone_metrics", "target_distance_m"), timeout_s, done,
                                                _view_options(live, mcap, "drone", seed, domain))
    report = {
        "world": "drone",
        "model": model,
        "seed": seed,
        "domain": domain,
        "flight_controller": flight_controller,
        "success": stop_reason == "reached the target",
        "stop_reason": stop_reason,
        "start_distance_m": float(last.get("start_distance_m", "nan")),
        "final_distance_m": float(last.get("target_distance_m", "nan")),
        "flight_time_s": float(last.get("episode_time_s", "nan")),
        "target_in_view_fraction": float(last.get("target_in_view_fraction", "nan")),
        "wall_time_s": round(wall, 1),
        "nodes_log": str(out / "nodes.log"),
        **({"view": monitor.view_outputs} if monitor.view_outputs else {}),
    }
    report.update(_drone_pictures(monitor, seed, domain, out))
    return report


def _drone_pictures(monitor: _Monitor, seed: int, domain: str, out: Path) -> dict:
    """The flight path over the scene, a frame strip and a video of the onboard camera."""
    from liquid_control.sim.drone.plot import plot_flight
    from liquid_control.sim.drone.scene import make_scene

    written = {}
    if monitor.path:
        rows = np.array([(i, x, y, z, 0.0, distance) for i, (distance, x, y, z) in enumerate(monitor.path)],
                        dtype=np.float64)
        plot_flight(make_scene(seed, domain), rows, out / "flight.png",
                    title=f"liquid drone, scene {seed} ({domain}): through ROS")
        written["flight_png"] = str(out / "flight.png")
    written.update(_frame_strip(monitor, out, 10.0))
    return written


def _frame_strip(monitor: _Monitor, out: Path, camera_rate_hz: float) -> dict:
    from PIL import Image as PILImage

    written = {}
    if monitor.frames:
        picks = monitor.frames[:: max(1, len(monitor.frames) // 8)][:8]
        if len(picks) == 8:  # two rows of four
            strip = np.concatenate([np.concatenate(picks[:4], axis=1), np.concatenate(picks[4:], axis=1)], axis=0)
        else:
            strip = np.concatenate(picks, axis=1)
        PILImage.fromarray(strip).save(out / "frames.png")
        written["frames_png"] = str(out / "frames.png")
        import imageio.v2 as imageio

        fps = camera_rate_hz / monitor.frame_every
        with imageio.get_writer(out / "camera.mp4", fps=fps, macro_block_size=1) as video:
            for frame in monitor.frames:
                video.append_data(frame)
        written["video"] = str(out / "camera.mp4")
    return written


def _pictures(monitor: _Monitor, seed: int, out: Path) -> dict:
    """Trajectory over the track, a frame strip and a video of the camera."""
    from liquid_control.sim.lane.plot import plot_drive
    from liquid_control.sim.lane.track import make_track

    written = {}
    if monitor.path:
        rows = np.array([(i, x, y, lateral) for i, (lateral, x, y, _) in enumerate(monitor.path)], dtype=np.float64)
        rows[:, 3] = np.nan_to_num(rows[:, 3])
        plot_drive(make_track(seed), rows, out / "trajectory.png",
                   title=f"liquid policy, track {seed}: closed loop through ROS")
        written["trajectory_png"] = str(out / "trajectory.png")
    written.update(_frame_strip(monitor, out, 20.0))
    return written
