"""``study``: train architectures x seeds on the same data and compare them closed loop (liquid_control.train.study)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path


def cmd_study(args: argparse.Namespace) -> int:
    from liquid_control.train.study import StudyConfig, plot_study, report_markdown, run_study, saliency_picture

    config = StudyConfig.load(args.config)
    if args.quick:
        config = config.quick()
    elif args.rehearse:
        for condition in config.rehearsal_leaves_out():
            print(f"... rehearsal: leaving out {condition.name!r}, in the locked {condition.domain} domain",
                  file=sys.stderr)
        config = config.rehearsal()
    if config.locked and args.seeds and not args.stop_after:
        print("error: a locked config's report covers all its seeds at once (docs/study_protocol.md): give --seeds "
              "only with --stop-after, to split its training", file=sys.stderr)
        return 2
    if args.seeds:
        try:
            config = config.only_seeds(args.seeds)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    if args.pack:
        if args.seeds:
            print("error: --pack works on the whole study (it keeps the first seed's weights): drop --seeds",
                  file=sys.stderr)
            return 2
        from liquid_control.train.study.packing import pack_study

        try:
            print(json.dumps(pack_study(config, args.out)))
        except FileNotFoundError as error:  # a search not run yet: nothing of the study is finished
            print(f"error: {error}", file=sys.stderr)
            return 2
        return 0
    if args.ray and importlib.util.find_spec("ray") is None:
        print("error: study --ray needs Ray on this machine and the cluster's: pip install 'liquid_control[ray]'",
              file=sys.stderr)
        return 2
    if args.stop_after == "tuning" and config.tuning is None:
        print("error: --stop-after tuning: this config has no tuning section", file=sys.stderr)
        return 2
    progress = None if args.json else (lambda message: print(f"... {message}", file=sys.stderr, flush=True))
    try:
        results = run_study(config, args.out, jobs=args.jobs, progress=progress, ray_address=args.ray,
                            stop_after=args.stop_after)
    # --ray: no cluster there; a search without Ray; a model whose weights --pack removed
    except (ConnectionError, ModuleNotFoundError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.stop_after:  # a stage of a long study: what was done, no report
        print(json.dumps(results) if args.json else f"stopped after {args.stop_after}: {json.dumps(results['work'])}")
        return 0
    command = " ".join(["python -m liquid_control study", args.config, *(["--quick"] if args.quick else []),
                        *(["--rehearse"] if args.rehearse else []),
                        *([f"--seeds {args.seeds}"] if args.seeds else []), f"--jobs {args.jobs}",
                        f"--out {args.out}"])
    text = report_markdown(results, command)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(text)
    if args.plot:
        plot_study(results, args.plot)
    if args.saliency:
        saliency_picture(results, args.saliency)
    print(json.dumps(results) if args.json else text)
    return 0


def add_parser(verbs) -> None:
    sty = verbs.add_parser("study", help="train architectures x seeds on the same data and compare them closed loop "
                                         "under perturbations (a config file; cached, resumable)")
    sty.add_argument("config", help="study config (YAML), e.g. config/study_lane.yaml")
    size = sty.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="the whole pipeline in miniature (minutes): a check, not results")
    size.add_argument("--rehearse", action="store_true",
                      help="every architecture, condition and comparison in miniature, on development tracks or "
                      "scenes (a locked config too, leaving out its locked domain): its whole pipeline and report "
                      "tried before the one run; a check, not results")
    sty.add_argument("--seeds", metavar="LIST", help="only these of the config's training seeds, e.g. 0 or 0-1 or 0,2: "
                     "runs them (seed by seed, as a full run does) and reports on them alone; the cache is the full "
                     "study's, so a later full run reuses their work")
    sty.add_argument("--out", default="out/study", help="cache and results folder (default: %(default)s)")
    sty.add_argument("--jobs", type=int, default=1, help="processes for expert data and closed-loop episodes "
                     "(default: %(default)s)")
    sty.add_argument("--ray", metavar="ADDRESS", help="run the trainings and closed-loop episodes on the Ray cluster "
                     "at ADDRESS (its head's HOST:PORT, or 'auto'); results come back into the --out cache, which "
                     "a run with or without --ray resumes from (docs/study.md, 'Running on a Ray cluster')")
    sty.add_argument("--stop-after", choices=("tuning", "training"),
                     help="end after the equal tuning, or after training every model (no episode is run and "
                     "nothing is reported): a long study's stages on different days or machines, from one cache")
    sty.add_argument("--pack", action="store_true",
                     help="run nothing: pack each finished model's episodes into one file and remove the weights of "
                     "every model but the first seed's, so that a finished study's cache fits in a repository "
                     "(the report reads a packed cache as it was; docs/study.md)")
    sty.add_argument("--report", metavar="PATH.md", help="write the Markdown report here")
    sty.add_argument("--plot", metavar="PATH.png", help="draw the headline figure (lane departures per km, drone "
                     "success rate) per condition and architecture")
    sty.add_argument("--saliency", metavar="PATH.png", help="draw each architecture's saliency, clean and noisy, on "
                     "one frame of the attention episode")
    sty.add_argument("--json", action="store_true", help="print the results as JSON instead of the report")
    sty.set_defaults(func=cmd_study)
