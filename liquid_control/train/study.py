"""The study: architectures x training seeds x closed-loop evaluations, from one config file.

``python -m liquid_control study config/study_lane.yaml`` trains every architecture the config
lists with every seed on the same expert data and the same recipe, then evaluates every model
closed loop under every condition, and writes a report with bootstrap confidence intervals over
seeds x tracks (or scenes), and the parameter and synapse counts of the recurrent part.

Two worlds (``world:`` in the config, a simulated task; what differs between them lives in
``liquid_control.train.study_worlds``):

- ``lane``: drives on held-out tracks; lane departures per km, |lateral error|, off-road.
  Conditions: camera perturbations (noise, blur, brightness, occlusion, dropped frames) and a
  control rate other than training's 20 Hz.
- ``drone``: flights to the target in held-out scenes; success rate, collisions, time to target.
  Conditions: the domain (``summer`` is training's; the others are held out), the start distance
  (the range test) and camera perturbations (the stress test).

Per model it also measures attention and compactness (``liquid_control.train.attention``): the
stability of the VisualBackProp saliency under pixel noise (SSIM, the NCP paper's measure) and the
share of the neural activity's variance on its first principal component, over the frames of
one expert drive of a held-out track (scene).

Everything is cached by its inputs under the output folder: a model by (architecture, seed,
data, training settings), an evaluation by (model, condition, track, evaluation settings). A run
that was stopped resumes where it stopped (a model stopped part way, after its last finished
epoch), and a changed config recomputes only what it changed.
Expert data and evaluations run in ``jobs`` processes; training runs one model at a time on the
threads given (no slower here than several single-threaded trainings side by side, and each
model is cached sooner). ``quick`` shrinks the whole pipeline (data, epochs, tracks,
architectures, seeds, conditions) to a few minutes, for CI: the same code path, tiny numbers.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from liquid_control.nets.policy import PRESETS, preset_head_activation
from liquid_control.tasks import TaskError, load_task
from liquid_control.train.study_worlds import STUDY_WORLDS, bootstrap_ci, study_world
from liquid_control.train.study_worlds import seed_list as _seed_list

# A study names its conv head's precision (``head_precision``, fp32 by default, or bf16), never
# ``auto``, which picks bf16 on a CPU with native bfloat16 and fp32 elsewhere, so a study resumed
# on another machine would mix the two (it did: the drone study's seed 2, trained on a bf16 CPU
# after seeds 0-1 on one without, learned differently; docs/study.md). The other defaults, per
# world, are the recipes of the shipped models (train.study_worlds).
HEAD_PRECISIONS = ("fp32", "bf16")  # a study's conv-head precision: named, never "auto"

@dataclass(frozen=True)
class Architecture:
    name: str  # as it appears in the report
    arch: str  # a make_policy preset
    training: dict = field(default_factory=dict)  # this architecture's own training settings, if any (reported)


@dataclass(frozen=True)
class Condition:
    name: str
    perturbations: dict = field(default_factory=dict)  # camera perturbations (sim.perturbations)
    camera_rate_hz: float | None = None  # the camera and control rate (None: the world's, as in training)
    domain: str | None = None  # drone: the scene's domain (None: the training domain)
    start_distance_m: tuple[float, float] | None = None  # drone: the range test (None: the world's 5-20 m)


@dataclass(frozen=True)
class StudyConfig:
    name: str
    architectures: tuple[Architecture, ...]
    seeds: tuple[int, ...]
    data: dict
    training: dict
    evaluation: dict
    conditions: tuple[Condition, ...]
    world: str = "lane"
    attention: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict) -> "StudyConfig":
        world = str(values.get("world", "lane"))
        try:
            defaults = study_world(world).defaults
        except TaskError:
            raise ValueError(f"study config: world must be one of {', '.join(STUDY_WORLDS)}, got {world!r}") from None

        def section(name: str, part: dict | None = None) -> dict:
            part = dict((values.get(name) if part is None else part) or {})
            unknown = set(part) - set(defaults[name])
            if unknown:
                raise ValueError(f"study config: unknown {name} settings {sorted(unknown)} for the {world} world; "
                                 f"known: {sorted(defaults[name])}")
            if name == "training" and part.get("head_precision", "fp32") not in HEAD_PRECISIONS:
                raise ValueError(f"study config: training head_precision must be one of {HEAD_PRECISIONS}, got "
                                 f"{part['head_precision']!r} (a study names the precision its models train in, so "
                                 "that every machine that adds to it trains them alike)")
            return part

        unknown = set(values) - {"name", "world", "architectures", "seeds", "conditions", *defaults}
        if unknown:
            raise ValueError(f"study config: unknown sections {sorted(unknown)}")
        architectures = tuple(Architecture(str(a["name"]), str(a["arch"]), section("training", a.get("training") or {}))
                              for a in values.get("architectures") or [])
        bad = [a.arch for a in architectures if a.arch not in PRESETS]
        if not architectures or bad:
            raise ValueError(f"study config: architectures must name presets from {PRESETS}; got {bad or 'none'}")
        for architecture in architectures:  # a head the preset contradicts fails now, not at its training
            activation = {**section("training"), **architecture.training}.get("head_activation")
            try:
                preset_head_activation(architecture.arch, activation)
            except ValueError as error:
                raise ValueError(f"study config: {architecture.name}: {error}") from None
        if len({a.name for a in architectures}) != len(architectures):
            raise ValueError("study config: architecture names must be distinct")
        conditions = tuple(_condition(c, world) for c in values.get("conditions") or [{"name": "clean"}])
        if len({c.name for c in conditions}) != len(conditions):
            raise ValueError("study config: condition names must be distinct")
        seeds = tuple(int(s) for s in values.get("seeds") or [0])
        return cls(str(values.get("name", "study")), architectures, seeds, section("data"), section("training"),
                   section("evaluation"), conditions, world, section("attention"))

    @classmethod
    def load(cls, path: str | Path) -> "StudyConfig":
        return cls.from_dict(yaml.safe_load(Path(path).read_text()))

    def setting(self, section: str) -> dict:
        """A section's settings: the world's defaults, then the config's."""
        return {**study_world(self.world).defaults[section], **getattr(self, section)}

    def only_seeds(self, seeds) -> "StudyConfig":
        """The same study restricted to some of its training seeds (``--seeds``): the cache is the
        same, so it reports the seeds finished so far, or runs them first; a later full run reuses
        everything they did."""
        chosen = tuple(_seed_list(seeds)) if isinstance(seeds, str) else tuple(int(s) for s in seeds)
        unknown = sorted(set(chosen) - set(self.seeds))
        if not chosen or unknown:
            raise ValueError(f"study: --seeds must name some of the config's training seeds {list(self.seeds)}; "
                             f"got {list(chosen)}")
        return replace(self, seeds=tuple(s for s in self.seeds if s in chosen))

    def quick(self) -> "StudyConfig":
        """The same study in miniature: two architectures, two seeds, two conditions, tiny data."""
        data, evaluation = study_world(self.world).quick(self.data, self.evaluation, self.setting("evaluation"))
        return replace(self, name=f"{self.name} (quick)", architectures=self.architectures[:2], seeds=self.seeds[:2],
                       data=data, training={**self.training, "epochs": 1, "batch_size": 4, "seq_len": 8},
                       evaluation=evaluation, conditions=self.conditions[:2],
                       attention={**self.attention, "frames": 12})


