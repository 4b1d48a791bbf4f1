"""How long the policy has been silent, and what an autopilot adapter does about it.

Every adapter streams setpoints to its flight controller at a fixed rate, whatever the policy's
own rate. While the last command is younger than ``cmd_timeout_s`` it is flown (LIVE). Then the
adapter holds the vehicle still: zero velocity, heading kept (STALE). ``failsafe_after_s`` later
the adapter stops streaming altogether (LOST), so that the flight controller's own loss-of-link
failsafe (PX4's offboard loss, ArduPilot's guided timeout) takes over: it knows the vehicle and its
surroundings better than a bridge that has lost its policy. A node that never heard a command
counts the silence from its start.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from .frames import HOVER, BodyVelocity


class PolicyState(enum.Enum):
    LIVE = "live"  # the last command is fresh: fly it
    STALE = "stale"  # hold still: zero velocity, keep the heading
    LOST = "lost"  # stop streaming: the autopilot's own failsafe takes over


@dataclass(frozen=True)
class PolicyTimeouts:
    cmd_timeout_s: float = 0.5
    failsafe_after_s: float = 2.0

    def __post_init__(self):
        for name in ("cmd_timeout_s", "failsafe_after_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}")


class PolicyWatch:
    """The latest policy command and its age; times are seconds on one clock (the node's)."""

    def __init__(self, timeouts: PolicyTimeouts, start_time: float):
        self.timeouts = timeouts
        self._heard_at = start_time  # silence counts from the start until the first command
        self._command = HOVER
        self.commands_heard = 0

    def heard(self, command: BodyVelocity, now: float) -> None:
        """A command from the policy. A non-finite one is not a command: it leaves the policy silent."""
        if not command.is_finite():
            return
        self._command = command
        self._heard_at = now
        self.commands_heard += 1

    def silence_s(self, now: float) -> float:
        return max(0.0, now - self._heard_at)

    def state(self, now: float) -> PolicyState:
        silence = self.silence_s(now)
        if self.commands_heard and silence <= self.timeouts.cmd_timeout_s:
            return PolicyState.LIVE
        if silence <= self.timeouts.cmd_timeout_s + self.timeouts.failsafe_after_s:
            return PolicyState.STALE
        return PolicyState.LOST

    def command(self, now: float) -> BodyVelocity | None:
        """What to fly now: the policy's command, a hover, or None (stop streaming)."""
        state = self.state(now)
        if state is PolicyState.LIVE:
            return self._command
        return HOVER if state is PolicyState.STALE else None
