"""Running a study: train what is not cached, evaluate what is not cached, measure attention and
compactness, aggregate into OUT/results.json.

Seed by seed, so that a run stopped part way leaves whole seeds, trained and evaluated. Expert
data and evaluations run in ``jobs`` processes; training runs one model at a time on the
configured threads, so each model is finished and cached sooner.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from liquid_control.tasks import load_task
from liquid_control.train.study.cache import (
    analysis_path,
    check_cached_precision,
    episode_seeds,
    evaluation_tasks,
    model_plan,
    training_config,
    write_json,
)
from liquid_control.train.study.comparisons import compare_architectures
from liquid_control.train.study.config import Architecture, StudyConfig
from liquid_control.train.study.elapsed_time import elapsed_time_effects
from liquid_control.train.study.packing import cached_episode, is_cached, require_weights
from liquid_control.train.study.stats import seed_list, summarise_analyses
from liquid_control.train.study.worlds import study_world


def evaluate_model(model_dir: str, world: str, seed: int, condition: dict, evaluation: dict) -> dict:
    """One closed-loop episode of a model: a drive on lane track ``seed`` or a flight in drone scene
    ``seed``, under ``condition`` (a Condition as a dict). A top-level function: it runs in worker
    processes."""
    import torch

    torch.set_num_threads(1)
    rate = condition["camera_rate_hz"] or load_task(world).camera_rate_hz
    started = time.perf_counter()
    result = study_world(world).evaluate(model_dir, seed, condition, evaluation, rate)
    return {**result, "wall_s": round(time.perf_counter() - started, 2)}  # the study's compute, reported


def _architecture_facts(model_dir: Path) -> dict:
    """Parameters as the cost table counts them (``costs.parameter_counts``): recurrent is the core
    without its output map (none for the CNN), wired counts an NCP's masked weights by synapse."""
    from liquid_control.nets import load_model
    from liquid_control.train.study.costs import parameter_counts

    policy, card = load_model(model_dir)
    counts = parameter_counts(policy)
    facts = {"parameters": int(card["weights"]["parameters"]), "recurrent_parameters": counts["recurrent"],
             "recurrent_parameters_wired": counts["recurrent_wired"]}
    wiring = getattr(policy.core, "wiring", None)
    if wiring is not None and getattr(wiring, "kind", "") != "FullyConnected":
        facts["synapses"] = int(wiring.synapse_count + wiring.sensory_synapse_count)
    return facts


def _validation_loss(model_dir: Path) -> float | None:
    """The loss on the held-out expert episodes at the end of training, as the model's card states it."""
    loss = _card_metrics(model_dir).get("val_loss")
    return None if loss is None else round(float(loss), 4)


def _card_metrics(model_dir: Path) -> dict:
    return yaml.safe_load((model_dir / "card.yaml").read_text()).get("metrics") or {}


def expert_episodes(config: StudyConfig, jobs: int = 1, seeds=None) -> list:
    """The expert's episodes every model of the study trains on (the config's data section), or
    those of other ``seeds`` with the same settings (tuning's validation episodes)."""
    from liquid_control.train.simulate import simulate_episodes

    data = config.setting("data")
    return simulate_episodes(seed_list(data["sim_seeds"] if seeds is None else seeds), config.world,
                             data.get("distance_m", 0.0), data.get("speed", 0.0), data["recovery_rate_hz"],
                             data["perturbations"], jobs=jobs, progress=False)


