"""The verbs of the simulated worlds (``demo``, ``drive``, ``generate``), each world's own verbs found
through the task's simulator (lane_world, drone_world)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import ModuleType

from liquid_control.cli.arguments import add_view_options, parse_assignments, seed_list
from liquid_control.runtime.ackermann import COMMAND_TYPES


def world_verbs(task_name: str) -> ModuleType:
    """The module with ``demo(args)``, ``drive(args)`` and ``describe(episode)`` for a simulated task."""
    from liquid_control.cli import drone_world, lane_world
    from liquid_control.tasks import load_task

    verbs = {"lane": lane_world, "drone": drone_world}  # by simulator name, as train.simulate.SIMULATORS
    simulator = load_task(task_name).simulator
    if simulator not in verbs:
        raise ValueError(f"task {task_name!r} has no simulator to {', '.join(verbs)}")
    return verbs[simulator]


class _SimulatedTasks:
    """The registered tasks with a simulator, as the choices of demo, drive and generate (read when
    first needed, like the presets)."""

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())

    @staticmethod
    def _names() -> tuple[str, ...]:
        from liquid_control.tasks import simulated

        return simulated()


WORLD_CHOICES = _SimulatedTasks()


def _outside_the_locked_split(args: argparse.Namespace, seeds) -> bool:
    """False (having said why) when a run would touch the study's locked test split: tracks and
    scenes from 2000 and the night domain are the final run's alone (docs/study_protocol.md)."""
    from liquid_control.train.study.locked_split import refuse_locked

    try:
        refuse_locked(seeds, [args.domain] if getattr(args, "domain", None) else [], what=args.verb)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return False
    return True


def cmd_demo(args: argparse.Namespace) -> int:
    if not _outside_the_locked_split(args, [args.seed]):
        return 2
    return world_verbs(args.world).demo(args)


def cmd_drive(args: argparse.Namespace) -> int:
    last = args.seed + max(args.episodes, args.fleet) - 1
    if not _outside_the_locked_split(args, [args.seed, last]):
        return 2
    return world_verbs(args.world).drive(args)


def cmd_generate(args: argparse.Namespace) -> int:
    from liquid_control.data.episodes import write_episode_bag
    from liquid_control.train.simulate import simulate_episodes

    out = Path(args.out)
    if not _outside_the_locked_split(args, seed_list(args.seeds)):
        return 2
    perturbations = parse_assignments(args.perturb, "perturbation")
    episodes = simulate_episodes(seed_list(args.seeds), args.world, args.distance, args.speed, args.recovery_rate,
                                 perturbations, args.domain, args.jobs)
    describe = world_verbs(args.world).describe
    for episode in episodes:
        path = out / f"sim_{episode.meta['seed']:05d}"
        write_episode_bag(episode, path, args.speed, storage=args.storage)
        print(f"{path}: {len(episode)} frames, {describe(episode)}")
    return 0


def add_demo_parser(verbs) -> None:
    demo = verbs.add_parser("demo", help="the closed loop through the real ROS nodes: simulator, perception, "
                                         "liquid controller")
    demo.add_argument("--world", "--task", dest="world", choices=WORLD_CHOICES, default="lane",
                      help="lane: the lane keeper drives; drone: the liquid drone flies to a target "
                           "(default: %(default)s)")
    demo.add_argument("--model", help="model folder (default: the shipped models/ncp19_lane, or models/ncp_drone)")
    demo.add_argument("--domain", default="summer",
                      help="--world drone: summer (training), autumn, winter, urban, dusk, night")
    demo.add_argument("--command-type", choices=COMMAND_TYPES, default="twist",
                      help="--world lane: the commands controller_node sends lane_sim_node: Twist or TwistStamped on "
                           "cmd_vel, or AckermannDriveStamped on drive (docs/ackermann.md; default: %(default)s)")
    demo.add_argument("--flight-controller", choices=("none", "px4"), default="none",
                      help="--world drone: px4 flies through px4_bridge and the simulated PX4 (docs/px4_sim.md)")
    demo.add_argument("--seed", type=int, default=1000, help="track or scene seed; >= 1000 is held out from training "
                      "(default: %(default)s)")
    demo.add_argument("--distance", type=float, default=1000.0, help="metres to drive (default: %(default)s)")
    demo.add_argument("--out", default="out/demo",
                      help="folder for the trajectory plot, frames and video (default: %(default)s)")
    demo.add_argument("--timeout", type=float, default=1200.0,
                      help="wall-clock limit in seconds (default: %(default)s)")
    demo.add_argument("--json", action="store_true", help="print the report as JSON")
    demo.add_argument("--live", metavar="[HOST:]PORT",
                      help="serve the nodes' view (camera, attention, neurons, wiring, command, world) to Foxglove "
                           "over WebSocket (docs/live_view.md)")
    demo.add_argument("--mcap", metavar="FILE.mcap", help="write the nodes' view to an MCAP file Foxglove opens")
    demo.set_defaults(func=cmd_demo)


