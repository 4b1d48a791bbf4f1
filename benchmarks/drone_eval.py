"""The liquid drone's closed-loop evaluation: fly-to-target success per domain, the range test and
the stress test, on held-out scenes, through the same ControlLoop controller_node uses.

    .venv/bin/python benchmarks/drone_eval.py --model models/ncp_drone [--episodes 50] [--update-card]
        [--driver expert]

Prints one JSON object; ``--update-card`` also writes it into the model card's
``metrics.closed_loop`` (with the command that made it). Each condition flies scenes
1000 .. 1000+N-1 (held out), each scene once.
"""

import argparse
import json
import os
import platform
import sys
import time

from liquid_control.sim.drone.expert import DroneExpert
from liquid_control.sim.drone.fly import fly
from liquid_control.sim.drone.scene import DOMAINS
from liquid_control.sim.drone.world import DroneWorld
from liquid_control.train.simulate import drone_config
from liquid_control.train.study.locked_split import LOCKED_DOMAINS, LOCKED_FROM

# (name, domain, start distance range or None for the world's 5-20 m, camera perturbations); the
# locked domains are for the study's final run only.
CONDITIONS = [(domain, domain, None, {}) for domain in DOMAINS if domain not in LOCKED_DOMAINS] + [
    ("range_20_40m", "summer", (20.0, 40.0), {}),
    ("range_40_60m", "summer", (40.0, 60.0), {}),
    ("stress_noise_20", "summer", None, {"noise_std": 20.0}),
    ("stress_blur_2", "summer", None, {"blur_sigma": 2.0}),
    ("stress_occlusion_2", "summer", None, {"occlusion_blobs": 2}),
    ("stress_drop_30pct", "summer", None, {"drop_probability": 0.3}),
    ("stress_dark_0.4", "summer", None, {"light_intensity": 0.4}),
]


def evaluate(pilot, domain, start_distance, perturbations, episodes: int, first_seed: int = 1000) -> dict:
    world = DroneWorld(first_seed, drone_config(domain, perturbations, start_distance_m=start_distance))
    reports = []
    try:
        for seed in range(first_seed, first_seed + episodes):
            world.reset(seed)
            reports.append(fly(world, pilot).report)
    finally:
        world.close()
    times = [r["time_to_target_s"] for r in reports if r["success"]]
    sim, wall = sum(r["sim_time_s"] for r in reports), sum(r["wall_time_s"] for r in reports)
    stops = {}
    for r in reports:
        stops[r["stop_reason"]] = stops.get(r["stop_reason"], 0) + 1
    return {"domain": domain, "start_distance_m": list(world.config.scene.start_distance_m),
            "perturbations": perturbations,
            "episodes": len(reports), "successes": sum(r["success"] for r in reports),
            "success_rate": round(sum(r["success"] for r in reports) / len(reports), 4),
            "collisions": sum(bool(r["collision"]) for r in reports),
            "mean_time_to_target_s": round(sum(times) / len(times), 3) if times else None,
            "mean_target_in_view_fraction": round(sum(r["target_in_view_fraction"] or 0 for r in reports)
                                                  / len(reports), 4),
            "stop_reasons": stops, "realtime_factor": round(sim / wall, 1) if wall else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (for --driver model)")
    parser.add_argument("--driver", choices=("model", "expert"), default="model")
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--conditions", help="comma-separated condition names (default: all)")
    parser.add_argument("--update-card", action="store_true", help="write the results into the model card")
    args = parser.parse_args()
    if not 1 <= args.episodes <= LOCKED_FROM - 1000:
        parser.error(f"--episodes flies scenes 1000 .. 999+N: N in [1, {LOCKED_FROM - 1000}] (from {LOCKED_FROM} on "
                     "the scenes are the study's locked test split)")
    if args.driver == "model":
        if not args.model:
            parser.error("--driver model needs --model")
        from liquid_control.train.model_driver import ModelDriver

        pilot = ModelDriver(args.model)
    else:
        pilot = DroneExpert()
    wanted = set(args.conditions.split(",")) if args.conditions else None
    started = time.perf_counter()
    results = {name: evaluate(pilot, domain, distance, perturbations, args.episodes)
               for name, domain, distance, perturbations in CONDITIONS if wanted is None or name in wanted}
    report = {"benchmark": "drone_closed_loop", "driver": args.driver, "model": args.model,
              "seeds": f"{1000}-{1000 + args.episodes - 1} (held out)",
              "how": "python benchmarks/drone_eval.py " + " ".join(sys.argv[1:]),
              "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
              "wall_time_s": round(time.perf_counter() - started, 1), "conditions": results}
    print(json.dumps(report, indent=1))
    if args.update_card and args.driver == "model":
        from liquid_control.nets.model_file import _card_path, read_card, update_card

        metrics = dict(read_card(_card_path(args.model)).get("metrics") or {})
        metrics["closed_loop"] = {"how": report["how"], "seeds": report["seeds"], **results}
        update_card(args.model, metrics=metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
