"""Tasks: what a policy sees and commands, found by name or read from a YAML file.

``load_task("lane")`` gives a registered task (the simulated worlds register theirs in
``tasks.builtin``); ``load_task("my_robot.yaml")`` reads a user's. Callers look a task up and use
its fields; nobody branches on a task's name.
"""

from __future__ import annotations

from pathlib import Path

from liquid_control.tasks.task import (
    CAMERA_TYPES,
    COMMAND_TYPES,
    OUTPUT_UNITS,
    Camera,
    Command,
    Pairing,
    Task,
    TaskError,
    load_task_file,
    save_task_file,
    task_from_dict,
)

_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Make ``task`` findable by its name (a second task of the same name is refused)."""
    if task.name in _REGISTRY and _REGISTRY[task.name] != task:
        raise ValueError(f"a task named {task.name!r} is registered already")
    _REGISTRY[task.name] = task
    return task


def registered() -> tuple[str, ...]:
    _load_builtin()
    return tuple(_REGISTRY)


def simulated() -> tuple[str, ...]:
    """The registered tasks that have a simulator."""
    _load_builtin()
    return tuple(name for name, task in _REGISTRY.items() if task.simulator)


def load_task(name_or_path: str | Path) -> Task:
    """A registered task by name, or a task YAML file by path."""
    _load_builtin()
    text = str(name_or_path)
    if text in _REGISTRY:
        return _REGISTRY[text]
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise TaskError(f"{path}: no such task file "
                            f"(write one with `python -m liquid_control task init BAG --out {path}`)")
        return load_task_file(path)
    raise TaskError(f"no task {text!r}: give a registered task ({', '.join(_REGISTRY)}) or a task YAML file")


def _load_builtin() -> None:
    import liquid_control.tasks.builtin  # noqa: F401 - registers the simulated worlds' tasks


__all__ = ["CAMERA_TYPES", "COMMAND_TYPES", "OUTPUT_UNITS", "Camera", "Command", "Pairing", "Task", "TaskError",
           "load_task", "load_task_file", "register", "registered", "save_task_file", "simulated", "task_from_dict"]
