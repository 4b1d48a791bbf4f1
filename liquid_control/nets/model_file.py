"""The model format: a folder with ``weights.safetensors`` and a human-readable ``card.yaml``.

The card says what the network is (architecture, wiring), how to feed it (preprocessing), what
its outputs mean, where it came from (provenance, training data) and how well it did (metrics).
The weights are plain tensors in safetensors, so loading never unpickles anything; the card
records their SHA-256 so a swapped or damaged weights file is caught before it drives a robot.

    save_model(model, "models/lane_ncp", name="lane_ncp", outputs={"names": ["curvature"]})
    model, card = load_model("models/lane_ncp")
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from pathlib import Path
from typing import Any, Callable, NamedTuple

import torch
import yaml
from torch import nn

from .policy import Policy
from .sequence import LTC, CfC
from .weights import WeightsMismatchError, load_weights

FORMAT = "liquid_control.model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
CARD_FILE = "card.yaml"

# kind -> builder(architecture dict) -> module; register_architecture() adds more.
_ARCHITECTURES: dict[str, Callable[[dict[str, Any]], nn.Module]] = {
    "cfc": CfC.from_architecture,
    "ltc": LTC.from_architecture,
    "policy": Policy.from_architecture,
}


class ModelFileError(ValueError):
    """A model folder that cannot be loaded; the message says which file and what is wrong."""


class LoadedModel(NamedTuple):
    module: nn.Module
    card: dict[str, Any]


def register_architecture(kind: str, builder: Callable[[dict[str, Any]], nn.Module]) -> None:
    """Teach ``load_model`` a new architecture kind (``builder`` takes the card's architecture dict)."""
    _ARCHITECTURES[kind] = builder


def build_module(architecture: dict[str, Any]) -> nn.Module:
    if not isinstance(architecture, dict) or "kind" not in architecture:
        raise ModelFileError("the card's 'architecture' must be a mapping with a 'kind'")
    kind = architecture["kind"]
    if kind not in _ARCHITECTURES:
        raise ModelFileError(f"unknown architecture kind {kind!r}; this liquid_control knows {sorted(_ARCHITECTURES)}")
    try:
        return _ARCHITECTURES[kind](architecture)
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"cannot build the {kind!r} architecture described by the card: {exc}") from exc


def save_model(
    module: nn.Module,
    directory: str | os.PathLike,
    *,
    name: str | None = None,
    description: str = "",
    preprocessing: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write ``module`` (anything with ``architecture()``) as a model folder; returns the folder."""
    from safetensors.torch import save_file

    if not hasattr(module, "architecture"):
        raise TypeError(f"{type(module).__name__} cannot describe its architecture; "
                        "save a CfC, LTC or a registered policy")
    architecture = module.architecture()
    if architecture.get("kind") not in _ARCHITECTURES:
        raise TypeError(f"architecture kind {architecture.get('kind')!r} is not registered, "
                        "so it could not be loaded again")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {key: value.detach().to("cpu").contiguous().clone() for key, value in module.state_dict().items()}
    weights_path = directory / WEIGHTS_FILE
    # Write to a temporary name first so an interrupted save never leaves a half-written model.
    tmp_weights = weights_path.with_suffix(".tmp")
    save_file(tensors, str(tmp_weights), metadata={"format": "pt", "card": CARD_FILE})
    digest = _sha256(tmp_weights)
    card = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name or directory.name,
        "description": description,
        "architecture": architecture,
        "preprocessing": preprocessing,
        "outputs": outputs,
        "training": training,
        "metrics": metrics,
        "provenance": {
            "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "torch_version": torch.__version__.split("+")[0],
            **(provenance or {}),
        },
        "weights": {
            "file": WEIGHTS_FILE,
            "sha256": digest,
            "tensors": len(tensors),
            "parameters": int(sum(p.numel() for p in module.parameters())),
        },
    }
    tmp_card = directory / (CARD_FILE + ".tmp")
    tmp_card.write_text(_dump_card(card))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_weights, 0o666 & ~umask)  # safetensors creates the file private (0600); a model is shared
    os.replace(tmp_weights, weights_path)
    os.replace(tmp_card, directory / CARD_FILE)
    return directory


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a model card (``path`` is the model folder or its card file)."""
    card_path = _card_path(path)
    try:
        card = yaml.safe_load(card_path.read_text())
    except yaml.YAMLError as exc:
        raise ModelFileError(f"{card_path} is not valid YAML: {exc}") from exc
    if not isinstance(card, dict):
        raise ModelFileError(f"{card_path} does not hold a model card (expected a YAML mapping)")
    if card.get("format") != FORMAT:
        raise ModelFileError(f"{card_path} is not a liquid_control model card "
                             f"(format is {card.get('format')!r}, expected {FORMAT!r})")
    version = card.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{card_path}: format_version must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{card_path} uses model format version {version}, newer than this liquid_control reads "
            f"({FORMAT_VERSION}); upgrade liquid_control"
        )
    for key in ("architecture", "weights"):
        if not isinstance(card.get(key), dict):
            raise ModelFileError(f"{card_path} lacks the '{key}' section")
    return card


