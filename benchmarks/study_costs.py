"""What each architecture of the studies costs: parameters, FLOPs per control step, step latency on
every runtime backend, and the training time the study's model cards recorded.

    .venv/bin/python benchmarks/study_costs.py [--quick] [--out docs/bench/study_costs.json]
    .venv/bin/python benchmarks/study_costs.py --study config/study_drone_final.yaml study/drone_final

For every architecture of config/study_lane.yaml (cache study/lane), config/study_drone.yaml
(study/drone) and config/study_drone_norm.yaml (study/drone_norm), or of the studies given with
``--study CONFIG CACHE`` (``--rehearse``: their rehearsals, ``study --rehearse``), the cached
models are found as the study finds them (``model_plan``). A packed cache (``study --pack``) keeps
the first seed's weights only: the other seeds' shapes are then not compared. Parameters and
FLOPs come from one seed's model (``liquid_control.train.study.costs``; every seed has the same
shapes). Latency: one policy step
(conv head on a frame + core) and the core alone (``step_features``), batch 1, one thread, each
backend built by the runtime's own engines and warmed up, backends interleaved round by round so
that load from other processes hits them alike; p50 and p99 over every step. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from liquid_control.nets import load_model
from liquid_control.nets.model_file import read_card
from liquid_control.runtime.engines import ENGINES, BackendUnavailable
from liquid_control.train.study.cache import model_plan
from liquid_control.train.study.config import StudyConfig
from liquid_control.train.study.costs import parameter_counts, policy_step_flops
from liquid_control.train.study.packing import WEIGHTS
from liquid_control.train.study.tuning import tuned_config

STUDIES = (("config/study_lane.yaml", "study/lane"), ("config/study_drone.yaml", "study/drone"),
           ("config/study_drone_norm.yaml", "study/drone_norm"))
CPU_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
DT = 0.05


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu() -> dict:
    """The CPU's model name and the vector/matrix extensions it has, from /proc/cpuinfo."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", platform.processor() or platform.machine()),
            "cores_visible": os.cpu_count(), "flags": [flag for flag in CPU_FLAGS if flag in flags]}


def percentiles(seconds: list[float]) -> dict:
    values = np.asarray(seconds) * 1e6
    return {"p50_us": round(float(np.percentile(values, 50)), 1), "p99_us": round(float(np.percentile(values, 99)), 1),
            "steps": len(values)}


class StepTimer:
    """One engine stepped as the controller steps it: the whole step on a frame, and the core alone."""

    def __init__(self, engine):
        self.engine = engine
        self.frame = np.random.default_rng(0).standard_normal((1, *engine.input_shape)).astype(np.float32)
        self.policy = engine.kind == "policy"
        self.features = engine.features(self.frame) if self.policy else self.frame
        self.state = engine.initial_state(1)
        self.times: dict[str, list[float]] = {"step": [], "core": []}

    def run(self, steps: int, core_steps: int, keep: bool = True) -> None:
        clock, engine = time.perf_counter, self.engine
        for _ in range(steps):
            started = clock()
            _, self.state = engine.step(self.frame, DT, self.state)
            if keep:
                self.times["step"].append(clock() - started)
        for _ in range(core_steps if self.policy else 0):
            started = clock()
            _, self.state = engine.step_features(self.features, DT, self.state)
            if keep:
                self.times["core"].append(clock() - started)

    def summary(self) -> dict:
        return {part: percentiles(times) for part, times in self.times.items() if times}


def latency(module, rounds: int, steps: int, core_steps: int) -> dict:
    """p50/p99 step latency on every backend that can run ``module``; the reason for each that cannot."""
    timers, result = {}, {}
    for name, engine_class in ENGINES.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                engine = engine_class(module, device="cpu", threads=1)
                engine.warm_up(1)
                timer = StepTimer(engine)
                timer.run(20, 200, keep=False)
        except BackendUnavailable as error:
            result[name] = f"cannot run it: {error}"
            continue
        timers[name] = timer
    for _ in range(rounds):
        for timer in timers.values():
            timer.run(steps, core_steps)
    for name, timer in timers.items():
        result[name] = timer.summary()
        if name == "native" and timer.policy:
            result[name]["head_backend"] = timer.engine.head_backend
    return result


