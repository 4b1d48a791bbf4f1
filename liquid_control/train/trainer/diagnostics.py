"""Whether a network learned: the validation loss with the output spread (a network whose outputs
hardly vary over the frames answers every frame alike, whatever its loss), and for an LTC the
share of its sensory synapses saturated on the conv head's features.
"""

from __future__ import annotations

import numpy as np
import torch

from liquid_control.train.trainer.batches import on_device
from liquid_control.train.trainer.loss import weighted_mse

# Below this output spread (outputs' std over the validation frames / the labels') a network answers
# every frame alike (docs/study.md has the spreads of the studies' models).
FLAT_OUTPUT_SPREAD = 0.1
SATURATED = 0.999  # an LTC whose sensory synapses are this saturated no longer sees its input


def ltc_sensory_saturation(model, dataset, device: torch.device | None, windows: int = 8) -> float | None:
    """For an LTC core: the share of its sensory synapses saturated on the conv-head features of
    the dataset's first windows (``LTCCell.sensory_saturation``); None for other cores."""
    cell = getattr(model.core, "rnn_cell", None)
    if not hasattr(cell, "sensory_saturation") or len(dataset) == 0:
        return None
    frames = torch.stack([dataset[i][0] for i in range(min(windows, len(dataset)))])  # (windows, time, C, H, W)
    if device is not None:
        frames = frames.to(device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        features = model.head(frames.flatten(0, 1).float())
    model.train(was_training)
    return cell.sensory_saturation(features)


def loss_and_spread(model, loader, loss_scale: float, weights: torch.Tensor,
              device: torch.device | None = None) -> tuple[float, float | None]:
    """The loss over the loader's windows, and the output spread: per output, the standard
    deviation of the model's outputs over those frames divided by the labels', averaged over the
    outputs (None without labels that vary). Near 0, the network answers every frame alike: it has
    not learned to use its input, whatever its loss (the mean's loss is that of a good guess)."""
    model.eval()
    total, count = 0.0, 0
    predictions, targets = [], []
    with torch.no_grad():
        for frames, elapsed, labels in on_device(device, loader):
            outputs, _ = model(frames, timespans=elapsed)
            total += float(weighted_mse(outputs, labels, weights, reduction="sum")) * loss_scale
            count += labels.numel()
            predictions.append(outputs.reshape(-1, outputs.shape[-1]).float().cpu())
            targets.append(labels.reshape(-1, labels.shape[-1]).float().cpu())
    spread = output_spread(torch.cat(predictions).numpy(), torch.cat(targets).numpy()) if predictions else None
    return total / max(count, 1), spread


def output_spread(outputs: np.ndarray, labels: np.ndarray) -> float | None:
    """Per output, the standard deviation of ``outputs`` (frames x outputs) over the frames divided
    by the ``labels``' (same shape), averaged over the outputs whose labels vary; None when none
    varies or there are fewer than two frames. Near 0 (under ``FLAT_OUTPUT_SPREAD``), the network
    answers every frame alike."""
    outputs, labels = np.asarray(outputs, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if outputs.shape != labels.shape or outputs.ndim != 2:
        raise ValueError(f"outputs and labels must be two (frames, outputs) arrays of one shape; "
                         f"got {outputs.shape} and {labels.shape}")
    if len(labels) < 2:
        return None
    label_std = labels.std(0, ddof=1)
    varying = label_std > 1e-8
    if not varying.any():
        return None
    return float((outputs.std(0, ddof=1)[varying] / label_std[varying]).mean())
