"""Planning controller_node's live parameter changes: what restarts the timers or swaps the model, what is refused."""

import pytest

from liquid_control.nodes.controller.reconfigure import plan_change, refusal_for_model
from liquid_control.nodes.controller.settings import default_values

STEERING_CARD = {"outputs": {"names": ["curvature"]}}
VELOCITY_CARD = {"outputs": {"mode": "velocity", "names": ["linear.x", "linear.y", "linear.z", "angular.z"]}}


@pytest.fixture
def current():
    return {**default_values(), "model_path": "models/a", "use_sim_time": False}


def test_a_limit_change_needs_no_restart_nor_reload(current):
    plan = plan_change(current, {"max_linear": 2.5}, model_loaded=True, active=True)
    assert not plan.swap_model and not plan.restart_timers
    assert plan.values["max_linear"] == 2.5 and plan.config.max_linear == 2.5
    assert current["max_linear"] == 3.0  # the current values are left as they are


@pytest.mark.parametrize("name, value", [("control_rate_hz", 50.0), ("publish_saliency", True),
                                         ("saliency_rate_hz", 5.0), ("use_sim_time", True)])
def test_a_rate_or_clock_change_restarts_the_timers_of_an_active_node(current, name, value):
    assert plan_change(current, {name: value}, model_loaded=True, active=True).restart_timers
    assert not plan_change(current, {name: value}, model_loaded=True, active=False).restart_timers


def test_a_new_model_path_swaps_the_model_only_when_one_is_loaded(current):
    assert plan_change(current, {"model_path": "models/b"}, model_loaded=True, active=True).swap_model
    assert not plan_change(current, {"model_path": "models/a"}, model_loaded=True, active=True).swap_model
    assert not plan_change(current, {"model_path": "models/b"}, model_loaded=False, active=False).swap_model


def test_a_config_the_runtime_refuses_is_refused_with_its_reason(current):
    with pytest.raises(ValueError, match="output_mode must be"):
        plan_change(current, {"output_mode": "teleport"}, model_loaded=True, active=True)
    with pytest.raises(ValueError, match="within max_linear"):
        plan_change(current, {"max_linear": 1.0}, model_loaded=True, active=True)  # speed 2.0 stays above it


def test_the_plan_is_checked_against_the_model_that_will_run(current):
    plan = plan_change(current, {"control_rate_hz": 10.0}, model_loaded=True, active=True)
    assert refusal_for_model(plan, STEERING_CARD, outputs=1) == ""
    short_gap = plan_change(current, {"max_gap_s": 0.05}, model_loaded=True, active=True)
    assert "max_gap_s 0.05 s is shorter than two control periods" in refusal_for_model(short_gap, STEERING_CARD, 1)
    assert "shorter than two control periods" in refusal_for_model(short_gap, None, None)  # no model loaded


def test_velocity_fields_the_model_lacks_are_refused_and_a_swap_says_it_did_not_happen(current):
    fields = {"output_mode": "velocity", "velocity_outputs": ["linear.x", "linear.y", "angular.z"]}
    plan = plan_change(current, fields, model_loaded=True, active=True)
    assert "but the model has 2" in refusal_for_model(plan, VELOCITY_CARD, outputs=2)
    assert refusal_for_model(plan, VELOCITY_CARD, outputs=4) == ""
    swap = plan_change(current, {**fields, "model_path": "models/b"}, model_loaded=True, active=True)
    assert refusal_for_model(swap, VELOCITY_CARD, outputs=2).endswith("(the new model; not swapped)")


def test_gains_that_do_not_match_the_card_are_refused(current):
    plan = plan_change(current, {"velocity_gains": [1.0, 2.0]}, model_loaded=True, active=True)
    assert "velocity_gains has 2 gains" in refusal_for_model(plan, VELOCITY_CARD, outputs=4)
