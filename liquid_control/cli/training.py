"""``train`` and ``eval``: a camera policy from a task's recordings (or its simulator), and its
error on held-out recordings."""

from __future__ import annotations

import argparse
import json
import os
import sys

from liquid_control.cli.arguments import add_view_options, open_view, parse_assignments, seed_list
from liquid_control.cli.task_options import add_task_options


def _train_command(args: argparse.Namespace) -> str:
    """The command that trains this model again, every setting that shapes it spelled out."""
    parts = ["python -m liquid_control train", f"--task {args.task}"]
    if args.bags:
        parts.append("--bags " + " ".join(args.bags))
        parts += [f"--{name.replace('_', '-')} {getattr(args, name)}" for name in ("camera_topic", "outputs")
                  if getattr(args, name)]
        parts += [f"--command-topic {args.command_topic}"] if args.command_topic != "auto" else []
    else:
        parts += [f"--sim-seeds {args.sim_seeds}", f"--sim-distance {args.sim_distance:g}", f"--speed {args.speed:g}",
                  f"--recovery-rate {args.recovery_rate:g}", *(f"--perturb {p}" for p in args.perturb)]
        parts += [f"--domain {args.domain}"] if args.domain else []
    parts += [f"--arch {args.arch}", f"--epochs {args.epochs}", f"--seed {args.seed}", f"--threads {args.threads}",
              f"--jobs {args.jobs}",
              *([f"--head-precision {args.head_precision}"] if args.head_precision != "auto" else []),
              *([f"--head-activation {args.head_activation}"] if args.head_activation else []),
              *(["--no-channels-last"] if args.no_channels_last else []), f"--out {args.out}"]
    return " ".join(parts)


def _recorded_episodes(args: argparse.Namespace, task):
    """The episodes of ``args.bags`` for ``task``, with a line per bag on what was paired."""
    from liquid_control.cli.task_options import recording_cache
    from liquid_control.data.pairing import describe_pairing, episodes_from_recordings

    episodes, reports = episodes_from_recordings(args.bags, task, cache=recording_cache(args), jobs=args.jobs or None,
                                                 progress=not getattr(args, "json", False))
    print(describe_pairing(reports), file=sys.stderr)
    if not episodes:
        raise SystemExit("error: no frame could be paired with a command; `python -m liquid_control dataset report "
                         f"--task {args.task} {' '.join(args.bags)}` says why")
    pairing = {bag: {"paired": r.paired, "dropped": r.dropped, "command_topic": r.command_topic}
               for bag, r in reports.items()}
    return episodes, pairing


def cmd_train(args: argparse.Namespace) -> int:
    from liquid_control.cli.task_options import task_from_args
    from liquid_control.train.simulate import simulate_episodes
    from liquid_control.train.trainer import TrainConfig, train

    if bool(args.bags) == bool(args.sim_seeds):
        raise SystemExit("error: give either --bags DIR... (recorded data) or --sim-seeds (the simulator fast path)")
    task = task_from_args(args)
    if args.bags:
        episodes, pairing = _recorded_episodes(args, task)
        description = {"bags": [str(b) for b in args.bags], "pairing": pairing}
    elif not task.simulator:
        raise SystemExit(f"error: task {task.name} has no simulator; train it from its recordings with --bags")
    else:
        perturbations = parse_assignments(args.perturb, "perturbation")
        episodes = simulate_episodes(seed_list(args.sim_seeds), task.name, args.sim_distance, args.speed,
                                     args.recovery_rate, perturbations, domain=args.domain, jobs=args.jobs or 1)
        reports = [e.meta["report"] for e in episodes]
        description = {"simulator_seeds": args.sim_seeds, "recovery_rate_hz": args.recovery_rate,
                       "perturbations": perturbations}
        if "success" in reports[0]:  # a simulator whose episodes succeed or fail (reach a target)
            description["expert_success_rate"] = round(sum(r["success"] for r in reports) / len(reports), 4)
    description.update({"task": task.to_dict(), "command": _train_command(args)})
    config = TrainConfig.for_task(task, arch=args.arch, epochs=args.epochs, batch_size=args.batch_size,
                                  seq_len=args.seq_len, stride=args.stride or args.seq_len, lr=args.lr, seed=args.seed,
                                  threads=args.threads, augment=not args.no_augment, head_precision=args.head_precision,
                                  head_activation=args.head_activation, channels_last=not args.no_channels_last)
    folder = train(episodes, args.out, config, resume=args.resume, data_description=description)
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun: one report, from rank 0
    if folder is not None and main_process:
        print(f"wrote {folder} (training curve: {folder / 'training_curve.png'})")
    if folder is not None and args.baseline:
        from dataclasses import replace

        # The same data, split and recipe for the other architecture: what the liquid core buys is the difference.
        baseline = train(episodes, f"{args.out}-{args.baseline}", replace(config, arch=args.baseline),
                         data_description=description)
        if baseline is not None and main_process:
            from liquid_control.nets.model_file import read_card

            losses = [read_card(path)["metrics"]["val_loss"] for path in (folder, baseline)]
            print(f"wrote {baseline}; validation loss {args.arch} {_loss(losses[0])}, "
                  f"{args.baseline} {_loss(losses[1])}; "
                  f"compare on held-out drives with: python -m liquid_control eval --task {args.task} "
                  f"--model {folder} {baseline} --bags HELD_OUT")
    return 0


