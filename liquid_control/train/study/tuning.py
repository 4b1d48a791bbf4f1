"""Equal tuning: before a study trains its seeds, every architecture gets the same hyper-parameter
search, Ray Tune trials proposed by an Optuna TPE searcher, each scored by the validation loss on
held-out expert episodes (``tuning_config``). The best trial's settings become the architecture's
training settings; each search is cached under OUT/tuning, so a study resumes without repeating it.

Ray Tune runs locally (a Ray instance of this machine's CPUs) or, with ``study --ray ADDRESS``, on
that cluster. A trial trains in a temporary folder on its node and returns only its scores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import yaml

from liquid_control.train.study.cache import digest, keyed_settings, slug, training_config, write_json
from liquid_control.train.study.config import Architecture, StudyConfig
from liquid_control.train.study.stats import seed_list

DIVERGED_LOSS = 1e9  # a trial whose loss is not finite: last in the ranking, and the searcher learns it
SCORED = ("val_loss", "output_spread", "seconds")  # what a trial reports


def run_trial(params: dict, episodes: list, validation: list, base: dict) -> None:
    """One trial (a Ray Tune function trainable): train with ``base`` settings changed by ``params``,
    report the final epoch's validation loss on ``validation`` and the output spread."""
    from ray import tune

    from liquid_control.train.trainer import TrainConfig, train

    settings = {**base, **params}
    if "seq_len" in params:  # the study's windows do not overlap: the stride follows the length
        settings["stride"] = settings["seq_len"]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="study-trial-") as temporary:
        folder = train(episodes, Path(temporary) / "trial", TrainConfig(**settings), progress=False,
                       validation_episodes=validation)
        card = yaml.safe_load((folder / "card.yaml").read_text())
    loss = (card.get("metrics") or {}).get("val_loss")
    loss = float(loss) if loss is not None and math.isfinite(float(loss)) else DIVERGED_LOSS
    last_epoch = ((card.get("training") or {}).get("history") or [{}])[-1]
    tune.report({"val_loss": loss, "output_spread": last_epoch.get("output_spread"),
                 "seconds": round(time.perf_counter() - started, 1)})


def trial_settings(config: StudyConfig, architecture: Architecture) -> dict:
    """What every trial of ``architecture`` trains with before the searched settings: the study's
    settings at the tuning's own training seed, scored on windows of ``score_window`` frames."""
    tuning = config.tuning
    return asdict(replace(training_config(config, architecture, tuning.training_seed), val_seq_len=tuning.score_window))


def tuning_path(config: StudyConfig, architecture: Architecture, out: Path) -> Path:
    """The cache file of one architecture's search: keyed by everything that decides its trials."""
    from liquid_control.train.trainer import TrainConfig

    base = keyed_settings(TrainConfig(**trial_settings(config, architecture)))
    key = digest([config.world, config.setting("data"), base, config.tuning.key()])
    return Path(out) / "tuning" / f"{slug(architecture.name)}-{key}.json"


def tune_study(config: StudyConfig, out: str | Path, episodes: Callable[[], list], validation: Callable[[], list],
               ray_address: str | None, say: Callable[[str], None]) -> StudyConfig:
    """Search every architecture not searched yet, then ``tuned_config``."""
    if config.tuning is None:
        return config
    out = Path(out)
    _check_validation_seeds(config)
    pending = [a for a in config.architectures if a.tuning_from is None and not tuning_path(config, a, out).is_file()]
    if pending:
        missing = [module for module in ("ray", "optuna") if importlib.util.find_spec(module) is None]
        if missing:
            raise ModuleNotFoundError(f"study: {len(pending)} architecture(s) to tune, with Ray Tune and Optuna "
                                      f"({', '.join(missing)} missing): pip install 'liquid_control[ray]'")
        (out / "tuning").mkdir(parents=True, exist_ok=True)
        _search(config, pending, out, episodes(), validation(), ray_address, say)
    return tuned_config(config, out)


def tuned_config(config: StudyConfig, out: str | Path) -> StudyConfig:
    """``config`` with each architecture's training settings replaced by its search's best (or by
    that of its ``tuning_from``), from the searches cached under OUT/tuning; raises if one is missing.
    What finds a tuned study's models (the study, and the benchmarks that read its cache)."""
    if config.tuning is None:
        return config
    searched = {a.name: a for a in config.architectures if a.tuning_from is None}
    tuned = []
    for architecture in config.architectures:
        path = tuning_path(config, searched[architecture.tuning_from or architecture.name], out)
        if not path.is_file():
            raise FileNotFoundError(f"study: {architecture.name} has not been tuned yet ({path} is missing): "
                                    "run the study (with --stop-after tuning for the searches alone)")
        best = json.loads(path.read_text())["best"]["settings"]
        tuned.append(replace(architecture, training={**architecture.training, **best}))
    return replace(config, architectures=tuple(tuned))


def _search(config: StudyConfig, architectures: list[Architecture], out: Path, episodes: list, validation: list,
            ray_address: str | None, say: Callable[[str], None]) -> None:
    import ray

    if ray_address:
        from liquid_control.train.study.ray_runner import check_reachable

        check_reachable(ray_address)
        ray.init(address=ray_address, log_to_driver=False)
    else:  # a Ray instance of this machine alone, for the search's duration (never a running cluster)
        ray.init(address="local", include_dashboard=False, log_to_driver=False)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        for architecture in architectures:
            _search_architecture(config, architecture, out, episodes, validation, cpus, say)
    finally:
        ray.shutdown()


