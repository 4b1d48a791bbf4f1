"""The lane world's verbs: ``demo``, ``drive`` and what ``generate`` says of an episode."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from liquid_control.cli.arguments import REPO_MODELS, open_view, parse_assignments
from liquid_control.cli.frames import FrameSink, print_files, run_outputs


def demo(args: argparse.Namespace) -> int:
    """``demo --task lane``: the lane keeper drives a held-out track through the ROS nodes."""
    model = Path(args.model or REPO_MODELS / "ncp19_lane")
    if not (model / "card.yaml").is_file():
        print(f"error: no model at {model}. The package ships models/ncp19_lane; retrain it with\n"
              "  python -m liquid_control train --sim-seeds 0-23 --arch ncp-cfc --out models/ncp19_lane",
              file=sys.stderr)
        return 2
    if args.flight_controller != "none":
        print("error: --flight-controller is for --world drone; a car takes --command-type", file=sys.stderr)
        return 2
    from liquid_control.nodes.closed_loop_demo import run_demo

    print(f"demo: {model.name} drives {args.distance:g} m on track {args.seed} through the ROS nodes "
          f"(lane_sim_node -> perception_node -> controller_node, lock-step /clock, {args.command_type} commands) "
          "...", file=sys.stderr, flush=True)
    report = run_demo(str(model.resolve()), seed=args.seed, distance_m=args.distance, out_dir=args.out,
                      timeout_s=args.timeout, live=args.live, mcap=args.mcap, command_type=args.command_type)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"track {report['seed']} ({report['track_family']}): {report['distance_m']:.0f} m driven, "
              f"mean |lateral error| {report['mean_abs_lateral_m'] * 100:.1f} cm "
              f"(max {report['max_abs_lateral_m'] * 100:.1f} cm), {report['departures']} lane departure(s); "
              f"{report['stop_reason']}; {report['wall_time_s']:.0f} s wall time")
        print_files(report, ("trajectory_png", "frames_png", "video"))
    succeeded = report["stop_reason"] == "distance reached" and report["departures"] == 0
    return 0 if succeeded else 3


def drive(args: argparse.Namespace) -> int:
    """``drive --task lane``: the expert or a model drives a track (or a fleet of cars)."""
    from liquid_control.sim.lane.drive import drive
    from liquid_control.sim.lane.expert import ExpertDriver, RecoveryConfig
    from liquid_control.sim.lane.track import TrackSpec
    from liquid_control.sim.lane.world import LaneWorld, WorldConfig
    from liquid_control.sim.perturbations import PerturbationConfig

    if args.driver == "model" and not args.model:
        print("error: --driver model needs --model MODEL_DIR", file=sys.stderr)
        return 2
    config = WorldConfig(
        track=TrackSpec(closed=not args.open_road),
        perturbations=PerturbationConfig.from_dict(parse_assignments(args.perturb, "perturbation")),
        camera_rate_hz=args.camera_rate or 20.0,
        render=not args.no_render,
    )
    if args.fleet > 1:
        return _fleet(args, config)
    if args.driver == "model":
        from liquid_control.train.model_driver import ModelDriver

        driver = ModelDriver(args.model, speed=args.speed, backend=args.backend)
    else:
        driver = ExpertDriver(config.car, speed=args.speed, recovery=RecoveryConfig(rate_hz=args.recovery_rate))
    world = LaneWorld(args.seed, config)
    frames = FrameSink(args.frames, args.frame_every, args.video, config.camera_rate_hz)
    view = open_view(args)
    try:
        result = drive(world, view.watch(driver) if view else driver, args.distance, args.max_time,
                       on_step=frames.add if frames.active else None)
    finally:
        if view:
            view.close()
        frames.close()
        world.close()
    report = result.report
    if args.plot:
        from liquid_control.sim.lane.plot import plot_drive

        plot_drive(world.track, result.trajectory, args.plot)
        report["plot"] = args.plot
    report.update(run_outputs(frames, view, driver))
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['driver']} on track {report['seed']} ({report['family']}): {report['distance_m']:.0f} m in "
              f"{report['sim_time_s']:.0f} s sim time ({report['realtime_factor']}x real time); mean |lateral error| "
              f"{report['mean_abs_lateral_m'] * 100:.1f} cm, max {report['max_abs_lateral_m'] * 100:.1f} cm, "
              f"{report['departures']} lane departure(s); stopped: {report['stop_reason']}")
    return 0 if report["stop_reason"] == "distance reached" else 3


def _fleet(args: argparse.Namespace, config) -> int:
    from liquid_control.sim.lane.drive import drive_fleet
    from liquid_control.sim.lane.world import LaneWorld
    from liquid_control.train.model_driver import FleetModelDriver

    if args.driver != "model":
        print("error: --fleet drives a model (--driver model --model DIR); the expert has no batched form",
              file=sys.stderr)
        return 2
    if args.frames or args.video or args.plot or args.live or args.mcap:
        print("error: --frames, --video, --plot, --live and --mcap record one car; drive it without --fleet",
              file=sys.stderr)
        return 2
    driver = FleetModelDriver(args.model, speed=args.speed, backend=args.backend)
    worlds = [LaneWorld(args.seed + i, config) for i in range(args.fleet)]
    try:
        results = drive_fleet(worlds, driver, args.distance, args.max_time)
    finally:
        for world in worlds:
            world.close()
    reports = [r.report for r in results]
    summary = fleet_summary(reports, args.fleet, driver.engine.backend, driver.step_seconds, driver.head_seconds)
    if args.json:
        print(json.dumps(summary))
    else:
        for r in reports:
            print(f"track {r['seed']} ({r['family']}): {r['distance_m']:.0f} m, mean |lateral error| "
                  f"{r['mean_abs_lateral_m'] * 100:.1f} cm, max {r['max_abs_lateral_m'] * 100:.1f} cm, "
                  f"{r['departures']} departure(s); {r['stop_reason']}")
        print(f"fleet of {args.fleet} on {summary['backend']}: {summary['distance_m']:.0f} m, "
              f"{summary['departures']} departure(s), {summary['wall_time_s']:.0f} s wall time; conv head per frame "
              f"median {summary['conv_head_ms_per_frame'].get('median', float('nan')):.2f} ms, one batched "
              f"liquid-core call per control period, median "
              f"{summary['batched_core_step_ms'].get('median', float('nan')):.3f} ms")
    ok = all(r["stop_reason"] == "distance reached" and r["departures"] == 0 for r in reports)
    return 0 if ok else 3


def fleet_summary(reports: list[dict], fleet: int, backend: str, step_seconds, head_seconds) -> dict:
    """What ``drive --fleet N`` reports: the tracks' totals, the batched core step's and the conv head's times."""
    import numpy as np

    def milliseconds(seconds, count: str) -> dict:
        values = np.asarray(seconds) * 1e3
        if not values.size:
            return {}
        return {"median": round(float(np.median(values)), 3), "p99": round(float(np.percentile(values, 99)), 3),
                count: int(values.size)}

    return {"fleet": fleet, "backend": backend, "seeds": [r["seed"] for r in reports],
            "distance_m": round(sum(r["distance_m"] for r in reports), 1),
            "departures": sum(r["departures"] for r in reports),
            "mean_abs_lateral_m": round(float(np.mean([r["mean_abs_lateral_m"] for r in reports])), 4),
            "wall_time_s": reports[0]["wall_time_s"],
            "batched_core_step_ms": milliseconds(step_seconds, "calls"),
            "conv_head_ms_per_frame": milliseconds(head_seconds, "frames"),
            "tracks": reports}


def describe(episode) -> str:
    """What ``generate`` prints of an expert episode."""
    return f"{episode.meta['report']['distance_m']:.0f} m on track {episode.meta['seed']} ({episode.meta['family']})"
