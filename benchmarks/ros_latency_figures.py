"""The figures of ros_latency.py: latency statistics, pairing answers with frames, losses per hop.

Answers that carry the header stamp (echo, perception) are paired with their frame exactly; a cmd_vel
carries no frame identity, so commands are paired with frames in order when none was lost, otherwise
each command with the last frame published before it. Losses are counted per hop from the nodes'
/diagnostics counters, never hidden.
"""

from __future__ import annotations

import numpy as np


def latency_stats(seconds) -> dict:
    if len(seconds) == 0:
        return {"n": 0}
    ms = np.asarray(seconds) * 1e3
    return {"n": int(ms.size), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p90_ms": round(float(np.percentile(ms, 90)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "max_ms": round(float(ms.max()), 3), "mean_ms": round(float(ms.mean()), 3)}


def pair_by_key(sent: list[tuple[float, int]], received: list[tuple[float, int]]) -> tuple[list[float], int]:
    """Latencies of answers that carry their frame's stamp; and how many frames got no answer."""
    published = {stamp: t for t, stamp in sent}
    latencies, seen = [], set()
    for t, stamp in received:
        if stamp in published and stamp not in seen:
            seen.add(stamp)
            latencies.append(t - published[stamp])
    return latencies, len(sent) - len(seen)


def pair_in_order(sent: list[tuple[float, int]], received: list[tuple[float, object]]) -> tuple[list[float], str, int]:
    """Latencies of answers without frame identity (cmd_vel); the method used; windows with > 1 answer
    (the window method is exact while latency < 1 period; those windows count where it is not)."""
    times = np.array([t for t, _ in sent])
    answers = [t for t, _ in received]
    if len(answers) == len(sent):
        return [a - s for a, s in zip(answers, times)], "in order (no frame lost)", 0
    latencies, used, shared = [], set(), 0
    for t in answers:
        index = int(np.searchsorted(times, t, side="right")) - 1
        if index < 0:
            continue
        if index in used:
            shared += 1
            continue
        used.add(index)
        latencies.append(t - times[index])
    return latencies, "window (last frame published before the command)", shared


def hop_losses(measured: dict, published: int) -> dict:
    """Frames lost per hop, from the nodes' own counters (deltas over the measured run)."""
    def delta(name, key):
        if name not in measured["before"]:
            return None
        return int(measured["after"][name][key]) - int(measured["before"][name][key])

    losses = {"published": published}
    if "perception_node" in measured["before"]:
        losses["perception_frames_in"] = delta("perception_node", "frames_in")
        losses["perception_frames_out"] = delta("perception_node", "frames_out")
        losses["lost_probe_to_perception"] = published - losses["perception_frames_in"]
        losses["dropped_by_perception"] = delta("perception_node", "frames_dropped")
    if "controller_node" in measured["before"]:
        losses["controller_frames_in"] = delta("controller_node", "frames")
        losses["controller_invalid_frames"] = delta("controller_node", "invalid_frames")
        losses["controller_commands"] = delta("controller_node", "commands")
        upstream = losses.get("perception_frames_out", published)
        losses["lost_to_controller"] = upstream - losses["controller_frames_in"]
    losses["answers_received"] = len(measured["received"])
    return losses


def controller_figures(measured: dict, frames: int) -> dict:
    """controller_node's own step and pipeline latencies (its /diagnostics after the run)."""
    values = measured["after"]["controller_node"]
    keys = ("step_latency_p50_ms", "step_latency_p99_ms", "pipeline_latency_p50_ms", "pipeline_latency_p99_ms",
            "resets", "faults", "device")
    figures = {k: values[k] for k in keys}
    figures["window"] = ("the node's last 500 steps" + ("" if frames >= 500 else
                         f" (includes {500 - frames} warm-up steps: run with --frames >= 500)"))
    figures["pipeline_latency_means"] = "frame stamp (probe's publish, system clock) -> command published, node side"
    return figures


def perception_figures(measured: dict) -> dict:
    """perception_node's preprocessing time over the run (from its /diagnostics)."""
    before, after = measured["before"]["perception_node"], measured["after"]["perception_node"]
    n0, n1 = int(before["frames_out"]), int(after["frames_out"])
    m0 = float(before["mean_preprocess_ms"] or 0.0)
    m1 = float(after["mean_preprocess_ms"] or 0.0)
    maxima = [float(v["max_preprocess_ms_last_period"]) for v in measured["during"]["perception_node"]
              if v.get("max_preprocess_ms_last_period")]
    return {"mean_preprocess_ms": round((m1 * n1 - m0 * n0) / max(1, n1 - n0), 3),
            "max_preprocess_ms": max(maxima) if maxima else None,
            "what": "decode + crop/resize/normalise in the node's callback (its /diagnostics)"}
