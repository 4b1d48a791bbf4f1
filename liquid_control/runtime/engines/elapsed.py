"""Elapsed times as the engines take them: one number for every agent or one per agent, checked once.

An LTC's solver divides by the step length, so its engines refuse a zero step; every engine refuses
NaN, Inf and negative steps before they reach the network.
"""

from __future__ import annotations

import math

import numpy as np


def dt_vector(dt, batch: int, positive: bool) -> np.ndarray:
    """Elapsed times as a (batch,) float32 vector: a number applies to every agent.

    Written for a batch of one to cost as few checks as possible: numpy's small-array calls are
    what dominate a compiled cell step.
    """
    kind = type(dt)
    if kind is float or kind is int:
        value = float(dt)  # checked as the network will see it, in float32: 1e-46 is 0, 1e39 is inf
        if abs(value) < 3.4028234e38:
            value = float(np.float32(value))
        elif value == value:  # not NaN: beyond float32's range is infinite
            value = math.copysign(math.inf, value)
        check_dt(value, value, positive)
        return np.array((value,), dtype=np.float32) if batch == 1 else np.full(batch, value, dtype=np.float32)
    if kind is np.ndarray and dt.dtype == np.float32 and dt.ndim == 1:
        values = dt
    else:
        if kind is bool:
            raise TypeError("dt must be a number of seconds or an array of them, not a bool")
        values = np.asarray(dt, dtype=np.float32).reshape(-1)
    count = values.shape[0]
    if count == 1:
        value = float(values[0])
        check_dt(value, value, positive)
        return values if batch == 1 else np.full(batch, value, dtype=np.float32)
    if count != batch:
        raise ValueError(f"dt has {count} values for a batch of {batch} agents; give one per agent or one number")
    check_dt(float(values.min()), float(values.max()), positive)  # min/max propagate NaN
    return values


def check_dt(low: float, high: float, positive: bool) -> None:
    if not ((low > 0.0 if positive else low >= 0.0) and high < math.inf):
        raise ValueError(dt_message(positive, [low, high] if low != high else [low]))


def dt_message(positive: bool, values) -> str:
    if positive:
        return f"elapsed times must be finite and > 0 s (an LTC's solver divides by the step length), got {values}"
    return f"elapsed times must be finite and >= 0 s, got {values}"
