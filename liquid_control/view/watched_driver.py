"""A driver watched by the view: the simulated worlds' ``drive``/``fly`` loops run it like any driver
(``name``, ``reset(world)``, ``act(observation, dt)``), and after each of its steps the view gets
the frame, the network's neurons, the command, the step's timing and the world's scene. Only a
drive with a view wraps its driver, so a drive without one runs exactly as before."""

from __future__ import annotations

import time

from .neurons import loop_values
from .scenes import SCENES, scene_for


class WatchedDriver:
    def __init__(self, driver, publisher):
        self._driver = driver
        self._publisher = publisher
        self.scene = None
        self._previous_time: float | None = None

    def __getattr__(self, name):  # what else the drive and its report read of the driver (loop, label, ...)
        return getattr(self._driver, name)

    @property
    def name(self) -> str:
        return self._driver.name

    def reset(self, world) -> None:
        self._driver.reset(world)
        if self.scene is not None and isinstance(self.scene, SCENES.get(world.name, ())):
            self.scene.reset(world)
        else:
            self.scene = scene_for(world)
        self._previous_time = None
        loop = getattr(self._driver, "loop", None)
        if loop is not None:
            self._publisher.use_model(loop.policy, loop.card, loop.config)

    def act(self, observation, dt: float):
        started = time.perf_counter()
        command = self._driver.act(observation, dt)
        spent = time.perf_counter() - started
        now = observation.time
        elapsed = dt if self._previous_time is None else now - self._previous_time
        self._previous_time = now
        loop, scene = getattr(self._driver, "loop", None), self.scene
        if scene is not None:
            scene.observe(observation)
        self._publisher.publish(
            now, frame=observation.frame,
            preprocessed=(lambda: loop.frame.image if loop.frame is not None else None) if loop is not None else None,
            neurons=(lambda: loop_values(self._publisher.layout, loop)) if loop is not None else None,
            twist=(lambda: scene.command_twist(command)) if scene is not None else None,
            step={"elapsed_s": float(elapsed), "step_ms": spent * 1e3},
            scene=(lambda: scene.update(observation)) if scene is not None else None)
        return command
