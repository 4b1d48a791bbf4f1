"""Planning a live parameter change of controller_node: what it needs, and why it is refused.

``plan_change`` checks a change against the other parameters and says whether it swaps the model
and restarts the timers; ``refusal_for_model`` checks the resulting config against the model that
will run (the loaded one, or the one being swapped in). A refused change leaves everything as it was.
Pure functions: the node does the loading and the applying.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from liquid_control.runtime.commands import ControlConfig

from .settings import control_config, control_period

# A change of any of these restarts the timers of an active node.
TIMER_PARAMETERS = frozenset({"control_rate_hz", "publish_saliency", "saliency_rate_hz", "neurons_rate_hz",
                              "wiring_rate_hz", "use_sim_time"})


@dataclass(frozen=True)
class ChangePlan:
    """What taking a parameter change involves."""

    values: dict[str, Any]  # every parameter's value after the change
    config: ControlConfig  # as requested ('auto' settings not yet resolved against a card)
    period: float | None  # the control period after the change (None: frame-triggered)
    swap_model: bool  # model_path changed while a model is loaded: load the new one and swap it in
    restart_timers: bool  # the node is active and a timer's rate or clock changed


def plan_change(current: dict[str, Any], changed: dict[str, Any], model_loaded: bool, active: bool) -> ChangePlan:
    """The plan for ``changed`` (name -> new value) on top of ``current``; ValueError (the reason) if refused."""
    values = {**current, **changed}
    config = control_config(values)
    swap = "model_path" in changed and changed["model_path"] != current["model_path"] and model_loaded
    return ChangePlan(values, config, control_period(values), swap, active and bool(TIMER_PARAMETERS & changed.keys()))


def refusal_for_model(plan: ChangePlan, card: dict | None, outputs: int | None) -> str:
    """'' when the plan's config can drive the model with this ``card`` and ``outputs`` (None: no model
    loaded), else why not; a refusal of a model being swapped in says it was not swapped."""
    suffix = " (the new model; not swapped)" if plan.swap_model else ""
    resolved = plan.config
    if card is not None:
        try:  # 'auto' output settings mean what the model's card says
            resolved, _ = plan.config.resolve(card)
        except ValueError as error:
            return str(error) + suffix
    problem = resolved.check_for(outputs, plan.period)
    return problem + suffix if problem else ""
