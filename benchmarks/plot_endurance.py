"""Draw the controller soak of benchmarks/endurance.py: RSS, file descriptors and threads over time.

    .venv/bin/python benchmarks/plot_endurance.py docs/bench/endurance_soak.json docs/images/endurance_soak.png
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    result = json.loads(source.read_text())
    samples = result["samples"]
    minutes = [s["t"] / 60 for s in samples]
    figure, (rss, counts) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    rss.plot(minutes, [s["rss_mib"] for s in samples], color="tab:blue")
    rss.set_ylabel("RSS (MiB)")
    rss.set_title(f"controller_node soak: {result['rate_hz']:g} Hz control, {result['frame_rate_hz']:g} Hz frames; "
                  f"RSS {result['rss_growth_percent']:+.2f} %, missed ticks {result['missed_ticks_percent']:.3f} %",
                  fontsize=9)
    low = min(s["rss_mib"] for s in samples)
    rss.set_ylim(low * 0.98, max(s["rss_mib"] for s in samples) * 1.02)
    counts.plot(minutes, [s["fds"] for s in samples], label="open file descriptors")
    counts.plot(minutes, [s["threads"] for s in samples], label="threads")
    counts.set_ylim(0, max(max(s["fds"], s["threads"]) for s in samples) * 1.3)
    counts.set_xlabel("minutes")
    counts.legend(loc="center right", fontsize=8)
    figure.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)
    print(target)


if __name__ == "__main__":
    main()
