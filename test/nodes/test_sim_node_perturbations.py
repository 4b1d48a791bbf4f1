"""The sim nodes' perturbations.* parameters: every PerturbationConfig field has one, the new
blackout and jitter settings reach the simulator, and bad values stop the node with one line."""

import sys
from dataclasses import fields
from pathlib import Path

import pytest

from liquid_control.nodes.camera_perturbations import (
    PERTURBATION_PREFIX,
    PERTURBATION_SETTINGS,
    perturbation_config,
)
from liquid_control.nodes.settings import ParameterError
from liquid_control.sim.perturbations import PerturbationConfig

from . import harness

pytestmark = [
    pytest.mark.ros,
    pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning"),
]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {setting.name: setting.default for setting in PERTURBATION_SETTINGS}


def test_every_perturbation_field_is_a_parameter_whose_default_changes_nothing():
    assert {name[len(PERTURBATION_PREFIX):] for name in DEFAULTS} == {f.name for f in fields(PerturbationConfig)}
    assert perturbation_config({**DEFAULTS, 'mode': 'realtime'}) == PerturbationConfig()


def test_blackouts_and_jitter_reach_the_simulator():
    values = {**DEFAULTS, 'mode': 'lockstep', 'perturbations.blackout_rate_hz': 0.2,
              'perturbations.blackout_min_s': 0.5, 'perturbations.blackout_max_s': 1.0,
              'perturbations.frame_interval_jitter': 3.0}
    assert perturbation_config(values) == PerturbationConfig(blackout_rate_hz=0.2, blackout_min_s=0.5,
                                                             blackout_max_s=1.0, frame_interval_jitter=3.0)


def test_jitter_needs_the_lockstep_mode_and_a_blackout_its_minimum_below_its_maximum():
    with pytest.raises(ParameterError, match="'perturbations.frame_interval_jitter' needs mode lockstep"):
        perturbation_config({**DEFAULTS, 'mode': 'realtime', 'perturbations.frame_interval_jitter': 2.0})
    with pytest.raises(ParameterError, match="parameter 'perturbations.blackout_min_s' rejected: .*<= blackout_max_s"):
        perturbation_config({**DEFAULTS, 'mode': 'lockstep', 'perturbations.blackout_min_s': 2.0})


@pytest.mark.parametrize('parameters, named', [
    (['mode:=realtime', 'perturbations.frame_interval_jitter:=2.0'],
     "parameter 'perturbations.frame_interval_jitter' needs mode lockstep"),
    (['perturbations.blackout_min_s:=2.0'], "parameter 'perturbations.blackout_min_s' rejected"),
])
def test_a_bad_setting_stops_the_lane_sim_node_with_one_line(ros_env, parameters, named):
    command = [sys.executable, '-m', 'liquid_control.nodes.lane_sim_node', '--ros-args',
               '--params-file', str(REPO_ROOT / 'config' / 'lane_sim.yaml')]
    for parameter in parameters:
        command += ['-p', parameter]
    node = harness.run_to_exit(command, ros_env)
    output = (node.stdout + node.stderr).strip()
    assert node.returncode != 0, output
    assert named in output and 'Traceback' not in output
    assert len(output.splitlines()) == 1, output
