"""Conditions that need memory and continuous time (issue 25, item 5): the study's cached models
under camera blackouts, frame-interval jitter and control rates never seen in training, each
network with its elapsed-time input real or held at the period it trained with
(``ModelDriver(fixed_dt=True)``), the expert (which steers from the true pose, not the camera) as
the reference. Nothing is trained: the models are the ones ``config/study_<world>.yaml`` cached.

    .venv/bin/python benchmarks/memory_conditions.py [--world lane|drone] --jobs 2 [--seeds 0 1 2]
        [--distance 150] [--cache /tmp/memory_conditions.jsonl] [--out docs/bench/memory_conditions.json]

Prints one JSON object and writes it to --out. Development tracks and scenes only (lane 1000-1001,
drone 1000-1011): those from 2000 on are the locked test split and are refused. ``--cache`` keeps
every episode (one JSON line each, one file per world), so a run stopped part way, or one with
more seeds, drives only what is new.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from time_to_policy import cpu_model  # benchmarks/ is the script's folder, first on sys.path

from liquid_control.train.study.locked_split import LOCKED_FROM

ROOT = Path(__file__).resolve().parents[1]

# name -> (camera perturbations, camera and control rate in Hz; the lane models trained at 20 Hz).
# Blackouts come at 0.1 Hz (one per ~10 s of clear view: about five in a 150 m drive at 3 m/s).
LANE_CONDITIONS = {
    "clean": ({}, 20.0),
    "blackout 0.3 s": ({"blackout_rate_hz": 0.1, "blackout_min_s": 0.3, "blackout_max_s": 0.3}, 20.0),
    "blackout 0.7 s": ({"blackout_rate_hz": 0.1, "blackout_min_s": 0.7, "blackout_max_s": 0.7}, 20.0),
    "blackout 1.5 s": ({"blackout_rate_hz": 0.1, "blackout_min_s": 1.5, "blackout_max_s": 1.5}, 20.0),
    "blackout 0.3-1.5 s": ({"blackout_rate_hz": 0.1, "blackout_min_s": 0.3, "blackout_max_s": 1.5}, 20.0),
    "flicker 0.1 s at 2 Hz": ({"blackout_rate_hz": 2.0, "blackout_min_s": 0.1, "blackout_max_s": 0.1}, 20.0),
    "jitter 3x": ({"frame_interval_jitter": 3.0}, 20.0),
    "10 Hz": ({}, 10.0),
    "5 Hz": ({}, 5.0),
}
# The drone models trained at 10 Hz; a flight lasts 5-20 s, so blackouts come at 0.2 Hz.
DRONE_CONDITIONS = {
    "clean": ({}, 10.0),
    "blackout 0.7 s": ({"blackout_rate_hz": 0.2, "blackout_min_s": 0.7, "blackout_max_s": 0.7}, 10.0),
    "blackout 0.3-1.5 s": ({"blackout_rate_hz": 0.2, "blackout_min_s": 0.3, "blackout_max_s": 1.5}, 10.0),
    "jitter 3x": ({"frame_interval_jitter": 3.0}, 10.0),
    "5 Hz": ({}, 5.0),
}
# world -> its study config, cache, conditions, training rate and development tracks or scenes.
WORLDS = {
    "lane": {"config": "config/study_lane.yaml", "models": "study/lane", "conditions": LANE_CONDITIONS,
             "training_rate_hz": 20.0, "episodes": [1000, 1001]},
    "drone": {"config": "config/study_drone.yaml", "models": "study/drone", "conditions": DRONE_CONDITIONS,
              "training_rate_hz": 10.0, "episodes": list(range(1000, 1012))},
}
# Presets whose core ignores the elapsed time (torch's LSTM/GRU; the CNN has no core state): for
# them fixed dt is the same drive as real dt, so it is not driven again.
TIME_BLIND = {"lstm", "gru", "cnn"}


def dt_modes(world: str, arch: str, condition: str) -> tuple[str, ...]:
    """real, and fixed where it can differ: a dt-taking core in a condition whose frame intervals
    are not the training period (without jitter or another rate, real dt is the nominal one)."""
    perturbations, rate = WORLDS[world]["conditions"][condition]
    varies = rate != WORLDS[world]["training_rate_hz"] or perturbations.get("frame_interval_jitter", 1.0) != 1.0
    return ("real", "fixed") if varies and arch not in TIME_BLIND else ("real",)


def run_episode(task: dict) -> dict:
    """One episode of ``task``'s world (a worker process: one torch thread)."""
    import torch

    torch.set_num_threads(1)
    return (fly_one if task.get("world") == "drone" else drive_one)(task)


