"""Where the study keeps what it computed: a model by (architecture, seed, data, training settings),
an evaluation by (model, condition, track or scene, evaluation settings), each under a hash of
its inputs in the output folder, so that a stopped run resumes and a changed config recomputes
only what it changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from liquid_control.tasks import load_task
from liquid_control.train.study.config import Architecture, StudyConfig
from liquid_control.train.study.worlds import study_world

# Training settings added after studies were cached: at their defaults they are left out of a
# model's cache key, so that the models cached before them are found.
UNKEYED_DEFAULTS = {"head_activation": None, "units": None, "wiring_seed": None, "data_fraction": 1.0,
                    "val_seq_len": None}


def keyed_settings(training) -> dict:
    """A TrainConfig's settings as a cache key sees them: without the threads (they change its
    numbers by rounding only) and without the settings newer than the key that are at their default."""
    settings = asdict(training) | {"threads": None}
    for name, default in UNKEYED_DEFAULTS.items():
        if settings.get(name, default) == default:
            settings.pop(name, None)
    return settings


def digest(value: Any) -> str:
    """A short stable hash of a JSON-able value: the cache key of what it describes."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def slug(name: str) -> str:
    """A file-name form of a report name: 'CNN (no memory)' -> 'cnn-no-memory'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def training_config(config: StudyConfig, architecture: Architecture, seed: int):
    from liquid_control.train.trainer import TrainConfig

    training = {**config.setting("training"), **architecture.training}
    if architecture.wiring_seeds:  # the wirings take turns over the training seeds
        training["wiring_seed"] = architecture.wiring_seeds[seed % len(architecture.wiring_seeds)]
    if config.tuning is not None:  # trained on all the expert data, validated as the trials were scored
        training = {"val_fraction": 0.0, "val_seq_len": config.tuning.score_window, **training}
    return TrainConfig.for_task(load_task(config.world), arch=architecture.arch, seed=seed, stride=training["seq_len"],
                                **training)


def write_json(path: Path, value) -> None:
    """Write a cache file whole or not at all (a run stopped while writing leaves no half file)."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(value))
    partial.replace(path)



def model_plan(config: StudyConfig, out: str | Path) -> dict:
    """Every model the study trains: (architecture name, seed) -> (its folder under OUT/models,
    its TrainConfig), seed by seed, so that a run stopped part way has every architecture's first
    seeds rather than some architectures' all. The folder's name ends in a hash of the training
    settings and the expert data's settings (not of the code)."""
    data = config.setting("data")
    plan = {}
    for seed in config.seeds:
        for architecture in config.architectures:
            training = training_config(config, architecture, seed)
            # A tuned study's models validate on the tuning's episodes: they are part of the key.
            validated = [] if config.tuning is None else [{"validation_seeds": config.tuning.validation_seeds}]
            key = digest([keyed_settings(training), config.world, data, *validated])
            folder = Path(out) / "models" / f"{slug(architecture.name)}-s{seed}-{key}"
            plan[architecture.name, seed] = (folder, training)
    return plan



def episode_seeds(config: StudyConfig) -> list[int]:
    evaluation = config.setting("evaluation")
    return study_world(config.world).episode_seeds(evaluation)


def evaluation_tasks(config: StudyConfig, models: dict, out: str | Path) -> dict:
    """Every closed-loop episode of the study's ``models`` ((architecture name, seed) -> folder):
    (name, seed, condition name, track or scene) -> (its cache file under OUT/evaluations, the
    arguments of ``evaluate_model``)."""
    evaluation = config.setting("evaluation")
    tasks = {}
    for (name, seed), folder in models.items():
        for condition in config.conditions:
            for episode_seed in episode_seeds(config):
                described = asdict(condition) | {"name": None}
                del described["compared"]  # whether it is tested does not change an episode
                if not described["fixed_dt"]:  # the default keeps the keys from before the setting existed
                    del described["fixed_dt"]
                args = (str(folder), config.world, episode_seed, described, evaluation)
                path = Path(out) / "evaluations" / f"{folder.name}-{digest(args[1:])}.json"
                tasks[(name, seed, condition.name, episode_seed)] = (path, args)
    return tasks


def analysis_path(config: StudyConfig, model: Path, out: str | Path) -> Path:
    """Where a model's attention analysis is cached (by the model and the config's attention settings)."""
    return Path(out) / "analyses" / f"{model.name}-{digest([config.world, config.setting('attention')])}.json"


def check_cached_precision(plan: dict) -> None:
    """Refuse a cached model whose card says its conv head trained in another precision than the
    config's (one trained before the study named its precision, on a machine that chose otherwise)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for folder, training in plan.values():
        card = folder / "card.yaml"
        if not card.is_file():
            continue
        trained = (yaml.load(card.read_text(), Loader=loader).get("training") or {}).get("head_precision")
        if trained is not None and trained != training.head_precision:
            raise ValueError(f"study: the cached model {folder} trained its conv head in {trained}, but the config "
                             f"says {training.head_precision}: set the config's training head_precision to {trained}, "
                             "or move the model away so that the study trains it anew")