def _condition(values: dict, world: str) -> Condition:
    from liquid_control.sim.perturbations import PerturbationConfig

    known = {"name", "perturbations", "camera_rate_hz"} | study_world(world).condition_keys
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"study config: condition {values.get('name')!r} has unknown settings {sorted(unknown)} for the "
                         f"{world} world; known: {sorted(known)}")
    rate = values.get("camera_rate_hz")
    distance = values.get("start_distance_m")
    condition = Condition(str(values["name"]), dict(values.get("perturbations") or {}),
                          None if rate is None else float(rate), values.get("domain"),
                          None if distance is None else tuple(float(d) for d in distance))
    PerturbationConfig.from_dict(condition.perturbations)  # refused here, not an hour into the run
    if rate is not None and not 0 < condition.camera_rate_hz <= 200:
        raise ValueError(f"study config: condition {condition.name!r}: camera_rate_hz must be in (0, 200], got {rate}")
    if condition.domain is not None:
        from liquid_control.sim.drone.scene import DOMAINS

        if condition.domain not in DOMAINS:
            raise ValueError(f"study config: condition {condition.name!r}: domain must be one of {DOMAINS}")
    if distance is not None and not (len(condition.start_distance_m) == 2
                                     and 0 < condition.start_distance_m[0] <= condition.start_distance_m[1]):
        raise ValueError(f"study config: condition {condition.name!r}: start_distance_m is [low, high] in metres")
    return condition


