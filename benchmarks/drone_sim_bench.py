"""Drone-world benchmark: closed-loop speed with rendering on one core, render cost per camera size,
and the expert's success rate per domain on held-out seeds.

    .venv/bin/python benchmarks/drone_sim_bench.py [--seeds 1000 ... 1049] [--domains summer dusk]
        [--cores 1] [--sizes 72x128 96x160 144x256] [--range-seeds 10]

Prints one JSON object. Targets (drone world brief): >= 20x real time closed loop on ONE core with
the onboard camera rendered at its rate (physics and autopilot included), and >= 95 % expert
success over 50 held-out episodes (seeds 1000-1049) in the training domain.

The process pins itself to ``--cores`` CPUs before MuJoCo and Mesa start, so the renderer's worker
threads share them too.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1000, 1050)))
    parser.add_argument("--domains", nargs="+", default=None, help="default: all")
    parser.add_argument("--cores", type=int, default=1, help="CPUs to run on (0 = do not pin)")
    parser.add_argument("--sizes", nargs="+", default=["72x128", "96x160", "144x256"], help="HxW camera sizes to time")
    parser.add_argument("--camera-size", default=None, help="HxW of the closed-loop runs (default: the config's)")
    parser.add_argument("--camera-rate", type=float, default=None,
                        help="camera Hz of the closed-loop runs (default: the config's)")
    parser.add_argument("--range-seeds", type=int, default=10,
                        help="held-out seeds for the 30-60 m range sweep (0 = skip)")
    args = parser.parse_args()
    if args.cores > 0 and hasattr(os, "sched_setaffinity"):
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(available[: args.cores]))

    from liquid_control.sim.drone.expert import DroneExpert
    from liquid_control.sim.drone.fly import fly
    from liquid_control.sim.drone.scene import DOMAINS
    from liquid_control.sim.drone.world import DroneWorld, DroneWorldConfig

    domains = args.domains or list(DOMAINS)
    base = DroneWorldConfig()
    if args.camera_size:
        height, width = (int(v) for v in args.camera_size.lower().split("x"))
        base = replace(base, camera_height=height, camera_width=width)
    if args.camera_rate:
        base = replace(base, camera_rate_hz=args.camera_rate)

    # Render and step cost per camera size (summer and dusk: fog is the dearest look).
    sizes = {}
    for size in args.sizes:
        height, width = (int(v) for v in size.lower().split("x"))
        entry = {}
        for domain in ("summer", "dusk"):
            world = DroneWorld(1000, replace(base, domain=domain, camera_height=height, camera_width=width))
            for _ in range(5):
                world.render()
            started = time.perf_counter()
            for _ in range(100):
                world.render()
            entry[f"render_ms_{domain}"] = round((time.perf_counter() - started) * 10, 3)
            world.close()
        sizes[size] = entry
    # Physics + autopilot alone, per camera period.
    world = DroneWorld(1000, replace(base, render=False))
    from liquid_control.sim.drone.autopilot import VelocityCommand
    started = time.perf_counter()
    for _ in range(200):
        world.step(VelocityCommand(0.5, 0.0, 0.0, 0.1))
    physics_ms = (time.perf_counter() - started) / 200 * 1000

    runs = []
    for domain in domains:
        config = replace(base, domain=domain)
        for seed in args.seeds:
            world = DroneWorld(seed, config)
            runs.append(fly(world, DroneExpert()).report)
            world.close()
    factors = [r["realtime_factor"] for r in runs]
    per_domain = {}
    for domain in domains:
        mine = [r for r in runs if r["domain"] == domain]
        per_domain[domain] = {
            "episodes": len(mine),
            "success_rate": round(sum(r["success"] for r in mine) / len(mine), 4),
            "collisions": sum(r["collision"] for r in mine),
            "failures": {str(r["seed"]): r["reason"] for r in mine if not r["success"]},
            "mean_time_to_target_s": (round(statistics.mean(r["time_to_target_s"] for r in mine if r["success"]), 3)
                                      if any(r["success"] for r in mine) else None),
            "mean_target_in_view_fraction": round(statistics.mean(r["target_in_view_fraction"] for r in mine), 4),
            "realtime_factor_median": statistics.median(r["realtime_factor"] for r in mine),
        }

    range_test = None
    if args.range_seeds:
        config = replace(base, render=False, scene=replace(base.scene, start_distance_m=(30.0, 60.0)))
        far = [fly(DroneWorld(seed, config), DroneExpert()).report for seed in args.seeds[: args.range_seeds]]
        range_test = {"start_distance_m": [30.0, 60.0], "episodes": len(far),
                      "success_rate": round(sum(r["success"] for r in far) / len(far), 4),
                      "failures": {str(r["seed"]): r["reason"] for r in far if not r["success"]}}

    print(json.dumps({
        "benchmark": "drone_world_closed_loop",
        "machine": {"cores_used": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                    "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(), "mujoco_gl": os.environ.get("MUJOCO_GL")},
        "camera": {"height": base.camera_height, "width": base.camera_width, "rate_hz": base.camera_rate_hz,
                   "hfov_deg": base.camera_hfov_deg, "fovy_deg": round(base.camera_fovy_deg, 3)},
        "physics_dt_s": base.physics_dt,
        "physics_and_autopilot_ms_per_camera_period": round(physics_ms, 3),
        "render_ms_per_frame": sizes,
        "realtime_factor": {"median": statistics.median(factors), "min": min(factors), "max": max(factors),
                            "episodes": len(factors), "seeds": [min(args.seeds), max(args.seeds)], "domains": domains},
        "expert": {"success_rate": round(sum(r["success"] for r in runs) / len(runs), 4), "per_domain": per_domain},
        "range_test": range_test,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
    }, indent=1))


if __name__ == "__main__":
    main()