def fly_one(task: dict) -> dict:
    """One flight: ``task`` names the pilot (a model folder or the expert), condition, dt mode, scene."""
    from liquid_control.sim.drone.expert import DroneExpert
    from liquid_control.sim.drone.fly import fly
    from liquid_control.sim.drone.world import DroneWorld
    from liquid_control.train.model_driver import ModelDriver
    from liquid_control.train.simulate import drone_config

    perturbations, rate = DRONE_CONDITIONS[task["condition"]]
    started = time.perf_counter()
    world = DroneWorld(task["track"], drone_config(perturbations=perturbations, camera_rate_hz=rate))
    try:
        pilot = (DroneExpert() if task["model"] is None
                 else ModelDriver(ROOT / task["model"], backend="torch", fixed_dt=task["dt"] == "fixed"))
        report = fly(world, pilot).report
        blackout_s = sum(min(end, world.time) - start for start, end in world.perturber.blackouts if start < world.time)
    finally:
        world.close()
    keys = ("success", "collision", "reason", "time_to_target_s", "final_distance_m", "sim_time_s")
    return {**task, **{key: report[key] for key in keys}, "blackout_s": round(blackout_s, 3),
            "wall_s": round(time.perf_counter() - started, 2)}


def drive_one(task: dict) -> dict:
    """One drive: ``task`` names the driver (a model folder or the expert), condition, dt mode, track."""
    from liquid_control.sim.lane.drive import drive
    from liquid_control.sim.lane.expert import ExpertDriver
    from liquid_control.sim.lane.world import LaneWorld, WorldConfig
    from liquid_control.sim.perturbations import PerturbationConfig
    from liquid_control.train.model_driver import ModelDriver

    perturbations, rate = LANE_CONDITIONS[task["condition"]]
    config = WorldConfig(perturbations=PerturbationConfig.from_dict(perturbations), camera_rate_hz=rate,
                         render=task["model"] is not None)
    started = time.perf_counter()
    world = LaneWorld(task["track"], config)
    try:
        if task["model"] is None:
            driver = ExpertDriver(config.car, speed=task["speed"])
        else:
            driver = ModelDriver(ROOT / task["model"], speed=task["speed"], backend="torch",
                                 fixed_dt=task["dt"] == "fixed")
        report = drive(world, driver, task["planned_m"]).report
        blackout_s = sum(min(end, world.time) - start for start, end in world.perturber.blackouts if start < world.time)
    finally:
        world.close()
    keys = ("distance_m", "departures", "mean_abs_lateral_m", "max_abs_lateral_m", "offroad", "stop_reason",
            "sim_time_s")
    return {**task, **{key: report[key] for key in keys}, "blackout_s": round(blackout_s, 3),
            "wall_s": round(time.perf_counter() - started, 2)}


