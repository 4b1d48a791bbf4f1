"""``bag record|play|info|recover``: rosbag2 bags without ros2 bag (files through rosbags, rclpy nodes)."""

from __future__ import annotations

import argparse
import json
from typing import Sequence


def parse_remaps(pairs: Sequence[str]) -> dict[str, str]:
    """``from:=to`` pairs (the ROS remapping syntax) -> {from: to}."""
    remap = {}
    for pair in pairs:
        source, sep, target = pair.partition(":=")
        if not sep or not source or not target:
            raise SystemExit(f"error: remapping {pair!r} is not of the form from:=to")
        remap[source] = target
    return remap


def cmd_bag_record(args: argparse.Namespace) -> int:
    from liquid_control.nodes.bag_tools import record

    return record(args.output, args.topics, storage=args.storage, all_topics=args.all, duration=args.duration,
                  discovery_period=args.discovery_period, use_sim_time=args.use_sim_time)


def cmd_bag_play(args: argparse.Namespace) -> int:
    from liquid_control.nodes.bag_tools import play

    return play(args.bag, rate=args.rate, loop=args.loop, clock=args.clock, remap=parse_remaps(args.remap),
                topics=args.topics, start_offset=args.start_offset, wait_for_subscribers=args.wait_for_subscribers)


def cmd_bag_info(args: argparse.Namespace) -> int:
    from liquid_control.data.bags import BagReader, format_info

    with BagReader(args.bag) as bag:
        info = bag.info()
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def cmd_bag_recover(args: argparse.Namespace) -> int:
    from liquid_control.data.bags import recover

    report = recover(args.bag)
    if not report.recovered:
        print(f"{report.path} is complete ({report.message_count} messages): nothing to recover")
        return 0
    topics = ", ".join(f"{name} {count}" for name, count in report.topics.items()) or "no topics"
    print(f"recovered {report.message_count} messages ({topics}) into {report.path}; reading stopped at: "
          f"{report.stopped_at}; the damaged file is kept as {report.original.name}")
    return 0


def add_parser(verbs) -> None:
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
    rec.add_argument("-d", "--duration", type=float, metavar="SECONDS",
                     help="stop after this long (default: until Ctrl-C)")
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
