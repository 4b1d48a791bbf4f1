"""What controller_node reports on /diagnostics, computed without ROS running."""

from types import SimpleNamespace

import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from liquid_control.nodes.controller.diagnostics import (
    COUNTERS,
    ControllerStats,
    achieved_rate_hz,
    configured_text,
    diagnostic_values,
    shadow_values,
    status_level,
    threads_text,
)
from liquid_control.nodes.controller.settings import default_values
from liquid_control.runtime.commands import Twist
from liquid_control.runtime.loop import TickResult
from liquid_control.runtime.shadow import ShadowAgreement


def _loop(selection=None):
    engine = SimpleNamespace(backend="native", selection=selection or {})
    return SimpleNamespace(engine=engine, device="cpu", output_text="steering: first output is curvature",
                           future_frames=2)


def test_the_status_says_what_is_wrong_first():
    fault = TickResult(Twist(), "fault", message="the network produced NaN/Inf")
    stale = TickResult(Twist(), "stale_input", message="newest frame is 0.9 s old")
    assert status_level(False, False, None) == (DiagnosticStatus.WARN, "unconfigured")
    assert status_level(True, False, fault) == (DiagnosticStatus.WARN, "inactive")
    assert status_level(True, True, fault) == (DiagnosticStatus.ERROR, "the network produced NaN/Inf")
    assert status_level(True, True, stale) == (DiagnosticStatus.WARN, "newest frame is 0.9 s old")
    assert status_level(True, True, TickResult(Twist(), "ok")) == (DiagnosticStatus.OK, "stepping")
    assert status_level(True, True, None) == (DiagnosticStatus.OK, "stepping")


def test_the_achieved_rate_needs_three_ticks():
    assert achieved_rate_hz([]) == 0.0
    assert achieved_rate_hz([1.0, 1.1]) == 0.0
    assert achieved_rate_hz([1.0, 1.0, 1.0]) == 0.0
    assert achieved_rate_hz([1.0, 1.05, 1.1, 1.15, 1.2]) == pytest.approx(20.0)


def test_threads_name_the_dedicated_ones_and_their_scheduling():
    control = SimpleNamespace(name="control", scheduling_problem="")
    frames = SimpleNamespace(name="frames", scheduling_problem="")
    assert threads_text(None, None, 0) == "executor"
    assert threads_text(control, frames, 0) == "dedicated: control, frames"
    assert threads_text(control, frames, 50) == "dedicated: control, frames, control under SCHED_FIFO 50"
    refused = SimpleNamespace(name="control", scheduling_problem="no rights")
    assert threads_text(refused, None, 50) == "dedicated: control, control at normal priority (no rights)"


def test_values_before_configuration():
    values = diagnostic_values(ControllerStats(), None, {}, default_values(), None, "executor", None)
    assert values["model"] == "None" and values["backend"] == "n/a" and values["input"] == "n/a"
    assert values["backend_selection_us"] == "n/a" and values["future_frames"] == "0"
    assert values["step_latency_p99_ms"] == "n/a" and values["last_invalid_frame"] == "none"
    assert [values[name] for name in COUNTERS] == ["0"] * len(COUNTERS)
    assert "shadow" not in values


def test_values_of_a_running_loop():
    stats = ControllerStats()
    for seconds in (0.001, 0.002, 0.003):
        stats.step_latency.add(seconds)
    stats.counts["frames"] = 7
    stats.last_tick = TickResult(Twist(), "ok", input_age=0.0125)
    stats.last_problem = "image holds NaN or Inf"
    loop = _loop({"median_step_us": {"torch": 90.0, "native": 12.5}})
    parameters = {**default_values(), "trigger": "frame"}
    values = diagnostic_values(stats, loop, {"name": "ncp"}, parameters, "/robot/image_preprocessed",
                               "dedicated: frames", None)
    assert values["model"] == "ncp" and values["backend"] == "native" and values["device"] == "cpu"
    assert values["backend_selection_us"] == '{"torch": 90.0, "native": 12.5}'
    assert values["control_rate_hz"] == "frame-triggered"
    assert values["step_latency_p50_ms"] == "2.000" and values["input_age_ms"] == "12.500"
    assert values["frames"] == "7" and values["future_frames"] == "2"
    assert values["last_invalid_frame"] == "image holds NaN or Inf"
    assert diagnostic_values(stats, loop, {}, default_values(), None, "", None)["control_rate_hz"] == "20"


def test_shadow_mode_adds_its_agreement():
    shadow = ShadowAgreement(("angular.z",), 0.1, 0.5)
    values = shadow_values(shadow)
    assert values["shadow"] == "true" and values["shadow_pairs"] == "0"
    assert shadow_values(None) == {}


def test_the_configured_line_names_what_runs():
    text = configured_text(_loop({"median_step_us": {"native": 12.5}}), {"name": "ncp"}, "/image_raw", True, False)
    assert text == ("configured: model 'ncp' on cpu, backend native (auto, median step us: {'native': 12.5}), "
                    "output steering: first output is curvature, frames from /image_raw (preprocessed here), "
                    "on the executor")
