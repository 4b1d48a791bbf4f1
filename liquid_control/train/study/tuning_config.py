"""A study's ``tuning`` section: the search every architecture gets alike before its seeds train.

The same number of trials over the same space for each architecture, each trial scored by its
validation loss on expert episodes of ``validation_seeds``, seeds of the training family that no
model trains on and no closed-loop result uses. A setting outside the space keeps the study's value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from liquid_control.train.study.stats import seed_list

# What a trial may vary: the training settings whose values are numbers, never the data, the task's
# preprocessing or the precision.
TUNABLE = ("lr", "weight_decay", "epochs", "seq_len", "batch_size", "units", "grad_clip")
DISTRIBUTIONS = ("log_uniform", "uniform", "int", "choice")


@dataclass(frozen=True)
class Dimension:
    """One setting's range: ``log_uniform``/``uniform``/``int`` over [low, high], or ``choice`` of values."""

    setting: str
    distribution: str
    values: tuple

    def to_ray(self):
        """This dimension as a Ray Tune search space entry (``int`` includes its upper bound)."""
        from ray import tune

        low, high = (self.values + (None, None))[:2]
        return {"log_uniform": lambda: tune.loguniform(low, high), "uniform": lambda: tune.uniform(low, high),
                "int": lambda: tune.randint(int(low), int(high) + 1),
                "choice": lambda: tune.choice(list(self.values))}[self.distribution]()


@dataclass(frozen=True)
class Tuning:
    trials: int
    validation_seeds: str
    space: tuple[Dimension, ...]
    seed: int = 0  # the searcher's seed
    jobs: int = 0  # trials at once (0: as many as the CPUs hold at the training's threads)
    raw: dict = field(default_factory=dict, compare=False)  # as written, for the report
    # Every trial trains with this seed, none of the study's own (a final seed must not be the one
    # its settings were selected on), and is scored on validation windows of this many frames
    # whatever its own window length, so that the scores compare across window lengths.
    training_seed: int = 1000
    score_window: int = 32

    def key(self) -> dict:
        """What decides a search's trials, for its cache key."""
        return {**self.raw, "seed": self.seed, "training_seed": self.training_seed, "score_window": self.score_window,
                "jobs": None}

    @classmethod
    def from_dict(cls, values: dict, training_keys) -> "Tuning":
        known = ("trials", "validation_seeds", "space", "seed", "jobs", "training_seed", "score_window")
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"study config: unknown tuning settings {sorted(unknown)}; known: {', '.join(known)}")
        trials = int(values.get("trials", 20))
        if trials < 1:
            raise ValueError(f"study config: tuning trials must be >= 1, got {trials}")
        if "validation_seeds" not in values:
            raise ValueError("study config: tuning needs validation_seeds, expert episodes of the training family "
                             "that no model trains on (e.g. 900-911), to score its trials")
        seed_list(values["validation_seeds"])  # refused now if malformed
        space = tuple(_dimension(name, spec, training_keys) for name, spec in (values.get("space") or {}).items())
        if not space:
            raise ValueError(f"study config: the tuning space is empty; give ranges for some of {TUNABLE}")
        score_window = int(values.get("score_window", 32))
        if score_window < 1:
            raise ValueError(f"study config: tuning score_window must be >= 1 frames, got {score_window}")
        return cls(trials, str(values["validation_seeds"]), space, int(values.get("seed", 0)),
                   int(values.get("jobs", 0)), dict(values), int(values.get("training_seed", 1000)), score_window)

    def narrowed(self, trials: int, validation_seeds: str, keep: tuple[str, ...]) -> "Tuning":
        """The same search over fewer trials, validation seeds and settings (``study --quick``)."""
        space = tuple(d for d in self.space if d.setting in keep) or self.space[:1]
        raw = {**self.raw, "trials": trials, "validation_seeds": validation_seeds,
               "space": {d.setting: self.raw["space"][d.setting] for d in space}}
        return Tuning(trials, validation_seeds, space, self.seed, self.jobs, raw, self.training_seed, self.score_window)


def _dimension(name: str, spec, training_keys) -> Dimension:
    if name not in TUNABLE or name not in training_keys:
        raise ValueError(f"study config: tuning space: {name!r} cannot be tuned; tunable: {', '.join(TUNABLE)}")
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ValueError(f"study config: tuning space {name}: give one of {', '.join(DISTRIBUTIONS)}, e.g. "
                         f"{{log_uniform: [3.0e-4, 1.0e-2]}} or {{choice: [16, 24, 32]}}; got {spec!r}")
    distribution, values = next(iter(spec.items()))
    values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
    if distribution == "choice":
        if not values:
            raise ValueError(f"study config: tuning space {name}: choice needs at least one value")
        return Dimension(name, distribution, values)
    if len(values) != 2 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values) \
            or not values[0] < values[1] or (distribution == "log_uniform" and values[0] <= 0):
        raise ValueError(f"study config: tuning space {name}: {distribution} takes [low, high] with low < high"
                         + (" and low > 0" if distribution == "log_uniform" else "") + f"; got {list(values)}")
    return Dimension(name, distribution, values)


def training_keys() -> set[str]:
    from liquid_control.train.trainer import TrainConfig

    return {f.name for f in fields(TrainConfig)}
