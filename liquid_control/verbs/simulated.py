"""The verbs of the simulated worlds (``demo``, ``drive``, ``generate``), found through the task's simulator."""

from __future__ import annotations

from types import ModuleType


def world_verbs(task_name: str) -> ModuleType:
    """The module with ``demo(args)``, ``drive(args)`` and ``describe(episode)`` for a simulated task."""
    from liquid_control.tasks import load_task
    from liquid_control.verbs import drone, lane

    verbs = {"lane": lane, "drone": drone}  # by simulator name, as train.simulate.SIMULATORS
    simulator = load_task(task_name).simulator
    if simulator not in verbs:
        raise ValueError(f"task {task_name!r} has no simulator to {', '.join(verbs)}")
    return verbs[simulator]
