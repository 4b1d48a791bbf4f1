"""Log throttling per reason: rclpy's ``throttle_duration_sec`` throttles per call site, so one
recurring problem logged from a line would silence every other problem logged from it."""

from __future__ import annotations

import time


class LogThrottle:
    """``allows(reason)`` is True at most once every ``period`` seconds for each reason."""

    def __init__(self, period: float):
        self.period = period
        self._last: dict[str, float] = {}  # reason -> time.monotonic() it was last let through

    def allows(self, reason: str) -> bool:
        now = time.monotonic()
        if now - self._last.get(reason, -self.period) < self.period:
            return False
        self._last[reason] = now
        return True
