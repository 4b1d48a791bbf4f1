"""Regenerate the drone pictures used in the README (docs/images/drone_*.png).

    .venv/bin/python docs/make_drone_pictures.py [--model models/ncp_drone]

drone_domains.png: the onboard camera at the start of held-out scene 1003 in every domain (same
layout, other looks); drone_camera.png: the onboard camera along a flight; drone_flight.png: the
flight path of the pilot (the shipped model if --model is given, else the expert) over the scene.
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from liquid_control.sim.drone.expert import DroneExpert
from liquid_control.sim.drone.fly import fly
from liquid_control.sim.drone.plot import plot_flight
from liquid_control.sim.drone.scene import DOMAINS
from liquid_control.sim.drone.world import DroneWorld, DroneWorldConfig

OUT = Path(__file__).parent / "images"
SEED = 1003


def label(frame: np.ndarray, text: str) -> np.ndarray:
    from PIL import ImageDraw

    image = Image.fromarray(frame).resize((frame.shape[1] * 2, frame.shape[0] * 2), Image.NEAREST)
    ImageDraw.Draw(image).text((4, 2), text, fill=(255, 255, 255))
    return np.asarray(image)


def domains() -> None:
    frames = []
    for domain in DOMAINS:
        world = DroneWorld(SEED, DroneWorldConfig(domain=domain))
        frames.append(label(world.reset().frame, domain + (" (training)" if domain == "summer" else " (held out)")))
        world.close()
    Image.fromarray(np.concatenate(frames, axis=1)).save(OUT / "drone_domains.png")


def flight(model: str | None) -> None:
    world = DroneWorld(SEED, DroneWorldConfig())
    if model:
        from liquid_control.train.model_driver import ModelDriver

        pilot = ModelDriver(model)
    else:
        pilot = DroneExpert()
    frames = []
    result = fly(world, pilot, on_step=lambda observation, command: frames.append(observation.frame))
    frames = [f for f in frames if f is not None]
    picks = [frames[i] for i in np.linspace(0, len(frames) - 1, 5).round().astype(int)]
    labelled = [label(f, f"t = {i * (len(frames) - 1) / 4 / 10:.1f} s") for i, f in enumerate(picks)]
    Image.fromarray(np.concatenate(labelled, axis=1)).save(OUT / "drone_camera.png")
    plot_flight(world.scene, result.trajectory, OUT / "drone_flight.png",
                title=f"{'liquid policy' if model else 'expert'}, held-out scene {SEED}: "
                      f"{result.report['stop_reason']}",
                success_radius_m=world.config.success_radius_m)
    world.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="fly this model for the camera strip and the path (default: the expert)")
    args = parser.parse_args()
    domains()
    flight(args.model)
