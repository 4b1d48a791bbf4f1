"""What the study does differently in each simulated world, found by the task's simulator name.

A ``StudyWorld`` holds a world's study defaults (the recipes of the shipped models), the
condition settings it knows, how one closed-loop episode runs and what it reports, how episodes
are summed per condition and per seed, the report's headline and secondary metrics and its
world-specific tables, and the study's miniature (``quick``). The rest of the study looks the
world up and never branches on its name: a third simulated world is one more ``StudyWorld`` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from liquid_control.train.study.stats import (
    FEWEST_FOR_AN_INTERVAL,
    hierarchical_bootstrap_ci,
    hierarchical_span,
    seed_list,
    span_of,
)


@dataclass(frozen=True)
class StudyWorld:
    defaults: dict  # per config section, its settings and their defaults
    condition_keys: frozenset  # condition settings besides name, perturbations and camera_rate_hz
    headline: tuple[str, str, str]  # (key in a condition's row, what it is, format of a cell)
    episode_noun: str  # "tracks" or "scenes": what the intervals resample within a seed
    episode_seeds: Callable[[dict], list[int]]  # evaluation settings -> the held-out tracks or scenes
    quick: Callable[[dict, dict, dict], tuple[dict, dict]]  # (data, evaluation, evaluation settings) -> miniature
    evaluate: Callable[[str, int, dict, dict, float], dict]  # (model, seed, condition, evaluation, rate) -> report
    aggregate: Callable[[list[list[dict]]], dict]  # one condition's episodes, a list per seed -> its row
    headline_value: Callable[[dict], float]  # one episode's value of the headline (what comparisons compare)
    secondary: tuple[str, str, str]  # the protocol's secondary metric: (key in a condition's row, what, format)
    secondary_value: Callable[[dict], float | None]  # one episode's value of it; None where it has none
    per_seed: Callable[[list[dict]], dict]  # one model's episodes of one condition, summed
    where: Callable[[dict], str]  # evaluation settings -> how each model is evaluated, in words
    per_seed_table: Callable[[dict, list], tuple[str, Callable]]  # (evaluation, seeds) -> (caption, cell of runs)
    detail_table: Callable[[dict, list], list[str]]  # (results, conditions) -> the world's own Markdown table


# ---------------------------------------------------------------------------------------------- lane


def _lane_evaluate(model_dir: str, seed: int, condition: dict, evaluation: dict, rate: float) -> dict:
    from liquid_control.sim.lane.drive import drive
    from liquid_control.sim.lane.world import LaneWorld, WorldConfig
    from liquid_control.sim.perturbations import PerturbationConfig
    from liquid_control.train.model_driver import ModelDriver

    lane = LaneWorld(seed, WorldConfig(perturbations=PerturbationConfig.from_dict(condition["perturbations"]),
                                       camera_rate_hz=rate))
    try:
        report = drive(lane, ModelDriver(model_dir, speed=evaluation["speed"], backend="torch",
                                                 fixed_dt=condition.get("fixed_dt", False)),
                       evaluation["distance_m"]).report
    finally:
        lane.close()
    keys = ("seed", "distance_m", "departures", "mean_abs_lateral_m", "max_abs_lateral_m", "offroad", "stop_reason",
            "sim_time_s")
    return {key: report[key] for key in keys}


def _departures_per_km(drive: dict) -> float:
    return drive["departures"] / max(drive["distance_m"] / 1000.0, 1e-3)


def _lane_aggregate(per_seed: list[list[dict]]) -> dict:
    drives = [d for seed in per_seed for d in seed]
    per_km = [[_departures_per_km(d) for d in seed] for seed in per_seed]
    lateral = [[d["mean_abs_lateral_m"] for d in seed] for seed in per_seed]
    return {"departures_per_km": round(float(np.mean(per_km)), 4),
            "departures_per_km_ci95": hierarchical_bootstrap_ci(per_km),
            "mean_abs_lateral_m": round(float(np.mean(lateral)), 4),
            "mean_abs_lateral_m_ci95": hierarchical_bootstrap_ci(lateral),
            "max_abs_lateral_m": round(float(max(d["max_abs_lateral_m"] for d in drives)), 4),
            "offroad_fraction": round(float(np.mean([bool(d["offroad"]) for d in drives])), 3),
            "drives": len(drives), "distance_m": round(float(sum(d["distance_m"] for d in drives)), 1)}


def _lane_per_seed(episodes: list[dict]) -> dict:
    return {"departures": int(sum(d["departures"] for d in episodes)),
            "distance_m": round(float(sum(d["distance_m"] for d in episodes)), 1), "drives": len(episodes)}


def _lane_per_seed_table(evaluation: dict, seeds: list) -> tuple[str, Callable]:
    planned = evaluation["distance_m"] * len(evaluation["tracks"])
    caption = (f"Per seed ({' / '.join(str(s) for s in seeds)}): lane departures over the "
               f"{len(evaluation['tracks'])} tracks together; where a drive left the road (it ends there), the metres "
               f"driven of {planned:g} in brackets:")

    def cell(runs):
        return " / ".join(f"{r['departures']}"
                          + (f" ({r['distance_m']:.0f} m)" if r["distance_m"] < planned - 1 else "") for r in runs)
    return caption, cell


def _lane_detail_table(results: dict, conditions: list) -> list[str]:
    lines = ["", "Mean |lateral error|, cm (max over all drives):", "",
             "| architecture | " + " | ".join(conditions) + " |", "|---|" + "---|" * len(conditions)]
    for name, row in results["results"].items():
        cells = [f"{100 * row['conditions'][c]['mean_abs_lateral_m']:.1f} "
                 f"({100 * row['conditions'][c]['max_abs_lateral_m']:.0f})" for c in conditions]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _lane_quick(data: dict, evaluation: dict, evaluation_settings: dict) -> tuple[dict, dict]:
    return ({**data, "sim_seeds": "0-1", "distance_m": 25.0},
            {**evaluation, "tracks": list(evaluation_settings["tracks"])[:1], "distance_m": 30.0})


LANE = StudyWorld(
    defaults={
        "data": {"sim_seeds": "0-23", "distance_m": 120.0, "speed": 3.0, "recovery_rate_hz": 0.4,
                 "perturbations": {"drop_probability": 0.05}},
        "training": {"epochs": 6, "batch_size": 16, "seq_len": 24, "lr": 2e-3, "threads": 2, "head_precision": "fp32",
                     "head_activation": None},
        "evaluation": {"tracks": [1000, 1001, 1002], "distance_m": 1000.0, "speed": 3.0},
        "attention": {"track": 1000, "frames": 200, "noise_std": 40.0},
    },
    condition_keys=frozenset(),
    headline=("departures_per_km", "Lane departures per km", "{:.3g}"),
    episode_noun="tracks",
    episode_seeds=lambda evaluation: [int(t) for t in evaluation["tracks"]],
    quick=_lane_quick,
    evaluate=_lane_evaluate,
    aggregate=_lane_aggregate,
    headline_value=_departures_per_km,
    secondary=("mean_abs_lateral_m", "Mean |lateral error|, m", "{:.3f}"),
    secondary_value=lambda drive: drive["mean_abs_lateral_m"],
    per_seed=_lane_per_seed,
    where=lambda evaluation: (f"each model driven {evaluation['distance_m']:g} m on held-out tracks "
                              f"{evaluation['tracks']}"),
    per_seed_table=_lane_per_seed_table,
    detail_table=_lane_detail_table,
)


# ---------------------------------------------------------------------------------------------- drone


def _drone_evaluate(model_dir: str, seed: int, condition: dict, evaluation: dict, rate: float) -> dict:
    from liquid_control.sim.drone.fly import fly
    from liquid_control.sim.drone.world import DroneWorld
    from liquid_control.train.model_driver import ModelDriver
    from liquid_control.train.simulate import drone_config

    drone = DroneWorld(seed, drone_config(condition["domain"], condition["perturbations"], rate,
                                          condition["start_distance_m"]))
    try:
        report = fly(drone, ModelDriver(model_dir, backend="torch", fixed_dt=condition.get("fixed_dt", False))).report
    finally:
        drone.close()
    keys = ("seed", "domain", "success", "collision", "reason", "time_to_target_s", "start_distance_m",
            "final_distance_m", "target_in_view_fraction", "stop_reason", "sim_time_s")
    return {key: report[key] for key in keys}


def _time_to_target(flight: dict) -> float | None:
    """The drone's secondary metric: seconds to the target, for a flight that reached it."""
    return flight["time_to_target_s"] if flight["success"] else None


