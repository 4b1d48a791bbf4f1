"""A bag's description (``BagReader.info()``) laid out as ``ros2 bag info`` prints it."""

from __future__ import annotations

from datetime import datetime, timezone


def format_info(info: dict) -> str:
    """``BagReader.info()`` as ``ros2 bag info`` lays it out."""
    def when(ns):
        if ns is None:
            return "-"
        moment = datetime.fromtimestamp(ns / 1e9, timezone.utc)
        return f"{moment:%Y-%m-%d %H:%M:%S}.{ns % 10**9 // 10**6:03d} UTC ({ns})"

    lines = [
        f"Bag:        {info['path']}",
        f"Storage:    {info['storage']} ({', '.join(info['files'])})",
        f"Duration:   {info['duration_s']:.3f} s",
        f"Start:      {when(info['start_ns'])}",
        f"End:        {when(info['end_ns'])}",
        f"Messages:   {info['message_count']}",
        "Topics:",
    ]
    width = max([len(t["name"]) for t in info["topics"]] + [5])
    type_width = max([len(t["type"]) for t in info["topics"]] + [4])
    for t in info["topics"]:
        notes = [t["reliability"].replace("_", " ")]
        if t["durability"] == "transient_local":
            notes.append("transient local")
        if not t["decodable"]:
            notes.append("no definition: raw only")
        lines.append(f"  {t['name']:<{width}}  {t['type']:<{type_width}}  {t['count']:>8} msgs  {', '.join(notes)}")
    return "\n".join(lines)
