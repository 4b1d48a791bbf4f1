"""Runtime speed, ours vs ncps 1.0.1 vs ONNX Runtime: the run behind ``python -m liquid_control bench``.

    .venv/bin/python benchmarks/runtime_bench.py [--quick] [--threads 1] [--sections cell,policy,batch,train]
        [--out docs/bench_cpu.json] [--plot docs/images/bench_cpu.png]

Sections, all on this machine in one run with the thread count stated: ``cell`` (one cell step at
batch 1: CfC-NCP19, LTC-NCP19, CfC-FC19), ``policy`` (the NCP lane policy step on a 66x200 frame),
``batch`` (N independent agents stepped in one call), ``train`` (training throughput). As a script it
prints one JSON object; the bench verb prints a table unless --json. Needs ncps (``pip install -e
.[test]``). No figure is asserted anywhere: the numbers are what this machine did during this run.
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch
from runtime_bench_report import plot, table

SECTIONS = ("cell", "policy", "batch", "train")


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine(threads: int) -> dict[str, Any]:
    return {"cpu_cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(), "threads": threads, "torch": torch.__version__,
            "ncps": _version("ncps"), "onnxruntime": _version("onnxruntime"), "numba": _version("numba"),
            "numpy": _version("numpy"), "load_average_at_start": list(os.getloadavg()),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def run(sections=SECTIONS, quick: bool = False, threads: int = 1, seed: int = 0, progress=None) -> dict[str, Any]:
    """Run the chosen sections and return the results as one JSON-able dict."""
    try:
        import ncps  # noqa: F401
    except ImportError as error:
        raise RuntimeError("the bench compares against ncps 1.0.1: pip install ncps==1.0.1 "
                           "(or pip install -e .[test])") from error
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown bench section(s) {unknown}; choose from {SECTIONS}")
    import inference_comparison as inference

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    result: dict[str, Any] = {"command": "python -m liquid_control bench" + (" --quick" if quick else "")
                              + f" --threads {threads}", "quick": quick, "machine": machine(threads)}
    started = time.perf_counter()
    say = progress or (lambda message: None)
    try:
        if "cell" in sections:
            say("cell step (batch 1)")
            result["cell"] = inference.cell_bench(threads, rounds=4 if quick else 20, steps=20 if quick else 200,
                                                  seed=seed)
        if "policy" in sections:
            say("policy step (66x200 frame)")
            result["policy"] = inference.policy_bench(threads, rounds=2 if quick else 10, steps=5 if quick else 40,
                                                      seed=seed)
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
    from training_comparison import TrainingRecipe, build, compare, make_data, parity

    from liquid_control.train.trainer import cpu_has_bf16

    batch, steps = (4, 6) if quick else (16, 24)
    data = make_data(batch, steps, seed)
    ours, theirs = build(seed)
    features = data["features"].clone().requires_grad_(True)
    return {
        "what": "forward + MSE + backward + Adam on (batch, time) sequences, our policy vs the same conv head + "
                "ncps CfC",
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


def bench(args: argparse.Namespace) -> int:
    """Measure (or read --from-json), then write --out and --plot, and print a table or (--json) the JSON."""
    sections = SECTIONS if args.sections == "all" else tuple(s.strip() for s in args.sections.split(",") if s.strip())
    progress = None if args.json else (lambda message: print(f"... {message}", file=sys.stderr, flush=True))
    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
    else:
        try:
            result = run(sections, quick=args.quick, threads=args.threads, progress=progress)
        except RuntimeError as error:
            raise SystemExit(f"error: {error}") from error
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    if args.plot:
        plot(result, args.plot)
    print(json.dumps(result, indent=1) if args.json else table(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The script: the bench verb's options, JSON always."""
    from liquid_control.cli.bench import add_bench_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    args = parser.parse_args(["--json", *(sys.argv[1:] if argv is None else argv)])
    try:
        return bench(args)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
