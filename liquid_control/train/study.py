"""The study: architectures x training seeds x closed-loop evaluations, from one config file.

``python -m liquid_control study config/study_lane.yaml`` trains every architecture the config
lists with every seed on the same expert data and the same recipe, drives every model on the
held-out tracks under every condition (clean, pixel noise, blur, dropped frames, another control
rate, ...) and writes a report: per architecture and condition, lane departures per km and
|lateral error| with bootstrap confidence intervals over seeds and tracks, and the parameter and
synapse counts of the recurrent part.

Everything is cached by its inputs under the output folder: a model by (architecture, seed,
data, training settings), an evaluation by (model, condition, track, distance). A run that was
stopped resumes where it stopped, and a changed config recomputes only what it changed.
Evaluations run in ``jobs`` processes; training runs one model at a time on the threads given.
``quick`` shrinks the whole pipeline (data, epochs, tracks, architectures, seeds, conditions) to
a few minutes, for CI: the same code path, tiny numbers.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from liquid_control.nets.policy import PRESETS

# Fields of the config file's sections, for clear errors on a typo.
_DATA_FIELDS = {"sim_seeds", "distance_m", "speed", "recovery_rate_hz", "perturbations"}
_TRAINING_FIELDS = {"epochs", "batch_size", "seq_len", "lr", "threads"}
_EVALUATION_FIELDS = {"tracks", "distance_m", "speed"}


@dataclass(frozen=True)
class Architecture:
    name: str  # as it appears in the report
    arch: str  # a make_policy preset


@dataclass(frozen=True)
class Condition:
    name: str
    perturbations: dict = field(default_factory=dict)  # camera perturbations (sim.perturbations)
    camera_rate_hz: float = 20.0  # the camera and control rate (training's is 20 Hz)


@dataclass(frozen=True)
class StudyConfig:
    name: str
    architectures: tuple[Architecture, ...]
    seeds: tuple[int, ...]
    data: dict
    training: dict
    evaluation: dict
    conditions: tuple[Condition, ...]

    @classmethod
    def from_dict(cls, values: dict) -> "StudyConfig":
        def section(name: str, allowed: set) -> dict:
            part = dict(values.get(name) or {})
            unknown = set(part) - allowed
            if unknown:
                raise ValueError(f"study config: unknown {name} settings {sorted(unknown)}; known: {sorted(allowed)}")
            return part

        unknown = set(values) - {"name", "architectures", "seeds", "data", "training", "evaluation", "conditions"}
        if unknown:
            raise ValueError(f"study config: unknown sections {sorted(unknown)}")
        architectures = tuple(Architecture(str(a["name"]), str(a["arch"])) for a in values.get("architectures") or [])
        bad = [a.arch for a in architectures if a.arch not in PRESETS]
        if not architectures or bad:
            raise ValueError(f"study config: architectures must name presets from {PRESETS}; got {bad or 'none'}")
        if len({a.name for a in architectures}) != len(architectures):
            raise ValueError("study config: architecture names must be distinct")
        conditions = tuple(Condition(str(c["name"]), dict(c.get("perturbations") or {}), float(c.get("camera_rate_hz", 20.0)))
                           for c in values.get("conditions") or [{"name": "clean"}])
        seeds = tuple(int(s) for s in values.get("seeds") or [0])
        config = cls(str(values.get("name", "study")), architectures, seeds, section("data", _DATA_FIELDS),
                     section("training", _TRAINING_FIELDS), section("evaluation", _EVALUATION_FIELDS), conditions)
        from liquid_control.sim.perturbations import PerturbationConfig

        for condition in conditions:
            PerturbationConfig.from_dict(condition.perturbations)  # refused here, not an hour into the run
        return config

    @classmethod
    def load(cls, path: str | Path) -> "StudyConfig":
        return cls.from_dict(yaml.safe_load(Path(path).read_text()))

    def quick(self) -> "StudyConfig":
        """The same study in miniature: two architectures, two seeds, two conditions, tiny data."""
        return replace(self, name=f"{self.name} (quick)", architectures=self.architectures[:2], seeds=self.seeds[:2],
                       data={**self.data, "sim_seeds": "0-1", "distance_m": 25.0},
                       training={**self.training, "epochs": 1, "batch_size": 4, "seq_len": 8},
                       evaluation={**self.evaluation, "tracks": list(self.evaluation.get("tracks", [1000]))[:1],
                                   "distance_m": 30.0},
                       conditions=self.conditions[:2])


def digest(value: Any) -> str:
    """A short stable hash of a JSON-able value: the cache key of what it describes."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def slug(name: str) -> str:
    """A file-name form of a report name: 'CNN (no memory)' -> 'cnn-no-memory'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def _seed_list(text) -> list[int]:
    if isinstance(text, (list, tuple)):
        return [int(s) for s in text]
    seeds: list[int] = []
    for part in str(text).split(","):
        low, sep, high = part.partition("-")
        seeds.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    return seeds


def _data_settings(config: StudyConfig) -> dict:
    data = {"sim_seeds": "0-23", "distance_m": 120.0, "speed": 3.0, "recovery_rate_hz": 0.4,
            "perturbations": {"drop_probability": 0.05}}
    data.update(config.data)
    return data


def _training_config(config: StudyConfig, arch: str, seed: int):
    from liquid_control.train.trainer import TrainConfig

    training = {"epochs": 6, "batch_size": 16, "seq_len": 24, "lr": 2e-3, "threads": 2}
    training.update(config.training)
    return TrainConfig(arch=arch, seed=seed, stride=training["seq_len"], **training)


def evaluate_model(model_dir: str, track: int, distance_m: float, speed: float, perturbations: dict,
                   camera_rate_hz: float) -> dict:
    """One closed-loop drive of a model (a top-level function: it runs in worker processes)."""
    import torch

    from liquid_control.sim.lane.drive import drive
    from liquid_control.sim.lane.world import LaneWorld, WorldConfig
    from liquid_control.sim.perturbations import PerturbationConfig
    from liquid_control.train.evaluate import ModelDriver

    torch.set_num_threads(1)
    world = LaneWorld(track, WorldConfig(perturbations=PerturbationConfig.from_dict(perturbations),
                                         camera_rate_hz=camera_rate_hz))
    try:
        report = drive(world, ModelDriver(model_dir, speed=speed, backend="torch"), distance_m).report
    finally:
        world.close()
    return {key: report[key] for key in ("seed", "distance_m", "departures", "mean_abs_lateral_m", "max_abs_lateral_m",
                                          "offroad", "stop_reason", "sim_time_s")}


def _architecture_facts(model_dir: Path) -> dict:
    from liquid_control.nets import load_model

    policy, card = load_model(model_dir)
    facts = {"parameters": int(card["weights"]["parameters"]),
             "recurrent_parameters": int(sum(p.numel() for p in policy.core.parameters()))}
    wiring = getattr(policy.core, "wiring", None)
    if wiring is not None and getattr(wiring, "kind", "") != "FullyConnected":
        facts["synapses"] = int(wiring.synapse_count + wiring.sensory_synapse_count)
    return facts


def bootstrap_ci(values: list[float], rounds: int = 2000, seed: int = 0) -> list[float]:
    """95 % percentile bootstrap interval of the mean (resampling the values: seeds x tracks)."""
    if not values:
        return [math.nan, math.nan]
    array = np.asarray(values, dtype=np.float64)
    means = np.random.default_rng(seed).choice(array, size=(rounds, len(array)), replace=True).mean(axis=1)
    return [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)]


def run_study(config: StudyConfig, out: str | Path, jobs: int = 1, progress: Callable[[str], None] | None = None) -> dict:
    """Train what is not cached, evaluate what is not cached, aggregate; returns the results and
    writes them to OUT/results.json."""
    from liquid_control.train.simulate import simulate_episode
    from liquid_control.train.trainer import train

    say = progress or (lambda message: None)
    out = Path(out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    (out / "evaluations").mkdir(parents=True, exist_ok=True)
    data = _data_settings(config)
    started = time.perf_counter()
    counts = {"models_trained": 0, "models_cached": 0, "evaluations_run": 0, "evaluations_cached": 0}

    models: dict[tuple[str, int], Path] = {}
    episodes = None
    for architecture in config.architectures:
        for seed in config.seeds:
            training = _training_config(config, architecture.arch, seed)
            folder = out / "models" / f"{slug(architecture.name)}-s{seed}-{digest([asdict(training), data])}"
            models[architecture.name, seed] = folder
            if (folder / "card.yaml").is_file():
                counts["models_cached"] += 1
                continue
            if episodes is None:
                say(f"expert data: tracks {data['sim_seeds']}, {data['distance_m']:g} m each")
                episodes = [simulate_episode(s, "lane", data["distance_m"], speed=data["speed"],
                                             recovery_rate_hz=data["recovery_rate_hz"], perturbations=data["perturbations"])
                            for s in _seed_list(data["sim_seeds"])]
            say(f"training {architecture.name} ({architecture.arch}), seed {seed}")
            train(episodes, folder, training, progress=False, data_description={"study": config.name, **data})
            counts["models_trained"] += 1

    evaluation = {"tracks": [1000, 1001, 1002], "distance_m": 1000.0, "speed": 3.0, **config.evaluation}
    tasks = {}
    for (name, seed), folder in models.items():
        for condition in config.conditions:
            for track in evaluation["tracks"]:
                args = (str(folder), int(track), float(evaluation["distance_m"]), float(evaluation["speed"]),
                        condition.perturbations, condition.camera_rate_hz)
                path = out / "evaluations" / f"{folder.name}-{digest(args[1:])}.json"
                tasks[(name, seed, condition.name, int(track))] = (path, args)
    pending = {key: value for key, value in tasks.items() if not value[0].is_file()}
    counts["evaluations_cached"] = len(tasks) - len(pending)
    if pending:
        say(f"{len(pending)} closed-loop drives ({counts['evaluations_cached']} cached), {jobs} process(es)")
        if jobs > 1:
            with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
                futures = {key: pool.submit(evaluate_model, *args) for key, (path, args) in pending.items()}
                for key, future in futures.items():
                    pending[key][0].write_text(json.dumps(future.result()))
        else:
            for key, (path, args) in pending.items():
                path.write_text(json.dumps(evaluate_model(*args)))
        counts["evaluations_run"] = len(pending)

    runs = {key: json.loads(path.read_text()) for key, (path, _) in tasks.items()}
    table = {}
    for architecture in config.architectures:
        facts = _architecture_facts(models[architecture.name, config.seeds[0]])
        rows = {}
        for condition in config.conditions:
            drives = [runs[(architecture.name, seed, condition.name, int(track))]
                      for seed in config.seeds for track in evaluation["tracks"]]
            per_km = [d["departures"] / max(d["distance_m"] / 1000.0, 1e-3) for d in drives]
            lateral = [d["mean_abs_lateral_m"] for d in drives]
            rows[condition.name] = {
                "departures_per_km": round(float(np.mean(per_km)), 3), "departures_per_km_ci95": bootstrap_ci(per_km),
                "mean_abs_lateral_m": round(float(np.mean(lateral)), 4), "mean_abs_lateral_m_ci95": bootstrap_ci(lateral),
                "max_abs_lateral_m": round(float(max(d["max_abs_lateral_m"] for d in drives)), 4),
                "offroad_fraction": round(float(np.mean([bool(d["offroad"]) for d in drives])), 3),
                "drives": len(drives), "distance_m": round(float(sum(d["distance_m"] for d in drives)), 1)}
        table[architecture.name] = {"arch": architecture.arch, **facts, "conditions": rows}
    results = {"study": config.name, "world": "lane", "seeds": list(config.seeds), "data": data,
               "training": asdict(_training_config(config, config.architectures[0].arch, config.seeds[0])) | {"arch": "*", "seed": "*"},
               "evaluation": evaluation, "conditions": [asdict(c) for c in config.conditions], "results": table,
               "work": counts, "wall_time_s": round(time.perf_counter() - started, 1)}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    return results


def report_markdown(results: dict, command: str) -> str:
    """The tables of a study's results as Markdown (what docs/study.md is made from)."""
    conditions = [c["name"] for c in results["conditions"]]
    lines = [f"# {results['study']}", "", f"Made by `{command}` in {results['wall_time_s']:g} s "
             f"({results['work']['models_trained']} models trained, {results['work']['evaluations_run']} drives run, "
             f"the rest cached).", "",
             f"Training seeds {results['seeds']}; expert data on tracks {results['data']['sim_seeds']} "
             f"({results['data']['distance_m']:g} m each); each model driven {results['evaluation']['distance_m']:g} m on "
             f"held-out tracks {results['evaluation']['tracks']}. Intervals: 95 % bootstrap over seeds x tracks.", "",
             "| architecture | preset | parameters | recurrent parameters | synapses |", "|---|---|---:|---:|---:|"]
    for name, row in results["results"].items():
        lines.append(f"| {name} | {row['arch']} | {row['parameters']:,} | {row['recurrent_parameters']:,} | "
                     f"{row.get('synapses', '—')} |")
    lines += ["", "Lane departures per km (mean [95 % CI]):", "",
              "| architecture | " + " | ".join(conditions) + " |", "|---|" + "---|" * len(conditions)]
    for name, row in results["results"].items():
        cells = [f"{row['conditions'][c]['departures_per_km']:g} [{row['conditions'][c]['departures_per_km_ci95'][0]:g}, "
                 f"{row['conditions'][c]['departures_per_km_ci95'][1]:g}]" for c in conditions]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Mean |lateral error|, cm (max over all drives):", "",
              "| architecture | " + " | ".join(conditions) + " |", "|---|" + "---|" * len(conditions)]
    for name, row in results["results"].items():
        cells = [f"{100 * row['conditions'][c]['mean_abs_lateral_m']:.1f} ({100 * row['conditions'][c]['max_abs_lateral_m']:.0f})"
                 for c in conditions]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_study(results: dict, path: str | Path) -> None:
    """Departures per km per condition, one bar group per architecture, with the 95 % intervals."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    conditions = [c["name"] for c in results["conditions"]]
    names = list(results["results"])
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(conditions) + 2), 3.6))
    for i, name in enumerate(names):
        rows = [results["results"][name]["conditions"][c] for c in conditions]
        means = np.array([r["departures_per_km"] for r in rows])
        low = means - np.array([r["departures_per_km_ci95"][0] for r in rows])
        high = np.array([r["departures_per_km_ci95"][1] for r in rows]) - means
        ax.bar(np.arange(len(conditions)) + (i - (len(names) - 1) / 2) * width, means, width, yerr=[low, high],
               capsize=2, label=name)
    ax.set_xticks(np.arange(len(conditions)), conditions, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("lane departures per km")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
