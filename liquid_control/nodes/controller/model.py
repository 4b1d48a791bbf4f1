"""Loading the model controller_node drives with, as a ready ControlLoop, and saying why it failed.

``load_control_loop`` reads the model folder, builds the loop on the device and backend the parameters
name (at configure, and for a live model swap); ``reason`` turns an error into the one line logged or
returned with a refused change.
"""

from __future__ import annotations

from typing import Any

from liquid_control.data.images import PreprocessSpec
from liquid_control.nets import load_model
from liquid_control.runtime.device import choose_device
from liquid_control.runtime.engines import BackendUnavailable
from liquid_control.runtime.loop import ControlLoop

from .settings import control_config


def load_control_loop(model_path: str, values: dict[str, Any]) -> tuple[ControlLoop, dict, PreprocessSpec | None]:
    """(the loop, the model card, the card's preprocessing when the node preprocesses camera frames itself).

    ``values``: the node's parameters (input, device, backend, control_rate_hz and the control settings).
    """
    if not model_path:
        raise ValueError("model_path is empty: give the model folder (card.yaml + weights.safetensors)")
    policy, card = load_model(model_path, device="cpu")
    if not hasattr(policy, "image_shape"):
        raise ValueError(f"{model_path} holds a {card['architecture'].get('kind')!r} network, not a camera policy")
    spec = PreprocessSpec.from_card(card) if values["input"] == "camera" else None
    device = choose_device(values["device"])
    loop = ControlLoop(policy, control_config(values), card, device=device,
                       nominal_dt=1.0 / values["control_rate_hz"], backend=values["backend"])
    return loop, card, spec


def reason(error: BaseException) -> str:
    """An error as one line with its kind (a BackendUnavailable or a RuntimeError is no ValueError)."""
    text = " ".join(str(error).split())
    if isinstance(error, (ValueError, OSError, BackendUnavailable)):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
