"""Checks a drone domain keeps the task possible: the expert's successes per domain, and how well the
red target stands out from the rest of the first camera frame.

    .venv/bin/python benchmarks/drone_domain_check.py [--domains summer night] [--seeds 1000 ... 1011]
        [--visibility-seeds 1000 1001 1002 1003] [--image docs/images/drone_night.png --image-seed 1001]

Prints one JSON object. The expert flies on the simulator's state (not the camera), so its successes
should not change from domain to domain; the visibility part measures redness (red minus green) over
the pixels the target's ball projects onto against the redness of the rest of the frame. ``--image``
writes the first frame of ``--image-seed`` in each domain side by side. Development scenes only:
seeds from 2000 on are the locked test split and are refused.
"""

import argparse
import json
import math

import numpy as np

from liquid_control.train.study.locked_split import LOCKED_FROM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="+", default=["summer", "night"])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1000, 1012)))
    parser.add_argument("--visibility-seeds", type=int, nargs="+", default=[1000, 1001, 1002, 1003])
    parser.add_argument("--image", default=None, help="PNG of the first frames side by side (default: none)")
    parser.add_argument("--image-seed", type=int, default=1002)
    parser.add_argument("--image-size", default="180x320", help="HxW of each frame in --image")
    args = parser.parse_args()
    if max(args.seeds + args.visibility_seeds + [args.image_seed]) >= LOCKED_FROM:
        parser.error(f"seeds from {LOCKED_FROM} on are the locked test split: use development scenes")

    from liquid_control.sim.drone.world import DroneWorld, DroneWorldConfig

    result = {"seeds": args.seeds, "expert_successes": {}, "expert_failures": {}, "visibility": {}}
    for domain in args.domains:
        successes, failures = expert_flights(DroneWorld, DroneWorldConfig(domain=domain), args.seeds)
        result["expert_successes"][domain] = successes
        result["expert_failures"][domain] = failures
        result["visibility"][domain] = [target_visibility(DroneWorld(seed, DroneWorldConfig(domain=domain)))
                                        for seed in args.visibility_seeds]
    if args.image:
        from PIL import Image
        height, width = (int(v) for v in args.image_size.lower().split("x"))
        frames = []
        for domain in args.domains:
            world = DroneWorld(args.image_seed, DroneWorldConfig(domain=domain, camera_height=height,
                                                                  camera_width=width))
            frames.append(world.reset().frame)
            world.close()
        Image.fromarray(np.concatenate(frames, axis=1)).save(args.image, optimize=True)
        result["image"] = {"path": args.image, "seed": args.image_seed, "domains": args.domains}
    print(json.dumps(result, indent=1))


def expert_flights(world_class, config, seeds) -> tuple[int, dict]:
    """The expert's successes over ``seeds`` and the end reason of each failed flight."""
    from liquid_control.sim.drone.expert import DroneExpert
    from liquid_control.sim.drone.fly import fly

    successes, failures = 0, {}
    for seed in seeds:
        world = world_class(seed, config)
        report = fly(world, DroneExpert()).report
        world.close()
        if report["success"]:
            successes += 1
        else:
            failures[seed] = report["reason"]
    return successes, failures


def target_pixels(world) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the frame's pixels inside the target ball's projection (shrunk by a pixel's margin) and
    of those well clear of it (three pixels beyond), from the camera's pose after ``reset``."""
    config = world.config
    camera = world.model.camera("front").id
    axes = world.data.cam_xmat[camera].reshape(3, 3)  # columns: image right, image up, backwards
    local = axes.T @ (np.asarray(world.scene.target) - world.data.cam_xpos[camera])
    intrinsics = config.camera_intrinsics()
    ahead = -local[2]
    u = intrinsics["cx"] + intrinsics["fx"] * local[0] / ahead
    v = intrinsics["cy"] - intrinsics["fy"] * local[1] / ahead
    radius = intrinsics["fx"] * world.scene.target_radius / math.sqrt(float(local @ local))
    rows, columns = np.mgrid[0:config.camera_height, 0:config.camera_width]
    distance = np.hypot(columns - u, rows - v)
    return distance <= max(radius - 0.5, 0.75), distance > radius + 3.0


def target_visibility(world) -> dict:
    """Redness (red minus green, 0-255) of the target's pixels against the rest of the first frame."""
    frame = world.reset().frame.astype(int)
    world.close()
    on_target, background = target_pixels(world)
    redness = frame[..., 0] - frame[..., 1]
    return {"seed": world.seed, "distance_m": round(world.scene.start_distance, 2),
            "target_pixels": int(on_target.sum()), "target_redness_max": int(redness[on_target].max()),
            "target_redness_mean": round(float(redness[on_target].mean()), 1),
            "background_redness_max": int(redness[background].max()),
            "background_redness_p99": round(float(np.percentile(redness[background], 99)), 1),
            "frame_mean": round(float(frame.mean()), 1)}


if __name__ == "__main__":
    main()