def run_study(config: StudyConfig, out: str | Path, jobs: int = 1,
              progress: Callable[[str], None] | None = None, ray_address: str | None = None,
              stop_after: str | None = None) -> dict:
    """Tune, then train what is not cached, evaluate what is not cached, aggregate; returns the
    results and writes them to OUT/results.json. With ``ray_address``, the tuning, trainings and
    episodes run on that Ray cluster (``tuning``, ``ray_runner``), into the same cache.
    ``stop_after`` "tuning" or "training" ends there (returning only the work done): a long
    study's stages, run apart."""
    from liquid_control.train.trainer import train

    say = progress or (lambda message: None)
    out = Path(out)
    for folder in ("models", "evaluations", "analyses"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    data = config.setting("data")
    started = time.perf_counter()
    counts = {"models_trained": 0, "models_cached": 0, "evaluations_run": 0, "evaluations_cached": 0}
    held: dict = {}  # the expert's episodes, made once when something needs them

    def made(name: str, seeds) -> list:
        if name not in held:
            say(f"expert data ({config.world}, {name}): seeds {seeds}, {jobs} process(es)")
            held[name] = expert_episodes(config, jobs, seeds)
        return held[name]

    def training_episodes() -> list:
        return made("training", data["sim_seeds"])

    def validation_episodes() -> list | None:  # a tuned study validates on the tuning's episodes
        return None if config.tuning is None else made("validation", config.tuning.validation_seeds)

    searched = config  # as written: what the searches' keys are made from
    if config.tuning is not None:  # the equal search first: its best settings are what the seeds train with
        from liquid_control.train.study.tuning import tune_study

        config = tune_study(config, out, training_episodes, validation_episodes, ray_address, say)
    if stop_after == "tuning":
        return {"work": counts, "tuning": {a.name: a.training for a in config.architectures}}

    plan = model_plan(config, out)
    models = {key: folder for key, (folder, _) in plan.items()}
    tasks = evaluation_tasks(config, models, out)
    check_cached_precision(plan)
    counts["models_cached"] = sum((folder / "card.yaml").is_file() for folder in models.values())
    counts["evaluations_cached"] = sum(is_cached(path) for path, _ in tasks.values())
    description = {"study": config.name, "world": config.world, **data}
    if ray_address:  # the cluster fills the cache; the seed-by-seed pass below then finds it all there
        from liquid_control.train.study.ray_runner import run_on_ray

        trainings = [(f"{name} ({training.arch}), seed {seed}", folder, training)
                     for (name, seed), (folder, training) in plan.items() if not (folder / "card.yaml").is_file()]
        evaluations = [] if stop_after == "training" else [task for task in tasks.values() if not is_cached(task[0])]
        require_weights(Path(args[0]) for _, args in evaluations)
        work = run_on_ray(ray_address, trainings, evaluations,
                          lambda: (training_episodes(), validation_episodes()), description, say)
        counts = {key: counts[key] + work.get(key, 0) for key in counts}
    # Seed by seed: train the seed's models, then run its closed-loop episodes. A run stopped part
    # way (the full studies take several sessions on two cores) leaves whole seeds, trained and
    # evaluated, that `--seeds` can report on.
    for seed in config.seeds:
        to_train = [(f"{name} ({training.arch}), seed {seed}", folder, training)
                    for (name, model_seed), (folder, training) in plan.items()
                    if model_seed == seed and not (folder / "card.yaml").is_file()]
        episodes, validation = (training_episodes(), validation_episodes()) if to_train else (None, None)
        # One model at a time on the configured threads: several single-threaded trainings side
        # by side gained no throughput, and each model is finished and cached sooner.
        for name, folder, training in to_train:
            resumed = (folder / "checkpoint" / "card.yaml").is_file()
            say(f"training {name}" + (" (resuming from its last epoch's checkpoint)" if resumed else ""))
            # A model stopped part way resumes after its last finished epoch (the trainer's
            # checkpoint); a finished one keeps only its model, not the optimiser state.
            train(episodes, folder, training, resume=True, progress=False, data_description=description,
                  validation_episodes=validation)
            shutil.rmtree(folder / "checkpoint", ignore_errors=True)
            counts["models_trained"] += 1

        pending = {key: value for key, value in tasks.items()
                   if key[1] == seed and not is_cached(value[0]) and stop_after != "training"}
        if pending:
            require_weights(Path(args[0]) for _, args in pending.values())
            done = sum(is_cached(path) for path, _ in tasks.values())
            say(f"seed {seed}: {len(pending)} closed-loop episodes to run ({done} of the study's {len(tasks)} "
                f"cached), {jobs} process(es)")
            if jobs > 1:
                with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
                    futures = {pool.submit(evaluate_model, *args): path for path, args in pending.values()}
                    for future in as_completed(futures):  # each cached as soon as it is done
                        write_json(futures[future], future.result())
            else:
                for path, args in pending.values():
                    write_json(path, evaluate_model(*args))
            counts["evaluations_run"] += len(pending)

    if stop_after == "training":
        return {"work": counts}
    evaluation = config.setting("evaluation")
    held_out = episode_seeds(config)
    analyses = _analyses(config, models, out, say)
    runs = {key: cached_episode(path) for key, (path, _) in tasks.items()}
    world = study_world(config.world)
    table = {}
    for architecture in config.architectures:
        attention = summarise_analyses([analyses[architecture.name, s] for s in config.seeds])
        facts = _architecture_facts(models[architecture.name, config.seeds[0]])
        rows = {condition.name: world.aggregate([[runs[(architecture.name, seed, condition.name, episode_seed)]
                                                  for episode_seed in held_out] for seed in config.seeds])
                for condition in config.conditions}
        table[architecture.name] = {"arch": architecture.arch, **facts, "training": architecture.training,
                                    "models": [str(models[architecture.name, seed]) for seed in config.seeds],
                                    "validation_loss": [_validation_loss(models[architecture.name, seed])
                                                        for seed in config.seeds],
                                    "loss": _card_metrics(models[architecture.name, config.seeds[0]]).get("loss"),
                                    "attention": attention,
                                    "conditions": rows,
                                    "wiring_seeds": ([plan[architecture.name, seed][1].wiring_seed
                                                      for seed in config.seeds] if architecture.wiring_seeds else None),
                                    "headline_per_seed": {condition.name: [
                                        float(np.mean([world.headline_value(runs[(architecture.name, seed,
                                                                                  condition.name, episode_seed)])
                                                       for episode_seed in held_out])) for seed in config.seeds]
                                        for condition in config.conditions},
                                    "per_seed": {condition.name: [world.per_seed([
                                        runs[(architecture.name, seed, condition.name, episode_seed)]
                                        for episode_seed in held_out]) for seed in config.seeds]
                                        for condition in config.conditions}}
    base_training = asdict(training_config(config, Architecture("*", config.architectures[0].arch), config.seeds[0]))
    results = {"study": config.name, "world": config.world, "seeds": list(config.seeds), "data": data,
               "training": base_training | {"arch": "*", "seed": "*"}, "evaluation": evaluation,
               "attention_settings": config.setting("attention"),
               "conditions": [asdict(c) for c in config.conditions], "results": table,
               "comparisons": _comparisons(config, runs, held_out),
               "elapsed_time": elapsed_time_effects(config, runs, held_out, world.headline_value,
                                                             world.secondary_value),
               "tuning": None if config.tuning is None else _tuning_summary(searched, config, out),
               "compute": _compute(searched, models, runs, out),
               "work": counts, "wall_time_s": round(time.perf_counter() - started, 1)}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    return results


def _compute(config: StudyConfig, models: dict, runs: dict, out: Path) -> dict:
    """The CPU time each stage took, in core-hours, as recorded (``config`` as written, untuned):
    trials' and trainings' wall time times
    their threads, episodes' wall time (one thread each; episodes cached before it was recorded are
    counted as missing)."""
    cards = [yaml.safe_load((folder / "card.yaml").read_text())["training"] for folder in models.values()]
    training = sum(float(c.get("wall_time_s") or 0.0) * int(c.get("threads") or 1) for c in cards)
    timed = [run["wall_s"] for run in runs.values() if "wall_s" in run]
    tuning = 0.0
    if config.tuning is not None:
        from liquid_control.train.study.tuning import tuning_path

        for architecture in config.architectures:
            if architecture.tuning_from is None:
                search = json.loads(tuning_path(config, architecture, out).read_text())
                tuning += sum(t["seconds"] or 0.0 for t in search["trials"]) * (search.get("threads_per_trial") or 1)
    return {"tuning_core_h": round(tuning / 3600, 2), "training_core_h": round(training / 3600, 2),
            "episodes_core_h": round(sum(timed) / 3600, 2), "episodes_timed": len(timed), "episodes": len(runs)}


def _tuning_summary(config: StudyConfig, tuned: StudyConfig, out: Path) -> dict:
    """Each search's budget, best validation loss and compute (``config`` as written), and the
    settings each architecture trained with (``tuned``)."""
    from liquid_control.train.study.tuning import tuning_path

    searches = {}
    for architecture in config.architectures:
        if architecture.tuning_from is None:
            search = json.loads(tuning_path(config, architecture, out).read_text())
            searches[architecture.name] = {
                "trials": len(search["trials"]), "failed": sum(t["error"] is not None for t in search["trials"]),
                "best_val_loss": search["best"]["val_loss"], "best_settings": search["best"]["settings"],
                "trial_seconds": round(sum(t["seconds"] or 0.0 for t in search["trials"]), 1),
                "threads_per_trial": search.get("threads_per_trial")}
    return {"search": config.tuning.key(), "searches": searches,
            "settings": {a.name: a.training for a in tuned.architectures}}


def _comparisons(config: StudyConfig, runs: dict, held_out: list[int]) -> dict:
    """Each liquid architecture against each other one, per condition, on the headline metric
    (``comparisons``), with what was compared and how."""
    world = study_world(config.world)
    values = {(a.name, c.name): [[world.headline_value(runs[(a.name, seed, c.name, episode)]) for episode in held_out]
                                 for seed in config.seeds]
              for a in config.architectures for c in config.conditions}
    family = {a.name: a.arch for a in config.architectures
              if a.tuning_from is None and a.training.get("data_fraction", 1.0) == 1.0}
    rows = compare_architectures(values, family, [c.name for c in config.conditions if c.compared])
    comparisons = {"metric": world.headline[0], "paired_by": world.episode_noun, "correction": "holm", "rows": rows}
    left_out = {"architectures": [a.name for a in config.architectures if a.name not in family],
                "conditions": [c.name for c in config.conditions if not c.compared]}
    return comparisons | ({"left_out": left_out} if any(left_out.values()) else {})


def _analyses(config: StudyConfig, models: dict, out: Path, say: Callable[[str], None]) -> dict:
    """Attention stability, compactness and output spread of every model, over the frames of one
    expert episode of a held-out track (scene), clean and with pixel noise; cached like the
    evaluations. A cached analysis from before the output spread was measured is redone (same key:
    the figures it had come out the same)."""
    from liquid_control.train.attention import analyse_model, expert_sequence

    settings = config.setting("attention")
    sequence = None
    results = {}
    for (name, seed), model in models.items():
        path = analysis_path(config, model, out)
        cached = json.loads(path.read_text()) if path.is_file() else None
        if cached is None or "output_spread" not in cached:
            require_weights([model])
            if sequence is None:
                sequence = expert_sequence(config.world, int(settings["track"]), int(settings["frames"]),
                                           config.setting("data").get("speed", 3.0))
                say(f"attention, compactness and output spread over {len(sequence[0])} frames of expert episode "
                    f"{settings['track']}")
            frames, dts, labels = sequence
            cached = analyse_model(str(model), frames, dts, noise_std=settings["noise_std"], seed=0, labels=labels)
            write_json(path, cached)
        results[name, seed] = cached
    return results
