"""The policy watchdog: live, then hover (stale), then lost (stop streaming), from the node's start too."""
import math

import pytest

from liquid_control.autopilots import HOVER, BodyVelocity, PolicyState, PolicyTimeouts, PolicyWatch

TIMEOUTS = PolicyTimeouts(cmd_timeout_s=0.5, failsafe_after_s=2.0)
COMMAND = BodyVelocity(forward=1.0, yaw_rate=0.2)


def test_fresh_command_is_flown_then_hover_then_lost():
    watch = PolicyWatch(TIMEOUTS, start_time=10.0)
    watch.heard(COMMAND, now=11.0)
    assert watch.state(11.4) is PolicyState.LIVE and watch.command(11.4) == COMMAND
    assert watch.state(11.6) is PolicyState.STALE and watch.command(11.6) == HOVER
    assert watch.state(13.4) is PolicyState.STALE
    assert watch.state(13.6) is PolicyState.LOST and watch.command(13.6) is None
    watch.heard(COMMAND, now=14.0)  # the policy is back
    assert watch.state(14.1) is PolicyState.LIVE


def test_silence_counts_from_the_start():
    watch = PolicyWatch(TIMEOUTS, start_time=0.0)
    assert watch.state(0.1) is PolicyState.STALE  # nothing heard yet: hover, never LIVE
    assert watch.state(2.6) is PolicyState.LOST


def test_non_finite_command_is_not_heard():
    watch = PolicyWatch(TIMEOUTS, start_time=0.0)
    watch.heard(BodyVelocity(forward=math.nan), now=0.1)
    assert watch.commands_heard == 0 and watch.state(0.2) is PolicyState.STALE


@pytest.mark.parametrize("name", ["cmd_timeout_s", "failsafe_after_s"])
def test_timeouts_must_be_non_negative(name):
    with pytest.raises(ValueError, match=name):
        PolicyTimeouts(**{name: -1.0})
