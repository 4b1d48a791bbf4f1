"""Plot control-tick period deviations from one or more `timer_jitter.py --series-out` files.

    .venv/bin/python benchmarks/plot_jitter.py LABEL=run1.json[,run2.json...][:VARIANT[:SOURCE]] ...
        --out docs/images/jitter.png

Each argument is one line on the plot: the distribution of |period - nominal| (ms) of one series,
as the fraction of ticks whose deviation exceeds x (log scale), so the p99 is where a line
crosses 1 %. VARIANT defaults to controller_hosted, SOURCE to node_timer_tick_starts (the node's
own tick times); e.g. `idle=run.json:idle:timer_in_process`. Several files (comma-separated) are
pooled into one line: repeated runs of one configuration.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def deviations(path: Path, variant: str, source: str) -> tuple[np.ndarray, float]:
    data = json.loads(path.read_text())
    times = np.asarray(data["series"][variant][source], dtype=float)
    return np.abs(np.diff(times) - 1.0 / data["rate_hz"]) * 1e3, data["rate_hz"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", nargs="+", help="LABEL=FILE[:VARIANT[:SOURCE]]")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--target-ms", type=float, default=1.0)
    args = parser.parse_args()
    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    rate = None
    for line in args.lines:
        label, spec = line.split("=", 1)
        paths, variant, source = (spec.split(":") + [None, None])[:3]
        pooled = [deviations(Path(path), variant or "controller_hosted", source or "node_timer_tick_starts")
                  for path in paths.split(",")]
        values, rate = np.concatenate([v for v, _ in pooled]), pooled[0][1]
        runs = f", {len(pooled)} runs" if len(pooled) > 1 else ""
        ordered = np.sort(values)
        exceed = 1.0 - np.arange(1, ordered.size + 1) / ordered.size
        axes.step(ordered, np.maximum(exceed, 0.5 / ordered.size), where="post",
                  label=f"{label} (p99 {np.percentile(values, 99):.2f} ms{runs})")
    axes.axvline(args.target_ms, color="k", linestyle="--", linewidth=1, label=f"target p99 {args.target_ms:g} ms")
    axes.axhline(0.01, color="grey", linestyle=":", linewidth=1)
    axes.set_yscale("log")
    axes.set_xlabel("|tick period - nominal| (ms)")
    axes.set_ylabel("fraction of ticks exceeding")
    axes.set_title(f"controller_node tick jitter at {rate:g} Hz, fed 30 Hz frames")
    axes.legend(fontsize=8)
    figure.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=110)
    print(args.out)


if __name__ == "__main__":
    main()
