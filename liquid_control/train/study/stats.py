"""The study's arithmetic over seeds: seed ranges as configs write them, bootstrap intervals over
seeds x episodes, the attention summary of an architecture's seeds, and the seeds that did not
learn (a model whose output spread is under the trainer's ``FLAT_OUTPUT_SPREAD``).
"""

from __future__ import annotations

import math

import numpy as np


def bootstrap_ci(values: list[float], rounds: int = 2000, seed: int = 0) -> list[float]:
    """95 % percentile bootstrap interval of the mean (resampling the values: seeds x tracks)."""
    if not values:
        return [math.nan, math.nan]
    array = np.asarray(values, dtype=np.float64)
    means = np.random.default_rng(seed).choice(array, size=(rounds, len(array)), replace=True).mean(axis=1)
    return [round(float(np.percentile(means, 2.5)), 4), round(float(np.percentile(means, 97.5)), 4)]


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
    ssim = [a["saliency_ssim"] for a in analyses]
    pc1 = [a["pc1_variance_fraction"] for a in analyses if a.get("pc1_variance_fraction") is not None]
    return {"saliency_ssim": round(float(np.mean(ssim)), 4), "saliency_ssim_ci95": bootstrap_ci(ssim),
            "pc1_variance_fraction": round(float(np.mean(pc1)), 4) if pc1 else None,
            "pc1_variance_fraction_ci95": bootstrap_ci(pc1) if pc1 else None,
            "output_spread": [a.get("output_spread") for a in analyses]}


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

