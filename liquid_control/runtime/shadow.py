"""Shadow mode's measure: how well the policy agrees with the command that actually drives the robot.

The safe first step on a real robot runs the policy on the live camera while a person or another
controller drives. Each command the policy would have sent is paired with the driving command in
force at that moment (the newest received at or before it, at most ``max_age_s`` old), and per
commanded field the agreement is kept over the last ``window`` pairs: the absolute error's median
and 95th percentile, the share of pairs within ``tolerance``, and the share whose sign agrees
where the driving command clearly turns or moves (beyond the tolerance). Plain Python: the node
feeds it, a bag replay or a test can too.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

FIELDS = ("linear.x", "linear.y", "linear.z", "angular.z")


def twist_values(twist, fields: tuple[str, ...]) -> list[float]:
    """The ``fields`` of a runtime ``Twist`` (linear_x, ..., angular_z attributes)."""
    return [float(getattr(twist, name.replace(".", "_"))) for name in fields]


class ShadowAgreement:
    def __init__(self, fields: tuple[str, ...], tolerance: float = 0.1, max_age_s: float = 0.5, window: int = 600):
        unknown = [name for name in fields if name not in FIELDS]
        if not fields or unknown:
            raise ValueError(f"shadow fields must be some of {FIELDS}, got {fields}")
        if not tolerance > 0:
            raise ValueError(f"the shadow tolerance must be > 0, got {tolerance}")
        self.fields, self.tolerance, self.max_age_s = tuple(fields), float(tolerance), float(max_age_s)
        self._lock = threading.Lock()
        self._driving: tuple[float, list[float]] | None = None  # newest driving command: (time, values)
        self._pairs: deque = deque(maxlen=window)  # (policy values, driving values)
        self.driving_commands = 0
        self.unpaired = 0  # policy commands with no driving command recent enough

    def driving(self, time_s: float, values: list[float]) -> None:
        """A command that drives the robot, received at ``time_s`` (its ``fields``, in order)."""
        with self._lock:
            if self._driving is None or time_s >= self._driving[0]:
                self._driving = (time_s, list(values))
            self.driving_commands += 1

    def shadow(self, time_s: float, values: list[float]) -> bool:
        """A command the policy would have sent at ``time_s``; True if it was paired."""
        with self._lock:
            if self._driving is None or not 0 <= time_s - self._driving[0] <= self.max_age_s:
                self.unpaired += 1
                return False
            self._pairs.append((list(values), self._driving[1]))
            return True

    def summary(self) -> dict[str, dict[str, float | None]]:
        """Per field: error_p50, error_p95, within_tolerance, sign_agreement (None without pairs
        that turn or move beyond the tolerance), over the window's pairs."""
        with self._lock:
            pairs = list(self._pairs)
        if not pairs:
            return {}
        policy = np.array([p for p, _ in pairs], np.float64)
        driving = np.array([d for _, d in pairs], np.float64)
        result = {}
        for k, name in enumerate(self.fields):
            error = np.abs(policy[:, k] - driving[:, k])
            moving = np.abs(driving[:, k]) > self.tolerance
            result[name] = {
                "error_p50": float(np.percentile(error, 50)), "error_p95": float(np.percentile(error, 95)),
                "within_tolerance": float(np.mean(error <= self.tolerance)),
                "sign_agreement": (float(np.mean(np.sign(policy[moving, k]) == np.sign(driving[moving, k])))
                                   if moving.any() else None),
            }
        return result

    @property
    def pairs(self) -> int:
        with self._lock:
            return len(self._pairs)
