"""Know your data before you train: what a task makes of a set of recordings, and what would ruin training.

Per bag and in total: frames, frame rate and gaps, the share of frames paired with a command, how
old the paired command is, each output's range and spread, and warnings in plain words for what
ruins training: commands on another clock, few frames paired, an output that never varies, a
camera that shows the same image, a recording too short to fill one training sequence.
"""

from __future__ import annotations

import numpy as np

from liquid_control.data.pairing import DROP_REASONS, pair_recording
from liquid_control.data.recordings import read_recording

FEW_PAIRED = 0.5  # warn when fewer frames than this share are paired
STILL_CAMERA = 0.5  # grey levels: consecutive frames closer than this on average show the same image
CLOCK_OFFSET_S = 0.25  # warn when the command and camera clocks differ by more (transport delays are far less)


def _percentiles(values: np.ndarray, points=(5, 50, 95)) -> dict:
    if not len(values):
        return {}
    return {f"p{p}": round(float(np.percentile(values, p)), 4) for p in points}


def _bag_summary(recording, episodes, report, task, seq_len: int) -> tuple[dict, list[str]]:
    name = recording.path
    stamps = np.where(recording.frame_header_ns > 0, recording.frame_header_ns, recording.frame_receive_ns) * 1e-9
    gaps = np.diff(stamps) if len(stamps) > 1 else np.zeros(0)
    period = float(np.median(gaps)) if len(gaps) else None
    labels = np.concatenate([e.labels for e in episodes]) if episodes else np.zeros((0, len(task.label_names)))
    # Still camera: mean absolute difference of consecutive decoded frames, on up to 200 pairs.
    frames = recording.frames
    picks = np.unique(np.linspace(0, max(len(frames) - 2, 0), min(200, max(len(frames) - 1, 0))).astype(int))
    change = (float(np.median([np.abs(frames[i + 1].astype(np.int16) - frames[i]).mean() for i in picks]))
              if len(frames) > 1 else None)
    summary = {
        "camera_messages": recording.camera_messages,
        "decoded": int(len(recording.frames)),
        "undecodable": recording.undecodable,
        "duration_s": round(float(stamps[-1] - stamps[0]), 3) if len(stamps) > 1 else 0.0,
        "frame_rate_hz": round(1.0 / period, 2) if period else None,
        "gaps_over_twice_the_period": int(np.sum(gaps > 2 * period)) if period else 0,
        "largest_gap_s": round(float(gaps.max()), 3) if len(gaps) else None,
        "command_topic": report.command_topic,
        "paired": report.paired,
        "paired_fraction": round(report.paired / max(recording.camera_messages, 1), 4),
        "dropped": {DROP_REASONS[k]: v for k, v in report.dropped.items()},
        "command_age_s": _percentiles(report.command_ages_s),
        "command_clock_difference_s": round(report.clock_difference_s, 4),
        "episodes": len(episodes),
        "longest_episode_frames": max((len(e) for e in episodes), default=0),
        "frame_change_grey_levels": None if change is None else round(change, 3),
        "outputs": {n: _output_summary(labels[:, k]) for k, n in enumerate(task.label_names)},
    }
    warnings = []
    offset = report.clock_difference_s
    if abs(offset) > CLOCK_OFFSET_S:
        later = "later" if offset > 0 else "earlier"
        warnings.append(f"{name}: measured against the times the recorder received them, the commands are stamped "
                        f"{abs(offset):.1f} s {later} than the frames: their clock is not the camera's, and each frame "
                        f"would be paired with a command from {abs(offset):.1f} s away. "
                        f"Set pairing.command_clock_offset_s: {-offset:.1f} in the task, "
                        "or pairing.command_stamp: receive and pairing.frame_stamp: receive "
                        "to pair by the recorder's clock")
    if summary["paired_fraction"] < FEW_PAIRED:
        worst = max(report.dropped.items(), key=lambda item: item[1])[0] if report.dropped else None
        why = f"; most {DROP_REASONS[worst]}" if worst else ""
        warnings.append(f"{name}: only {summary['paired_fraction']:.0%} of the frames are paired with a command{why}")
    for output, stats in summary["outputs"].items():
        if stats and stats["std"] < 1e-6:
            warnings.append(f"{name}: {output} never varies (always {stats['mean']:.4g}): "
                            "nothing to learn from it here; drop it from command.outputs or record while it changes")
    if change is not None and change < STILL_CAMERA:
        warnings.append(f"{name}: consecutive frames differ by {change:.2f} grey levels on average: "
                        "the camera shows the same image (frozen driver, lens cap, robot standing still)")
    if summary["longest_episode_frames"] < seq_len:
        warnings.append(f"{name}: its longest stretch of paired frames has {summary['longest_episode_frames']} frames, "
                        f"fewer than one training sequence ({seq_len}); record longer drives or train with a smaller "
                        "--seq-len")
    return summary, warnings


def _output_summary(values: np.ndarray) -> dict:
    if not len(values):
        return {}
    counts, edges = np.histogram(values, bins=20)
    return {"min": round(float(values.min()), 5), "max": round(float(values.max()), 5),
            "mean": round(float(values.mean()), 5), "std": round(float(values.std()), 5),
            "histogram": {"counts": counts.tolist(), "edges": [round(float(e), 5) for e in edges]}}


