"""A study's trainings and closed-loop episodes on a Ray cluster (``study CONFIG --ray ADDRESS``).

The driver (the machine that runs ``study``) keeps the cache. It sends Ray Core tasks only the work
whose result is not cached, each with what it needs: the expert data (once, through Ray's object
store), a model's files, the episode's arguments. A task works in a temporary folder on whichever
node Ray gives it and returns what it made: a model folder's files, an episode's JSON. The driver
writes each result into the cache under the same key a local run uses, as soon as it comes back.
So the nodes share no filesystem, and a run stopped part way resumes from the cache, with or
without ``--ray``. The whole study is submitted at once: an episode of a model still training
waits on that training's result (Ray passes it on), so the cluster works on every seed at once.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path
from typing import Callable

from liquid_control.train.study.cache import write_json

MODEL_FILES_LAST = "card.yaml"  # a model folder counts as cached once its card is there: written last


def folder_files(folder: Path, skip: tuple[str, ...] = ("checkpoint",)) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), leaving out the top-level entries in ``skip``."""
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and path.relative_to(folder).parts[0] not in skip}


def write_folder(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` (from ``folder_files``) under ``folder``, each whole, the model card last: a stop
    part way leaves a folder the study does not take for a finished model."""
    for name in sorted(files, key=lambda name: name == MODEL_FILES_LAST):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".tmp")
        partial.write_bytes(files[name])
        partial.replace(path)


def train_model(data: tuple, name: str, training, description: dict, checkpoint: dict[str, bytes]) -> dict:
    """A Ray task: train one model (resuming from ``checkpoint``, the files of its folder's checkpoint,
    if any) in a temporary folder named as in the cache; returns the finished folder's files."""
    from liquid_control.train.trainer import train

    with tempfile.TemporaryDirectory(prefix="study-model-") as temporary:
        folder = Path(temporary) / name  # the card names the model after its folder
        write_folder(folder, checkpoint)
        episodes, validation = data  # the training episodes, and the tuning's validation episodes or None
        train(episodes, folder, training, resume=True, progress=False, data_description=description,
              validation_episodes=validation)
        return folder_files(folder)


def evaluate_episode(model: dict[str, bytes], name: str, args: tuple) -> dict:
    """A Ray task: one closed-loop episode (``evaluate_model``'s arguments after the model folder) of the
    model whose files are ``model``; returns the episode's result, as a local run caches it."""
    from liquid_control.train.study.run import evaluate_model

    with tempfile.TemporaryDirectory(prefix="study-episode-") as temporary:
        folder = Path(temporary) / name
        write_folder(folder, model)
        return evaluate_model(str(folder), *args[1:])


def run_on_ray(address: str, trainings: list, evaluations: list, episodes: Callable[[], list], description: dict,
               say: Callable[[str], None]) -> dict:
    """Train ``trainings`` ((label, folder, TrainConfig), none cached) and run ``evaluations`` ((cache
    path, ``evaluate_model`` arguments), none cached) on the Ray cluster at ``address``, writing each
    result into the cache as it arrives; ``episodes`` makes the expert data, training and validation
    (called only if something trains). Returns the work done, as the study counts it."""
    if not trainings and not evaluations:
        return {"models_trained": 0, "evaluations_run": 0}  # all cached: the report needs no cluster
    import ray

    check_reachable(address)
    ray.init(address=address)
    try:
        resources = ray.cluster_resources()
        say(f"ray cluster at {address}: {len(ray.nodes())} node(s), {resources.get('CPU', 0):g} CPU(s); "
            f"{len(trainings)} training(s) and {len(evaluations)} closed-loop episode(s) to run")
        train_task = ray.remote(train_model)
        evaluate_task = ray.remote(num_cpus=1)(evaluate_episode)
        data = ray.put(episodes()) if trainings else None
        models, pending = {}, {}  # model folder -> its files (an ObjectRef); ObjectRef -> what to do with it
        for label, folder, training in trainings:
            checkpoint = folder_files(folder / "checkpoint", skip=()) if (folder / "checkpoint").is_dir() else {}
            reference = train_task.options(num_cpus=training.threads or 1).remote(
                data, folder.name, training, description, {f"checkpoint/{k}": v for k, v in checkpoint.items()})
            models[folder] = reference
            pending[reference] = ("model", folder, label)
        for path, args in evaluations:
            folder = Path(args[0])
            if folder not in models:  # cached: its files go to the object store once, for all its episodes
                models[folder] = ray.put(folder_files(folder))
            pending[evaluate_task.remote(models[folder], folder.name, args)] = ("episode", path, None)
        return _collect(ray, pending, say)
    finally:
        ray.shutdown()


def check_reachable(address: str) -> None:
    """Refuse at once a HOST:PORT where nothing answers (Ray itself retries for minutes); other forms
    ('auto', 'ray://...') are left to Ray."""
    host, _, port = address.rpartition(":")
    if not host or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as error:
        raise ConnectionError(f"study --ray: no Ray head answers at {address} ({error}); start one with "
                              f"`ray start --head --port {port}` there") from None


def _collect(ray, pending: dict, say: Callable[[str], None]) -> dict:
    """Write each finished task's result into the cache as it comes back; after the last, raise the
    first failure, if any (what finished is cached all the same)."""
    counts = {"models_trained": 0, "evaluations_run": 0}
    failures = []
    waiting = list(pending)
    while waiting:
        [done], waiting = ray.wait(waiting, num_returns=1)
        kind, path, label = pending[done]
        try:
            result = ray.get(done)
        except ray.exceptions.RayError as error:
            failures.append(f"{label or path.name}: {str(error).strip().splitlines()[-1]}")  # the exception's line
            continue
        if kind == "model":
            write_folder(path, result)
            shutil.rmtree(path / "checkpoint", ignore_errors=True)
            counts["models_trained"] += 1
            say(f"trained {label} (on the cluster)")
        else:
            write_json(path, result)
            counts["evaluations_run"] += 1
    if failures:
        raise RuntimeError(f"study: {len(failures)} task(s) failed on the ray cluster (the rest is cached): "
                           + "; ".join(failures[:3]))
    return counts