def trained_seconds(record: dict) -> tuple[float | None, bool]:
    """A model's training time from its card, and whether it resumed: the epochs' clock
    (``history[].seconds``) restarts when a training resumes from its checkpoint, and ``wall_time_s``
    counts from the last resume only, so the time is the sum of each run's last epoch clock."""
    clocks = [float(epoch["seconds"]) for epoch in record.get("history") or [] if epoch.get("seconds") is not None]
    if not clocks:
        return (None if record.get("wall_time_s") is None else float(record["wall_time_s"])), False
    ends = [clock for clock, following in zip(clocks, clocks[1:]) if following < clock]
    return round(sum(ends) + clocks[-1], 1), bool(ends)


def training(folders: list[Path]) -> dict:
    """Training time as the model cards recorded it (the cards do not name the machine)."""
    seconds, cards, resumed = [], [], 0
    for folder in folders:
        record = read_card(folder / "card.yaml").get("training") or {}
        cards.append(record)
        total, restarted = trained_seconds(record)
        if total is not None:
            seconds.append(total)
            resumed += restarted
    if not seconds:
        return {"recorded": False}
    first = cards[0]
    config = first.get("config") or {}
    return {"recorded": True, "seconds_per_seed": seconds, "median_s": round(statistics.median(seconds), 1),
            "min_s": min(seconds), "max_s": max(seconds), "seeds_resumed_from_a_checkpoint": resumed,
            "epochs": config.get("epochs"),
            "frames": first.get("frames"), "threads": first.get("threads"),
            "head_precision": sorted({str(c.get("head_precision")) for c in cards})}


def study_costs(config_path: str, cache: str, rounds: int, steps: int, core_steps: int, say,
                rehearse: bool = False) -> dict:
    config = StudyConfig.load(config_path)
    config = tuned_config(config.rehearsal() if rehearse else config, cache)  # keyed by their tuned settings
    plan = model_plan(config, cache)
    rows = []
    for architecture in config.architectures:
        folders = [plan[architecture.name, seed][0] for seed in config.seeds
                   if (plan[architecture.name, seed][0] / "card.yaml").is_file()]
        if not folders:
            rows.append({"name": architecture.name, "arch": architecture.arch, "models": []})
            continue
        say(f"{config.name}: {architecture.name}")
        module, _ = load_model(folders[0], device="cpu")
        counts = parameter_counts(module)
        weighed = [f for f in folders[1:] if (f / WEIGHTS).is_file()]  # a packed cache: the first seed's only
        others = {json.dumps(parameter_counts(load_model(f, device="cpu")[0])) for f in weighed}
        rows.append({"name": architecture.name, "arch": architecture.arch,
                     "models": [str(folder) for folder in folders],
                     "parameters": counts, "parameters_same_every_seed": others <= {json.dumps(counts)},
                     "seeds_with_weights": 1 + len(weighed),
                     "flops": policy_step_flops(module, DT),
                     "load_average_before_latency": [round(x, 2) for x in os.getloadavg()],
                     "latency": latency(module, rounds, steps, core_steps), "training": training(folders)})
    return {"config": config_path, "cache": cache, "name": config.name, "world": config.world,
            "seeds": list(config.seeds), "architectures": rows}


def _us(entry, part: str) -> str:
    if isinstance(entry, str) or part not in entry:
        return "—"
    return f"{entry[part]['p50_us'] / 1000:.2f} / {entry[part]['p99_us'] / 1000:.2f}" if part == "step" \
        else f"{entry[part]['p50_us']:.0f} / {entry[part]['p99_us']:.0f}"


