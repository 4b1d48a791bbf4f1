"""A study's config file: which architectures, seeds, data, training, evaluation and conditions.

``StudyConfig.load(path)`` reads the YAML and refuses, before anything runs, a setting the
world does not know, a preset that does not exist, or a conv head the preset contradicts. The
defaults of every section are the world's (``worlds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from liquid_control.nets.policy import PRESETS, preset_head_activation
from liquid_control.tasks import TaskError
from liquid_control.train.study.locked_split import LOCKED_DOMAINS, refuse_locked
from liquid_control.train.study.stats import seed_list
from liquid_control.train.study.tuning_config import Tuning, training_keys
from liquid_control.train.study.worlds import STUDY_WORLDS, study_world

# A study names its conv head's precision (``head_precision``, fp32 by default, or bf16), never
# ``auto``, which picks bf16 on a CPU with native bfloat16 and fp32 elsewhere, so a study resumed
# on another machine would mix the two (it did: the drone study's seed 2, trained on a bf16 CPU
# after seeds 0-1 on one without, learned differently; docs/study.md). The other defaults, per
# world, are the recipes of the shipped models (worlds).
HEAD_PRECISIONS = ("fp32", "bf16")  # a study's conv-head precision: named, never "auto"
# Training settings a study may give beyond its world's defaults: what makes an architecture's
# variant (units, wiring seed, share of the data) and what a tuning searches.
UNITS_PRESETS = ("lstm", "gru", "cfc", "ctrnn")  # the presets whose size `units` sets
STUDY_VARIANT_SETTINGS = {"units", "wiring_seed", "data_fraction", "weight_decay", "grad_clip"}
MINIATURE_TRAINING = {"epochs": 1, "batch_size": 4, "seq_len": 8}  # --quick and --rehearse: a check, not results


@dataclass(frozen=True)
class Architecture:
    name: str  # as it appears in the report
    arch: str  # a make_policy preset
    training: dict = field(default_factory=dict)  # this architecture's own training settings, if any (reported)
    wiring_seeds: tuple[int, ...] = ()  # NCP/random wirings: training seed k gets wiring_seeds[k % len] (() : one)
    tuning_from: str | None = None  # take this other architecture's tuned settings instead of a search of its own


@dataclass(frozen=True)
class Condition:
    name: str
    perturbations: dict = field(default_factory=dict)  # camera perturbations (sim.perturbations)
    camera_rate_hz: float | None = None  # the camera and control rate (None: the world's, as in training)
    domain: str | None = None  # drone: the scene's domain (None: the training domain)
    start_distance_m: tuple[float, float] | None = None  # drone: the range test (None: the world's 5-20 m)
    fixed_dt: bool = False  # the network's elapsed-time input held at the training period (the dt ablation)
    compared: bool = True  # in the family of paired comparisons (false: reported, not tested)


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
    tuning: Tuning | None = None  # the equal search every architecture gets first (None: the settings as given)
    locked: bool = False  # the final run: evaluates the locked test split (locked_split), once

    @classmethod
    def from_dict(cls, values: dict) -> "StudyConfig":
        world = str(values.get("world", "lane"))
        try:
            defaults = study_world(world).defaults
        except TaskError:
            raise ValueError(f"study config: world must be one of {', '.join(STUDY_WORLDS)}, got {world!r}") from None

        def section(name: str, part: dict | None = None) -> dict:
            part = dict((values.get(name) if part is None else part) or {})
            unknown = set(part) - set(defaults[name]) - (STUDY_VARIANT_SETTINGS if name == "training" else set())
            if unknown:
                raise ValueError(f"study config: unknown {name} settings {sorted(unknown)} for the {world} world; "
                                 f"known: {sorted(defaults[name])}")
            if name == "training" and part.get("head_precision", "fp32") not in HEAD_PRECISIONS:
                raise ValueError(f"study config: training head_precision must be one of {HEAD_PRECISIONS}, got "
                                 f"{part['head_precision']!r} (a study names the precision its models train in, so "
                                 "that every machine that adds to it trains them alike)")
            return part

        unknown = set(values) - {"name", "world", "architectures", "seeds", "conditions", "tuning", "locked",
                                 *defaults}
        if unknown:
            raise ValueError(f"study config: unknown sections {sorted(unknown)}")
        architectures = tuple(_architecture(a, section) for a in values.get("architectures") or [])
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
        searched = {a.name for a in architectures if a.tuning_from is None}
        for architecture in architectures:
            if architecture.tuning_from is not None and (architecture.tuning_from not in searched
                                                         or not values.get("tuning")):
                raise ValueError(f"study config: {architecture.name}: tuning_from must name an architecture of the "
                                 f"study that has a search of its own ({', '.join(sorted(searched))}), in a study "
                                 "with a tuning section")
        conditions = tuple(_condition(c, world) for c in values.get("conditions") or [{"name": "clean"}])
        if len({c.name for c in conditions}) != len(conditions):
            raise ValueError("study config: condition names must be distinct")
        seeds = tuple(seed_list(values.get("seeds") if values.get("seeds") is not None else [0]))
        tuning = Tuning.from_dict(values["tuning"], training_keys()) if values.get("tuning") else None
        config = cls(str(values.get("name", "study")), architectures, seeds, section("data"), section("training"),
                     section("evaluation"), conditions, world, section("attention"), tuning,
                     bool(values.get("locked", False)))
        config.check_locked_split()
        return config

    def check_locked_split(self) -> None:
        """Refuse the locked test split to all but a ``locked`` config's evaluation: never to the
        training data, the tuning's validation, or the attention measure."""
        world = study_world(self.world)
        refuse_locked(seed_list(self.setting("data")["sim_seeds"]), what="study config: the training data")
        refuse_locked([self.setting("attention")["track"]], what="study config: the attention measure")
        if self.tuning is not None:
            refuse_locked(seed_list(self.tuning.validation_seeds), what="study config: the tuning's validation")
        if not self.locked:
            refuse_locked(world.episode_seeds(self.setting("evaluation")),
                          [c.domain for c in self.conditions if c.domain], what="study config: the evaluation")

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
        chosen = tuple(seed_list(seeds)) if isinstance(seeds, str) else tuple(int(s) for s in seeds)
        unknown = sorted(set(chosen) - set(self.seeds))
        if not chosen or unknown:
            raise ValueError(f"study: --seeds must name some of the config's training seeds {list(self.seeds)}; "
                             f"got {list(chosen)}")
        return replace(self, seeds=tuple(s for s in self.seeds if s in chosen))

    def quick(self) -> "StudyConfig":
        """The same study in miniature: two architectures, two seeds, two conditions, tiny data, and a
        tuning (if any) of two trials over the learning rate, scored on two validation episodes."""
        if self.locked:
            raise ValueError("study --quick: this config is locked (`locked: true`): its one run is the final "
                             "evaluation of the locked test split; try its settings with --quick on a copy without "
                             "`locked` and with development tracks or scenes")
        data, evaluation = study_world(self.world).quick(self.data, self.evaluation, self.setting("evaluation"))
        tuning = self._miniature_tuning()
        kept = self.architectures[:2]
        kept = tuple(replace(a, tuning_from=None) if a.tuning_from not in (None, *(k.name for k in kept)) else a
                     for a in kept)  # an arm whose search is not kept searches for itself
        return replace(self, name=f"{self.name} (quick)", architectures=kept, seeds=self.seeds[:2],
                       tuning=tuning,
                       data=data, training={**self.training, **MINIATURE_TRAINING},
                       evaluation=evaluation, conditions=self.conditions[:2],
                       attention={**self.attention, "frames": 12})

    def rehearsal(self) -> "StudyConfig":
        """Every architecture, condition and comparison of the study, in miniature (``study
        --rehearse``): the quick study's training and search, four expert episodes, up to five
        seeds, and one track or scene (a development one for a locked config). It tries a locked
        config's whole pipeline and report before its one run, so it evaluates none of the locked
        split: it flies none of the conditions in a locked domain (``rehearsal_leaves_out`` names
        them)."""
        world = study_world(self.world)
        # A locked config's tracks or scenes are the split: the world's development ones instead.
        development = world.defaults["evaluation"] if self.locked else self.setting("evaluation")
        data, evaluation = world.quick(self.data, development if self.locked else self.evaluation, development)
        tuning = self._miniature_tuning()
        rehearsal = replace(self, name=f"{self.name} (rehearsal)", locked=False, seeds=self.seeds[:5], tuning=tuning,
                            data={**data, "sim_seeds": "0-3"},  # four episodes: a quarter, a half and all differ
                            training={**self.training, **MINIATURE_TRAINING}, evaluation=evaluation,
                            conditions=tuple(c for c in self.conditions if c not in self.rehearsal_leaves_out()),
                            attention={**self.attention, "frames": 12})
        rehearsal.check_locked_split()  # an unlocked config: none of the split may be left in it
        return rehearsal

    def _miniature_tuning(self) -> Tuning | None:
        """The search in miniature: two trials over the learning rate, scored on two validation episodes."""
        return None if self.tuning is None else self.tuning.narrowed(
            2, ",".join(str(s) for s in seed_list(self.tuning.validation_seeds)[:2]), keep=("lr",))

    def rehearsal_leaves_out(self) -> tuple[Condition, ...]:
        """The conditions a rehearsal cannot fly: those in a domain of the locked test split."""
        return tuple(c for c in self.conditions if c.domain in LOCKED_DOMAINS)


