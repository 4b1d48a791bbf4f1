"""The report of a runtime_bench.py run: a Markdown table of the headline figures, and a plot.

Both read the JSON-able result of ``runtime_bench.run`` (or a saved one, --from-json).
"""

from __future__ import annotations

from typing import Any

LANES = ["ncps", "ncps+torch", "torch", "onnxruntime", "native", "ncps_cuda", "torch_cuda"]
COLOURS = {"ncps": "#9e9e9e", "ncps+torch": "#9e9e9e", "torch": "#ef8a17", "onnxruntime": "#3b75af",
           "native": "#2ca02c", "ncps_cuda": "#555555", "torch_cuda": "#b8860b"}


def table(result: dict[str, Any]) -> str:
    """A short Markdown table of the headline figures (median microseconds, speed-ups)."""
    lines = [f"threads: {result['machine']['threads']}, cpu cores: {result['machine']['cpu_cores']}, "
             f"load at start {result['machine']['load_average_at_start'][0]:.2f}", "",
             "| measurement | lane | median µs | p99 µs | vs ncps | vs ONNX Runtime |", "|---|---|---:|---:|---:|---:|"]

    def rows(title: str, lanes: dict, reference: str):
        for name, lane in lanes.items():
            lines.append(f"| {title} | {name} | {lane['median_us']:g} | {lane['p99_us']:g} | "
                         f"{lane.get(f'speedup_vs_{reference}', '—' if name != reference else '1')}"
                         f"{'×' if name != reference else '×'} | {lane.get('speedup_vs_onnxruntime', '—')}"
                         f"{'×' if 'speedup_vs_onnxruntime' in lane else ''} |")

    for case, entry in result.get("cell", {}).items():
        rows(f"cell {case}", entry["lanes"], "ncps")
    if "policy" in result:
        rows("policy 66x200", result["policy"]["lanes"], "ncps+torch")
    lines.append("")
    if "batch" in result:
        lines += ["| agents | case | fastest ours | steps/s | per agent µs | ncps steps/s |",
                  "|---:|---|---|---:|---:|---:|"]
        for case, entry in result["batch"].items():
            for size, row in entry["by_agents"].items():
                best = row["lanes"][row["fastest_ours"]]
                lines.append(f"| {size} | {case} | {row['fastest_ours']} | {best['steps_per_s']:g} | "
                             f"{best.get('per_agent_us', best['median_us']):g} | "
                             f"{row['lanes']['ncps']['steps_per_s']:g} |")
        lines.append("")
    if "train" in result:
        train = result["train"]
        full, recipe = train["full"], train.get("full_training_recipe")
        line = (f"training (batch {train['batch']} x {train['seq_len']} frames): full step "
                f"{full['ours']['sequences_per_s']:g} vs ncps {full['ncps']['sequences_per_s']:g} "
                f"sequences/s ({full['ratio_ours_over_ncps']:g}x)")
        if recipe is not None:  # results saved before the recipe's own figure have none
            line += (f"; as training runs it (channels-last, {'bf16' if train.get('head_bf16') else 'fp32'} head) "
                     f"{recipe['ours']['sequences_per_s']:g} vs {recipe['ncps']['sequences_per_s']:g} "
                     f"({recipe['ratio_ours_over_ncps']:g}x)")
        lines.append(f"{line}; core alone {train['core']['ratio_ours_over_ncps']:g}x; time to a driving policy: "
                     "benchmarks/time_to_policy.py")
    return "\n".join(lines)


def plot(result: dict[str, Any], path) -> None:
    """Two panels: median step time per lane (log scale) for the cells and the policy; and the
    per-agent cost of batched stepping against the number of agents."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [(f"cell {case}", entry["lanes"]) for case, entry in result.get("cell", {}).items()]
    if "policy" in result:
        groups.append(("policy 66x200", result["policy"]["lanes"]))
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.35, 1]})
    ax = axes[0]
    width = 0.8 / max(1, max(sum(lane in entry for lane in LANES) for _, entry in groups)) if groups else 0.2
    for g, (title, entry) in enumerate(groups):
        present = [lane for lane in LANES if lane in entry]
        for k, lane in enumerate(present):
            x = g + (k - (len(present) - 1) / 2) * width
            value = entry[lane]["median_us"]
            ax.bar(x, value, width, color=COLOURS[lane], label=lane.replace("ncps+torch", "ncps") if g == 0 else None)
            ax.text(x, value * 1.08, f"{value:.0f}" if value >= 100 else f"{value:.3g}", ha="center", va="bottom",
                    fontsize=7, rotation=90)
    ax.set_xticks(range(len(groups)), [title for title, _ in groups], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("median time per step, µs (log)")
    ax.set_title(f"one step, batch 1, {result['machine']['threads']} thread(s)")
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[1]
    for case, entry in result.get("batch", {}).items():
        sizes = [int(n) for n in entry["by_agents"]]
        for lane in ("ncps", "torch", "onnxruntime", "native", "ncps_cuda", "torch_cuda"):
            rows = [entry["by_agents"][str(n)]["lanes"] for n in sizes]
            per_agent = [row[lane].get("per_agent_us", row[lane]["median_us"]) for row in rows if lane in row]
            if per_agent:
                ax.plot(sizes[: len(per_agent)], per_agent, marker="o", color=COLOURS[lane],
                        linestyle="-" if case.startswith("CfC") else "--", label=f"{lane} {case}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("agents stepped in one call")
    ax.set_ylabel("µs per agent (log)")
    ax.set_title("batched stepping (solid: CfC-NCP19, dashed: LTC-NCP19)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
