"""Lane-world benchmark: closed-loop speed with rendering, and the expert's lane keeping over 1 km.

    .venv/bin/python benchmarks/sim_bench.py [--seeds 1000 1001 1002] [--distance 1000]

Prints one JSON object. Targets (issue 3): >= 20x real time closed loop with 66x200 rendering on
this 2-core machine, and 0 lane departures for the expert over 1 km on held-out tracks.
"""

import argparse
import json
import os
import platform
import statistics

from liquid_control.sim.lane.drive import drive
from liquid_control.sim.lane.expert import ExpertDriver
from liquid_control.sim.lane.world import LaneWorld, WorldConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002, 1003, 1004])
    parser.add_argument("--distance", type=float, default=1000.0)
    parser.add_argument("--speed", type=float, default=3.0)
    args = parser.parse_args()
    config = WorldConfig()
    runs = []
    for seed in args.seeds:
        world = LaneWorld(seed, config)
        result = drive(world, ExpertDriver(config.car, speed=args.speed), args.distance)
        world.close()
        runs.append(result.report)
    factors = [r["realtime_factor"] for r in runs]
    print(json.dumps({
        "benchmark": "lane_world_closed_loop",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "mujoco_gl": os.environ.get("MUJOCO_GL")},
        "camera": f"{config.camera_height}x{config.camera_width} rgb at {config.camera_rate_hz} Hz, "
                  f"physics dt {config.physics_dt} s",
        "realtime_factor": {"median": statistics.median(factors), "min": min(factors), "max": max(factors)},
        "expert": {
            "distance_m": args.distance,
            "speed_mps": args.speed,
            "departures_total": sum(r["departures"] for r in runs),
            "max_abs_lateral_m": max(r["max_abs_lateral_m"] for r in runs),
            "mean_abs_lateral_m": round(statistics.mean(r["mean_abs_lateral_m"] for r in runs), 4),
        },
        "runs": runs,
    }, indent=1))


if __name__ == "__main__":
    main()
