"""Diagnostic (not a timing): how much of an LTC policy's input still reaches it. For each model,
the conv-head features of the expert's frames (two episodes of the model's world, 60 frames each)
and the share of the LTC's wired sensory synapses saturated on them (``LTCCell.sensory_saturation``:
activation within 0.01 of 0 or 1), with the spread of the policy's outputs over those frames.

    .venv/bin/python benchmarks/ltc_saturation.py [MODEL ...]   # default: the studies' NCP-LTCs

A model whose synapses are all saturated answers every frame alike: it no longer sees its input
and gets no gradient for its conv head (docs/study.md, the drone study's NCP-LTC). For a tanh head
(``ncp-ltc-tanh``) it also gives the features before the tanh and the share of them the tanh
saturates (|y| > 0.99). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from liquid_control.data.images import PreprocessSpec  # noqa: E402
from liquid_control.nets.model_file import load_model  # noqa: E402
from liquid_control.train.simulate import simulate_episodes  # noqa: E402


def expert_frames(world: str, spec: PreprocessSpec, per_episode: int = 60) -> tuple[torch.Tensor, float]:
    """Frames of two expert episodes of ``world``, preprocessed as the model's card says, and the
    world's nominal frame period."""
    if world == "lane":
        episodes, dt = simulate_episodes([0, 1], "lane", 30.0, 3.0, 0.4, {}, jobs=1, progress=False), 0.05
    else:
        episodes, dt = simulate_episodes([0, 1], "drone", 0.0, 0.0, 0.5, {}, jobs=1, progress=False), 0.1
    frames = np.stack([spec.apply(frame, "rgb8") for episode in episodes for frame in episode.frames[:per_episode]])
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float(), dt


def diagnose(folder: Path, cache: dict) -> dict:
    policy, card = load_model(folder)
    cell = getattr(policy.core, "rnn_cell", None)
    if not hasattr(cell, "sensory_saturation"):
        raise SystemExit(f"{folder}: not an LTC policy (its core is {card['architecture']['core']['kind']})")
    world = "lane" if card["outputs"]["names"] == ["curvature"] else "drone"
    spec = PreprocessSpec.from_card(card)
    key = (world, json.dumps(spec.to_dict(), sort_keys=True))
    if key not in cache:
        cache[key] = expert_frames(world, spec)
    frames, dt = cache[key]
    with torch.no_grad():
        features = policy.head(frames)
        linear = policy.head.fc(policy.head._conv_maps(frames)[-1].flatten(1))  # before any activation (tanh head)
        outputs, _ = policy(frames[None], timespans=torch.full((1, len(frames), 1), dt))
    history = card.get("training", {}).get("history") or [{}]
    return {"model": str(folder.relative_to(REPO_ROOT) if folder.is_relative_to(REPO_ROOT) else folder), "world": world,
            "val_loss": card.get("metrics", {}).get("val_loss"),
            "head_precision": card.get("training", {}).get("head_precision"),
            "head_activation": policy.head.activation,
            "feature_abs_mean": round(float(features.abs().mean()), 3),
            "pre_activation_abs_mean": round(float(linear.abs().mean()), 3),
            "tanh_saturation": (round(float((features.abs() > 0.99).float().mean()), 4)
                                if policy.head.activation == "tanh" else None),
            "feature_std_over_frames": round(float(features.std(0).mean()), 4),
            "sensory_saturation": round(cell.sensory_saturation(features), 4),
            "recorded_at_training": history[-1].get("ltc_sensory_saturation"),
            "output_std_over_frames": [round(float(v), 4) for v in outputs[0].std(0)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="*", type=Path)
    args = parser.parse_args()
    models = args.models or sorted((REPO_ROOT / "study").glob("*/models/ncp-ltc-*"))
    cache: dict = {}
    print(json.dumps({"diagnostic": "ltc_sensory_saturation", "frames": "60 from each of 2 expert episodes",
                      "models": [diagnose(Path(m).resolve(), cache) for m in models]}, indent=1))


if __name__ == "__main__":
    main()
