"""Loading a state dict with an error that says exactly what does not fit."""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn


class WeightsMismatchError(ValueError):
    """The weights do not fit the architecture: missing, unexpected or differently shaped tensors."""


def load_weights(module: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """``module.load_state_dict(state_dict, strict=True)``, checked first so that errors name every problem."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    reshaped = [
        f"{key}: {tuple(state_dict[key].shape)} given, {tuple(expected[key].shape)} expected"
        for key in sorted(set(expected) & set(state_dict))
        if tuple(state_dict[key].shape) != tuple(expected[key].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensor(s): {_first(missing, ', ')}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)} tensor(s): {_first(unexpected, ', ')}")
    if reshaped:
        problems.append(f"shape mismatch: {_first(reshaped, '; ')}")
    if problems:
        raise WeightsMismatchError(
            f"the weights from {source} do not fit this {type(module).__name__} ({'; '.join(problems)}); "
            "check that the architecture settings are the ones the weights were trained with"
        )
    module.load_state_dict(dict(state_dict), strict=True)


def _first(items: list[str], separator: str) -> str:
    """The first eight of ``items`` joined, with " ..." when there are more."""
    return separator.join(items[:8]) + (" ..." if len(items) > 8 else "")