def update_card(path: str | os.PathLike, **sections: Any) -> dict[str, Any]:
    """Add or replace top-level sections of a model card (e.g. ``exports``), keeping the rest."""
    card_path = _card_path(path)
    card = read_card(card_path)
    card.update(sections)
    tmp_card = card_path.with_suffix(".tmp")
    tmp_card.write_text(_dump_card(card))
    os.replace(tmp_card, card_path)
    return card


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu",
               verify_checksum: bool = True) -> LoadedModel:
    """Load a model folder: build the architecture from the card, then load and check the weights."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    card_path = _card_path(path)
    card = read_card(card_path)
    weights_path = card_path.parent / str(card["weights"].get("file", WEIGHTS_FILE))
    if not weights_path.is_file():
        raise ModelFileError(f"the weights file {weights_path} named by {card_path} does not exist")
    expected_digest = card["weights"].get("sha256")
    if verify_checksum and expected_digest and _sha256(weights_path) != expected_digest:
        raise ModelFileError(
            f"{weights_path} does not match the checksum in {card_path}: the weights were changed or damaged "
            "after the card was written (save the model again, or load with verify_checksum=False if intended)"
        )
    try:
        state_dict = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{weights_path} is corrupt or not a safetensors file: {exc}") from exc
    nonfinite = [key for key, value in state_dict.items()
                 if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if nonfinite:
        raise ModelFileError(f"{weights_path} holds non-finite values (NaN/Inf) in: {', '.join(nonfinite[:8])}")
    module = build_module(card["architecture"])
    try:
        load_weights(module, state_dict, source=str(weights_path))
    except WeightsMismatchError as exc:
        raise ModelFileError(f"{exc} (architecture from {card_path})") from exc
    return LoadedModel(module.to(device).eval(), card)


def _card_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    card_path = path / CARD_FILE if path.is_dir() else path
    if not card_path.is_file():
        raise ModelFileError(f"no model card at {card_path}: a model is a folder with {CARD_FILE} and {WEIGHTS_FILE}")
    return card_path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _CardDumper(yaml.SafeDumper):
    """Block style for sections, one line per matrix row (flow style for lists of scalars)."""


def _represent_list(dumper: yaml.SafeDumper, data: list):
    flow = all(not isinstance(item, (list, dict)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_CardDumper.add_representer(list, _represent_list)
_CardDumper.add_representer(tuple, _represent_list)


def _dump_card(card: dict[str, Any]) -> str:
    header = ("# liquid_control model card: the architecture, preprocessing and meaning of "
              "weights.safetensors beside it.\n")
    return header + yaml.dump(card, Dumper=_CardDumper, sort_keys=False, width=1000)
