"""A recording's frames paired with the command in force at each: the episodes training consumes.

Each frame takes the newest command at or before its stamp (header stamps where the messages
have them, else bag time, as the task's ``pairing`` says; the command clock shifted by
``command_clock_offset_s``), if that command is at most ``max_command_age_s`` old. An episode is
a run of consecutive paired frames with no gap over ``split_gap_s``: a slice of the memory-mapped
frames, never a copy. Every frame that does not end up in an episode is counted by reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from liquid_control.data.episodes import Episode
from liquid_control.data.recordings import TWIST_COLUMNS, CommandStream, Recording

DROP_REASONS = {
    "undecodable": "could not be decoded (corrupt or unsupported image)",
    "no_command_yet": "came before the first command",
    "command_too_old": "had no command within the largest command age",
    "stamp_not_increasing": "had a stamp at or before the previous frame's",
    "short_stretch": "lay in a stretch of fewer than 2 paired frames",
}


@dataclass
class PairingReport:
    """What became of a recording's frames, and how old each paired frame's command was."""

    camera_messages: int
    paired: int
    dropped: dict[str, int] = field(default_factory=dict)  # DROP_REASONS key -> frames
    command_topic: str = ""
    command_ages_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per paired frame
    # How much later (s) the commands are stamped than the frames, relative to when the recorder
    # received each: near 0 when both clocks agree, whatever the transport delays.
    clock_difference_s: float = 0.0


def labels_of(twist: np.ndarray, outputs: tuple[str, ...]) -> np.ndarray:
    """(M, outputs) float32 labels from (M, 6) twists: the named fields, or curvature (yaw rate / speed)."""
    columns = []
    for name in outputs:
        if name == "curvature":  # as curvature_of: yaw rate / speed, 0 at standstill
            linear_x, angular_z = twist[:, 0].astype(np.float64), twist[:, 5].astype(np.float64)
            moving = np.abs(linear_x) > 1e-3
            columns.append(np.where(moving, angular_z / np.where(moving, linear_x, 1.0), 0.0).astype(np.float32))
        else:
            columns.append(twist[:, TWIST_COLUMNS.index(name)])
    return np.stack(columns, axis=1).astype(np.float32) if columns else np.zeros((len(twist), 0), np.float32)


def _stamps(header_ns: np.ndarray, receive_ns: np.ndarray, source: str) -> np.ndarray:
    """Header stamps where asked for and set (a zero stamp means the publisher left it empty), else bag time."""
    if source == "header":
        return np.where(header_ns > 0, header_ns, receive_ns)
    return receive_ns.copy()


def command_stream(recording: Recording, task) -> tuple[str, CommandStream]:
    """The topic whose commands label the frames: the task's expert topic when recorded, else its command topic."""
    expert = task.command.expert_topic
    topic = expert if expert in recording.commands else task.command.topic
    return topic, recording.commands[topic]


def _median_lead_s(stamps_ns: np.ndarray, receive_ns: np.ndarray) -> float:
    """The median of stamp - receive time, s (0 without messages)."""
    return float(np.median(stamps_ns - receive_ns)) * 1e-9 if len(stamps_ns) else 0.0


def pair_recording(recording: Recording, task) -> tuple[list[Episode], PairingReport]:
    pairing = task.pairing
    topic, commands = command_stream(recording, task)
    frame_ns = _stamps(recording.frame_header_ns, recording.frame_receive_ns, pairing.frame_stamp)
    command_ns = (_stamps(commands.header_ns, commands.receive_ns, pairing.command_stamp)
                  + round(pairing.command_clock_offset_s * 1e9))
    order = np.argsort(command_ns, kind="stable")
    command_ns, values = command_ns[order], labels_of(commands.twist[order], task.label_names)
    index = np.searchsorted(command_ns, frame_ns, side="right") - 1
    ages = ((frame_ns - command_ns[np.clip(index, 0, None)]) * 1e-9 if len(command_ns)
            else np.full(len(frame_ns), np.inf))
    increasing = np.concatenate(([True], np.diff(frame_ns) > 0))
    reasons = np.full(len(frame_ns), "", dtype=object)
    reasons[ages > pairing.max_command_age_s] = "command_too_old"
    reasons[index < 0] = "no_command_yet"
    reasons[~increasing] = "stamp_not_increasing"
    paired = reasons == ""

    episodes: list[Episode] = []
    name = recording.path.rstrip("/").split("/")[-1]
    start = None
    gap_ns = pairing.split_gap_s * 1e9
    for i in range(len(frame_ns) + 1):
        continues = i < len(frame_ns) and paired[i] and start is not None and frame_ns[i] - frame_ns[i - 1] <= gap_ns
        if continues:
            continue
        if start is not None:
            if i - start >= 2:
                labels = values[index[start:i]]
                episodes.append(Episode(f"{name}#{len(episodes)}", recording.frames[start:i], frame_ns[start:i] * 1e-9,
                                        labels, task.label_names, preprocessed=True,
                                        meta={"source": recording.path, "command_topic": topic}))
            else:
                reasons[start:i] = "short_stretch"
        start = i if i < len(frame_ns) and paired[i] else None

    dropped = {key: int(np.sum(reasons == key)) for key in DROP_REASONS if key != "undecodable"}
    dropped["undecodable"] = int(sum(recording.undecodable.values()))
    in_episodes = reasons == ""
    report = PairingReport(camera_messages=recording.camera_messages, paired=int(in_episodes.sum()),
                           dropped={k: v for k, v in dropped.items() if v}, command_topic=topic,
                           command_ages_s=ages[in_episodes],
                           clock_difference_s=_median_lead_s(command_ns, commands.receive_ns[order])
                           - _median_lead_s(frame_ns, recording.frame_receive_ns))
    return episodes, report


def episodes_from_recordings(paths, task, cache=True, jobs: int | None = None,
                             progress: bool = True) -> tuple[list[Episode], dict[str, PairingReport]]:
    """Every bag among ``paths`` (bags or folders of bags) read for ``task`` and paired: the
    episodes of all, and each bag's report."""
    from liquid_control.data.episodes import find_bags
    from liquid_control.data.recordings import read_recording

    episodes, reports = [], {}
    for bag in find_bags(paths):
        recording = read_recording(bag, task, cache=cache, jobs=jobs, progress=progress)
        found, report = pair_recording(recording, task)
        episodes.extend(found)
        reports[str(bag)] = report
    return episodes, reports


def describe_pairing(reports: dict[str, PairingReport]) -> str:
    """One line per bag: frames paired and dropped by reason."""
    lines = []
    for bag, report in reports.items():
        dropped = ", ".join(f"{count} {DROP_REASONS[reason]}" for reason, count in report.dropped.items())
        lines.append(f"{bag}: {report.paired} of {report.camera_messages} frames paired with {report.command_topic}"
                     + (f"; dropped: {dropped}" if dropped else ""))
    return "\n".join(lines)