def digest(value: Any) -> str:
    """A short stable hash of a JSON-able value: the cache key of what it describes."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def slug(name: str) -> str:
    """A file-name form of a report name: 'CNN (no memory)' -> 'cnn-no-memory'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def _training_config(config: StudyConfig, architecture: Architecture, seed: int):
    from liquid_control.train.trainer import TrainConfig

    training = {**config.setting("training"), **architecture.training}
    return TrainConfig.for_task(load_task(config.world), arch=architecture.arch, seed=seed, stride=training["seq_len"],
                                **training)


def evaluate_model(model_dir: str, world: str, seed: int, condition: dict, evaluation: dict) -> dict:
    """One closed-loop episode of a model: a drive on lane track ``seed`` or a flight in drone scene
    ``seed``, under ``condition`` (a Condition as a dict). A top-level function: it runs in worker
    processes."""
    import torch

    torch.set_num_threads(1)
    rate = condition["camera_rate_hz"] or load_task(world).camera_rate_hz
    return study_world(world).evaluate(model_dir, seed, condition, evaluation, rate)


def _architecture_facts(model_dir: Path) -> dict:
    from liquid_control.nets import load_model

    policy, card = load_model(model_dir)
    facts = {"parameters": int(card["weights"]["parameters"]),
             "recurrent_parameters": int(sum(p.numel() for p in policy.core.parameters()))}
    wiring = getattr(policy.core, "wiring", None)
    if wiring is not None and getattr(wiring, "kind", "") != "FullyConnected":
        facts["synapses"] = int(wiring.synapse_count + wiring.sensory_synapse_count)
    return facts


def _write_json(path: Path, value) -> None:
    """Write a cache file whole or not at all (a run stopped while writing leaves no half file)."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(value))
    partial.replace(path)


def _validation_loss(model_dir: Path) -> float | None:
    """The loss on the held-out expert episodes at the end of training, as the model's card states it."""
    loss = _card_metrics(model_dir).get("val_loss")
    return None if loss is None else round(float(loss), 4)


def _card_metrics(model_dir: Path) -> dict:
    return yaml.safe_load((model_dir / "card.yaml").read_text()).get("metrics") or {}


def model_plan(config: StudyConfig, out: str | Path) -> dict:
    """Every model the study trains: (architecture name, seed) -> (its folder under OUT/models,
    its TrainConfig), seed by seed, so that a run stopped part way has every architecture's first
    seeds rather than some architectures' all. The folder's name ends in a hash of the training
    settings and the expert data's settings (not of the code)."""
    data = config.setting("data")
    plan = {}
    for seed in config.seeds:
        for architecture in config.architectures:
            training = _training_config(config, architecture, seed)
            # The threads a model trains on change its numbers by rounding only: not part of its key.
            settings = asdict(training) | {"threads": None}
            if settings["head_activation"] is None:  # the default keeps the keys from before the setting existed
                del settings["head_activation"]
            key = digest([settings, config.world, data])
            plan[architecture.name, seed] = (Path(out) / "models" / f"{slug(architecture.name)}-s{seed}-{key}", training)
    return plan


