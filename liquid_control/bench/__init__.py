"""``python -m liquid_control bench``: one run measuring our runtime against ncps and ONNX Runtime.

Sections (all on this machine, one run, with the thread count stated):

- ``cell``: one cell step at batch 1: CfC-NCP19, LTC-NCP19, CfC-FC19;
- ``policy``: the full NCP lane policy step on a 66x200 frame;
- ``batch``: N = 1, 10, 100, 1000 independent agents stepped in one call;
- ``train``: training throughput (forward + backward + Adam), full step and core alone.

Needs ncps (``pip install -e .[test]`` installs ncps==1.0.1). No figure is asserted anywhere: the
numbers are what this machine did during this run.
"""

from __future__ import annotations

import copy

import importlib.metadata
import os
import platform
import time
from typing import Any

import torch

SECTIONS = ("cell", "policy", "batch", "train")


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine(threads: int) -> dict[str, Any]:
    return {"cpu_cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
            "threads": threads, "torch": torch.__version__, "ncps": _version("ncps"), "onnxruntime": _version("onnxruntime"),
            "numba": _version("numba"), "numpy": _version("numpy"), "load_average_at_start": list(os.getloadavg()),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def run(sections=SECTIONS, quick: bool = False, threads: int = 1, seed: int = 0, progress=None) -> dict[str, Any]:
    """Run the chosen sections and return the results as one JSON-able dict."""
    try:
        import ncps  # noqa: F401
    except ImportError as error:
        raise RuntimeError("the bench compares against ncps 1.0.1: pip install ncps==1.0.1 (or pip install -e .[test])") from error
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown bench section(s) {unknown}; choose from {SECTIONS}")
    from . import inference

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    result: dict[str, Any] = {"command": "python -m liquid_control bench" + (" --quick" if quick else "") + f" --threads {threads}",
                              "quick": quick, "machine": machine(threads)}
    started = time.perf_counter()
    say = progress or (lambda message: None)
    try:
        if "cell" in sections:
            say("cell step (batch 1)")
            result["cell"] = inference.cell_bench(threads, rounds=4 if quick else 20, steps=20 if quick else 200, seed=seed)
        if "policy" in sections:
            say("policy step (66x200 frame)")
            result["policy"] = inference.policy_bench(threads, rounds=2 if quick else 10, steps=5 if quick else 40, seed=seed)
        if "batch" in sections:
            say("batched agents")
            result["batch"] = inference.batch_bench(threads, rounds=2 if quick else 10, steps=10 if quick else 100,
                                                    sizes=(1, 10, 100) if quick else (1, 10, 100, 1000), seed=seed)
        if "train" in sections:
            say("training throughput")
            result["train"] = train_section(quick, seed)
    finally:
        torch.set_num_threads(previous_threads)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def train_section(quick: bool, seed: int) -> dict[str, Any]:
    from liquid_control.train.trainer import cpu_has_bf16

    from .training import TrainingRecipe, build, compare, make_data, parity

    batch, steps = (4, 6) if quick else (16, 24)
    data = make_data(batch, steps, seed)
    ours, theirs = build(seed)
    features = data["features"].clone().requires_grad_(True)
    return {
        "what": "forward + MSE + backward + Adam on (batch, time) sequences, our policy vs the same conv head + ncps CfC",
        "batch": batch, "seq_len": steps, "parity": parity(ours, theirs, data),
        "full": compare({"ours": (ours, data["images"], data["ours_ts"], data["labels"]),
                         "ncps": (theirs, data["images"], data["ncps_ts"], data["labels"])},
                        2 if quick else 8, 1, warmup=1, batch=batch),
        # The same two policies as training runs them by default (channels-last head, bfloat16 head
        # arithmetic where the CPU has it; the cores in float32): the head, shared, is cheaper, so
        # the cores' difference shows more. What it buys end to end: benchmarks/time_to_policy.py.
        "full_training_recipe": compare({"ours": (TrainingRecipe(copy.deepcopy(ours), cpu_has_bf16()), data["images"],
                                                  data["ours_ts"], data["labels"]),
                                         "ncps": (TrainingRecipe(copy.deepcopy(theirs), cpu_has_bf16()), data["images"],
                                                  data["ncps_ts"], data["labels"])},
                                        2 if quick else 8, 1, warmup=1, batch=batch),
        "head_bf16": cpu_has_bf16(),
        "core": compare({"ours": (ours.core, features, data["ours_ts"], data["labels"]),
                         "ncps": (theirs.core, features, data["ncps_ts"], data["labels"])},
                        2 if quick else 16, 3 if quick else 10, warmup=3, batch=batch),
        "more": "benchmarks/train_bench.py measures this in more detail (thread counts, breakdown)",
    }


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
        lines += ["| agents | case | fastest ours | steps/s | per agent µs | ncps steps/s |", "|---:|---|---|---:|---:|---:|"]
        for case, entry in result["batch"].items():
            for size, row in entry["by_agents"].items():
                best = row["lanes"][row["fastest_ours"]]
                lines.append(f"| {size} | {case} | {row['fastest_ours']} | {best['steps_per_s']:g} | "
                             f"{best.get('per_agent_us', best['median_us']):g} | {row['lanes']['ncps']['steps_per_s']:g} |")
        lines.append("")
    if "train" in result:
        train = result["train"]
        lines.append(f"training (batch {train['batch']} x {train['seq_len']} frames): full step "
                     f"{train['full']['ours']['sequences_per_s']:g} vs ncps {train['full']['ncps']['sequences_per_s']:g} "
                     f"sequences/s ({train['full']['ratio_ours_over_ncps']:g}x); as training runs it (channels-last, "
                     f"{'bf16' if train.get('head_bf16') else 'fp32'} head) "
                     f"{train['full_training_recipe']['ours']['sequences_per_s']:g} vs "
                     f"{train['full_training_recipe']['ncps']['sequences_per_s']:g} "
                     f"({train['full_training_recipe']['ratio_ours_over_ncps']:g}x); core alone "
                     f"{train['core']['ratio_ours_over_ncps']:g}x; time to a driving policy: benchmarks/time_to_policy.py")
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
    lanes = ["ncps", "ncps+torch", "torch", "onnxruntime", "native", "ncps_cuda", "torch_cuda"]
    colours = {"ncps": "#9e9e9e", "ncps+torch": "#9e9e9e", "torch": "#ef8a17", "onnxruntime": "#3b75af", "native": "#2ca02c",
               "ncps_cuda": "#555555", "torch_cuda": "#b8860b"}
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.35, 1]})
    ax = axes[0]
    width = 0.8 / max(1, max(sum(lane in entry for lane in lanes) for _, entry in groups)) if groups else 0.2
    for g, (title, entry) in enumerate(groups):
        present = [lane for lane in lanes if lane in entry]
        for k, lane in enumerate(present):
            x = g + (k - (len(present) - 1) / 2) * width
            value = entry[lane]["median_us"]
            ax.bar(x, value, width, color=colours[lane], label=lane.replace("ncps+torch", "ncps") if g == 0 else None)
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
            per_agent = [entry["by_agents"][str(n)]["lanes"][lane].get("per_agent_us", entry["by_agents"][str(n)]["lanes"][lane]["median_us"])
                         for n in sizes if lane in entry["by_agents"][str(n)]["lanes"]]
            if per_agent:
                ax.plot(sizes[: len(per_agent)], per_agent, marker="o", color=colours[lane],
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
