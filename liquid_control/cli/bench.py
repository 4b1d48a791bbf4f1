"""``bench``: the runtime's speed side by side with ncps and ONNX Runtime (the measuring is liquid_control.bench)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import SECTIONS, run, table

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
        from ..bench import plot

        plot(result, args.plot)
    print(json.dumps(result, indent=1) if args.json else table(result))
    return 0


def add_parser(verbs) -> None:
    bch = verbs.add_parser("bench", help="speed of our runtime side by side with ncps and ONNX Runtime (cell, policy, "
                                         "batched agents, training)")
    bch.add_argument("--json", action="store_true", help="print the full results as JSON (default: a Markdown table)")
    bch.add_argument("--quick", action="store_true", help="a short smoke run (seconds; figures are rough)")
    bch.add_argument("--threads", type=int, default=1, help="CPU threads for torch and ONNX Runtime (default 1)")
    bch.add_argument("--sections", default="all", help="comma-separated: cell,policy,batch,train (default all)")
    bch.add_argument("--out", metavar="PATH.json", help="also write the JSON results here")
    bch.add_argument("--plot", metavar="PATH.png", help="draw the step times and the batched scaling")
    bch.add_argument("--from-json", metavar="PATH.json", help="redraw/retabulate a saved run instead of measuring")
    bch.set_defaults(func=cmd_bench)
