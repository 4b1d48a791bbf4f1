"""The study's arithmetic over seeds: intervals that treat the training seed as the independent unit
(a hierarchical bootstrap over seeds, then episodes within a seed), ranges where there are too few
seeds for an interval, seed ranges as configs write them, the attention summary of an
architecture's seeds, and the seeds that did not learn (output spread under ``FLAT_OUTPUT_SPREAD``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

ROUNDS = 2000  # bootstrap resamples of every interval
FEWEST_FOR_AN_INTERVAL = 5  # under this many independent values, a span is reported as their range


def percentile_interval(samples: np.ndarray) -> list[float]:
    return [round(float(np.percentile(samples, 2.5)), 4), round(float(np.percentile(samples, 97.5)), 4)]


def hierarchical_bootstrap_ci(groups, rounds: int = ROUNDS, seed: int = 0) -> list[float]:
    """95 % percentile interval of the mean of episode values grouped by training seed (``groups``: one
    list of values per seed), resampling seeds with replacement, then episodes with replacement within
    each drawn seed. Each round's statistic is the mean over the drawn values.

    When seeds agree it is wider than a pooled bootstrap (episodes' spread enters twice: in the seeds'
    means and again within each drawn seed), on the safe side; when they disagree it is much wider.
    Seeds may hold different numbers of values (time to target exists only for the flights that
    reached it): a seed then weighs by its count, as in the pooled mean, and a seed with none drops out.
    Written by hand: scipy.stats.bootstrap resamples one level (it would treat the pooled episodes
    as independent, which they are not: episodes of one seed share its model)."""
    values = [np.asarray(g, dtype=np.float64).ravel() for g in groups]
    if len({v.size for v in values}) > 1:
        return _unequal_seeds_ci([v for v in values if v.size], rounds, seed)
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return [math.nan, math.nan]
    seeds, episodes = array.shape
    rng = np.random.default_rng(seed)
    drawn_seeds = rng.integers(seeds, size=(rounds, seeds, 1))
    drawn_episodes = rng.integers(episodes, size=(rounds, seeds, episodes))
    return percentile_interval(array[drawn_seeds, drawn_episodes].mean(axis=(1, 2)))


def _unequal_seeds_ci(values: list[np.ndarray], rounds: int, seed: int) -> list[float]:
    """``hierarchical_bootstrap_ci`` for seeds with different numbers of values (none empty): each
    drawn seed's values are padded to the longest and the padding masked out of the mean."""
    counts = np.array([v.size for v in values])
    padded = np.zeros((len(values), counts.max()))
    for i, v in enumerate(values):
        padded[i, :v.size] = v
    rng = np.random.default_rng(seed)
    drawn_seeds = rng.integers(len(values), size=(rounds, len(values)))
    drawn_counts = counts[drawn_seeds][..., None]  # rounds x seeds x 1
    drawn_episodes = (rng.random((rounds, len(values), counts.max())) * drawn_counts).astype(int)
    kept = np.arange(counts.max()) < drawn_counts
    totals = (padded[drawn_seeds[..., None], drawn_episodes] * kept).sum(axis=(1, 2))
    return percentile_interval(totals / drawn_counts.sum(axis=(1, 2)))


def hierarchical_span(groups, digits: int = 4) -> tuple[str, list[float]] | None:
    """Episode values grouped by training seed -> ("ci95", their ``hierarchical_bootstrap_ci``), or
    ("range", [min, max]) over fewer than ``FEWEST_FOR_AN_INTERVAL`` values in all (an interval of
    one flight would be a point), or None when there are none."""
    pooled = [float(v) for group in groups for v in group]
    if not pooled:
        return None
    if len(pooled) < FEWEST_FOR_AN_INTERVAL:
        return "range", [round(min(pooled), digits), round(max(pooled), digits)]
    return "ci95", hierarchical_bootstrap_ci(groups)


def seed_span(values, rounds: int = ROUNDS, seed: int = 0) -> tuple[str, list[float]]:
    """One value per seed -> ("range", [min, max]) under ``FEWEST_FOR_AN_INTERVAL`` values (a 95 %
    bootstrap interval of three values is their min and max, and says less than it seems), else
    ("ci95", a percentile bootstrap interval of their mean, scipy.stats.bootstrap)."""
    array = np.asarray(values, dtype=np.float64)
    if len(array) < FEWEST_FOR_AN_INTERVAL:
        return "range", [round(float(array.min()), 4), round(float(array.max()), 4)]
    if np.ptp(array) == 0:
        return "ci95", [round(float(array[0]), 4)] * 2
    result = stats.bootstrap((array,), np.mean, n_resamples=rounds, method="percentile",
                             rng=np.random.default_rng(seed))
    return "ci95", [round(float(result.confidence_interval.low), 4), round(float(result.confidence_interval.high), 4)]


def seed_list(text) -> list[int]:
    """'0-3,7' (or a list) -> [0, 1, 2, 3, 7]."""
    if isinstance(text, (list, tuple)):
        return [int(s) for s in text]
    seeds: list[int] = []
    for part in str(text).split(","):
        low, sep, high = part.partition("-")
        seeds.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    return seeds


def summarise_analyses(analyses: list[dict]) -> dict:
    """An architecture's attention figures over its seeds: the mean, and the range (few seeds) or
    95 % interval (``seed_span``) under ``<figure>_range`` or ``<figure>_ci95``."""
    summary = {}
    for key in ("saliency_ssim", "pc1_variance_fraction"):
        values = [a[key] for a in analyses if a.get(key) is not None]
        summary[key] = round(float(np.mean(values)), 4) if values else None
        if values:
            kind, span = seed_span(values)
            summary[f"{key}_{kind}"] = span
    return summary | {"output_spread": [a.get("output_spread") for a in analyses]}


def span_of(row: dict, key: str) -> tuple[str, list[float]] | None:
    """(kind, [low, high]) of a figure in a results row: its 95 % interval or, for few seeds, its range."""
    for kind in ("ci95", "range"):
        if row.get(f"{key}_{kind}") is not None:
            return kind, row[f"{key}_{kind}"]
    return None


def seeds_that_did_not_learn(results: dict) -> dict[str, list]:
    """Architecture -> the training seeds whose model answers every frame alike (output spread on
    the attention frames under ``FLAT_OUTPUT_SPREAD``): models that did not learn, whose episodes
    still count in the study's means."""
    from liquid_control.train.trainer import FLAT_OUTPUT_SPREAD

    did_not_learn = {}
    for name, row in results["results"].items():
        spreads = row["attention"].get("output_spread") or []
        seeds = [seed for seed, spread in zip(results["seeds"], spreads)
                 if spread is not None and spread < FLAT_OUTPUT_SPREAD]
        if seeds:
            did_not_learn[name] = seeds
    return did_not_learn