def expert_episodes(config: StudyConfig, jobs: int = 1) -> list:
    """The expert's episodes every model of the study trains on (the config's data section)."""
    from liquid_control.train.simulate import simulate_episodes

    data = config.setting("data")
    return simulate_episodes(_seed_list(data["sim_seeds"]), config.world, data.get("distance_m", 0.0),
                             data.get("speed", 0.0), data["recovery_rate_hz"], data["perturbations"],
                             jobs=jobs, progress=False)


def _episode_seeds(config: StudyConfig) -> list[int]:
    evaluation = config.setting("evaluation")
    return study_world(config.world).episode_seeds(evaluation)


def evaluation_tasks(config: StudyConfig, models: dict, out: str | Path) -> dict:
    """Every closed-loop episode of the study's ``models`` ((architecture name, seed) -> folder):
    (name, seed, condition name, track or scene) -> (its cache file under OUT/evaluations, the
    arguments of ``evaluate_model``)."""
    evaluation = config.setting("evaluation")
    episode_seeds = _episode_seeds(config)
    tasks = {}
    for (name, seed), folder in models.items():
        for condition in config.conditions:
            for episode_seed in episode_seeds:
                args = (str(folder), config.world, episode_seed, asdict(condition) | {"name": None}, evaluation)
                path = Path(out) / "evaluations" / f"{folder.name}-{digest(args[1:])}.json"
                tasks[(name, seed, condition.name, episode_seed)] = (path, args)
    return tasks


def _check_cached_precision(plan: dict) -> None:
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