def lane_cell(drives: list[dict]) -> dict:
    """One (driver, condition, dt) cell of the lane: the study's departures/km (mean over drives) and more."""
    per_km = [d["departures"] / max(d["distance_m"] / 1000.0, 1e-3) for d in drives]
    return {
        "departures_per_km": round(float(np.mean(per_km)), 3),
        "mean_abs_lateral_m": round(float(np.mean([d["mean_abs_lateral_m"] for d in drives])), 4),
        "offroad_fraction": round(float(np.mean([bool(d["offroad"]) for d in drives])), 3),
        "completed_fraction": round(float(np.mean([d["stop_reason"] == "distance reached" for d in drives])), 3),
        "distance_m": round(float(sum(d["distance_m"] for d in drives)), 1),
        "drives": len(drives),
        # Per training seed (the independent unit): its departures over its drives.
        "per_seed": {str(s): int(sum(d["departures"] for d in drives if d["seed"] == s)) for s in _seeds(drives)},
    }


def drone_cell(flights: list[dict]) -> dict:
    """One (pilot, condition, dt) cell of the drone: success and collision rates, time to target."""
    times = [f["time_to_target_s"] for f in flights if f["success"]]
    return {
        "success_rate": round(float(np.mean([bool(f["success"]) for f in flights])), 3),
        "collision_rate": round(float(np.mean([bool(f["collision"]) for f in flights])), 3),
        "mean_time_to_target_s": round(float(np.mean(times)), 2) if times else None,
        "flights": len(flights),
        # Per training seed (the independent unit): its successes over its flights.
        "per_seed": {str(s): int(sum(bool(f["success"]) for f in flights if f["seed"] == s)) for s in _seeds(flights)},
    }


def _seeds(episodes: list[dict]) -> list[int]:
    return sorted({e["seed"] for e in episodes if e["seed"] is not None})


CELLS = {"lane": lane_cell, "drone": drone_cell}
TABLES = {"lane": (("departures_per_km", "{:.3g}", "departures/km"),
                   ("mean_abs_lateral_m", "{:.3f}", "mean |lateral error|, m"),
                   ("completed_fraction", "{:.0%}", "drives completed")),
          "drone": (("success_rate", "{:.0%}", "flights that reached the target"),
                    ("collision_rate", "{:.0%}", "flights that collided"))}


def plan(args) -> list[dict]:
    from liquid_control.train.study.cache import model_plan
    from liquid_control.train.study.config import StudyConfig
    from liquid_control.train.study.tuning import tuned_config

    world = WORLDS[args.world]
    config = tuned_config(StudyConfig.load(ROOT / world["config"]), ROOT / world["models"])  # a tuned study's keys
    folders = model_plan(config, ROOT / world["models"])
    common = {"world": args.world, "speed": args.speed, "planned_m": args.distance}
    tasks = [{**common, "driver": "expert", "arch": "expert", "seed": None, "model": None, "condition": c,
              "dt": "real", "track": t} for c in args.conditions for t in args.episodes]
    for seed in args.seeds:
        for architecture in config.architectures:
            folder, _ = folders[architecture.name, seed]
            if not (folder / "card.yaml").is_file():
                raise SystemExit(f"no cached model {folder}: run the study first (this script trains nothing)")
            tasks += [{**common, "driver": architecture.name, "arch": architecture.arch, "seed": seed,
                       "model": str(folder.relative_to(ROOT)), "condition": c, "dt": mode, "track": t}
                      for c in args.conditions for mode in dt_modes(args.world, architecture.arch, c)
                      for t in args.episodes]
    return tasks


def key(task: dict) -> str:
    return json.dumps([task[k] for k in ("driver", "seed", "condition", "dt", "track", "planned_m", "speed")])


def run(tasks: list[dict], jobs: int, cache: Path | None) -> list[dict]:
    done = {}
    if cache is not None and cache.is_file():
        for line in cache.read_text().splitlines():
            episode = json.loads(line)
            done[key(episode)] = episode
    todo = [t for t in tasks if key(t) not in done]
    print(f"{len(tasks)} episodes, {len(tasks) - len(todo)} cached, {len(todo)} to run", file=sys.stderr)
    if todo:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        # spawn: each worker builds its own MuJoCo and EGL state, nothing inherited half-made by fork.
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            for i, episode in enumerate(pool.map(run_episode, todo), 1):
                done[key(episode)] = episode
                if cache is not None:
                    with cache.open("a") as out:
                        out.write(json.dumps(episode) + "\n")
                if i % 20 == 0 or i == len(todo):
                    print(f"  {i}/{len(todo)} done", file=sys.stderr)
    return [done[key(t)] for t in tasks]


