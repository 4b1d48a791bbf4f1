"""Argument helpers the verbs share: ``key=value`` settings and seed lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import yaml

REPO_MODELS = Path(__file__).resolve().parents[2] / "models"  # the shipped models


def parse_assignments(pairs: Sequence[str], what: str) -> dict[str, Any]:
    """``key=value`` pairs with YAML values (so 3 is an int, 0.5 a float, true a bool, null None)."""
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"error: {what} {pair!r} is not of the form key=value")
        result[key.strip()] = yaml.safe_load(value)
    return result


def seed_list(text: str) -> list[int]:
    """'0-23' or '0,3,5' or '1000-1004,7' -> a list of ints."""
    seeds: list[int] = []
    for part in text.split(","):
        low, sep, high = part.partition("-")
        try:
            seeds.extend(range(int(low), int(high) + 1) if sep else [int(low)])
        except ValueError:
            raise SystemExit(f"error: bad seed list {text!r}; write e.g. 0-23 or 0,3,5") from None
    return seeds


def value_range(text: str) -> tuple[float, float]:
    """'5,20' or '30' -> (low, high)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise SystemExit(f"error: bad range {text!r}; write LOW,HIGH or one number") from None
    if len(values) not in (1, 2):
        raise SystemExit(f"error: bad range {text!r}; write LOW,HIGH or one number")
    return values[0], values[-1]
