"""Training throughput, ours against ncps 1.0.1, on the same architecture, weights and data.

The measurement (full step and core alone, shared elapsed times, interleaved rounds) is
training_comparison.py's; this script runs it at several thread counts and adds a breakdown of our
step. Prints one JSON object.

    python benchmarks/train_bench.py
    python benchmarks/train_bench.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform

import torch
from training_comparison import breakdown, build, compare, make_data, parity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=24)
    parser.add_argument("--threads", default="1,default",
                        help="comma-separated thread counts; 'default' = torch's default")
    parser.add_argument("--full-rounds", type=int, default=10)
    parser.add_argument("--full-steps", type=int, default=1, help="timed steps per library and round")
    parser.add_argument("--core-rounds", type=int, default=20)
    parser.add_argument("--core-steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few steps")
    args = parser.parse_args()
    if args.quick:
        args.full_rounds, args.full_steps, args.core_rounds, args.core_steps = 2, 1, 2, 5

    default_threads = torch.get_num_threads()
    thread_counts = [default_threads if t == "default" else int(t) for t in args.threads.split(",")]
    data = make_data(args.batch, args.seq_len, args.seed)
    ours, theirs = build(args.seed)
    result = {
        "benchmark": "training throughput: full step (forward + backward + Adam) on (batch, time, 3, 66, 200) camera "
                     "sequences, and the recurrent core alone on (batch, time, 32) features",
        "architecture": "conv head (PilotNet-sized, shared weights) + CfC on AutoNCP(19, 1), mode default",
        "ours_also_does": "Policy's input check (NaN/Inf over the images, Policy.check_inputs) in the full step, "
                          "as training does",
        "batch": args.batch, "seq_len": args.seq_len,
        "elapsed_times": "one elapsed-time sequence shared by all samples: ncps gets (1, T, 1), ours (B, T) with the "
                         "same values; ncps 1.0.1 raises a size mismatch for (B, T) or (B, T, 1) at B = 16 (issues "
                         "#81-83)",
        "machine": {"cpu_cores": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "ncps": importlib.metadata.version("ncps"),
                    "python": platform.python_version(),
                    "torch_default_threads": default_threads, "load_average_at_start": list(os.getloadavg())},
        "parity": parity(ours, theirs, data),
        "runs": [],
    }
    for threads in thread_counts:
        torch.set_num_threads(threads)
        run = {"threads": threads}
        run["full"] = compare({"ours": (ours, data["images"], data["ours_ts"], data["labels"]),
                               "ncps": (theirs, data["images"], data["ncps_ts"], data["labels"])},
                              args.full_rounds, args.full_steps, warmup=2, batch=args.batch)
        features = data["features"].clone().requires_grad_(True)  # the gradient flows into the features, as in training
        run["core"] = compare({"ours": (ours.core, features, data["ours_ts"], data["labels"]),
                               "ncps": (theirs.core, features, data["ncps_ts"], data["labels"]),
                               "ours_per_sample": (ours.core, features, data["per_sample_ts"], data["labels"])},
                              args.core_rounds, args.core_steps, warmup=10, batch=args.batch)
        run["ours_breakdown"] = breakdown(ours, data["images"], 1 if args.quick else 3)
        core, full = run["core"], run["full"]
        run["core_share_of_full_step"] = {name: round(core[name]["median_ms"] / full[name]["median_ms"], 3)
                                          for name in ("ours", "ncps")}
        result["runs"].append(run)
    torch.set_num_threads(default_threads)
    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    full_ratios = [run["full"]["ratio_ours_over_ncps"] for run in result["runs"]]
    if min(full_ratios) < 3:
        shares = [run["core_share_of_full_step"]["ncps"] for run in result["runs"]]
        result["note"] = (f"the full-step ratio ({', '.join(f'{r:g}x' for r in full_ratios)}) is below 3x because the "
                          f"conv head, identical in both, dominates the step: the ncps core is "
                          f"{min(shares):.1%}-{max(shares):.1%} of the ncps full step, so even an infinitely fast core "
                          "could not make the whole step 3x faster; the libraries differ in the core (see "
                          "core.ratio_ours_over_ncps)")
    result["ratio_definition"] = ("ours sequences/s over ncps sequences/s: the median over rounds of the ratio of the "
                                  "two libraries' median step times within a round")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