def _time_span(times: list[list[float]]) -> dict:
    """The time to target's 95 % hierarchical interval, or its range over few successful flights."""
    kind, span = hierarchical_span(times, digits=3) or ("range", None)
    return {f"mean_time_to_target_s_{kind}": span}


def _drone_aggregate(per_seed: list[list[dict]]) -> dict:
    flights = [f for seed in per_seed for f in seed]
    successes = [[float(bool(f["success"])) for f in seed] for seed in per_seed]
    times = [[_time_to_target(f) for f in seed if f["success"]] for seed in per_seed]
    reasons: dict[str, int] = {}
    for flight in flights:
        reasons[flight["stop_reason"]] = reasons.get(flight["stop_reason"], 0) + 1
    return {"success_rate": round(float(np.mean(successes)), 4),
            "success_rate_ci95": hierarchical_bootstrap_ci(successes),
            "collision_rate": round(float(np.mean([bool(f["collision"]) for f in flights])), 4),
            "mean_time_to_target_s": round(float(np.mean(sum(times, []))), 3) if any(times) else None,
            **_time_span(times),
            "mean_final_distance_m": round(float(np.mean([f["final_distance_m"] for f in flights])), 3),
            "stop_reasons": dict(sorted(reasons.items())), "flights": len(flights)}


