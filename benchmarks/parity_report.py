"""Print, as JSON, how far our networks are from ncps 1.0.1 for every parity configuration.

    .venv/bin/python benchmarks/parity_report.py [--seeds 0 1 2] [--gradients]

For each configuration and elapsed-time pattern (none, scalar, per-sample) it reports the
largest absolute difference over the seeds of outputs, final states, initial weights (same torch
seed) and, with --gradients, of parameter and input gradients. float32 on CPU.
"""

import argparse
import json
import platform

import torch

from liquid_control.nets.parity import TIMESPANS, measure_parity, parity_cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gradients", action="store_true", help="also compare gradients (slower)")
    args = parser.parse_args()
    import ncps

    report = {
        "reference": f"ncps {getattr(ncps, '__version__', '1.0.1')}",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "dtype": "float32",
        "seeds": args.seeds,
        "cases": {},
    }
    worst: dict[str, float] = {}
    for case in parity_cases():
        entry = {}
        for timespans in TIMESPANS:
            merged: dict[str, float] = {}
            for seed in args.seeds:
                parity = measure_parity(case, seed=seed, timespans=timespans, gradients=args.gradients)
                for key, value in parity.items():
                    merged[key] = max(merged.get(key, 0.0), value)
                    worst[key] = max(worst.get(key, 0.0), value)
            entry[timespans] = merged
        report["cases"][case.name] = entry
    report["worst"] = worst
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