def _architecture(values: dict, section) -> Architecture:
    unknown = set(values) - {"name", "arch", "training", "wiring_seeds", "tuning_from"}
    if unknown or "name" not in values or "arch" not in values:
        raise ValueError(f"study config: an architecture has a name, an arch and optionally training, wiring_seeds "
                         f"and tuning_from; got {sorted(values)}")
    wiring_seeds = tuple(int(s) for s in values.get("wiring_seeds") or ())
    if wiring_seeds and not (str(values["arch"]).startswith("ncp-") or values["arch"] == "random-cfc"):
        raise ValueError(f"study config: {values['name']}: wiring_seeds are for the wired presets (ncp-*, random-cfc)")
    if "wiring_seed" in (values.get("training") or {}) and wiring_seeds:
        raise ValueError(f"study config: {values['name']}: give wiring_seeds or training wiring_seed, not both")
    if "units" in (values.get("training") or {}) and values["arch"] not in UNITS_PRESETS:
        raise ValueError(f"study config: {values['name']}: training units sizes {', '.join(UNITS_PRESETS)}; the "
                         f"{values['arch']} preset ignores it (an NCP's neurons are ncp_units)")
    tuning_from = values.get("tuning_from")
    return Architecture(str(values["name"]), str(values["arch"]), section("training", values.get("training") or {}),
                        wiring_seeds, None if tuning_from is None else str(tuning_from))


def _condition(values: dict, world: str) -> Condition:
    from liquid_control.sim.perturbations import PerturbationConfig

    known = {"name", "perturbations", "camera_rate_hz", "fixed_dt", "compared"} | study_world(world).condition_keys
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"study config: condition {values.get('name')!r} has unknown settings {sorted(unknown)} "
                         f"for the {world} world; known: {sorted(known)}")
    rate = values.get("camera_rate_hz")
    distance = values.get("start_distance_m")
    condition = Condition(str(values["name"]), dict(values.get("perturbations") or {}),
                          None if rate is None else float(rate), values.get("domain"),
                          None if distance is None else tuple(float(d) for d in distance),
                          bool(values.get("fixed_dt", False)), bool(values.get("compared", True)))
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

