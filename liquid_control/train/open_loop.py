"""Open-loop evaluation: recorded episodes through a policy, its outputs against their labels.

Deterministic (same data, same numbers); the R² and the error of always answering the training
labels' mean say whether the policy learned anything from the frames at all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from liquid_control.data.episodes import Episode
from liquid_control.data.images import PreprocessSpec
from liquid_control.nets import load_model


def open_loop(model_path: str | Path, episodes: list[Episode], nominal_dt: float = 0.05, chunk: int = 256) -> dict:
    """Run each episode through the network from a fresh state (``chunk`` frames at a time, the
    state carried over, so memory does not grow with the episode); errors against its labels.

    Per output: RMSE, MAE, R² (1 - squared error / the labels' variance) and the RMSE of always
    answering the training labels' mean (from the card; the evaluated labels' mean when the card
    has none), the bar a policy must clear to have learned anything from the frames."""
    from liquid_control.data.sequences import episode_inputs

    policy, card = load_model(model_path)
    spec = PreprocessSpec.from_card(card)
    per_episode, all_errors, all_labels, predictions = {}, [], [], {}
    with torch.no_grad():
        for episode in episodes:
            elapsed = torch.from_numpy(episode.elapsed(nominal_dt))
            state, parts = None, []
            for start in range(0, len(episode), chunk):
                frames = episode_inputs(episode, spec, start, start + chunk)
                outputs, state = policy(frames.unsqueeze(0), state, timespans=elapsed[start:start + chunk].unsqueeze(0))
                parts.append(outputs[0].numpy())
            outputs = np.concatenate(parts)
            errors = outputs - episode.labels
            all_errors.append(errors)
            all_labels.append(episode.labels)
            predictions[episode.name] = outputs
            per_episode[episode.name] = {"frames": len(episode), "mae": float(np.abs(errors).mean()),
                                         "rmse": float(np.sqrt((errors ** 2).mean()))}
    errors, labels = np.concatenate(all_errors), np.concatenate(all_labels)
    names = list(episodes[0].label_names)
    training_mean = ((card.get("training") or {}).get("label_statistics") or {}).get("mean")
    mean = np.asarray(training_mean, np.float64) if training_mean is not None else labels.mean(axis=0)
    outputs = {}
    for k, name in enumerate(names):
        variance = float(labels[:, k].var())
        squared = float((errors[:, k] ** 2).mean())
        outputs[name] = {"rmse": float(np.sqrt(squared)), "mae": float(np.abs(errors[:, k]).mean()),
                         "r2": 1.0 - squared / variance if variance > 0 else None,
                         "rmse_of_training_mean": float(np.sqrt(((labels[:, k] - mean[k]) ** 2).mean()))}
    return {"model": str(model_path), "episodes": per_episode, "frames": int(len(errors)),
            "mae": float(np.abs(errors).mean()), "rmse": float(np.sqrt((errors ** 2).mean())), "outputs": outputs,
            "mean_from": "training labels (card)" if training_mean is not None else "evaluated labels (card has none)",
            "predictions": predictions}
