"""The training loss: the mean squared error of the outputs, each output weighted by the inverse of
its label variance, times a scale that makes the numbers readable.
"""

from __future__ import annotations

import numpy as np
import torch

from liquid_control.data.episodes import Episode


def default_loss_scale(label_names: tuple[str, ...]) -> float:
    return 100.0 if tuple(label_names) == ("curvature",) else 10.0


def output_weights(episodes: list[Episode]) -> torch.Tensor:
    """Per-output loss weights: each output's squared error divided by its variance over the
    training labels, times the mean variance, so that a fast forward speed does not drown a small
    yaw rate and the loss keeps the labels' overall scale (one output: weight 1). Variances are
    floored at a tenth of the mean, so no weight exceeds 10."""
    labels = np.concatenate([e.labels for e in episodes]).astype(np.float64)
    variance = labels.var(axis=0)
    mean = max(variance.mean(), 1e-12)
    # An output that hardly varies (no sideways flight in a clear forest) is weighted at most 10x.
    return torch.tensor(mean / np.maximum(variance, 0.1 * mean), dtype=torch.float32)


def weighted_mse(outputs: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor,
                 reduction: str = "mean") -> torch.Tensor:
    squared = (outputs - labels) ** 2 * weights.to(outputs.device)
    return squared.mean() if reduction == "mean" else squared.sum()

