"""``python -m liquid_control <verb>``: the package's command line.

Verbs grow with the package; each is a thin shell over library code (parse, call, print). program
holds the top-level parser and ``main``; each verb group (worlds, models, launch, bag, training,
study, task, dataset, bench) adds its own subparsers; arguments and task_options are shared helpers.
"""

from liquid_control.cli.program import build_parser, main

__all__ = ["build_parser", "main"]
