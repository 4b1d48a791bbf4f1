"""The closed-loop demo: the simulator, perception and the liquid controller as real ROS nodes.

``run_demo`` starts ``launch/sim_demo.launch.xml`` through the package's launch runner (three
node processes talking over DDS, the simulator in lock-step publishing /clock), watches the
simulator's ``lane_metrics``, ``odom`` and camera topics from a monitor node in this process,
and stops everything once the car has driven the requested distance (or left the road, or ran
out of time). It then writes a trajectory plot, a video and a strip of camera frames, and
returns the report: distance, mean |lateral error|, departures.
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


class _Monitor:
    def __init__(self, frame_every: int):
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
        self.node.create_subscription(DiagnosticStatus, "lane_metrics", self._on_metrics, 10)
        self.node.create_subscription(Odometry, "odom", self._on_odom, 10)
        self.node.create_subscription(Image, "camera/image_raw", self._on_image, qos_profile_sensor_data)

    def _on_metrics(self, message: DiagnosticStatus) -> None:
        self.metrics = {pair.key: pair.value for pair in message.values}

    def _on_odom(self, message: Odometry) -> None:
        position = message.pose.pose.position
        self.path.append((float(self.metrics.get("lateral_error_m", "nan")), position.x, position.y))

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


def run_demo(model: str, seed: int = 1000, distance_m: float = 1000.0, out_dir: str = "out/demo",
             timeout_s: float = 900.0, frame_every: int = 4, quiet: bool = True) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    discovery = local_discovery_environment()  # Humble also needs ROS_LOCALHOST_ONLY=1
    for name, value in discovery.items():
        env.setdefault(name, value)
    env.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="liquid_control-demo-logs-"))
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_LOG_DIR", *discovery)})
    log_path = out / "nodes.log"
    command = [sys.executable, "-m", "liquid_control", "launch", "sim_demo.launch.xml", f"seed:={seed}", f"model:={model}"]
    with open(log_path, "w") as log:
        runner = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                  start_new_session=True)
        monitor = _Monitor(frame_every)
        started = time.monotonic()
        stop_reason = "time limit"
        try:
            while time.monotonic() - started < timeout_s:
                monitor.spin(0.05)
                if runner.poll() is not None:
                    stop_reason = f"the nodes exited (code {runner.returncode}); see {log_path}"
                    break
                metrics = monitor.metrics
                if metrics and int(metrics.get("episode", "1")) > 1:
                    stop_reason = "the car left the road (episode restarted)"
                    break
                if metrics and float(metrics.get("distance_m", 0)) >= distance_m:
                    stop_reason = "distance reached"
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
            monitor.close()
    report = {
        "model": model,
        "seed": seed,
        "track_family": final.get("track_family"),
        "distance_m": float(final.get("distance_m", 0.0)),
        "mean_abs_lateral_m": float(final.get("mean_abs_lateral_m", "nan")),
        "max_abs_lateral_m": float(final.get("max_abs_lateral_m", "nan")),
        "departures": int(final.get("departures", -1)),
        "episodes": int(final.get("episode", 0)),
        "stop_reason": stop_reason,
        "wall_time_s": round(wall, 1),
        "nodes_log": str(log_path),
    }
    report.update(_pictures(monitor, seed, out))
    return report


def _pictures(monitor: _Monitor, seed: int, out: Path) -> dict:
    """Trajectory over the track, a frame strip and a video of the camera."""
    from PIL import Image as PILImage

    from liquid_control.sim.lane.plot import plot_drive
    from liquid_control.sim.lane.track import make_track

    written = {}
    if monitor.path:
        rows = np.array([(i, x, y, lateral) for i, (lateral, x, y) in enumerate(monitor.path)], dtype=np.float64)
        rows[:, 3] = np.nan_to_num(rows[:, 3])
        plot_drive(make_track(seed), rows, out / "trajectory.png", title=f"liquid policy, track {seed}: closed loop through ROS")
        written["trajectory_png"] = str(out / "trajectory.png")
    if monitor.frames:
        picks = monitor.frames[:: max(1, len(monitor.frames) // 8)][:8]
        if len(picks) == 8:  # two rows of four
            strip = np.concatenate([np.concatenate(picks[:4], axis=1), np.concatenate(picks[4:], axis=1)], axis=0)
        else:
            strip = np.concatenate(picks, axis=1)
        PILImage.fromarray(strip).save(out / "frames.png")
        written["frames_png"] = str(out / "frames.png")
        import imageio.v2 as imageio

        with imageio.get_writer(out / "camera.mp4", fps=20.0 / monitor.frame_every, macro_block_size=1) as video:
            for frame in monitor.frames:
                video.append_data(frame)
        written["video"] = str(out / "camera.mp4")
    return written
