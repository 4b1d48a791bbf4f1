"""What the worlds' classes share (``LaneWorld``, ``DroneWorld``): the config checked when the world
is made, the MuJoCo model built again only when the seed changes, one headless renderer per
model, and the camera render without perturbations. Each world says how it builds its scene
(``_build``), what it resets (``reset``, which starts with ``_restart``) and how its cameras look
(``_render_options``)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

# Headless rendering: EGL works on machines without a display (Mesa provides it on CPU).
os.environ.setdefault("MUJOCO_GL", "egl")
import mujoco  # noqa: E402  (must follow MUJOCO_GL)


class MujocoWorld:
    CONFIG: type = object  # the world's config class, made with its defaults when none is given

    def __init__(self, seed: int = 0, config: Any = None):
        self.config = config or self.CONFIG()
        self.config.validate()
        self.seed = None
        self._renderer = None
        self.reset(seed)

    def reset(self, seed: int | None = None):
        raise NotImplementedError

    def _build(self, seed: int) -> None:
        raise NotImplementedError

    def _restart(self, seed: int | None) -> None:
        """The start of every reset: scene ``seed`` (the current one if None) built if it is a new
        one, and the physics back to the model's initial state."""
        seed = self.seed if seed is None else int(seed)
        if seed != self.seed:
            self._build(seed)
        mujoco.mj_resetData(self.model, self.data)

    def _make_renderer(self) -> None:
        """A renderer for the model just built (the previous one closed), if the world renders."""
        self.close()
        if self.config.render:
            self._renderer = mujoco.Renderer(self.model, self.config.camera_height, self.config.camera_width)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def _render_options(self, camera: str):
        """The visualisation options for ``camera`` (None: MuJoCo's defaults)."""
        return None

    def render(self, camera: str = "front") -> np.ndarray:
        """The camera image now, without perturbations (H, W, 3) RGB uint8."""
        if self._renderer is None:
            raise RuntimeError("this world was made with render=False")
        options = self._render_options(camera)
        if options is None:
            self._renderer.update_scene(self.data, camera)
        else:
            self._renderer.update_scene(self.data, camera, options)
        return self._renderer.render()
