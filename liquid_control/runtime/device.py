"""Which torch device a node runs its network on: 'cpu', 'cuda', 'cuda:N' or 'auto'."""

from __future__ import annotations

import torch


def choose_device(requested: str) -> str:
    """'cpu', 'cuda' (an error if there is none) or 'auto' (cuda when available)."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device; use 'cpu' or 'auto'")
    if requested not in ("cpu", "cuda") and not requested.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {requested!r}")
    return requested

