"""``python -m liquid_control <verb>``: the package's command line.

Verbs grow with the package; each is a thin shell over library code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .verbs.arguments import parse_assignments as _parse_assignments, seed_list as _seed_list


def _parse_wiring(text: str):
    """``KIND:key=value,key=value`` -> a wiring, e.g. ``AutoNCP:units=19,output_size=1``."""
    from .nets import make_wiring

    kind, _, params = text.partition(":")
    settings = _parse_assignments([p for p in params.split(",") if p], "wiring parameter")
    try:
        return make_wiring(kind, **settings)
    except TypeError as exc:
        raise SystemExit(f"error: bad parameters for wiring {kind}: {exc}") from exc


def cmd_demo(args: argparse.Namespace) -> int:
    from .verbs.simulated import world_verbs

    return world_verbs(args.world).demo(args)


def cmd_wiring(args: argparse.Namespace) -> int:
    from .nets.plot import plot_wiring

    if args.model:
        from .nets import load_model

        module, _ = load_model(args.model)
        wiring = module.wiring
    else:
        wiring = _parse_wiring(args.spec)
        if args.inputs is None:
            raise SystemExit("error: --inputs is required to build a wiring (the number of input features)")
        wiring.build(args.inputs)
    summary = {
        "kind": wiring.kind,
        "params": wiring.params,
        "units": wiring.units,
        "inputs": wiring.input_dim,
        "outputs": wiring.output_dim,
        "neurons": wiring.neuron_counts(),
        "layers": [len(layer) for layer in wiring.layers],
        "synapses": wiring.synapse_count,
        "sensory_synapses": wiring.sensory_synapse_count,
    }
    if args.out:
        plot_wiring(wiring, args.out)
        summary["picture"] = str(args.out)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .nets import load_model

    module, card = load_model(args.model)
    info = {
        "name": card.get("name"),
        "description": card.get("description"),
        "architecture": {k: v for k, v in card["architecture"].items() if k != "units"},
        "state_size": module.state_size,
        "output_size": module.output_size,
        "parameters": card["weights"].get("parameters"),
        "preprocessing": card.get("preprocessing"),
        "outputs": card.get("outputs"),
        "metrics": card.get("metrics"),
        "provenance": card.get("provenance"),
    }
    units = card["architecture"].get("units")
    info["architecture"]["wiring"] = units["wiring"]["kind"] if isinstance(units, dict) else f"dense, {units} units"
    print(json.dumps(info, indent=2, default=str))
    return 0


def cmd_import_ncps(args: argparse.Namespace) -> int:
    import torch

    from .nets import from_ncps_state_dict, save_model

    source = Path(args.state_dict)
    if not source.is_file():
        raise SystemExit(f"error: no such file: {source}")
    if source.suffix == ".safetensors":
        from safetensors.torch import load_file

        state_dict = load_file(str(source))
    else:
        # weights_only refuses pickled code: a state dict of tensors loads, an arbitrary object does not.
        state_dict = torch.load(source, map_location="cpu", weights_only=True)
        if isinstance(state_dict, dict) and "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
            state_dict = state_dict["state_dict"]
    if args.wiring and args.units:
        raise SystemExit("error: give either --units (dense) or --wiring, not both")
    if not (args.wiring or args.units):
        raise SystemExit("error: give --units N (dense) or --wiring KIND:params")
    units = _parse_wiring(args.wiring) if args.wiring else args.units
    settings = _parse_assignments(args.setting, "setting")
    module = from_ncps_state_dict(state_dict, args.kind, args.input_size, units, **settings)
    out = save_model(
        module,
        args.out,
        name=args.name,
        description=args.description or f"imported from the ncps state dict {source.name}",
        provenance={"source": "ncps", "imported_from": source.name},
    )
    print(f"wrote {out} ({sum(p.numel() for p in module.parameters())} parameters)")
    return 0


def cmd_drive(args: argparse.Namespace) -> int:
    from .verbs.simulated import world_verbs

    return world_verbs(args.world).drive(args)


def cmd_launch(args: argparse.Namespace) -> int:
    from .launching import launch, parse_launch_arguments

    words, arguments = parse_launch_arguments([args.file, *args.arguments])
    if len(words) == 2:  # `ros2 launch` order: PACKAGE FILE
        package, target = words
    elif len(words) == 1:
        package, target = None, words[0]
    else:
        raise SystemExit(f"error: expected a launch file (or PACKAGE FILE) and name:=value arguments, got {' '.join(words)}")
    return launch(target, package, arguments, dry_run=args.print, shutdown_timeout=args.shutdown_timeout)


def _parse_remaps(pairs: Sequence[str]) -> dict[str, str]:
    """``from:=to`` pairs (the ROS remapping syntax) -> {from: to}."""
    remap = {}
    for pair in pairs:
        source, sep, target = pair.partition(":=")
        if not sep or not source or not target:
            raise SystemExit(f"error: remapping {pair!r} is not of the form from:=to")
        remap[source] = target
    return remap


def cmd_bag_record(args: argparse.Namespace) -> int:
    from .nodes.bag_tools import record

    return record(args.output, args.topics, storage=args.storage, all_topics=args.all, duration=args.duration,
                  discovery_period=args.discovery_period, use_sim_time=args.use_sim_time)


def cmd_bag_play(args: argparse.Namespace) -> int:
    from .nodes.bag_tools import play

    return play(args.bag, rate=args.rate, loop=args.loop, clock=args.clock, remap=_parse_remaps(args.remap),
                topics=args.topics, start_offset=args.start_offset, wait_for_subscribers=args.wait_for_subscribers)


def cmd_bag_info(args: argparse.Namespace) -> int:
    from .data.bags import BagReader, format_info

    with BagReader(args.bag) as bag:
        info = bag.info()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def cmd_bag_recover(args: argparse.Namespace) -> int:
    from .data.bags import recover

    report = recover(args.bag)
    if not report.recovered:
        print(f"{report.path} is complete ({report.message_count} messages): nothing to recover")
        return 0
    topics = ", ".join(f"{name} {count}" for name, count in report.topics.items()) or "no topics"
    print(f"recovered {report.message_count} messages ({topics}) into {report.path}; reading stopped at: "
          f"{report.stopped_at}; the damaged file is kept as {report.original.name}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from .data.episodes import write_episode_bag
    from .train.simulate import simulate_episodes
    from .verbs.simulated import world_verbs

    out = Path(args.out)
    perturbations = _parse_assignments(args.perturb, "perturbation")
    episodes = simulate_episodes(_seed_list(args.seeds), args.world, args.distance, args.speed, args.recovery_rate,
                                 perturbations, args.domain, args.jobs)
    describe = world_verbs(args.world).describe
    for episode in episodes:
        path = out / f"sim_{episode.meta['seed']:05d}"
        write_episode_bag(episode, path, args.speed, storage=args.storage)
        print(f"{path}: {len(episode)} frames, {describe(episode)}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .nets import load_model
    from .nets.model_file import _sha256, update_card
    from .nets.onnx_export import check_onnx, export_onnx

    policy, card = load_model(args.model)
    if not hasattr(policy, "step"):
        raise SystemExit(f"error: {args.model} holds a {card['architecture'].get('kind')!r} network without a step to export")
    camera = hasattr(policy, "image_shape")
    out = Path(args.out) if args.out else Path(args.model) / ("policy.onnx" if camera else "network.onnx")
    export_onnx(policy, out, opset=args.opset)
    parity = check_onnx(policy, out)
    exports = dict(card.get("exports") or {})
    if out.parent.resolve() == Path(args.model).resolve():
        exports["onnx"] = {"file": out.name, "opset": args.opset, "sha256": _sha256(out),
                           "signature": ("(image[B,C,H,W], dt[B], state...)" if camera else "(x[B,F], dt[B], state...)")
                                        + " -> (output[B,K], next_state...)",
                           "parity_vs_torch": parity}
        update_card(args.model, exports=exports)
    print(json.dumps({"onnx": str(out), **parity}))
    worst = max(parity["max_abs_output_error"], parity["max_abs_state_error"])
    if worst > 1e-4:
        print(f"error: the ONNX graph differs from the torch model by {worst:.2e}", file=sys.stderr)
        return 1
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from .train.study import StudyConfig, plot_study, report_markdown, run_study, saliency_picture

    config = StudyConfig.load(args.config)
    if args.quick:
        config = config.quick()
    if args.seeds:
        try:
            config = config.only_seeds(args.seeds)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    progress = None if args.json else (lambda message: print(f"... {message}", file=sys.stderr, flush=True))
    results = run_study(config, args.out, jobs=args.jobs, progress=progress)
    command = " ".join(["python -m liquid_control study", args.config, *(["--quick"] if args.quick else []),
                        *([f"--seeds {args.seeds}"] if args.seeds else []), f"--jobs {args.jobs}", f"--out {args.out}"])
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


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import SECTIONS, run, table

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
        from .bench import plot

        plot(result, args.plot)
    print(json.dumps(result, indent=1) if args.json else table(result))
    return 0


class _SimulatedTasks:
    """The registered tasks with a simulator, as the choices of demo, drive and generate (read when
    first needed, like the presets)."""

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())

    @staticmethod
    def _names() -> tuple[str, ...]:
        from .tasks import simulated

        return simulated()


WORLD_CHOICES = _SimulatedTasks()


def build_parser() -> argparse.ArgumentParser:
    from .verbs import dataset as dataset_verbs, task as task_verbs, training as training_verbs

    parser = argparse.ArgumentParser(
        prog="python -m liquid_control",
        description="Drive robots with liquid neural networks (LTC, CfC, NCP) from ROS 2.",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    demo = verbs.add_parser("demo", help="the closed loop through the real ROS nodes: simulator, perception, liquid controller")
    demo.add_argument("--world", "--task", dest="world", choices=WORLD_CHOICES, default="lane", help="lane: the lane keeper drives; drone: the liquid "
                      "drone flies to a target (default: %(default)s)")
    demo.add_argument("--model", help="model folder (default: the shipped models/ncp19_lane, or models/ncp_drone)")
    demo.add_argument("--domain", default="summer", help="--world drone: summer (training), autumn, winter, urban, dusk")
    demo.add_argument("--seed", type=int, default=1000, help="track or scene seed; >= 1000 is held out from training "
                      "(default: %(default)s)")
    demo.add_argument("--distance", type=float, default=1000.0, help="metres to drive (default: %(default)s)")
    demo.add_argument("--out", default="out/demo", help="folder for the trajectory plot, frames and video (default: %(default)s)")
    demo.add_argument("--timeout", type=float, default=1200.0, help="wall-clock limit in seconds (default: %(default)s)")
    demo.add_argument("--json", action="store_true", help="print the report as JSON")
    demo.set_defaults(func=cmd_demo)

    wiring = verbs.add_parser("wiring", help="summarise and draw a wiring (a generator spec or a model's)")
    wiring.add_argument("spec", nargs="?", default="AutoNCP:units=19,output_size=1",
                        help="KIND:key=value,... with KIND one of AutoNCP, NCP, FullyConnected, Random (default: %(default)s)")
    wiring.add_argument("--inputs", type=int, help="number of input features (sensory neurons)")
    wiring.add_argument("--model", help="draw the wiring of this model folder instead")
    wiring.add_argument("--out", help="write a PNG picture here")
    wiring.set_defaults(func=cmd_wiring)

    info = verbs.add_parser("info", help="describe a model folder (card + weights)")
    info.add_argument("model", help="model folder (card.yaml + weights.safetensors)")
    info.set_defaults(func=cmd_info)

    imp = verbs.add_parser("import-ncps", help="turn an ncps state dict (.pt or .safetensors) into a model folder")
    imp.add_argument("state_dict", help="file saved with torch.save(module.state_dict()) or safetensors")
    imp.add_argument("--kind", choices=("cfc", "ltc"), required=True, help="the ncps module class it came from")
    imp.add_argument("--input-size", type=int, required=True, help="input_size given to the ncps constructor")
    imp.add_argument("--units", type=int, help="units, for a dense (unwired) network")
    imp.add_argument("--wiring", help="the wiring, KIND:key=value,... (masks are taken from the state dict)")
    imp.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                     help="other constructor arguments, e.g. mode=pure, mixed_memory=true, ode_unfolds=6")
    imp.add_argument("--out", required=True, help="model folder to write")
    imp.add_argument("--name", help="model name for the card")
    imp.add_argument("--description", help="description for the card")
    imp.set_defaults(func=cmd_import_ncps)

    drv = verbs.add_parser("drive", help="drive the car in the lane world (lane-keeping metrics) or fly the drone to its "
                                         "target (--world drone: success rate, collisions, time to target)")
    drv.add_argument("--world", "--task", dest="world", choices=WORLD_CHOICES, default="lane", help="default: %(default)s")
    drv.add_argument("--episodes", type=int, default=1, help="--world drone: flights in scenes SEED .. SEED+N-1")
    drv.add_argument("--domain", default=None, help="--world drone: summer (training), autumn, winter, urban, dusk")
    drv.add_argument("--start-distance", metavar="LOW,HIGH", help="--world drone: start this far from the target, m "
                     "(the range test; default: the world's 5-20)")
    drv.add_argument("--wind", type=float, default=0.0, help="--world drone: wind gusts, N (default: calm)")
    drv.add_argument("--distractors", type=int, default=0, help="--world drone: objects like the target in other colours")
    drv.add_argument("--driver", choices=("expert", "model"), default="expert", help="who drives (default: %(default)s)")
    drv.add_argument("--model", help="model folder for --driver model")
    drv.add_argument("--fleet", type=int, default=1, metavar="N",
                     help="drive N cars at once on tracks SEED .. SEED+N-1, one batched network step for all (model only)")
    drv.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime", "native"),
                     help="how --driver model steps the network (default: %(default)s, the fastest here)")
    drv.add_argument("--seed", type=int, default=0, help="track seed; seeds >= 1000 are the held-out family (default: %(default)s)")
    drv.add_argument("--distance", type=float, default=1000.0, help="metres to drive along the lane (default: %(default)s)")
    drv.add_argument("--max-time", type=float, help="sim-time limit in seconds (default: distance / 0.5 m/s)")
    drv.add_argument("--speed", type=float, default=3.0, help="expert speed in m/s (default: %(default)s)")
    drv.add_argument("--recovery-rate", type=float, default=0.0, help="expert steering-noise bursts per second (default: off)")
    drv.add_argument("--open-road", action="store_true", help="an open road instead of a closed loop (stops at its end)")
    drv.add_argument("--camera-rate", type=float, help="camera and control rate in Hz (default: the world's, 20 lane, 10 drone)")
    drv.add_argument("--perturb", action="append", default=[], metavar="KEY=VALUE",
                     help="camera/world perturbation, e.g. noise_std=8, blur_sigma=1.5, drop_probability=0.1, latency_s=0.1, "
                          "brightness=-0.2, contrast=0.7, occlusion_blobs=2, light_intensity=0.5, texture_seed=1003")
    drv.add_argument("--no-render", action="store_true", help="skip the camera (metrics only, faster)")
    drv.add_argument("--frames", metavar="DIR", help="save camera frames as PNG here")
    drv.add_argument("--frame-every", type=int, default=20, help="with --frames, keep every Nth frame (default: %(default)s)")
    drv.add_argument("--video", metavar="PATH.mp4", help="save the camera stream as a video")
    drv.add_argument("--plot", metavar="PATH.png", help="save a top-down plot of the trajectory over the track")
    drv.add_argument("--json", action="store_true", help="print the report as one JSON object")
    drv.set_defaults(func=cmd_drive)

    lch = verbs.add_parser(
        "launch", help="run a ROS 2 XML launch file without ros2 launch (e.g. sim_demo.launch.xml seed:=1000)",
        description="Run a ROS 2 XML launch file (a subset of launch_xml; anything else is refused with its file "
                    "and line). A bare file name is looked up in liquid_control's launch/ folder; PACKAGE FILE "
                    "works as with ros2 launch. Ctrl-C stops every node (SIGINT, then SIGTERM, then SIGKILL); a "
                    "node that dies with a non-zero exit code stops the launch (exit code 1).")
    lch.add_argument("file", help="launch file path, or a name in liquid_control's launch/ folder (or PACKAGE)")
    lch.add_argument("arguments", nargs="*", metavar="NAME:=VALUE", help="launch arguments (or FILE after PACKAGE)")
    lch.add_argument("--print", action="store_true", help="print the resolved node commands and start nothing")
    lch.add_argument("--shutdown-timeout", type=float, default=5.0, metavar="SECONDS",
                     help="wait this long after SIGINT before SIGTERM, and after SIGTERM before SIGKILL (default: %(default)s)")
    lch.set_defaults(func=cmd_launch)

    bag = verbs.add_parser("bag", help="record, play, describe and recover rosbag2 bags (MCAP or sqlite3)",
                           description="rosbag2 bags without ros2 bag: the files are read and written with rosbags, "
                                       "the recorder and player are rclpy nodes.")
    bag_verbs = bag.add_subparsers(dest="bag_verb", metavar="BAG_VERB")
    bag_verbs.required = True
    rec = bag_verbs.add_parser("record", help="record topics into a new bag folder (Ctrl-C stops and finalises it)")
    rec.add_argument("topics", nargs="*", metavar="TOPIC", help="topics to record (they may appear later)")
    rec.add_argument("-o", "--output", required=True, metavar="DIR", help="bag folder to create")
    rec.add_argument("-a", "--all", action="store_true", help="record every topic, including ones that appear later")
    rec.add_argument("-s", "--storage", choices=("mcap", "sqlite3"), default="mcap", help="(default: %(default)s)")
    rec.add_argument("-d", "--duration", type=float, metavar="SECONDS", help="stop after this long (default: until Ctrl-C)")
    rec.add_argument("--discovery-period", type=float, default=0.5, metavar="SECONDS",
                     help="look for new topics this often (default: %(default)s)")
    rec.add_argument("--use-sim-time", action="store_true", help="stamp messages with /clock time instead of wall time")
    rec.set_defaults(func=cmd_bag_record)
    ply = bag_verbs.add_parser("play", help="publish a bag's messages with their original timing")
    ply.add_argument("bag", help="bag folder (or .mcap / .db3 file)")
    ply.add_argument("-r", "--rate", type=float, default=1.0, help="playback speed factor (default: %(default)s)")
    ply.add_argument("-l", "--loop", action="store_true", help="start again at the end")
    ply.add_argument("--clock", action="store_true", help="publish /clock with the bag's time (for use_sim_time)")
    ply.add_argument("--remap", nargs="+", default=[], metavar="FROM:=TO", help="publish topic FROM as TO")
    ply.add_argument("--topics", nargs="+", metavar="TOPIC", help="play only these topics")
    ply.add_argument("--start-offset", type=float, default=0.0, metavar="SECONDS", help="skip the bag's first SECONDS")
    ply.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="SECONDS",
                     help="before starting, wait up to SECONDS for every topic to have a subscriber")
    ply.set_defaults(func=cmd_bag_play)
    inf = bag_verbs.add_parser("info", help="describe a bag: storage, duration, topics, types, counts")
    inf.add_argument("bag", help="bag folder (or .mcap / .db3 file)")
    inf.add_argument("--json", action="store_true", help="print one JSON object")
    inf.set_defaults(func=cmd_bag_info)
    rcv = bag_verbs.add_parser("recover", help="make a killed recording readable (rebuilds index and metadata.yaml)")
    rcv.add_argument("bag", help="bag folder whose recording did not finish")
    rcv.set_defaults(func=cmd_bag_recover)
    gen = verbs.add_parser("generate", help="the expert drives simulator tracks and writes one rosbag2 bag per track")
    gen.add_argument("--seeds", default="0-23", help="track seeds, e.g. 0-23 or 0,4,9 (default: %(default)s)")
    gen.add_argument("--distance", type=float, default=150.0, help="metres per track (default: %(default)s)")
    gen.add_argument("--speed", type=float, default=3.0, help="expert speed, m/s (default: %(default)s)")
    gen.add_argument("--recovery-rate", type=float, default=0.4, help="steering-noise bursts per second (default: %(default)s)")
    gen.add_argument("--perturb", action="append", default=[], metavar="KEY=VALUE", help="camera perturbation (see drive)")
    gen.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    gen.add_argument("--world", "--task", dest="world", choices=WORLD_CHOICES, default="lane", help="default: %(default)s")
    gen.add_argument("--domain", default=None, help="--world drone: the scene domain (default: summer)")
    gen.add_argument("--jobs", type=int, default=1, help="processes that simulate at once (default: %(default)s)")
    gen.add_argument("--out", required=True, help="folder for the bags")
    gen.set_defaults(func=cmd_generate)

    training_verbs.add_parsers(verbs)
    exp = verbs.add_parser("export", help="export a policy's control step to ONNX and check it against torch")
    exp.add_argument("--model", required=True, help="model folder")
    exp.add_argument("--out", help="ONNX file (default: MODEL/policy.onnx, recorded in the card)")
    exp.add_argument("--opset", type=int, default=17)
    exp.set_defaults(func=cmd_export)

    sty = verbs.add_parser("study", help="train architectures x seeds on the same data and compare them closed loop "
                                         "under perturbations (a config file; cached, resumable)")
    sty.add_argument("config", help="study config (YAML), e.g. config/study_lane.yaml")
    sty.add_argument("--quick", action="store_true", help="the whole pipeline in miniature (minutes): a check, not results")
    sty.add_argument("--seeds", metavar="LIST", help="only these of the config's training seeds, e.g. 0 or 0-1 or 0,2: "
                     "runs them (seed by seed, as a full run does) and reports on them alone; the cache is the full "
                     "study's, so a later full run reuses their work")
    sty.add_argument("--out", default="out/study", help="cache and results folder (default: %(default)s)")
    sty.add_argument("--jobs", type=int, default=1, help="processes for expert data and closed-loop episodes "
                     "(default: %(default)s)")
    sty.add_argument("--report", metavar="PATH.md", help="write the Markdown report here")
    sty.add_argument("--plot", metavar="PATH.png", help="draw the headline figure (lane departures per km, drone success "
                     "rate) per condition and architecture")
    sty.add_argument("--saliency", metavar="PATH.png", help="draw each architecture's saliency, clean and noisy, on one "
                     "frame of the attention episode")
    sty.add_argument("--json", action="store_true", help="print the results as JSON instead of the report")
    sty.set_defaults(func=cmd_study)

    task_verbs.add_parser(verbs)
    dataset_verbs.add_parser(verbs)

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError) as exc:  # TaskError and BagError are ValueErrors that say what to do
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