def _loss(value) -> str:
    return "n/a (no validation episodes)" if value is None else f"{value:.4g}"



def cmd_eval(args: argparse.Namespace) -> int:
    from liquid_control.cli.task_options import task_from_args
    from liquid_control.train.open_loop import open_loop

    task = task_from_args(args)
    if args.closed_replay:
        return _closed_replay(args, task)
    episodes, _ = _recorded_episodes(args, task)
    results = []
    for number, model in enumerate(args.model):
        result = open_loop(model, episodes, nominal_dt=task.nominal_dt)
        predictions = result.pop("predictions")
        if args.plot and number == 0:
            _plot_open_loop(episodes, predictions, args.plot)
            result["plot"] = args.plot
        results.append(result)
    view = open_view(args)
    if view:
        try:
            replayed = view.replay(args.model[0], episodes, nominal_dt=task.nominal_dt)
        finally:
            view.close()
        results[0]["view"] = {**view.outputs(), "frames": replayed}
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else {"models": results}))
        return 0
    print(f"{results[0]['frames']} frames in {len(episodes)} episode(s):")
    for result in results:
        if len(results) > 1:
            print(f"{result['model']}:")
        for name, figures in result["outputs"].items():
            r2 = "n/a (the labels do not vary)" if figures["r2"] is None else f"{figures['r2']:.3f}"
            print(f"  {name}: RMSE {figures['rmse']:.4g} (predicting the training mean: "
                  f"{figures['rmse_of_training_mean']:.4g}), MAE {figures['mae']:.4g}, R2 {r2}")
    return 0


def _closed_replay(args: argparse.Namespace, task) -> int:
    """Each bag played into the policy launch in shadow mode (real nodes, sim time): the agreement."""
    from liquid_control.data.episodes import find_bags
    from liquid_control.nodes.shadow_replay import shadow_replay

    if len(args.model) != 1:
        raise SystemExit("error: --closed-replay runs one model through the nodes; give one --model")
    reports = {}
    for bag in find_bags(args.bags):
        print(f"... playing {bag} into the policy launch in shadow mode", file=sys.stderr, flush=True)
        reports[str(bag)] = shadow_replay(args.model[0], bag, task)
    if args.json:
        print(json.dumps({"model": args.model[0], "closed_replay": reports}))
        return 0
    for bag, report in reports.items():
        print(f"{bag}: {report.get('shadow_pairs')} steps paired with the recorded command "
              f"({report.get('shadow_unpaired')} without one)")
        fields = sorted({key.split("_")[1] for key in report if key.endswith("_error_p50")})
        for name in fields:
            print(f"  {name}: error p50 {report[f'shadow_{name}_error_p50']}, "
                  f"p95 {report[f'shadow_{name}_error_p95']}, "
                  f"within tolerance {report[f'shadow_{name}_within_tolerance']}, "
                  f"sign agreement {report[f'shadow_{name}_sign_agreement']}")
    return 0


def _plot_open_loop(episodes, predictions, path) -> None:
    import matplotlib

    from liquid_control.tasks import OUTPUT_UNITS

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    shown = episodes[:4]
    fig, axes = plt.subplots(len(shown), 1, figsize=(8, 2.2 * len(shown)), squeeze=False)
    for ax, episode in zip(axes[:, 0], shown):
        t = episode.stamps - episode.stamps[0]
        for k, name in enumerate(episode.label_names):
            ax.plot(t, episode.labels[:, k], label=f"recorded {name}", lw=1.2, color=f"C{k}")
            ax.plot(t, predictions[episode.name][:, k], label=f"network {name}", lw=1.2, ls="--", color=f"C{k}")
        ax.set_ylabel(", ".join(f"{name} ({OUTPUT_UNITS[name]})" for name in episode.label_names), fontsize=8)
        ax.set_title(episode.name, fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class _PolicyPresets:
    """``make_policy``'s presets as the ``--arch`` choices, read when first needed: importing them
    imports torch, which would add seconds to the start of every other verb."""

    @staticmethod
    def _names() -> tuple[str, ...]:
        from liquid_control.nets.policy import PRESETS

        return PRESETS

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())


