"""The publisher's rules: nothing is computed for a channel nobody can see, and each channel keeps its rate."""

from __future__ import annotations

import numpy as np

from liquid_control.nets import load_model
from liquid_control.view.publisher import RateGate, ViewRates
from liquid_control.view.session import LiveView

from .view_client import LANE_MODEL


def test_a_live_view_without_subscribers_computes_nothing():
    policy, card = load_model(LANE_MODEL)
    view = LiveView(live="127.0.0.1:0")
    called = []

    def asked(name, value=None):
        return lambda: called.append(name) or value

    try:
        view.publisher.use_model(policy, card)
        for step in range(20):
            view.publisher.publish(step * 0.05, frame=np.zeros((66, 200, 3), np.uint8),
                                   preprocessed=asked("preprocessed"), neurons=asked("neurons", np.zeros(19)),
                                   twist=asked("twist", (0.0,) * 6), step={"elapsed_s": 0.05, "step_ms": 1.0},
                                   scene=asked("scene"))
    finally:
        view.close()
    assert called == []


def test_an_mcap_gets_each_channel_at_its_rate(tmp_path):
    policy, card = load_model(LANE_MODEL)
    view = LiveView(mcap=str(tmp_path / "rates.mcap"), rates=ViewRates(overlay_hz=2.0, wiring_hz=1.0, scene_hz=4.0))
    called = []

    def asked(name, value=None):
        return lambda: called.append(name) or value

    try:
        view.publisher.use_model(policy, card)
        for step in range(40):  # 2 s at 20 Hz
            view.publisher.publish(step * 0.05, frame=np.zeros((66, 200, 3), np.uint8),
                                   preprocessed=asked("overlay", np.zeros((66, 200, 3), np.float32)),
                                   neurons=asked("neurons", np.zeros(19)), twist=asked("twist", (0.0,) * 6),
                                   scene=asked("scene"))
    finally:
        view.close()
    assert called.count("neurons") == called.count("twist") == 40
    assert called.count("overlay") == 4 and called.count("scene") == 8


def test_a_rate_gate_opens_once_a_period_and_again_after_time_goes_back():
    gate = RateGate(2.0)
    assert [gate.due(t / 10) for t in range(12)] == [True] + [False] * 4 + [True] + [False] * 4 + [True, False]
    assert gate.due(0.0)  # a new episode starts its clock again
    every = RateGate(0.0)
    assert all(every.due(0.0) for _ in range(3))
