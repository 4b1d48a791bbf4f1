"""Regenerate the simulator pictures used in the README (docs/images/sim_*.png).

    .venv/bin/python docs/make_sim_pictures.py
"""

from pathlib import Path

import numpy as np
from PIL import Image

from liquid_control.sim.lane.drive import drive
from liquid_control.sim.lane.expert import ExpertDriver
from liquid_control.sim.lane.plot import plot_drive
from liquid_control.sim.lane.world import LaneWorld, WorldConfig
from liquid_control.sim.perturbations import PerturbationConfig

OUT = Path(__file__).parent / "images"


def camera_strip() -> None:
    """Camera frames: two training tracks, two held-out tracks, and perturbed versions."""
    cases = [
        ("train 0", 0, PerturbationConfig()),
        ("train 4", 4, PerturbationConfig()),
        ("held-out 1000", 1000, PerturbationConfig()),
        ("held-out 1001", 1001, PerturbationConfig()),
        ("noise 12 + blur 1.2", 0, PerturbationConfig(noise_std=12, blur_sigma=1.2)),
        ("dim light, low contrast", 0, PerturbationConfig(light_intensity=0.45, contrast=0.7)),
        ("2 occluding blobs", 0, PerturbationConfig(occlusion_blobs=2)),
        ("other texture", 0, PerturbationConfig(texture_seed=5)),
    ]
    frames = []
    for _, seed, perturbations in cases:
        world = LaneWorld(seed, WorldConfig(perturbations=perturbations))
        driver = ExpertDriver(world.config.car)
        observation = world.reset()
        driver.reset(world)
        for _ in range(60):  # 3 s into the drive
            observation = world.step(driver.act(observation, 0.05))
        frames.append(observation.frame)
        world.close()
    rows = [np.concatenate(frames[i : i + 4], axis=1) for i in (0, 4)]
    strip = np.concatenate(rows, axis=0)
    doubled = Image.fromarray(strip).resize((strip.shape[1] * 2, strip.shape[0] * 2), Image.NEAREST)
    doubled.save(OUT / "sim_camera_frames.png")


def trajectory() -> None:
    world = LaneWorld(1000, WorldConfig(render=False))
    result = drive(world, ExpertDriver(world.config.car), 1000.0)
    plot_drive(world.track, result.trajectory, OUT / "sim_expert_trajectory.png",
               title=f"expert, held-out track 1000: 1 km, {result.report['departures']} departures, "
                     f"mean |lateral| {result.report['mean_abs_lateral_m'] * 100:.1f} cm")


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    camera_strip()
    trajectory()
    print("wrote", *sorted(p.name for p in OUT.glob("sim_*.png")))