def summarise(world: str, episodes: list[dict]) -> dict:
    results: dict = {}
    for episode in episodes:
        cell = results.setdefault(episode["driver"], {}).setdefault(episode["condition"], {})
        cell.setdefault(episode["dt"], []).append(episode)
    return {driver: {c: {mode: CELLS[world](es) for mode, es in modes.items()} for c, modes in conditions.items()}
            for driver, conditions in results.items()}


def table(results: dict, conditions: list[str], field: str, fmt: str) -> str:
    """Markdown: a row per driver (and dt mode), a column per condition."""
    lines = ["| driver | dt | " + " | ".join(conditions) + " |", "|---|---|" + "---|" * len(conditions)]
    for driver, row in results.items():
        for mode in ("real", "fixed"):
            if any(mode in row[c] for c in conditions):  # fixed: only where it can differ ("=" elsewhere)
                cells = [fmt.format(row[c][mode][field]) if mode in row[c] else "=" for c in conditions]
                lines.append(f"| {driver} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=list(WORLDS), default="lane")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, nargs="+", default=None,
                        help="tracks or scenes (default: the world's development ones)")
    parser.add_argument("--conditions", nargs="+", default=None, help="names (default: all of the world's)")
    parser.add_argument("--distance", type=float, default=150.0, help="lane: metres per drive")
    parser.add_argument("--speed", type=float, default=3.0, help="lane: m/s")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=None, help="JSON lines of the episodes done (resume)")
    parser.add_argument("--out", type=Path, default=None,
                        help="default: docs/bench/memory_conditions.json (lane), memory_conditions_drone.json")
    args = parser.parse_args()
    world = WORLDS[args.world]
    args.episodes = args.episodes or world["episodes"]
    args.conditions = args.conditions or list(world["conditions"])
    unknown = [c for c in args.conditions if c not in world["conditions"]]
    if unknown:
        parser.error(f"unknown {args.world} condition(s) {unknown}; known: {list(world['conditions'])}")
    locked = [t for t in args.episodes if t >= LOCKED_FROM]
    if locked:
        parser.error(f"{locked} belong to the locked test split (>= {LOCKED_FROM}): use development tracks or scenes")
    if args.world == "drone":
        args.distance = args.speed = None  # a flight ends at the target
    out = args.out or ROOT / "docs" / "bench" / ("memory_conditions.json" if args.world == "lane"
                                                 else "memory_conditions_drone.json")
    started = time.perf_counter()
    episodes = run(plan(args), max(1, args.jobs), args.cache)
    results = summarise(args.world, episodes)
    summary = {
        "command": "python benchmarks/memory_conditions.py " + " ".join(sys.argv[1:]),
        "cpu": cpu_model(), "cores": os.cpu_count(), "jobs": args.jobs,
        "wall_s": round(time.perf_counter() - started, 1),  # this invocation (cached episodes cost it nothing)
        "episode_wall_s_total": round(sum(e["wall_s"] for e in episodes), 1),  # every episode's own, summed
        "settings": {"world": args.world, "config": world["config"], "seeds": args.seeds, "episodes": args.episodes,
                     "distance_m": args.distance, "speed_mps": args.speed},
        "conditions": {c: {"perturbations": world["conditions"][c][0], "camera_rate_hz": world["conditions"][c][1]}
                       for c in args.conditions},
        "results": results,
        "episodes": episodes,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "episodes"}, indent=1))
    for field, fmt, caption in TABLES[args.world]:
        print(f"\n{caption}:\n" + table(results, args.conditions, field, fmt), file=sys.stderr)


if __name__ == "__main__":
    main()
