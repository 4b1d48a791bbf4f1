"""What the elapsed-time input buys: each architecture's headline and secondary metrics under the
same camera condition with the real time between frames and with its dt input held at the
training period.

A study's condition with ``fixed_dt: true`` is paired with its twin: the condition that differs
from it in nothing else (perturbations, camera rate, domain, start distance). Each model drives
the same episodes in both, so the difference (real minus fixed) is paired within model and
episode, and its interval is the hierarchical bootstrap of those differences (seeds, then episodes
within a seed). The protocol's secondary metric is compared the same way over the episodes where
both conditions have it (a drone's time to target: the flights that reached it both times), finer
than a success that flips or not; over fewer than five pairs it gets their range.
``episodes_changed`` counts the episodes whose whole record differs at all: for a core that
ignores the elapsed time (LSTM, GRU, the CNN) it must be 0, a check of the harness
(docs/study_protocol.md, "Elapsed time").
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from liquid_control.train.study.stats import hierarchical_bootstrap_ci, hierarchical_span

# What names a condition's twin: everything but these.
_NOT_THE_CONDITION = ("name", "fixed_dt", "compared")


def dt_twins(conditions) -> list[tuple[str, str]]:
    """(real, fixed) condition names: each ``fixed_dt`` condition and the one that is otherwise the same."""
    def described(condition) -> dict:
        return {k: v for k, v in asdict(condition).items() if k not in _NOT_THE_CONDITION}

    twins = []
    for fixed in (c for c in conditions if c.fixed_dt):
        real = [c.name for c in conditions if not c.fixed_dt and described(c) == described(fixed)]
        if real:
            twins.append((real[0], fixed.name))
    return twins


def _record(episode: dict) -> dict:
    return {k: v for k, v in episode.items() if k != "wall_s"}  # how long it took is not what happened


def _both_spans(key: str, span: tuple[str, list[float]] | None) -> dict:
    """``key``_ci95 and ``key``_range, the one ``span`` gives set and the other None."""
    return {f"{key}_{kind}": span[1] if span and span[0] == kind else None for kind in ("ci95", "range")}


def elapsed_time_effects(config, runs: dict, held_out: list[int], headline_value, secondary_value) -> list[dict]:
    """One row per architecture and (real, fixed) pair of the study's conditions: the mean difference
    of the headline metric and of the secondary one, their 95 % hierarchical intervals, the pairs
    the secondary has, and how many episodes changed at all. ``runs``: (architecture, seed,
    condition, episode seed) -> the episode's record; ``secondary_value`` gives None where an
    episode has no secondary value."""
    rows = []
    for real, fixed in dt_twins(config.conditions):
        for architecture in config.architectures:
            pairs = [[(runs[architecture.name, seed, real, episode], runs[architecture.name, seed, fixed, episode])
                      for episode in held_out] for seed in config.seeds]
            differences = [[headline_value(a) - headline_value(b) for a, b in seed_pairs] for seed_pairs in pairs]
            secondary = [[secondary_value(a) - secondary_value(b) for a, b in seed_pairs
                          if secondary_value(a) is not None and secondary_value(b) is not None] for seed_pairs in pairs]
            pooled = [d for seed_differences in secondary for d in seed_differences]
            rows.append({"architecture": architecture.name, "real": real, "fixed": fixed,
                         "difference": round(float(np.mean(differences)), 4),
                         "difference_ci95": hierarchical_bootstrap_ci(differences),
                         "secondary_difference": round(float(np.mean(pooled)), 4) if pooled else None,
                         **_both_spans("secondary_difference", hierarchical_span(secondary)),
                         "secondary_pairs": len(pooled),
                         "episodes_changed": sum(_record(a) != _record(b) for seed_pairs in pairs
                                                 for a, b in seed_pairs),
                         "episodes": sum(len(seed_pairs) for seed_pairs in pairs)})
    return rows
