"""A training epoch on a recording's cached frames against one on the same frames straight from the simulator.

    .venv/bin/python benchmarks/cached_epoch.py [--tracks 8] [--epochs 2] [--threads 2]

The lane expert drives ``--tracks`` tracks; the episodes are written as bags and read back
through the ``lane`` task (frames memory-mapped from the recording cache), then the same
policy trains ``--epochs`` epochs on each with the same seed, in this process. Prints one JSON
object with each side's seconds per epoch (the trainer's own clock, validation included) and
their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from liquid_control.data.episodes import write_episode_bag
from liquid_control.data.pairing import episodes_from_recordings
from liquid_control.nets.model_file import read_card
from liquid_control.tasks import load_task
from liquid_control.train.simulate import simulate_episodes
from liquid_control.train.trainer import TrainConfig, train


def _epoch_seconds(folder: Path) -> list[float]:
    history = read_card(folder)["training"]["history"]
    seconds = [h["seconds"] for h in history]
    return [round(b - a, 2) for a, b in zip([0.0, *seconds[:-1]], seconds)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracks", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="cached_epoch_"))
    task = load_task("lane")
    simulated = simulate_episodes(range(args.tracks), "lane", jobs=args.jobs, progress=False)
    for episode in simulated:
        write_episode_bag(episode, work / "bags" / episode.name, speed=3.0)
    started = time.perf_counter()
    cached, _ = episodes_from_recordings([work / "bags"], task, cache=work / "cache", jobs=args.jobs, progress=False)
    ingest_s = time.perf_counter() - started
    config = TrainConfig.for_task(task, epochs=args.epochs, seed=0, threads=args.threads, head_precision="fp32")
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               "unknown")
    result = {"cpu": cpu, "threads": args.threads, "tracks": args.tracks,
              "frames": {"simulator": sum(len(e) for e in simulated), "cache": sum(len(e) for e in cached)},
              "cache_ingest_s": round(ingest_s, 2)}
    for name, episodes in (("simulator", simulated), ("cache", cached)):
        folder = train(episodes, work / name, config, progress=False)
        result[f"{name}_epoch_s"] = _epoch_seconds(folder)
    result["cache_over_simulator"] = round(sum(result["cache_epoch_s"]) / sum(result["simulator_epoch_s"]), 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
