"""Episodes into batches: the validation split by whole episodes, the loader of a dataset's
windows, and its batches moved to the training device.
"""

from __future__ import annotations

import numpy as np
import torch

from liquid_control.data.episodes import Episode


def split_episodes(episodes: list[Episode], val_fraction: float, seed: int) -> tuple[list[Episode], list[Episode]]:
    """Hold out whole episodes (at least one when there are two or more and val_fraction > 0)."""
    order = np.random.default_rng(seed).permutation(len(episodes))
    count = int(round(val_fraction * len(episodes)))
    if val_fraction > 0 and len(episodes) >= 2:
        count = max(1, count)
    validation = [episodes[i] for i in order[:count]]
    training = [episodes[i] for i in order[count:]]
    return training, validation


def window_loader(dataset, batch_size: int, shuffle: bool, seed: int):
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                                       drop_last=False, num_workers=0)


def on_device(device: torch.device | None, loader):
    """The loader's batches, moved to ``device`` (None: left where they are, on the CPU)."""
    for batch in loader:
        yield batch if device is None else tuple(tensor.to(device, non_blocking=True) for tensor in batch)

