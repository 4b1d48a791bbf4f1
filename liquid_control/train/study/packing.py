"""A finished study's cache, made small enough to keep in a repository (``study CONFIG --pack``).

While a study runs, every closed-loop episode is one small JSON file (a stopped run resumes
episode by episode). A final run has tens of thousands of them: as many inodes, and on a disk
of 4 KiB blocks ten times their bytes. Packing writes each finished model's episodes into one
file, ``OUT/evaluations/packed/MODEL.json`` (file name -> result), and removes the loose files;
``cached_episode`` finds an episode in either form, so a packed cache reports exactly as before.

Packing also removes the weights of every model but the first seed's once all its episodes and
its attention analysis are cached: the report needs only cards, episodes and analyses, and the
first seed's weights serve the cost benchmark. A pruned model's card keeps the sha256 of its
weights, so a retrain (delete the folder, run the study) can be checked against it.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from pathlib import Path

from liquid_control.train.study.cache import analysis_path, evaluation_tasks, model_plan, write_json
from liquid_control.train.study.config import StudyConfig

PACKED = "packed"
WEIGHTS = "weights.safetensors"


def _pack_path(episode: Path) -> Path:
    """The pack that holds ``episode`` (OUT/evaluations/MODEL-DIGEST.json) once its model is packed."""
    model = episode.name[:-len(".json")].rsplit("-", 1)[0]
    return episode.parent / PACKED / f"{model}.json"


@functools.lru_cache(maxsize=16)
def _read_pack(pack: Path, modified_ns: int) -> dict:
    return json.loads(pack.read_text())


def _pack_of(episode: Path) -> dict:
    pack = _pack_path(episode)
    try:
        return _read_pack(pack, pack.stat().st_mtime_ns)
    except FileNotFoundError:
        return {}


def cached_episode(episode: Path) -> dict | None:
    """The result of the episode whose loose cache file is ``episode``, loose or packed; None if not run."""
    if episode.is_file():
        return json.loads(episode.read_text())
    return _pack_of(episode).get(episode.name)


def is_cached(episode: Path) -> bool:
    return episode.is_file() or episode.name in _pack_of(episode)


def require_weights(folders) -> None:
    """Refuse to run anything on a model whose weights ``--pack`` removed, saying how to get them back."""
    pruned = sorted({str(folder) for folder in folders if (folder / "card.yaml").is_file()
                     and not (folder / WEIGHTS).is_file()})
    if pruned:
        raise FileNotFoundError(
            f"study: {len(pruned)} model(s) have no weights (study --pack removed them once their episodes "
            f"were cached), e.g. {pruned[0]}; to run new episodes on them, delete their folders and run the "
            "study again: it retrains them, and each card's sha256 checks the retrain")


def pack_study(config: StudyConfig, out: str | Path) -> dict:
    """Pack the episodes of every model whose episodes are all cached, and prune the weights of
    those (but the first seed's) whose analysis is cached too; returns what it did. A tuned study's
    models are found under their tuned settings, as the study finds them."""
    from liquid_control.train.study.tuning import tuned_config

    out = Path(out)
    config = tuned_config(config, out)  # raises FileNotFoundError while a search is missing
    plan = model_plan(config, out)
    models = {key: folder for key, (folder, _) in plan.items()}
    by_model = defaultdict(list)
    for (name, seed, _, _), (episode, _) in evaluation_tasks(config, models, out).items():
        by_model[name, seed].append(episode)
    done = {"models_packed": 0, "episode_files_removed": 0, "weights_removed": 0, "models_unfinished": 0}
    for key, episodes in by_model.items():
        if not all(is_cached(episode) for episode in episodes):
            done["models_unfinished"] += 1
            continue
        loose = [episode for episode in episodes if episode.is_file()]
        if loose:
            pack = _pack_path(loose[0])
            pack.parent.mkdir(exist_ok=True)
            merged = {**_pack_of(loose[0]), **{episode.name: json.loads(episode.read_text()) for episode in loose}}
            write_json(pack, merged)
            for episode in loose:
                episode.unlink()
            done["models_packed"] += 1
            done["episode_files_removed"] += len(loose)
        folder = models[key]
        weights = folder / WEIGHTS
        if key[1] != config.seeds[0] and weights.is_file() and analysis_path(config, folder, out).is_file():
            weights.unlink()
            done["weights_removed"] += 1
    return done
