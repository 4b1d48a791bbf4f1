"""The world scenes by simulator name (as ``train.simulate.SIMULATORS``): which builder draws a world."""

from __future__ import annotations

from .drone_scene import DroneScene
from .lane_scene import LaneScene

SCENES = {"lane": LaneScene, "drone": DroneScene}


def scene_for(world):
    """The scene builder of ``world`` (found by its ``name``), or None for a world without one."""
    builder = SCENES.get(getattr(world, "name", ""))
    return None if builder is None else builder(world)