def run_study(config: StudyConfig, out: str | Path, jobs: int = 1, progress: Callable[[str], None] | None = None) -> dict:
    """Train what is not cached, evaluate what is not cached, aggregate; returns the results and
    writes them to OUT/results.json."""
    from liquid_control.train.trainer import train

    say = progress or (lambda message: None)
    out = Path(out)
    for folder in ("models", "evaluations", "analyses"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    data = config.setting("data")
    started = time.perf_counter()
    counts = {"models_trained": 0, "models_cached": 0, "evaluations_run": 0, "evaluations_cached": 0}

    plan = model_plan(config, out)
    models = {key: folder for key, (folder, _) in plan.items()}
    tasks = evaluation_tasks(config, models, out)
    _check_cached_precision(plan)
    counts["models_cached"] = sum((folder / "card.yaml").is_file() for folder in models.values())
    counts["evaluations_cached"] = sum(path.is_file() for path, _ in tasks.values())
    description = {"study": config.name, "world": config.world, **data}
    episodes = None
    # Seed by seed: train the seed's models, then run its closed-loop episodes. A run stopped part
    # way (the full studies take several sessions on two cores) leaves whole seeds, trained and
    # evaluated, that `--seeds` can report on.
    for seed in config.seeds:
        untrained = [(f"{name} ({training.arch}), seed {seed}", folder, training)
                     for (name, model_seed), (folder, training) in plan.items()
                     if model_seed == seed and not (folder / "card.yaml").is_file()]
        if untrained and episodes is None:
            say(f"expert data ({config.world}): seeds {data['sim_seeds']}, {jobs} process(es)")
            episodes = expert_episodes(config, jobs)
        # One model at a time on the configured threads: on a 2-core machine two single-threaded
        # trainings side by side gained no throughput (95-115 s an epoch each, against ~55 s for
        # one on two threads), and each model is finished and cached sooner.
        for name, folder, training in untrained:
            resumed = (folder / "checkpoint" / "card.yaml").is_file()
            say(f"training {name}" + (" (resuming from its last epoch's checkpoint)" if resumed else ""))
            # A model stopped part way resumes after its last finished epoch (the trainer's
            # checkpoint); a finished one keeps only its model, not the optimiser state.
            train(episodes, folder, training, resume=True, progress=False, data_description=description)
            shutil.rmtree(folder / "checkpoint", ignore_errors=True)
            counts["models_trained"] += 1

        pending = {key: value for key, value in tasks.items() if key[1] == seed and not value[0].is_file()}
        if pending:
            done = sum(path.is_file() for path, _ in tasks.values())
            say(f"seed {seed}: {len(pending)} closed-loop episodes to run ({done} of the study's {len(tasks)} "
                f"cached), {jobs} process(es)")
            if jobs > 1:
                with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
                    futures = {pool.submit(evaluate_model, *args): path for path, args in pending.values()}
                    for future in as_completed(futures):  # each cached as soon as it is done
                        _write_json(futures[future], future.result())
            else:
                for path, args in pending.values():
                    _write_json(path, evaluate_model(*args))
            counts["evaluations_run"] += len(pending)

    evaluation = config.setting("evaluation")
    episode_seeds = _episode_seeds(config)
    analyses = _analyses(config, models, out / "analyses", say)
    runs = {key: json.loads(path.read_text()) for key, (path, _) in tasks.items()}
    world = study_world(config.world)
    table = {}
    for architecture in config.architectures:
        facts = _architecture_facts(models[architecture.name, config.seeds[0]])
        rows = {condition.name: world.aggregate([runs[(architecture.name, seed, condition.name, episode_seed)]
                                           for seed in config.seeds for episode_seed in episode_seeds])
                for condition in config.conditions}
        table[architecture.name] = {"arch": architecture.arch, **facts, "training": architecture.training,
                                    "models": [str(models[architecture.name, seed]) for seed in config.seeds],
                                    "validation_loss": [_validation_loss(models[architecture.name, seed])
                                                        for seed in config.seeds],
                                    "loss": _card_metrics(models[architecture.name, config.seeds[0]]).get("loss"),
                                    "attention": _summarise_analyses([analyses[architecture.name, s] for s in config.seeds]),
                                    "conditions": rows,
                                    "per_seed": {condition.name: [world.per_seed([
                                        runs[(architecture.name, seed, condition.name, episode_seed)]
                                        for episode_seed in episode_seeds]) for seed in config.seeds]
                                        for condition in config.conditions}}
    base_training = asdict(_training_config(config, Architecture("*", config.architectures[0].arch), config.seeds[0]))
    results = {"study": config.name, "world": config.world, "seeds": list(config.seeds), "data": data,
               "training": base_training | {"arch": "*", "seed": "*"}, "evaluation": evaluation,
               "attention_settings": config.setting("attention"),
               "conditions": [asdict(c) for c in config.conditions], "results": table,
               "work": counts, "wall_time_s": round(time.perf_counter() - started, 1)}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    return results


def saliency_picture(results: dict, path: str | Path, frame_index: int = -1) -> None:
    """One row per architecture (its first seed's model): a frame of the attention episode, its
    saliency, the frame with the study's attention noise and its saliency."""
    from liquid_control.train.attention import expert_frames, saliency_panel

    settings = results["attention_settings"]
    frames, _ = expert_frames(results["world"], int(settings["track"]), int(settings["frames"]),
                              results["data"].get("speed", 3.0))
    saliency_panel({name: row["models"][0] for name, row in results["results"].items()}, frames[frame_index],
                   settings["noise_std"], path)


def _analyses(config: StudyConfig, models: dict, folder: Path, say: Callable[[str], None]) -> dict:
    """Attention stability, compactness and output spread of every model, over the frames of one
    expert episode of a held-out track (scene), clean and with pixel noise; cached like the
    evaluations. A cached analysis from before the output spread was measured is redone (same key:
    the figures it had come out the same)."""
    from liquid_control.train.attention import analyse_model, expert_sequence

    settings = config.setting("attention")
    sequence = None
    results = {}
    for (name, seed), model in models.items():
        path = folder / f"{model.name}-{digest([config.world, settings])}.json"
        cached = json.loads(path.read_text()) if path.is_file() else None
        if cached is None or "output_spread" not in cached:
            if sequence is None:
                sequence = expert_sequence(config.world, int(settings["track"]), int(settings["frames"]),
                                           config.setting("data").get("speed", 3.0))
                say(f"attention, compactness and output spread over {len(sequence[0])} frames of expert episode "
                    f"{settings['track']}")
            frames, dts, labels = sequence
            cached = analyse_model(str(model), frames, dts, noise_std=settings["noise_std"], seed=0, labels=labels)
            _write_json(path, cached)
        results[name, seed] = cached
    return results


def _summarise_analyses(analyses: list[dict]) -> dict:
    ssim = [a["saliency_ssim"] for a in analyses]
    pc1 = [a["pc1_variance_fraction"] for a in analyses if a.get("pc1_variance_fraction") is not None]
    return {"saliency_ssim": round(float(np.mean(ssim)), 4), "saliency_ssim_ci95": bootstrap_ci(ssim),
            "pc1_variance_fraction": round(float(np.mean(pc1)), 4) if pc1 else None,
            "pc1_variance_fraction_ci95": bootstrap_ci(pc1) if pc1 else None,
            "output_spread": [a.get("output_spread") for a in analyses]}


def flat_seeds(results: dict) -> dict[str, list]:
    """Architecture -> the training seeds whose model answers every frame alike (output spread on
    the attention frames under ``FLAT_OUTPUT_SPREAD``): models that did not learn, whose episodes
    still count in the study's means."""
    from liquid_control.train.trainer import FLAT_OUTPUT_SPREAD

    flat = {}
    for name, row in results["results"].items():
        spreads = row["attention"].get("output_spread") or []
        seeds = [seed for seed, spread in zip(results["seeds"], spreads) if spread is not None and spread < FLAT_OUTPUT_SPREAD]
        if seeds:
            flat[name] = seeds
    return flat


def _cell(row: dict, key: str, form: str) -> str:
    low, high = row[f"{key}_ci95"]
    return f"{form.format(row[key])} [{form.format(low)}, {form.format(high)}]"


def report_markdown(results: dict, command: str) -> str:
    """The tables of a study's results as Markdown (what docs/study.md is made from)."""
    world_name = results.get("world", "lane")
    world = study_world(world_name)
    conditions = [c["name"] for c in results["conditions"]]
    where = world.where(results["evaluation"])
    lines = [f"# {results['study']}", "", f"Made by `{command}` in {results['wall_time_s']:g} s "
             f"({results['work']['models_trained']} models trained, {results['work']['evaluations_run']} closed-loop "
             f"episodes run, the rest cached).", "",
             f"World `{world_name}`; training seeds {results['seeds']}; expert data from seeds "
             f"{results['data']['sim_seeds']}; {where}. Intervals: 95 % bootstrap over seeds x {world.episode_noun}.", "",
             "| architecture | preset | parameters | recurrent parameters | synapses | own training settings |",
             "|---|---|---:|---:|---:|---|"]
    for name, row in results["results"].items():
        own = ", ".join(f"{k} {v}" for k, v in (row.get("training") or {}).items()) or "—"
        lines.append(f"| {name} | {row['arch']} | {row['parameters']:,} | {row['recurrent_parameters']:,} | "
                     f"{row.get('synapses', '—')} | {own} |")
    seeds = results["seeds"]
    lines += ["", f"Validation loss at the end of training, per seed (the expert's held-out episodes; the cards' "
                  f"`metrics.val_loss`, {next(iter(results['results'].values())).get('loss') or 'as the cards define it'}):", "",
              "| architecture | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---:|" * len(seeds)]
    for name, row in results["results"].items():
        losses = row.get("validation_loss") or [None] * len(seeds)
        lines.append(f"| {name} | " + " | ".join("—" if v is None else f"{v:.3g}" for v in losses) + " |")
    from liquid_control.train.trainer import FLAT_OUTPUT_SPREAD

    settings = results.get("attention_settings") or {}
    flat = flat_seeds(results)
    lines += ["", f"Output spread per seed: the standard deviation of the model's outputs over the "
                  f"{settings.get('frames')} clean frames of the expert's episode {settings.get('track')}, divided by the "
                  f"expert's. Under {FLAT_OUTPUT_SPREAD:g} (**flat**) the model answers every frame alike: it did not "
                  "learn to use its camera.", "",
              "| architecture | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---:|" * len(seeds)]
    for name, row in results["results"].items():
        spreads = row["attention"].get("output_spread") or [None] * len(seeds)
        lines.append(f"| {name} | " + " | ".join(
            "—" if v is None else (f"**{v:.3f} flat**" if v < FLAT_OUTPUT_SPREAD else f"{v:.3f}") for v in spreads) + " |")
    key, title, form = world.headline
    lines += ["", f"{title} (mean [95 % CI]):", "",
              "| architecture | " + " | ".join(conditions) + " |", "|---|" + "---|" * len(conditions)]
    for name, row in results["results"].items():
        mark = (f" (flat: seed{'s' if len(flat[name]) > 1 else ''} {', '.join(map(str, flat[name]))})"
                if name in flat else "")
        lines.append(f"| {name}{mark} | " + " | ".join(_cell(row["conditions"][c], key, form) for c in conditions) + " |")
    if flat:
        lines += ["", "Flat models did not learn; their episodes count in these means and intervals, as every "
                      "trained seed's do: a failure to train is part of an architecture's record."]
    per_seed = [row.get("per_seed") for row in results["results"].values()]
    if all(per_seed):
        what, cell = world.per_seed_table(results["evaluation"], seeds)
        lines += ["", what, "", "| architecture | " + " | ".join(conditions) + " |", "|---|" + "---|" * len(conditions)]
        for name, row in results["results"].items():
            lines.append(f"| {name} | " + " | ".join(cell(row["per_seed"][c]) for c in conditions) + " |")
    lines += world.detail_table(results, conditions)
    lines += ["", f"Attention and compactness over {settings.get('frames')} frames of the expert's episode "
                  f"{settings.get('track')} (mean over seeds [95 % CI]): SSIM between the VisualBackProp saliency of "
                  f"each frame clean and with pixel noise σ {settings.get('noise_std')} (1: the attention did not move); "
                  "share of the neural activity's variance on its first principal component (high: compact dynamics).", "",
              "| architecture | saliency SSIM, clean vs noisy | PC1 share of activity variance |", "|---|---|---|"]
    for name, row in results["results"].items():
        attention = row["attention"]
        pc1 = "— (no state)" if attention["pc1_variance_fraction"] is None else _cell(attention, "pc1_variance_fraction", "{:.3f}")
        lines.append(f"| {name} | {_cell(attention, 'saliency_ssim', '{:.3f}')} | {pc1} |")
    return "\n".join(lines) + "\n"


def plot_study(results: dict, path: str | Path) -> None:
    """The headline figure per condition, one bar group per architecture, with the 95 % intervals."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    key, title, _ = study_world(results.get("world", "lane")).headline
    conditions = [c["name"] for c in results["conditions"]]
    names = list(results["results"])
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.0 * len(conditions) + 2), 3.8))
    for i, name in enumerate(names):
        rows = [results["results"][name]["conditions"][c] for c in conditions]
        means = np.array([r[key] for r in rows])
        # (clipped: the mean and its interval are rounded separately, so they may cross by a rounding step)
        low = np.maximum(means - np.array([r[f"{key}_ci95"][0] for r in rows]), 0.0)
        high = np.maximum(np.array([r[f"{key}_ci95"][1] for r in rows]) - means, 0.0)
        ax.bar(np.arange(len(conditions)) + (i - (len(names) - 1) / 2) * width, means, width, yerr=[low, high],
               capsize=2, label=name)
    ax.set_xticks(np.arange(len(conditions)), conditions, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel(title.split(",")[0].lower())
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
