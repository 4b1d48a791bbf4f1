"""controller_node's safety invariants in a real process (docs/safety.md): each test is one of the holes
issue 12 found, as a user meets it: the node's answer, its log line, and the command on cmd_vel."""

import os

import pytest
import torch
from rosgraph_msgs.msg import Clock

from liquid_control.nets import save_model
from liquid_control.nets.policy import make_policy

from .harness import NodeProcess, ros_time
from .test_controller_node import PARAMS_FILE, STARTUP_S, ControllerProbe, _frame

pytestmark = [pytest.mark.ros,
              pytest.mark.filterwarnings("ignore:module 'sre_(parse|constants)' is deprecated:DeprecationWarning")]

PREPROCESSING = {"size": [66, 200], "mean": [0.5] * 3, "std": [0.1] * 3}  # frames of +-2.5 are valid


def _save(folder, preset: str, outputs: int = 1, seed: int = 0):
    torch.manual_seed(seed)
    policy = make_policy(preset, outputs=outputs).eval()
    save_model(policy, folder, preprocessing=PREPROCESSING,
               outputs={"names": ["linear.x", "angular.z"][:outputs] if outputs > 1 else ["curvature"]})
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety_models")
    return {"cfc1": _save(root / "cfc1", "ncp-cfc"), "cfc2": _save(root / "cfc2", "ncp-cfc", outputs=2),
            "lstm": _save(root / "lstm", "lstm")}


def _start(tmp_path, parameters, name="node"):
    node_process = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ), tmp_path / f"{name}.log",
                               PARAMS_FILE, parameters)
    probe = ControllerProbe(node_process)
    probe.spin_until(lambda: probe.images.get_subscription_count() > 0 and probe.node.count_publishers("cmd_vel") > 0,
                     "the controller to come up", STARTUP_S)
    return probe


@pytest.fixture
def native(models, tmp_path):
    """Frame-triggered on the probe's clock, native backend, two-output model in velocity mode."""
    probe = _start(tmp_path, [f"model_path:={models['cfc2']}", "use_sim_time:=true", "trigger:=frame",
                              "backend:=native", "output_mode:=velocity", "input_timeout_s:=0.3",
                              "max_linear_accel:=100.0", "max_angular_accel:=100.0", "diagnostics_rate_hz:=20.0"])
    try:
        probe.first_step(STARTUP_S)
        yield probe
    finally:
        probe.close()
        probe.node_process.interrupt()


