"""The program: the top-level parser, to which each verb group adds its verbs, and ``main``."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from liquid_control.cli import bag, bench, dataset, launch, models, study, task, training, view, worlds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m liquid_control",
        description="Drive robots with liquid neural networks (LTC, CfC, NCP) from ROS 2.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    # In the order the help lists them.
    worlds.add_demo_parser(verbs)
    models.add_wiring_parser(verbs)
    models.add_info_parser(verbs)
    models.add_import_ncps_parser(verbs)
    worlds.add_drive_parser(verbs)
    launch.add_parser(verbs)
    bag.add_parser(verbs)
    worlds.add_generate_parser(verbs)
    training.add_parsers(verbs)
    models.add_export_parser(verbs)
    study.add_parser(verbs)
    task.add_parser(verbs)
    dataset.add_parser(verbs)
    bench.add_parser(verbs)
    view.add_parser(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:  # TaskError and BagError are ValueErrors that say what to do
        print(f"error: {exc}", file=sys.stderr)
        return 1