def _drone_per_seed_table(evaluation: dict, seeds: list) -> tuple[str, Callable]:
    def cell(runs):
        return " / ".join(f"{r['successes']}/{r['flights']}" for r in runs)
    return f"Per seed ({' / '.join(str(s) for s in seeds)}): flights that reached the target, of those flown:", cell


def _drone_detail_table(results: dict, conditions: list) -> list[str]:
    lines = ["", "Collisions, % of flights / mean time to target of the successful flights, s [95 % hierarchical "
                 "bootstrap: seeds, then a seed's successful flights; a seed weighs by its count], or (their range) "
                 f"under {FEWEST_FOR_AN_INTERVAL} successful flights:", "",
             "| architecture | " + " | ".join(conditions) + " |", "|---|" + "---|" * len(conditions)]
    for name, row in results["results"].items():
        cells = [f"{row['conditions'][c]['collision_rate']:.0%} / {_time_cell(row['conditions'][c])}"
                 for c in conditions]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _time_cell(row: dict) -> str:
    """'12.3 [11.0, 14.1]', '6.7 (6.7–6.7)' over few flights, or '—' where no flight reached the target."""
    if row["mean_time_to_target_s"] is None:
        return "—"
    kind, (low, high) = span_of(row, "mean_time_to_target_s")
    return f"{row['mean_time_to_target_s']:.1f} " + (f"({low:.1f}–{high:.1f})" if kind == "range"
                                                     else f"[{low:.1f}, {high:.1f}]")


DRONE = StudyWorld(
    defaults={
        "data": {"sim_seeds": "0-299", "recovery_rate_hz": 0.5, "perturbations": {}},
        "training": {"epochs": 8, "batch_size": 16, "seq_len": 16, "lr": 2e-3, "threads": 2, "head_precision": "fp32",
                     "head_activation": None},
        "evaluation": {"scenes": "1000-1019"},
        "attention": {"track": 1000, "frames": 80, "noise_std": 20.0},
    },
    condition_keys=frozenset({"domain", "start_distance_m"}),
    headline=("success_rate", "Success rate, % of flights", "{:.0%}"),
    episode_noun="scenes",
    episode_seeds=lambda evaluation: seed_list(evaluation["scenes"]),
    quick=lambda data, evaluation, settings: ({**data, "sim_seeds": "0-1"},
                                              {**evaluation, "scenes": str(seed_list(settings["scenes"])[0])}),
    evaluate=_drone_evaluate,
    aggregate=_drone_aggregate,
    headline_value=lambda flight: float(bool(flight["success"])),
    secondary=("mean_time_to_target_s", "Time to target of the successful flights, s", "{:.1f}"),
    secondary_value=_time_to_target,
    per_seed=lambda flights: {"successes": int(sum(bool(f["success"]) for f in flights)), "flights": len(flights)},
    where=lambda evaluation: f"each model flown once in each held-out scene {evaluation['scenes']}",
    per_seed_table=_drone_per_seed_table,
    detail_table=_drone_detail_table,
)

STUDY_WORLDS = {"lane": LANE, "drone": DRONE}  # by the task's simulator name


def study_world(task_name: str) -> StudyWorld:
    """The study's side of a simulated task (``lane``, ``drone``)."""
    from liquid_control.tasks import load_task

    simulator = load_task(task_name).simulator
    if simulator not in STUDY_WORLDS:
        raise ValueError(f"study config: world {task_name!r} has no simulator the study knows; studies run in "
                         f"{', '.join(STUDY_WORLDS)}")
    return STUDY_WORLDS[simulator]
