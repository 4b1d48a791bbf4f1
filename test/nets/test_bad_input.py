"""Bad input to the networks: a clear ValueError naming the problem, never a silent wrong answer."""

import subprocess
import sys

import pytest
import torch

from liquid_control.nets import LTC, AutoNCP, CfC, CfCCell, LTCCell, Stepper


@pytest.fixture(params=["cfc", "ltc", "cfc-mixed"])
def model(request):
    torch.manual_seed(0)
    if request.param == "cfc":
        return CfC(4, AutoNCP(10, 1))
    if request.param == "ltc":
        return LTC(4, AutoNCP(10, 1))
    return CfC(4, 8, mixed_memory=True)


@pytest.mark.parametrize("shape,match", [
    ((2, 5, 3), "3 features .* expects 4"),
    ((2, 5, 4, 1), "expected \\(batch, time, 4\\)"),
    ((4,), "expected \\(batch, time, 4\\)"),
    ((2, 0, 4), "no time steps"),
])
def test_wrong_input_shapes(model, shape, match):
    with pytest.raises(ValueError, match=match):
        model(torch.zeros(shape))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_input(model, value):
    x = torch.zeros(2, 3, 4)
    x[1, 2, 0] = value
    with pytest.raises(ValueError, match="input contains 1 non-finite"):
        model(x)
    with pytest.raises(ValueError, match="non-finite"):
        model.step(x[:, 2], 0.1)


def test_bad_elapsed_times(model):
    x = torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match="timespans has shape"):
        model(x, timespans=torch.ones(3, 2))
    with pytest.raises(ValueError, match="finite"):
        model(x, timespans=torch.tensor([[0.1, float("nan"), 0.1]] * 2))
    with pytest.raises(ValueError, match="finite"):
        model.step(x[:, 0], -0.5)
    with pytest.raises(ValueError, match="elapsed time has shape"):
        model.step(x[:, 0], torch.ones(3))
    with pytest.raises(TypeError, match="number or a tensor"):
        model.step(x[:, 0], "0.1")


def test_zero_elapsed_time_is_refused_only_by_the_ltc():
    x = torch.zeros(1, 4)
    CfC(4, 6).step(x, 0.0)  # a CfC at t=0 is well defined
    with pytest.raises(ValueError, match="> 0"):
        LTC(4, 6).step(x, 0.0)


def test_bad_state(model):
    x = torch.zeros(2, 3, 4)
    if model.use_mixed:
        with pytest.raises(ValueError, match="pair \\(h, c\\)"):
            model(x, torch.zeros(2, model.state_size))
    else:
        with pytest.raises(ValueError, match="state h has shape \\(3, 10\\), expected \\(2, 10\\)"):
            model(x, torch.zeros(3, model.state_size))
        with pytest.raises(ValueError, match="must be a tensor"):
            model(x, (torch.zeros(2, 10), torch.zeros(2, 10)))


@pytest.mark.parametrize("make,match", [
    (lambda: CfC(4, 8, mode="turbo"), "unknown CfC mode"),
    (lambda: CfC(4, 8, activation="swish"), "unknown backbone activation"),
    (lambda: CfC(4, AutoNCP(10, 1), backbone_units=64), "does not apply to a wired CfC"),
    (lambda: CfC(4, 8, backbone_dropout=1.5), "backbone_dropout"),
    (lambda: CfC(0, 8), "input_size must be a positive integer"),
    (lambda: LTC(4, 8, ode_unfolds=0), "ode_unfolds"),
    (lambda: LTC(4, 8, input_mapping="log"), "input_mapping"),
    (lambda: LTCCell(AutoNCP(10, 1)), "does not know its input size"),
    (lambda: CfCCell(3, 4, sparsity_mask=torch.ones(2, 2).numpy()), "sparsity_mask has shape"),
    (lambda: CfC(4, "many"), "units must be an int or a Wiring"),
])
def test_bad_constructor_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_wiring_reused_with_another_input_size_is_refused():
    wiring = AutoNCP(10, 1)
    CfC(4, wiring)
    with pytest.raises(ValueError, match="built for 4 input features"):
        LTC(5, wiring)


def test_stepper_needs_a_sequence_model():
    with pytest.raises(TypeError, match="needs a CfC or LTC"):
        Stepper(torch.nn.Linear(2, 2))


def test_only_the_nodes_import_ros():
    """Every module of the layers below the nodes (and the command line) imports without rclpy."""
    code = ("import importlib, pkgutil, sys, liquid_control\n"
            "for layer in ('nets', 'runtime', 'sim', 'data', 'train', 'tasks', 'view', 'cli', 'autopilots'):\n"
            "    package = importlib.import_module(f'liquid_control.{layer}')\n"
            "    for module in pkgutil.walk_packages(package.__path__, f'{package.__name__}.'):\n"
            "        importlib.import_module(module.name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rclpy'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
