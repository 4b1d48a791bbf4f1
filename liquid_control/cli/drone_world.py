"""The drone world's verbs: ``demo``, ``drive`` (fly) and what ``generate`` says of an episode."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from liquid_control.cli.arguments import REPO_MODELS, open_view, parse_assignments, value_range
from liquid_control.cli.frames import FrameSink, print_files, run_outputs

# What flies the drone in the demo, per --flight-controller (the launch files: closed_loop_demo).
FLIGHT_CHAINS = {"none": "controller_node", "px4": "controller_node -> px4_bridge -> PX4 (simulated)"}


def demo(args: argparse.Namespace) -> int:
    """``demo --task drone``: the liquid drone flies to a target through the ROS nodes; with
    ``--flight-controller px4`` through the PX4 bridge and the simulated PX4's offboard mode."""
    model = Path(args.model or REPO_MODELS / "ncp_drone")
    if not (model / "card.yaml").is_file():
        print(f"error: no model at {model}. The package ships models/ncp_drone; its card has the command that "
              "retrains it", file=sys.stderr)
        return 2
    from liquid_control.nodes.closed_loop_demo import run_drone_demo

    if args.command_type != "twist":
        print("error: --command-type is for --world lane (a drone takes body-frame velocity, not a car's "
              "steering); --flight-controller px4 flies through PX4's offboard interface", file=sys.stderr)
        return 2
    seed = args.seed
    flight_controller = args.flight_controller
    chain = FLIGHT_CHAINS[flight_controller]
    print(f"demo: {model.name} flies to the target in scene {seed} ({args.domain}) through the ROS nodes "
          f"(drone_sim_node -> perception_node -> {chain}, lock-step /clock) ...",
          file=sys.stderr, flush=True)
    report = run_drone_demo(str(model.resolve()), seed=seed, domain=args.domain,
                            out_dir=args.out if args.out != "out/demo" else "out/drone_demo", timeout_s=args.timeout,
                            live=args.live, mcap=args.mcap, flight_controller=flight_controller)
    if args.json:
        print(json.dumps(report))
    else:
        outcome = "reached the target" if report["success"] else "did not reach the target"
        print(f"scene {seed} ({args.domain}): {outcome} "
              f"from {report['start_distance_m']:.1f} m in {report['flight_time_s']:.1f} s of flight "
              f"(final distance {report['final_distance_m']:.2f} m, "
              f"target in view {report['target_in_view_fraction']:.0%}); "
              f"{report['stop_reason']}; {report['wall_time_s']:.0f} s wall time")
        print_files(report, ("flight_png", "frames_png", "video"))
    return 0 if report["success"] else 3


def drive(args: argparse.Namespace) -> int:
    """``drive --task drone``: episodes of fly-to-target in scenes SEED .. SEED+N-1."""
    if args.driver == "model" and not args.model:
        print("error: --driver model needs --model MODEL_DIR", file=sys.stderr)
        return 2
    from liquid_control.sim.drone.expert import DroneExpert, RecoveryConfig
    from liquid_control.sim.drone.fly import fly
    from liquid_control.sim.drone.world import DroneWorld
    from liquid_control.train.simulate import drone_config

    if args.fleet > 1 or args.open_road or args.no_render and args.driver == "model":
        print("error: --fleet, --open-road and (for a model) --no-render are lane-world options", file=sys.stderr)
        return 2
    config = drone_config(args.domain, parse_assignments(args.perturb, "perturbation"),
                          args.camera_rate,
                          value_range(args.start_distance) if args.start_distance else None, args.wind,
                          args.distractors)
    if args.no_render:
        from dataclasses import replace

        config = replace(config, render=False)
    if args.driver == "model":
        from liquid_control.train.model_driver import ModelDriver

        pilot = ModelDriver(args.model, backend=args.backend)
    else:
        pilot = DroneExpert(recovery=RecoveryConfig(rate_hz=args.recovery_rate))
    world = DroneWorld(args.seed, config)
    frames = FrameSink(args.frames, args.frame_every, args.video, config.camera_rate_hz)
    view = open_view(args)
    watched = view.watch(pilot) if view else pilot
    reports = []
    try:
        for seed in range(args.seed, args.seed + args.episodes):
            world.reset(seed)
            result = fly(world, watched, on_step=frames.add if frames.active else None)
            reports.append(result.report)
            if args.plot and seed == args.seed:
                from liquid_control.sim.drone.plot import plot_flight

                plot_flight(world.scene, result.trajectory, args.plot,
                            title=f"{pilot.name}, scene {seed} ({config.domain})",
                            success_radius_m=config.success_radius_m)
    finally:
        if view:
            view.close()
        frames.close()
        world.close()
    summary = flight_summary(reports, config, pilot.name, [args.seed, args.seed + args.episodes - 1],
                             parse_assignments(args.perturb, "perturbation"))
    if args.plot:
        summary["plot"] = args.plot
    summary.update(run_outputs(frames, view, pilot))
    summary["flights"] = reports
    if args.json:
        print(json.dumps(summary))
    else:
        for r in reports:
            print(f"scene {r['seed']} ({r['domain']}): {r['stop_reason']} from {r['start_distance_m']:.1f} m, "
                  f"final distance {r['final_distance_m']:.2f} m, {r['sim_time_s']:.1f} s")
        print(f"{pilot.name} in {config.domain}: {summary['successes']}/{summary['episodes']} reached the target "
              f"({summary['success_rate']:.0%}), {summary['collisions']} collision(s), "
              f"{summary['realtime_factor']}x real time")
    return 0 if summary["successes"] == summary["episodes"] else 3


def flight_summary(reports: list[dict], config, driver: str, seeds: list[int], perturbations: dict) -> dict:
    """What ``drive --task drone`` reports of its flights: success rate, collisions, times and distances."""
    import numpy as np

    times = [r["time_to_target_s"] for r in reports if r["success"]]
    sim_time, wall = sum(r["sim_time_s"] for r in reports), sum(r["wall_time_s"] for r in reports)
    return {
        "world": "drone", "domain": config.domain, "driver": driver, "seeds": seeds,
        "start_distance_m": list(config.scene.start_distance_m), "perturbations": perturbations,
        "wind_gust_n": config.wind_gust_n, "episodes": len(reports), "successes": sum(r["success"] for r in reports),
        "success_rate": round(sum(r["success"] for r in reports) / len(reports), 4),
        "collisions": sum(bool(r["collision"]) for r in reports),
        "mean_time_to_target_s": round(float(np.mean(times)), 3) if times else None,
        "mean_final_distance_m": round(float(np.mean([r["final_distance_m"] for r in reports])), 3),
        "mean_target_in_view_fraction": round(float(np.mean([r["target_in_view_fraction"] or 0 for r in reports])),
                                              4),
        "realtime_factor": round(sim_time / wall, 2) if wall > 0 else None,
        "wall_time_s": round(wall, 2),
    }


def describe(episode) -> str:
    """What ``generate`` prints of an expert episode."""
    return f"{episode.meta['report']['stop_reason']} in scene {episode.meta['seed']} ({episode.meta['domain']})"
