"""Reading a robot's recording for training, side by side with a bare OpenCV loop, and train's peak memory.

    .venv/bin/python benchmarks/recording_ingest.py [--seconds 600] [--rate 30] [--size 96,128] [--train]

Writes a JPEG 640x480 CompressedImage recording (rosbags directly, as a robot's recorder does;
``test/data/robot_bags.py``), then times on the same frames and cores:

- ``bare_loop``: ``cv2.imdecode`` + ``cv2.resize(INTER_AREA)`` of every frame's bytes, already in
  memory, in one process; ``bare_pool``: the same over a process pool of ``--jobs``;
- ``ingest``: ``read_recording`` from the bag file, into a fresh cache (deserialising, decoding,
  resizing, writing to disk), and ``ingest_cached``: the same recording read again from the cache.

``--train`` also runs ``train --epochs 1`` on the recording in a child process and reports its
peak RSS. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test"))

from data.robot_bags import CAMERA, write_robot_bag  # noqa: E402

from liquid_control.data.bags import BagReader  # noqa: E402
from liquid_control.data.recordings import read_recording  # noqa: E402
from liquid_control.tasks import task_from_dict  # noqa: E402


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _bare(jpegs: list[bytes], size: tuple[int, int]) -> int:
    for data in jpegs:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
        cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return len(jpegs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz")
    parser.add_argument("--size", default="96,128", help="the network input, height,width")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--train", action="store_true", help="also measure train's peak RSS (one epoch)")
    parser.add_argument("--keep", metavar="DIR", help="write the recording here and keep it")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split(","))
    work = Path(args.keep or tempfile.mkdtemp(prefix="ingest_bench_"))
    bag = work / "recording"
    if not (bag / "metadata.yaml").is_file():
        started = time.perf_counter()
        write_robot_bag(bag, seconds=args.seconds, seed=0, camera_hz=args.rate, command_hz=max(args.rate, 30.0))
        print(f"... wrote {bag} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    task = task_from_dict({"name": "bench", "camera": {"topic": CAMERA, "type": "sensor_msgs/msg/CompressedImage"},
                           "command": {"topic": "/cmd_vel", "type": "geometry_msgs/msg/TwistStamped",
                                       "outputs": ["angular.z"]},
                           "control_rate_hz": args.rate, "preprocessing": {"size": list(size)}})
    with BagReader(bag) as reader:
        jpegs = [bytes(reader.deserialize(m.raw, m.msgtype).data) for m in reader.messages([CAMERA])]
    frames = len(jpegs)

    started = time.perf_counter()
    _bare(jpegs, size)
    bare_loop = time.perf_counter() - started
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    chunks = [jpegs[i:i + 64] for i in range(0, frames, 64)]
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        list(pool.map(_bare, chunks[:args.jobs], [size] * args.jobs))  # start the workers first: not timed
        started = time.perf_counter()
        list(pool.map(_bare, chunks, [size] * len(chunks)))
        bare_pool = time.perf_counter() - started
    del jpegs

    cache = work / "cache"
    started = time.perf_counter()
    read_recording(bag, task, cache=cache, jobs=args.jobs, progress=False)
    ingest = time.perf_counter() - started
    started = time.perf_counter()
    cached = read_recording(bag, task, cache=cache, jobs=args.jobs, progress=False)
    ingest_cached = time.perf_counter() - started
    assert cached.from_cache and len(cached.frames) == frames

    result = {
        "cpu": _cpu(), "cores": os.cpu_count(), "jobs": args.jobs, "frames": frames,
        "frame": "640x480 JPEG (quality 85)",
        "network_input": list(size),
        "bare_loop_fps": round(frames / bare_loop, 1), "bare_pool_fps": round(frames / bare_pool, 1),
        "ingest_fps": round(frames / ingest, 1), "ingest_cached_s": round(ingest_cached, 3),
        "ingest_vs_bare_loop": round(bare_loop / ingest, 2), "ingest_vs_bare_pool": round(bare_pool / ingest, 2),
    }
    if args.train:
        env = {**os.environ, "LIQUID_CONTROL_CACHE": str(cache)}
        task_file = work / "task.yaml"
        task_file.write_text(json.dumps(task.to_dict()))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "liquid_control", "train", "--task", str(task_file), "--bags", str(bag),
                        "--epochs", "1", "--out", str(work / "model")], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result["train_one_epoch_s"] = round(time.perf_counter() - started, 1)
        result["train_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
