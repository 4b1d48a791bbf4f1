"""``bench``: the runtime's speed side by side with ncps and ONNX Runtime.

The measuring lives with the other benchmarks in the source checkout's benchmarks/ folder
(runtime_bench.py), next to the package; this verb finds it there and runs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import liquid_control


def benchmarks_folder() -> Path:
    """Where a source checkout keeps its benchmarks: beside the package folder."""
    return Path(liquid_control.__file__).resolve().parents[1] / "benchmarks"


def cmd_bench(args: argparse.Namespace) -> int:
    folder = benchmarks_folder()
    if not (folder / "runtime_bench.py").is_file():
        print(f"error: the benchmarks run from a source checkout of liquid_control, and this installation has "
              f"none ({folder / 'runtime_bench.py'} does not exist). Clone the liquid_control repository, install "
              "it from there (pip install -e .[test], which also installs ncps) and run python -m liquid_control "
              "bench in it.", file=sys.stderr)
        return 2
    sys.path.insert(0, str(folder))
    return importlib.import_module("runtime_bench").bench(args)


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench options, shared with benchmarks/runtime_bench.py run as a script."""
    parser.add_argument("--json", action="store_true",
                        help="print the full results as JSON (default: a Markdown table)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run (seconds; figures are rough)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch and ONNX Runtime (default 1)")
    parser.add_argument("--sections", default="all", help="comma-separated: cell,policy,batch,train (default all)")
    parser.add_argument("--out", metavar="PATH.json", help="also write the JSON results here")
    parser.add_argument("--plot", metavar="PATH.png", help="draw the step times and the batched scaling")
    parser.add_argument("--from-json", metavar="PATH.json", help="redraw/retabulate a saved run instead of measuring")


def add_parser(verbs) -> None:
    bch = verbs.add_parser("bench", help="speed of our runtime side by side with ncps and ONNX Runtime (cell, policy, "
                                         "batched agents, training)")
    add_bench_arguments(bch)
    bch.set_defaults(func=cmd_bench)
