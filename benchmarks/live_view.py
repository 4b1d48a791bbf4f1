"""What the live view costs a drive: ``drive`` with ``--live`` (one viewer subscribed to every channel)
and with ``--mcap``, against the same drive without a view.

    .venv/bin/python benchmarks/live_view.py [--runs 3] [--distance 150] [--seed 0]

Each run is a real ``python -m liquid_control drive --driver model`` process on the same track and
seed, the modes interleaved run by run. The viewer is a headless Foxglove WebSocket client in this
process (subprotocol foxglove.sdk.v1) that subscribes to every advertised channel and reads until
the server closes. Prints one JSON object: per mode the median of the drive's real-time factor (its
own clock, the drive loop) and of the process's wall time (start-up and the view's flush included),
and each view mode's factor relative to the drive without a view.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "ncp19_lane"


async def _view_everything(url: str, counts: dict) -> None:
    import websockets

    async with websockets.connect(url, subprotocols=["foxglove.sdk.v1"], max_size=None) as socket:
        subscribed = set()
        try:
            async for frame in socket:
                if isinstance(frame, bytes):
                    counts["messages"] += 1
                    counts["bytes"] += len(frame)
                    continue
                message = json.loads(frame)
                if message.get("op") == "advertise":
                    fresh = [c for c in message["channels"] if c["id"] not in subscribed]
                    subscribed.update(c["id"] for c in fresh)
                    await socket.send(json.dumps({"op": "subscribe", "subscriptions": [
                        {"id": c["id"], "channelId": c["id"]} for c in fresh]}))
        except websockets.ConnectionClosed:
            pass


def drive(mode: str, distance: float, seed: int, folder: Path, run: int) -> dict:
    command = [sys.executable, "-m", "liquid_control", "drive", "--driver", "model", "--model", str(MODEL),
               "--seed", str(seed), "--distance", str(distance), "--json"]
    if mode == "live":
        command += ["--live", "127.0.0.1:0", "--live-wait", "60"]
    elif mode == "mcap":
        command += ["--mcap", str(folder / f"run{run}.mcap")]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    counts = {"messages": 0, "bytes": 0}
    viewer = None
    if mode == "live":
        for line in process.stderr:
            found = re.search(r"ws://[\w.]+:\d+", line)
            if found:
                viewer = threading.Thread(target=asyncio.run, args=(_view_everything(found.group(0), counts),))
                viewer.start()
                break
    out, err = process.communicate(timeout=1200)
    wall = time.perf_counter() - started
    if viewer is not None:
        viewer.join(timeout=60)
    if process.returncode not in (0, 3):
        raise RuntimeError(f"drive ({mode}) failed: {err}")
    report = json.loads(out)
    result = {"realtime_factor": report["realtime_factor"], "drive_wall_s": report["wall_time_s"],
              "process_wall_s": round(wall, 2)}
    if mode == "live":
        result["viewer_messages"] = counts["messages"]
    if mode == "mcap":
        result["mcap_bytes"] = (folder / f"run{run}.mcap").stat().st_size
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--distance", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    modes = ("off", "live", "mcap")
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.runs):
            for mode in modes:
                runs[mode].append(drive(mode, args.distance, args.seed, Path(folder), run))
    summary = {mode: {key: statistics.median(r[key] for r in results) for key in results[0]}
               for mode, results in runs.items()}
    off = summary["off"]["realtime_factor"]
    result = {"benchmark": "live_view", "model": MODEL.name, "seed": args.seed, "distance_m": args.distance,
              "runs": args.runs, "median": summary,
              "realtime_factor_vs_off": {mode: round(summary[mode]["realtime_factor"] / off, 3)
                                         for mode in ("live", "mcap")},
              "all_runs": runs}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