def table(result: dict) -> str:
    """Markdown tables of a run's JSON: sizes, FLOPs and training time; then latency per backend."""
    lines = []
    for study in result["studies"]:
        lines += [f"### {study['name']} ({study['config']})", "",
                  "| architecture | recurrent params (wired) | total params | MFLOPs/step | core kFLOPs | "
                  "core FLOPs | training s (median, min–max) |", "|---|---|---|---|---|---|---|"]
        for row in study["architectures"]:
            if not row["models"]:
                continue
            counts, flops, trained = row["parameters"], row["flops"], row["training"]
            wired = f" ({counts['recurrent_wired']:,})" if counts["recurrent_wired"] != counts["recurrent"] else ""
            time_s = (f"{trained['median_s']:.0f} ({trained['min_s']:.0f}–{trained['max_s']:.0f})"
                      if trained["recorded"] else "not recorded")
            lines.append(f"| {row['name']} | {counts['recurrent']:,}{wired} | {counts['total']:,} | "
                         f"{flops['step']['flops'] / 1e6:.2f} | {flops['core']['flops'] / 1e3:.1f} | "
                         f"{flops['core']['multiply_adds']:,} MA + {flops['core']['elementwise']:,} ew | {time_s} |")
        lines += ["", "| architecture | " + " | ".join(f"{b} step ms p50 / p99" for b in ENGINES) + " | "
                  + " | ".join(f"{b} core µs p50 / p99" for b in ENGINES) + " |", "|---" * (1 + 2 * len(ENGINES)) + "|"]
        for row in study["architectures"]:
            if row["models"]:
                latency_of = row["latency"]
                lines.append(f"| {row['name']} | " + " | ".join(_us(latency_of[b], "step") for b in ENGINES) + " | "
                             + " | ".join(_us(latency_of[b], "core") for b in ENGINES) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few steps: checks the script, not the machine")
    parser.add_argument("--out", default="docs/bench/study_costs.json", help="where to write the JSON ('' for none)")
    parser.add_argument("--rounds", type=int, default=25, help="interleaved rounds over the backends")
    parser.add_argument("--steps", type=int, default=40, help="whole policy steps per backend per round")
    parser.add_argument("--core-steps", type=int, default=200, help="core-only steps per backend per round")
    parser.add_argument("--note", default="", help="what else the machine ran meanwhile (kept in the JSON)")
    parser.add_argument("--table", metavar="JSON", help="print the markdown tables of an earlier run's JSON and stop")
    parser.add_argument("--study", nargs=2, action="append", metavar=("CONFIG", "CACHE"),
                        help="a study config and its --out cache (repeatable; default: the development studies)")
    parser.add_argument("--rehearse", action="store_true", help="the --study configs' rehearsals (study --rehearse)")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return 0
    rounds, steps, core_steps = (2, 5, 20) if args.quick else (args.rounds, args.steps, args.core_steps)
    torch.set_num_threads(1)
    say = lambda message: print(f"... {message}", file=sys.stderr, flush=True)  # noqa: E731
    started = time.perf_counter()
    result = {
        "command": " ".join(["python benchmarks/study_costs.py", *(["--quick"] if args.quick else []),
                             *(f"--study {config} {cache}" for config, cache in args.study or []),
                             *(["--rehearse"] if args.rehearse else [])]),
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu(), "threads": 1, "batch": 1, "dt_s": DT, "python": platform.python_version(),
                    "torch": torch.__version__, "onnxruntime": _version("onnxruntime"), "numba": _version("numba"),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "load_note": args.note},
        "latency_protocol": {"rounds": rounds, "policy_steps_per_round": steps, "core_steps_per_round": core_steps,
                             "warm_up": "engine.warm_up, then 20 policy and 200 core steps discarded"},
        "studies": [study_costs(config, cache, rounds, steps, core_steps, say, args.rehearse)
                    for config, cache in args.study or STUDIES],
    }
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