def _searcher(config: StudyConfig, done: list[dict]):
    """The Optuna TPE searcher of a search, told the ``done`` trials in their order: each is proposed
    again (the same seeded sampler proposes the same settings) and completed with its saved result,
    so a resumed search goes on exactly as one never stopped would (one trial at a time)."""
    from ray.tune.search.optuna import OptunaSearch

    space = OptunaSearch.convert_search_space({d.setting: d.to_ray() for d in config.tuning.space})
    searcher = OptunaSearch(space=space, metric="val_loss", mode="min", seed=config.tuning.seed)
    for index, trial in enumerate(done):
        proposed = _plain(searcher.suggest(f"replayed-{index}"))
        if proposed != trial["settings"]:
            raise ValueError(f"study: trial {index + 1} of a search to resume had {trial['settings']}, but its "
                             f"searcher now proposes {proposed} (trials ran several at a time, or the search changed):"
                             " remove its .partial.json to search anew")
        failed = trial["error"] is not None
        searcher.on_trial_complete(f"replayed-{index}", None if failed else {"val_loss": trial["val_loss"]},
                                   error=failed)
    return searcher


def _search_architecture(config: StudyConfig, architecture: Architecture, out: Path, episodes: list,
                         validation: list, cpus: int, say: Callable[[str], None]) -> None:
    """One architecture's search. Each finished trial is kept in a partial file at once; a search
    stopped part way resumes from it (``_searcher``) and runs only the rest. A failed trial counts
    against the budget, as it did its share of the compute."""
    from ray import tune

    tuning = config.tuning
    path = tuning_path(config, architecture, out)
    partial = path.with_name(path.stem + ".partial.json")
    done = json.loads(partial.read_text()) if partial.is_file() else []
    base = trial_settings(config, architecture)
    base["threads"] = threads = max(1, min(int(base.get("threads") or 1), cpus))
    concurrent = tuning.jobs or max(1, cpus // threads)
    remaining = tuning.trials - len(done)
    say(f"tuning {architecture.name}: {remaining} of {tuning.trials} trial(s) to run over "
        f"{', '.join(d.setting for d in tuning.space)}, {concurrent} at a time on {cpus} CPU(s)")
    if remaining > 0:
        trainable = tune.with_resources(tune.with_parameters(run_trial, episodes=episodes, validation=validation,
                                                             base=base), {"cpu": threads})
        with tempfile.TemporaryDirectory(prefix="study-tune-") as storage:
            keeper = _trial_keeper(partial, done, tuning.trials, say)
            tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(
                num_samples=remaining, max_concurrent_trials=concurrent, search_alg=_searcher(config, done)),
                               run_config=tune.RunConfig(storage_path=storage, name=slug(architecture.name),
                                                         verbose=0, callbacks=[keeper]))
            with contextlib.redirect_stdout(sys.stderr):  # Ray Tune's tables: stdout is the study's (--json)
                tuner.fit()
    trials = json.loads(partial.read_text()) if partial.is_file() else done
    finished = [t for t in trials if t["error"] is None]
    if len(trials) < tuning.trials or not finished:
        raise RuntimeError(f"study: the search of {architecture.name} ended with {len(trials)} of {tuning.trials} "
                           f"trials, {len(finished)} finished: rerun to go on"
                           + (f" (the last error: {trials[-1]['error']})" if trials and trials[-1]["error"] else ""))
    best = min(finished, key=lambda t: t["val_loss"])
    write_json(path, {"architecture": architecture.name, "arch": architecture.arch, "search": tuning.key(),
                      "searcher": "optuna TPE (ray.tune.search.optuna.OptunaSearch)", "cpus": cpus,
                      "threads_per_trial": threads, "trials": trials, "best": best})
    partial.unlink(missing_ok=True)
    say(f"tuned {architecture.name}: validation loss {best['val_loss']:.4g} with {best['settings']}")


def _trial_keeper(path: Path, done: list, trials: int, say: Callable[[str], None]):
    """A Ray Tune callback (made here: Ray is an optional extra) keeping the trials in ``path``."""
    from ray.tune import Callback

    class KeepTrials(Callback):
        """Append each finished (or failed) trial to the search's partial file as it ends."""

        def __init__(self):
            self.trials = list(done)

        def _keep(self, trial, error: str | None) -> None:
            result = trial.last_result or {}
            self.trials.append({"settings": _plain(dict(trial.config)), **{k: result.get(k) for k in SCORED},
                                "error": error})
            write_json(path, self.trials)
            outcome = error or f"validation loss {result['val_loss']:.4g} in {result.get('seconds')} s"
            say(f"trial {len(self.trials)} of {trials}: {outcome} with {self.trials[-1]['settings']}")

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._keep(trial, None if (trial.last_result or {}).get("val_loss") is not None else "no result reported")

        def on_trial_error(self, iteration, trials, trial, **info):
            self._keep(trial, str(getattr(trial, "error_msg", None) or "failed").strip().splitlines()[-1])

    return KeepTrials()


def _plain(settings: dict) -> dict:
    """A trial's settings as JSON numbers (numpy scalars from the searcher become Python's)."""
    return {key: (value.item() if hasattr(value, "item") else value) for key, value in settings.items()}


def _check_validation_seeds(config: StudyConfig) -> None:
    """Tuning's episodes may be neither trained on nor evaluated: a trial scored on them would leak."""
    from liquid_control.train.study.cache import episode_seeds

    chosen = set(seed_list(config.tuning.validation_seeds))
    trained = chosen & set(seed_list(config.setting("data")["sim_seeds"]))
    evaluated = chosen & set(episode_seeds(config))
    if trained or evaluated:
        raise ValueError(f"study config: tuning validation_seeds {sorted(trained | evaluated)[:5]} are also "
                         f"{'trained on' if trained else 'evaluated'}: give seeds that no model trains or is "
                         "evaluated on")