def dataset_report(bags, task, seq_len: int = 24, cache=True, jobs: int | None = None,
                   progress: bool = True) -> dict:
    """The report on ``bags`` (paths of bags) for ``task``: per bag, the total, and the warnings."""
    per_bag, warnings, all_labels, all_episodes = {}, [], [], []
    for bag in bags:
        recording = read_recording(bag, task, cache=cache, jobs=jobs, progress=progress)
        episodes, pairing = pair_recording(recording, task)
        summary, found = _bag_summary(recording, episodes, pairing, task, seq_len)
        per_bag[str(bag)] = summary
        warnings.extend(found)
        all_labels.extend(e.labels for e in episodes)
        all_episodes.extend(episodes)
    labels = np.concatenate(all_labels) if all_labels else np.zeros((0, len(task.label_names)))
    total = {"bags": len(per_bag), "camera_messages": sum(s["camera_messages"] for s in per_bag.values()),
             "paired": sum(s["paired"] for s in per_bag.values()),
             "duration_s": round(sum(s["duration_s"] for s in per_bag.values()), 3),
             "episodes": len(all_episodes),
             "outputs": {n: _output_summary(labels[:, k]) for k, n in enumerate(task.label_names)}}
    total["paired_fraction"] = round(total["paired"] / max(total["camera_messages"], 1), 4)
    for k, name in enumerate(task.label_names):
        if len(labels) and labels[:, k].std() < 1e-6 and len(per_bag) > 1:
            warnings.append(f"all bags: {name} never varies: the policy cannot learn it")
    return {"task": task.name, "outputs": list(task.label_names), "units": list(task.command.units), "total": total,
            "bags": per_bag, "warnings": warnings, "_episodes": all_episodes}


def format_report(report: dict) -> str:
    outputs = ", ".join(f"{n} ({u})" for n, u in zip(report["outputs"], report["units"]))
    lines = [f"task {report['task']}: outputs {outputs}"]
    for bag, s in report["bags"].items():
        age = s["command_age_s"]
        lines.append(f"{bag}: {s['camera_messages']} frames over {s['duration_s']:.1f} s "
                     f"({s['frame_rate_hz'] or 0:.1f} Hz, {s['gaps_over_twice_the_period']} gaps, largest "
                     f"{s['largest_gap_s'] or 0:.2f} s); {s['paired']} paired ({s['paired_fraction']:.0%}) with "
                     f"{s['command_topic']}"
                     + (f", command age p50 {age['p50'] * 1e3:.0f} ms, p95 {age['p95'] * 1e3:.0f} ms" if age else ""))
        for reason, count in s["dropped"].items():
            lines.append(f"    dropped {count}: {reason}")
        for name, stats in s["outputs"].items():
            if stats:
                lines.append(f"    {name}: {stats['min']:.4g} .. {stats['max']:.4g}, mean {stats['mean']:.4g}, "
                             f"std {stats['std']:.4g}")
    total = report["total"]
    lines.append(f"total: {total['bags']} bag(s), {total['paired']} of {total['camera_messages']} frames paired "
                 f"({total['paired_fraction']:.0%}) in {total['episodes']} episode(s), {total['duration_s']:.1f} s")
    lines.extend(f"warning: {w}" for w in report["warnings"])
    if not report["warnings"]:
        lines.append("no warnings: ready to train")
    return "\n".join(lines)


def plot_report(report: dict, path) -> None:
    """Each output's histogram, the command age's, and a contact sheet of paired frames."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    episodes = report["_episodes"]
    outputs = report["outputs"]
    columns = max(len(outputs) + 1, 4)
    fig = plt.figure(figsize=(3.2 * columns, 6.4))
    grid = fig.add_gridspec(2, columns)
    labels = np.concatenate([e.labels for e in episodes]) if episodes else np.zeros((0, len(outputs)))
    for k, (name, unit) in enumerate(zip(outputs, report["units"])):
        ax = fig.add_subplot(grid[0, k])
        ax.hist(labels[:, k], bins=30, color=f"C{k}")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(unit)
    ax = fig.add_subplot(grid[0, len(outputs)])
    ages = [s["command_age_s"] for s in report["bags"].values()]
    ax.bar(range(len(ages)), [a.get("p50", 0) * 1e3 for a in ages], color="C7")
    ax.set_xticks(range(len(ages)), [bag.rstrip("/").split("/")[-1] for bag in report["bags"]], rotation=45,
                  fontsize=7)
    ax.set_title("median command age per bag", fontsize=9)
    ax.set_ylabel("ms")
    sheet = fig.add_subplot(grid[1, :])
    frames = [e.frames[i] for e in episodes for i in np.linspace(0, len(e) - 1, 3).astype(int)][:12]
    if frames:
        tiles = [np.repeat(f, 3, axis=2) if f.shape[2] == 1 else f for f in frames]
        sheet.imshow(np.concatenate(tiles, axis=1))
    sheet.set_title("frames at the network's input (first, middle and last of each episode)", fontsize=9)
    sheet.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
