"""Time to a driving policy: the shipped lane recipe retrained from nothing, before and after the
training speed-ups, side by side in one run, each model then driven 1 km on held-out tracks.

    .venv/bin/python benchmarks/time_to_policy.py [--out docs/bench/time_to_policy.json]

"before" is the recipe as it ran until now: expert data in one process, the conv head in float32
with the default memory layout. "after" is today's default: data in two processes (``--jobs 2``),
the conv head channels-last and bfloat16 under autocast where the CPU has native bfloat16 (AMX or
AVX512-BF16; the core stays float32 and the saved model is float32). Both run the same code
otherwise (frames kept as uint8 and normalised on the fly, the augmentation's noise drawn from a
bank), so "before" is a little faster than the code of the earlier sessions was. Each recipe is
the real command line, timed from start to the saved model; the wall clock includes data
generation, dataset building, the epochs, validation and saving. The machine is shared and noisy:
the recipes run one after the other (``--order`` says which first). ``shipped_fp32`` and
``short_fp32`` (``--order short_fp32,shipped_fp32``) compare, in float32, the shipped recipe with
a short one: 12 tracks instead of 24, 3 epochs instead of 6, batches of 8 windows instead of 16
and a peak learning rate of 1e-3 instead of 2e-3.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from liquid_control.train.trainer import cpu_has_bf16

RECIPE = ["--sim-seeds", "0-23", "--sim-distance", "120", "--speed", "3", "--recovery-rate", "0.4",
          "--perturb", "drop_probability=0.05", "--arch", "ncp-cfc", "--epochs", "6", "--seed", "0", "--threads", "2"]
VARIANTS = {"before": ["--jobs", "1", "--head-precision", "fp32", "--no-channels-last"], "after": ["--jobs", "2"],
            # In float32 on any CPU: the shipped recipe, and a short one (half the tracks, half the epochs:
            # a quarter of the frame passes; half the batch, for as many optimiser steps per epoch as
            # 24 tracks give, at half the peak learning rate, which three seeds of three need).
            "shipped_fp32": ["--jobs", "2", "--head-precision", "fp32"],
            "short_fp32": ["--jobs", "2", "--head-precision", "fp32", "--sim-seeds", "0-11", "--epochs", "3",
                           "--batch-size", "8", "--lr", "1e-3"]}


def _cpuinfo() -> list[str]:
    try:
        return open("/proc/cpuinfo").read().splitlines()
    except OSError:
        return []


def cpu_model() -> str:
    return next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")),
                platform.processor())


def bf16_flags() -> list[str]:
    """The CPU's native bfloat16 flags the trainer looks for (AMX on Intel, AVX512-BF16 on both)."""
    flags = {flag for line in _cpuinfo() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}
    return sorted(flags & {"amx_bf16", "avx512_bf16"})


def run(args: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "liquid_control", *args], capture_output=True, text=True)
    if result.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return time.perf_counter() - started, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--order", default="after,before", help="which recipes, in which order (default: %(default)s)")
    parser.add_argument("--distance", type=float, default=1000.0)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="time_to_policy-") as tmp:
        for name in args.order.split(","):
            model = Path(tmp) / name
            wall, _ = run(["train", *RECIPE, *VARIANTS[name], "--out", str(model)])
            card = yaml.safe_load((model / "card.yaml").read_text())
            training = card["training"]
            _, out = run(["drive", "--driver", "model", "--model", str(model), "--seed", "1000", "--fleet", "3",
                          "--distance", str(args.distance), "--json"])
            drive = json.loads(out)
            results[name] = {
                "command": "python -m liquid_control train " + " ".join([*RECIPE, *VARIANTS[name]]) + " --out MODEL",
                "wall_time_s": round(wall, 1), "epochs_s": training["wall_time_s"],
                "data_and_set_up_s": round(wall - training["wall_time_s"], 1),
                "head_precision": training.get("head_precision"), "val_loss": card["metrics"]["val_loss"],
                "closed_loop": {"tracks": drive["seeds"], "distance_m": drive["distance_m"],
                                "departures": drive["departures"],
                                "per_track": {t["seed"]: {"distance_m": t["distance_m"], "departures": t["departures"],
                                                          "mean_abs_lateral_m": t["mean_abs_lateral_m"],
                                                          "max_abs_lateral_m": t["max_abs_lateral_m"]}
                                              for t in drive["tracks"]}},
            }
    report = {"benchmark": "time_to_policy",
              "what": "the shipped lane recipe (models/ncp19_lane's card) from nothing to a saved model, then 1 km on "
              "each held-out track 1000-1002", "order": args.order,
              "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                          "cpu": cpu_model(), "cpu_bf16": cpu_has_bf16(), "bf16_flags": bf16_flags()},
              "recipes": results}
    if {"before", "after"} <= results.keys():
        report["speedup_wall"] = round(results["before"]["wall_time_s"] / results["after"]["wall_time_s"], 2)
        report["speedup_epochs"] = round(results["before"]["epochs_s"] / results["after"]["epochs_s"], 2)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