def _set_atomically(probe, **values):
    """Several parameters in one request (as `ros2 param load` does), answered by one result."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParametersAtomically

    parameters = []
    for name, value in values.items():
        if isinstance(value[0], float):
            typed = ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY, double_array_value=value)
        else:
            typed = ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=value)
        parameters.append(Parameter(name=name, value=typed))
    client = probe.node.create_client(SetParametersAtomically, "controller_node/set_parameters_atomically")
    request = SetParametersAtomically.Request(parameters=parameters)
    return probe.call(client, request, "set_parameters_atomically").result


def test_frames_stopping_in_frame_trigger_give_stops_at_the_control_rate(native):
    """S1: before, no command at all followed the last frame (the robot kept its last command)."""
    native.step(_frame(1))
    before = len(native.commands)
    def advance():  # the clock moves on (20 Hz control rate), no frame comes
        native.now += 0.05
        native.clock.publish(Clock(clock=ros_time(native.now)))
    # At least 0.3 s (input_timeout_s) of sim time must pass before the stops; then one per period.
    native.spin_until(lambda: len(native.commands) >= before + 10, "stop commands without frames",
                      resend=advance, resend_every=0.02)
    stops = native.commands[before:]
    assert all(c.linear.x == 0.0 and c.angular.z == 0.0 for c in stops[-5:]), stops[-5:]
    native.wait_for_log("commanding a stop: newest frame is")


def test_a_frame_from_the_future_commands_a_stop_and_names_clock_skew(tmp_path, models):
    """S2, on the system clock: before, a frame one hour ahead kept the car moving."""
    from .test_controller_faults import WallProbe

    node_process = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ), tmp_path / "wall.log",
                               PARAMS_FILE, [f"model_path:={models['cfc1']}", "trigger:=frame",
                                             "max_linear_accel:=100.0", "diagnostics_rate_hz:=20.0"])
    probe = WallProbe(node_process)
    try:
        probe.stream_until(probe.moving, "commands that drive")
        count = len(probe.commands)
        probe.send_now(ahead=3600.0)
        probe.spin_until(lambda: any(c.linear.x == 0.0 for c in probe.commands[count:]), "a stop")
        probe.wait_for_log("clock skew between the camera's host and this one")
        probe.spin_until(lambda: int(probe.latest_diagnostics().get("future_frames", 0)) >= 1,
                         "the future frame counted in /diagnostics")
    finally:
        probe.close()
        assert node_process.interrupt() == 0


def test_on_sim_time_a_frame_ahead_of_the_nodes_clock_steps(native):
    """A lock-step simulator's frame can overtake its /clock message (by several steps when it runs
    many times faster than real time): on sim time the stamp is the time, and no stop follows."""
    native.step(_frame(2))
    outputs, commands = len(native.outputs), len(native.commands)
    native.send_frame(_frame(3), dt=0.0, stamp_offset=-0.25)  # stamped 0.25 s past the last /clock
    native.spin_until(lambda: len(native.outputs) > outputs, "the step of the frame ahead of /clock")
    assert all(c.linear.x != 0.0 or c.angular.z != 0.0 for c in native.commands[commands:])


def test_values_no_preprocessing_produces_are_dropped(native):
    """S3: before, a preprocessed frame of 1e30 was stepped as if valid."""
    outputs = len(native.outputs)
    image = _frame(4)
    image[0, 0, 0] = 1e30
    native.send_frame(image)
    native.wait_for_log("outside what the card's normalisation produces")
    assert len(native.outputs) == outputs


def test_non_finite_gains_and_unmappable_outputs_are_refused_live(native, models):
    """S3/S4: before, velocity_gains [nan, 1.0] reached cmd_vel as NaN; a velocity mode the model
    cannot fill was accepted and then failed on every tick."""
    refused = native.set_parameter("velocity_gains", [float("nan"), 1.0])
    assert not refused.successful and "gains must be finite" in refused.reason
    refused = _set_atomically(native, velocity_outputs=["linear.x", "linear.y", "angular.z"],
                              velocity_gains=[1.0, 1.0, 1.0])
    assert not refused.successful and "maps 3 outputs" in refused.reason and "the model has 2" in refused.reason
    # A swap to a model with fewer outputs than the mode maps is refused, and the old one keeps driving.
    refused = native.set_parameter("model_path", str(models["cfc1"]))
    assert not refused.successful and "the model has 1" in refused.reason and "not swapped" in refused.reason
    outputs = len(native.outputs)
    native.send_frame(_frame(5))
    native.spin_until(lambda: len(native.outputs) > outputs, "a step of the model still loaded")


def test_a_swap_the_backend_cannot_run_is_refused_with_its_cause(native, models):
    """S5: before, BackendUnavailable escaped the parameter callback (model_path then named a model
    that was not loaded)."""
    refused = native.set_parameter("model_path", str(models["lstm"]))
    assert not refused.successful
    assert "model not swapped" in refused.reason and "native backend runs CfC and LTC cores" in refused.reason
    outputs = len(native.outputs)
    native.send_frame(_frame(6))
    native.spin_until(lambda: len(native.outputs) > outputs, "a step of the model still loaded")


@pytest.mark.parametrize("parameters, message", [
    (["backend:=native", "model_path:=MODEL_lstm"],
     "could not configure: the native backend runs CfC and LTC cores"),
    (["control_rate_hz:=1.0", "model_path:=MODEL_cfc1"],
     "could not configure: max_gap_s 1 s is shorter than two control periods (2 s at 1 Hz)"),
    (["output_mode:=velocity", "velocity_outputs:=[linear.x, linear.y]", "velocity_gains:=[1.0, 1.0]",
      "model_path:=MODEL_cfc1"], "could not configure: output_mode velocity maps 2 outputs"),
])
def test_start_up_failures_exit_2_with_their_cause(tmp_path, models, parameters, message):
    """S5: before, configure failures from the backend said only 'could not configure: '."""
    parameters = [p.replace("MODEL_lstm", str(models["lstm"])).replace("MODEL_cfc1", str(models["cfc1"]))
                  for p in parameters]
    node_process = NodeProcess("liquid_control.nodes.controller.main", dict(os.environ), tmp_path / "node.log",
                               PARAMS_FILE, parameters)
    assert node_process.wait(60) == 2, node_process.output()
    assert message in node_process.output(), node_process.output()


def test_on_sim_time_one_command_per_instant_of_the_clock(native):
    """A lock-step simulator steps its world on every command it receives: a second command at an
    instant already answered (a frame delivered twice, a start-up backlog) would leave every later
    command a frame late for good. The node holds, sends nothing more, and counts it."""
    native.step(_frame(4))
    commands = len(native.commands)
    message = native.send_frame(_frame(5))  # a new instant of the clock: one answer
    native.spin_until(lambda: len(native.commands) > commands, "the answer to the frame",
                      resend=lambda: native.images.publish(message), resend_every=0.3)
    native.spin_until(lambda: int(native.latest_diagnostics().get("commands_same_instant", 0)) >= 1,
                      "a second answer at the same instant, counted and not sent",
                      resend=lambda: native.images.publish(message), resend_every=0.3)
    assert len(native.commands) == commands + 1, native.commands[commands:]


def test_one_answer_per_instant_lets_a_stop_after_a_moving_command_through():
    from liquid_control.nodes.controller.one_answer_per_instant import OneAnswerPerInstant

    answers = OneAnswerPerInstant()
    assert answers.allows(1.0, stop=False)
    assert not answers.allows(1.0, stop=False), "a second moving command at the same instant"
    assert answers.allows(1.0, stop=True), "a stop after a moving command: safety first"
    assert not answers.allows(1.0, stop=True) and not answers.allows(1.0, stop=False)
    assert answers.allows(1.1, stop=False) and answers.allows(0.5, stop=False), "a new instant, or time went back"
