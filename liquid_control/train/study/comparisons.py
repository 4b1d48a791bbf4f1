"""Paired comparisons between a study's architectures: on the same held-out tracks (scenes) and
conditions, each liquid network against each architecture that is not one, on the headline metric.

Pairing is by episode, not by seed: every model is evaluated on the same tracks or scenes, so the
scene's difficulty cancels in a difference; a training seed shares nothing between architectures
but the order of the data (the initial weights differ with the architecture), so the seeds of two
architectures are independent draws and are resampled (and exchanged) independently.

For each comparison (A minus B):
- ``difference``: the mean of A's episodes minus B's, in the metric's units (the raw effect size);
- ``difference_ci95``: a paired hierarchical bootstrap (``paired_difference_ci``);
- ``cliffs_delta``: Cliff's delta over the models' means (A's models against B's: +1 when every
  model of A scores above every model of B), an effect size that needs no variance;
- ``p``: an exact permutation test that exchanges the architecture labels of the models (the seed
  is the independent unit; each model's score is its mean over the same episodes), scipy's
  ``permutation_test``; with 3 seeds each the smallest two-sided p there is is 0.1;
- ``p_holm``: Holm's correction over every comparison of the study (``holm``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from liquid_control.train.study.stats import ROUNDS, percentile_interval


def per_seed_array(groups) -> np.ndarray:
    """Episode values per seed (a list of equal-length lists) as a seeds x episodes array."""
    try:
        array = np.asarray([np.asarray(g, dtype=np.float64) for g in groups], dtype=np.float64)
    except ValueError:
        array = None
    if array is None or array.ndim != 2:
        raise ValueError("paired comparison: every seed needs the same number of episodes")
    return array


def paired_difference_ci(a, b, rounds: int = ROUNDS, seed: int = 0) -> list[float]:
    """95 % interval of mean(A) - mean(B) (``a``, ``b``: seeds x episodes, the same episodes in the same
    order): each round draws A's seeds and B's seeds independently with replacement, then for each
    drawn pair of seeds the same episodes with replacement (the pairing). Written by hand, as
    ``hierarchical_bootstrap_ci``: no library resamples two levels."""
    a, b = per_seed_array(a), per_seed_array(b)
    if a.shape[1] != b.shape[1]:
        raise ValueError("paired comparison: both architectures need the same episodes")
    rng = np.random.default_rng(seed)
    slots, episodes = max(len(a), len(b)), a.shape[1]
    drawn_a = rng.integers(len(a), size=(rounds, slots, 1))
    drawn_b = rng.integers(len(b), size=(rounds, slots, 1))
    drawn_episodes = rng.integers(episodes, size=(rounds, slots, episodes))
    means_a = a[drawn_a, drawn_episodes].mean(axis=(1, 2))
    return percentile_interval(means_a - b[drawn_b, drawn_episodes].mean(axis=(1, 2)))


def cliffs_delta(a, b) -> float:
    """P(a > b) - P(a < b) over all pairs of one value of ``a`` and one of ``b``."""
    a, b = np.asarray(a, dtype=np.float64)[:, None], np.asarray(b, dtype=np.float64)[None, :]
    return float(np.mean(a > b) - np.mean(a < b))


def model_permutation_p(a_means, b_means) -> float:
    """Two-sided p of the difference of the means, exchanging the models' architecture labels (exact
    when the relabellings are few)."""
    a_means, b_means = np.asarray(a_means, dtype=np.float64), np.asarray(b_means, dtype=np.float64)
    if np.ptp(np.concatenate([a_means, b_means])) == 0 or min(len(a_means), len(b_means)) < 2:
        return 1.0  # one model against one: both relabellings are as extreme, p is 1
    # Exact up to 10 models against 10 (184,756 relabellings), sampled beyond.
    result = stats.permutation_test((a_means, b_means),
                                    lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
                                    permutation_type="independent", alternative="two-sided", vectorized=True,
                                    n_resamples=200_000, rng=np.random.default_rng(0))
    return float(min(result.pvalue, 1.0))


def holm(p_values) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the input's order. By hand: scipy
    has only false-discovery corrections (``false_discovery_control``) and statsmodels is not a
    dependency."""
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    scaled = (len(p) - np.arange(len(p))) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return [float(v) for v in adjusted]


def compare(a, b, seed: int = 0) -> dict:
    """One comparison of two architectures' episode values (seeds x the same episodes)."""
    a, b = per_seed_array(a), per_seed_array(b)
    a_means, b_means = a.mean(axis=1), b.mean(axis=1)
    return {"difference": round(float(a.mean() - b.mean()), 4),
            "difference_ci95": paired_difference_ci(a, b, seed=seed),
            "cliffs_delta": round(cliffs_delta(a_means, b_means), 4),
            "p": model_permutation_p(a_means, b_means)}  # unrounded until Holm has used it


def is_liquid(arch: str) -> bool:
    """A make_policy preset whose core is a liquid network (an NCP-wired CfC or LTC, or a variant)."""
    return arch.startswith("ncp-")


def compare_architectures(values: dict, architectures: dict, conditions: list) -> list[dict]:
    """Every liquid architecture against every other kind, in every condition, Holm-corrected together.
    ``values``: (architecture name, condition name) -> seeds x episodes; ``architectures``: name -> preset,
    those of the family (the study leaves out its variants and the conditions it does not compare)."""
    liquid = [name for name, arch in architectures.items() if is_liquid(arch)]
    others = [name for name, arch in architectures.items() if not is_liquid(arch)]
    rows = [{"condition": condition, "a": a, "b": b, **compare(values[a, condition], values[b, condition])}
            for condition in conditions for a in liquid for b in others]
    for row, adjusted in zip(rows, holm([row["p"] for row in rows])):
        row["p"], row["p_holm"] = round(row["p"], 4), round(adjusted, 4)
    return rows
