"""Argument helpers the verbs share: ``key=value`` settings and seed lists."""

from __future__ import annotations

from typing import Any, Sequence

import yaml


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
