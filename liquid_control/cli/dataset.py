"""``dataset report``: what a task makes of a set of recordings, before any training."""

from __future__ import annotations

import argparse
import json

from liquid_control.cli.task_options import add_task_options, recording_cache, task_from_args


def cmd_dataset_report(args: argparse.Namespace) -> int:
    from liquid_control.data.dataset_report import dataset_report, format_report, plot_report
    from liquid_control.data.episodes import find_bags

    task = task_from_args(args)
    report = dataset_report(find_bags(args.bags), task, seq_len=args.seq_len, cache=recording_cache(args),
                            jobs=args.jobs, progress=not args.json)
    if args.plot:
        plot_report(report, args.plot)
        report["plot"] = args.plot
    report.pop("_episodes")
    print(json.dumps(report) if args.json else format_report(report))
    return 0


def add_parser(verbs) -> None:
    dataset = verbs.add_parser("dataset", help="inspect recordings before training")
    dataset_verbs = dataset.add_subparsers(dest="dataset_verb", metavar="DATASET_VERB")
    dataset_verbs.required = True
    report = dataset_verbs.add_parser("report", help="frames, rates, gaps, pairing, command delays and output ranges "
                                                     "of bags for a task, with warnings about what ruins training")
    report.add_argument("bags", nargs="+", help="bag folders, or folders of bags")
    add_task_options(report, default=None)
    report.add_argument("--seq-len", type=int, default=24, help="the training sequence length to check the "
                                                                "recordings against (default: %(default)s)")
    report.add_argument("--jobs", type=int, help="decoding processes (default: one per core)")
    report.add_argument("--plot", metavar="PATH.png", help="draw the outputs' histograms and a contact sheet")
    report.add_argument("--json", action="store_true", help="print one JSON object")
    report.set_defaults(func=cmd_dataset_report)
