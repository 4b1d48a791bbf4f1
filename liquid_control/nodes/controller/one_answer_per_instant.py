"""Which of controller_node's commands go out on a simulator's clock: at most one per instant.

Kept apart from the node so that the rule reads on its own (the node counts what it holds back).
"""

from __future__ import annotations


class OneAnswerPerInstant:
    """On a simulator's clock, which commands go out: at most one per instant of that clock.

    A lock-step simulator steps its world on every command it receives. A second command at an
    instant already answered (a frame delivered twice, a start-up backlog of frames) would step it
    once more, and every later command would then arrive a frame late, for good. A stop that
    follows a moving command at the same instant still goes out: safety first.
    """

    def __init__(self):
        self._last: tuple[float, bool] | None = None  # (instant, was a stop) of the last command sent

    def allows(self, now: float, stop: bool) -> bool:
        """Whether a command at ``now`` (a stop or not) goes out; if it does, it is remembered."""
        if self._last is not None and self._last[0] == now and not (stop and not self._last[1]):
            return False
        self._last = (now, stop)
        return True
