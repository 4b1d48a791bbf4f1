"""``eval`` in the view: recorded episodes replayed through a model's ``ControlLoop``, frame by frame
at their recorded stamps, so the camera, the attention, the neurons and the model's commands go to
the view as they would have while driving (no world: no scene)."""

from __future__ import annotations

import time

import numpy as np

from liquid_control.data.images import PreprocessSpec
from liquid_control.nets import load_model
from liquid_control.runtime.commands import ControlConfig
from liquid_control.runtime.loop import ControlLoop

from .neurons import loop_values


def episode_frame_input(episode, spec: PreprocessSpec, index: int) -> np.ndarray:
    """Frame ``index`` of an episode as the network's (H, W, C) float32 input."""
    from liquid_control.data.sequences import episode_inputs

    return np.ascontiguousarray(episode_inputs(episode, spec, index, index + 1)[0].permute(1, 2, 0).numpy())


def replay_episodes(publisher, model_path, episodes, nominal_dt: float = 0.05, backend: str = "torch") -> int:
    """Replay ``episodes`` through the model at ``model_path`` into ``publisher`` (a ``ViewPublisher``);
    returns the frames replayed."""
    policy, card = load_model(model_path)
    spec = PreprocessSpec.from_card(card)
    engine, frames = None, 0
    for episode in episodes:
        loop = ControlLoop(policy, ControlConfig(), card, nominal_dt=nominal_dt, backend=backend, engine=engine)
        engine = loop.engine
        publisher.use_model(policy, card, loop.config, crop=(0, 0, 0, 0) if episode.preprocessed else None)
        previous = None
        for index, stamp in enumerate(np.asarray(episode.stamps, dtype=np.float64)):
            started = time.perf_counter()
            image = episode_frame_input(episode, spec, index)
            loop.on_frame(image, float(stamp))
            result = loop.tick(float(stamp))
            twist = result.twist
            publisher.publish(
                float(stamp), frame=episode.frames[index], preprocessed=lambda: image,
                neurons=lambda: loop_values(publisher.layout, loop),
                twist=lambda: (twist.linear_x, twist.linear_y, twist.linear_z, 0.0, 0.0, twist.angular_z),
                step={"elapsed_s": float(stamp - previous) if previous is not None else nominal_dt,
                      "step_ms": (time.perf_counter() - started) * 1e3})
            previous = float(stamp)
            frames += 1
    return frames