def add_drive_parser(verbs) -> None:
    drv = verbs.add_parser("drive", help="drive the car in the lane world (lane-keeping metrics) or fly the drone to "
                                         "its target (--world drone: success rate, collisions, time to target)")
    drv.add_argument("--world", "--task", dest="world", choices=WORLD_CHOICES, default="lane",
                     help="default: %(default)s")
    drv.add_argument("--episodes", type=int, default=1, help="--world drone: flights in scenes SEED .. SEED+N-1")
    drv.add_argument("--domain", default=None,
                     help="--world drone: summer (training), autumn, winter, urban, dusk, night")
    drv.add_argument("--start-distance", metavar="LOW,HIGH", help="--world drone: start this far from the target, m "
                     "(the range test; default: the world's 5-20)")
    drv.add_argument("--wind", type=float, default=0.0, help="--world drone: wind gusts, N (default: calm)")
    drv.add_argument("--distractors", type=int, default=0,
                     help="--world drone: objects like the target in other colours")
    drv.add_argument("--driver", choices=("expert", "model"), default="expert",
                     help="who drives (default: %(default)s)")
    drv.add_argument("--model", help="model folder for --driver model")
    drv.add_argument("--fleet", type=int, default=1, metavar="N",
                     help="drive N cars at once on tracks SEED .. SEED+N-1, one batched network step for all "
                          "(model only)")
    drv.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime", "native"),
                     help="how --driver model steps the network (default: %(default)s, the fastest here)")
    drv.add_argument("--seed", type=int, default=0,
                     help="track seed; seeds >= 1000 are the held-out family (default: %(default)s)")
    drv.add_argument("--distance", type=float, default=1000.0,
                     help="metres to drive along the lane (default: %(default)s)")
    drv.add_argument("--max-time", type=float, help="sim-time limit in seconds (default: distance / 0.5 m/s)")
    drv.add_argument("--speed", type=float, default=3.0, help="expert speed in m/s (default: %(default)s)")
    drv.add_argument("--recovery-rate", type=float, default=0.0,
                     help="expert steering-noise bursts per second (default: off)")
    drv.add_argument("--open-road", action="store_true",
                     help="an open road instead of a closed loop (stops at its end)")
    drv.add_argument("--camera-rate", type=float,
                     help="camera and control rate in Hz (default: the world's, 20 lane, 10 drone)")
    drv.add_argument("--perturb", action="append", default=[], metavar="KEY=VALUE",
                     help="camera/world perturbation, e.g. noise_std=8, blur_sigma=1.5, drop_probability=0.1, "
                          "latency_s=0.1, brightness=-0.2, contrast=0.7, occlusion_blobs=2, light_intensity=0.5, "
                          "texture_seed=1003")
    drv.add_argument("--no-render", action="store_true", help="skip the camera (metrics only, faster)")
    drv.add_argument("--frames", metavar="DIR", help="save camera frames as PNG here")
    drv.add_argument("--frame-every", type=int, default=20,
                     help="with --frames, keep every Nth frame (default: %(default)s)")
    drv.add_argument("--video", metavar="PATH.mp4", help="save the camera stream as a video")
    drv.add_argument("--plot", metavar="PATH.png", help="save a top-down plot of the trajectory over the track")
    drv.add_argument("--json", action="store_true", help="print the report as one JSON object")
    add_view_options(drv)
    drv.set_defaults(func=cmd_drive)


def add_generate_parser(verbs) -> None:
    gen = verbs.add_parser("generate", help="the expert drives simulator tracks and writes one rosbag2 bag per track")
    gen.add_argument("--seeds", default="0-23", help="track seeds, e.g. 0-23 or 0,4,9 (default: %(default)s)")
    gen.add_argument("--distance", type=float, default=150.0, help="metres per track (default: %(default)s)")
    gen.add_argument("--speed", type=float, default=3.0, help="expert speed, m/s (default: %(default)s)")
    gen.add_argument("--recovery-rate", type=float, default=0.4,
                     help="steering-noise bursts per second (default: %(default)s)")
    gen.add_argument("--perturb", action="append", default=[], metavar="KEY=VALUE",
                     help="camera perturbation (see drive)")
    gen.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    gen.add_argument("--world", "--task", dest="world", choices=WORLD_CHOICES, default="lane",
                     help="default: %(default)s")
    gen.add_argument("--domain", default=None, help="--world drone: the scene domain (default: summer)")
    gen.add_argument("--jobs", type=int, default=1, help="processes that simulate at once (default: %(default)s)")
    gen.add_argument("--out", required=True, help="folder for the bags")
    gen.set_defaults(func=cmd_generate)