def add_parsers(verbs) -> None:
    trn = verbs.add_parser("train", help="train a camera policy from bags (or straight from the simulator)")
    trn.add_argument("--bags", nargs="+", help="bag folders, or folders of bags (recordings of the task's robot)")
    trn.add_argument("--sim-seeds", help="instead of bags: let the expert drive these tracks now, e.g. 0-23")
    trn.add_argument("--sim-distance", type=float, default=150.0,
                     help="with --sim-seeds: metres per track (default: %(default)s)")
    trn.add_argument("--speed", type=float, default=3.0, help="with --sim-seeds: expert speed (default: %(default)s)")
    trn.add_argument("--recovery-rate", type=float, default=0.4, help="with --sim-seeds: recovery bursts per second")
    trn.add_argument("--perturb", action="append", default=[], metavar="KEY=VALUE",
                     help="with --sim-seeds: camera perturbation")
    add_task_options(trn)
    trn.add_argument("--domain", default=None, help="with --task drone --sim-seeds: the scene domain (default: summer)")
    trn.add_argument("--jobs", type=int, default=0, help="processes that simulate at once (default 1), or that decode "
                     "recordings (default: one per core)")
    # A metavar, so that argparse lists the presets only when it prints the help, not at start.
    trn.add_argument("--arch", choices=_PolicyPresets(), metavar="ARCH", default="ncp-cfc",
                     help="the policy architecture: %(choices)s (default: %(default)s)")
    trn.add_argument("--epochs", type=int, default=8)
    trn.add_argument("--batch-size", type=int, default=16)
    trn.add_argument("--seq-len", type=int, default=24, help="frames per training sequence (default: %(default)s)")
    trn.add_argument("--stride", type=int, help="frames between sequence starts (default: seq-len)")
    trn.add_argument("--lr", type=float, default=2e-3)
    trn.add_argument("--seed", type=int, default=0)
    trn.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    trn.add_argument("--no-augment", action="store_true", help="switch off augmentation")
    trn.add_argument("--head-precision", choices=("auto", "bf16", "fp32"), default="auto",
                     help="the conv head's arithmetic in training: bf16 (the core stays float32) where the CPU has "
                          "native bfloat16, else fp32 (default: %(default)s); the saved model is float32")
    trn.add_argument("--head-activation", choices=("tanh", "layernorm"), default=None,
                     help="the conv head's output for any --arch: squashed by tanh, or standardised per frame "
                          "(layernorm, no learned scale: what cured the drone study's dead NCP-LTC seeds); "
                          "default: unbounded features")
    trn.add_argument("--no-channels-last", action="store_true", help="keep the conv head's default memory layout")
    trn.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    trn.add_argument("--baseline", choices=_PolicyPresets(), metavar="ARCH",
                     help="also train ARCH (e.g. cnn, the memoryless baseline) on the same data and recipe, "
                          "into OUT-ARCH")
    trn.add_argument("--out", required=True, help="model folder to write")
    trn.set_defaults(func=cmd_train)

    evl = verbs.add_parser("eval", help="open-loop replay of bags through a model: error against the recorded commands")
    evl.add_argument("--model", nargs="+", required=True, help="model folder(s): several are compared on the same "
                     "frames (e.g. the policy and its --baseline)")
    evl.add_argument("--bags", nargs="+", required=True)
    add_task_options(evl)
    evl.add_argument("--jobs", type=int, default=0, help="processes that decode recordings (default: one per core)")
    evl.add_argument("--plot", metavar="PATH.png", help="plot the network's outputs against the recorded commands")
    evl.add_argument("--closed-replay", action="store_true",
                     help="play each bag into the policy launch in shadow mode (perception_node and controller_node "
                          "as on the robot, on the bag's clock) and report the agreement with the recorded commands")
    evl.add_argument("--json", action="store_true")
    add_view_options(evl)
    evl.set_defaults(func=cmd_eval)
