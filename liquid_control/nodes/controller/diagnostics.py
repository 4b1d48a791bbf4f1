"""What controller_node reports on /diagnostics: its counters and latencies, and the status they make.

``ControllerStats`` is what the node counts and times as it runs; ``status_level`` and
``diagnostic_values`` turn it (with the loaded loop and the parameters) into the status level,
message and key/value pairs of its DiagnosticStatus. Pure functions: no ROS needed to test them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus

from liquid_control.runtime.loop import ControlLoop, TickResult
from liquid_control.runtime.rolling_stats import RollingStats
from liquid_control.runtime.shadow import ShadowAgreement

COUNTERS = ("frames", "invalid_frames", "ticks", "commands", "faults", "resets",
            # on a simulator's clock, a second command at an instant already answered is not sent (node.py)
            "commands_same_instant",
            # what the view topics computed (only while someone subscribes to them)
            "view_attention_maps", "view_neuron_arrays", "view_wiring_images")


@dataclass
class ControllerStats:
    """Counters, latencies (seconds) and the last tick and frame problem, as the node records them."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    step_latency: RollingStats = field(default_factory=RollingStats)  # the network step at the tick
    head_latency: RollingStats = field(default_factory=RollingStats)  # the conv head, on frame arrival
    pipeline_latency: RollingStats = field(default_factory=RollingStats)  # frame stamp to command
    tick_times: RollingStats = field(default_factory=lambda: RollingStats(size=200))  # time.monotonic() of ticks
    last_tick: TickResult | None = None
    last_problem: str = ""  # why the last invalid frame was dropped


def achieved_rate_hz(tick_times: list[float]) -> float:
    """Ticks per second over the recorded tick times (0 with too few to tell)."""
    if len(tick_times) > 2 and tick_times[-1] > tick_times[0]:
        return (len(tick_times) - 1) / (tick_times[-1] - tick_times[0])
    return 0.0


def status_level(configured: bool, active: bool, tick: TickResult | None) -> tuple[bytes, str]:
    """The DiagnosticStatus level and message: unconfigured, inactive, the last tick's problem, or stepping."""
    if not configured:
        return DiagnosticStatus.WARN, "unconfigured"
    if not active:
        return DiagnosticStatus.WARN, "inactive"
    if tick is not None and tick.status == "fault":
        return DiagnosticStatus.ERROR, tick.message
    if tick is not None and tick.status != "ok":
        return DiagnosticStatus.WARN, tick.message
    return DiagnosticStatus.OK, "stepping"


def threads_text(control_thread, frames_thread, realtime_priority: int) -> str:
    """Who serves the ticks and frames: the executor, or the dedicated threads and their scheduling."""
    threads = [t for t in (control_thread, frames_thread) if t is not None]
    if not threads:
        return "executor"
    scheduling = ""
    if control_thread is not None and realtime_priority:
        problem = control_thread.scheduling_problem
        scheduling = (f", control at normal priority ({problem})" if problem
                      else f", control under SCHED_FIFO {realtime_priority}")
    return f"dedicated: {', '.join(t.name for t in threads)}{scheduling}"


def shadow_values(shadow: ShadowAgreement | None) -> dict[str, str]:
    """Shadow mode's agreement figures ({} outside shadow mode)."""
    if shadow is None:
        return {}
    values = {"shadow": "true", "shadow_pairs": str(shadow.pairs),
              "shadow_driving_commands": str(shadow.driving_commands), "shadow_unpaired": str(shadow.unpaired)}
    for name, figures in shadow.summary().items():
        for key, value in figures.items():
            values[f"shadow_{name}_{key}"] = "n/a" if value is None else f"{value:.4f}"
    return values


def configured_text(loop: ControlLoop, card: dict, input_topic: str, preprocessed_here: bool, dedicated: bool) -> str:
    """The line logged when the node is configured: model, device, backend, output, input, threads."""
    engine = loop.engine
    timings = engine.selection.get("median_step_us") if engine.selection else None
    return (f"configured: model {card.get('name')!r} on {loop.device}, backend {engine.backend}"
            + (f" (auto, median step us: {timings})" if timings else "")
            + f", output {loop.output_text}"
            + f", frames from {input_topic}"
            + (" (preprocessed here)" if preprocessed_here else "")
            + (", dedicated threads" if dedicated else ", on the executor"))


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1e3:.3f}"


def diagnostic_values(stats: ControllerStats, loop: ControlLoop | None, card: dict, parameters: dict[str, Any],
                      input_topic: str | None, threads: str, shadow: ShadowAgreement | None) -> dict[str, str]:
    """The key/value pairs of the node's DiagnosticStatus, in the order they are published."""
    tick = stats.last_tick
    ticks = list(stats.tick_times.values)  # a snapshot: the control thread appends
    frame_triggered = parameters["trigger"] == "frame"
    selection = loop.engine.selection if loop else None
    return {
        "model": str(card.get("name")),
        "device": str(loop.device) if loop else "n/a",
        "backend": loop.engine.backend if loop else "n/a",
        "backend_selection_us": json.dumps(selection.get("median_step_us", {})) if selection else "n/a",
        "input": input_topic if input_topic is not None else "n/a",
        "output": loop.output_text if loop else "n/a",
        "threads": threads,
        "control_rate_hz": f"{parameters['control_rate_hz']:g}" if not frame_triggered else "frame-triggered",
        "achieved_rate_hz": f"{achieved_rate_hz(ticks):.2f}",
        "head_latency_p50_ms": _ms(stats.head_latency.percentile(50)),
        "head_latency_p99_ms": _ms(stats.head_latency.percentile(99)),
        "step_latency_p50_ms": _ms(stats.step_latency.percentile(50)),
        "step_latency_p99_ms": _ms(stats.step_latency.percentile(99)),
        "pipeline_latency_p50_ms": _ms(stats.pipeline_latency.percentile(50)),
        "pipeline_latency_p99_ms": _ms(stats.pipeline_latency.percentile(99)),
        "input_age_ms": _ms(tick.input_age if tick else None),
        "last_invalid_frame": stats.last_problem or "none",
        "future_frames": str(loop.future_frames if loop else 0),
        **{key: str(value) for key, value in stats.counts.items()},
        **shadow_values(shadow),
    }
