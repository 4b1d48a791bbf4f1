"""The LTC ODE solver against the equations, elapsed-time handling, and single-step stepping."""

import numpy as np
import pytest
import torch

from liquid_control.nets import LTC, AutoNCP, CfC, FullyConnected, LTCCell, Stepper


def _ltc_cell(unfolds=6, implicit=False, seed=0):
    torch.manual_seed(seed)
    wiring = AutoNCP(10, 2, seed=seed)
    return LTCCell(wiring, in_features=3, ode_unfolds=unfolds, implicit_param_constraints=implicit).double()


def _reference_ltc_step(cell, x, v, dt):
    """The fused semi-implicit Euler scheme written out from the equations, in float64 numpy."""
    p = {k: t.detach().numpy().astype(np.float64) for k, t in cell.named_parameters()}
    mask, smask = cell.sparsity_mask.numpy(), cell.sensory_sparsity_mask.numpy()
    positive = (lambda a: np.log1p(np.exp(a))) if cell.implicit_param_constraints else (lambda a: a)
    x = x * p["input_w"] + p["input_b"]
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))
    s_act = positive(p["sensory_w"]) * sig(p["sensory_sigma"] * (x[:, None] - p["sensory_mu"])) * smask
    s_num, s_den = (s_act * p["sensory_erev"]).sum(0), s_act.sum(0)
    h = dt / cell.ode_unfolds
    cm, gleak = positive(p["cm"]), positive(p["gleak"])
    for _ in range(cell.ode_unfolds):
        act = positive(p["w"]) * sig(p["sigma"] * (v[:, None] - p["mu"])) * mask
        num = cm / h * v + gleak * p["vleak"] + (act * p["erev"]).sum(0) + s_num
        den = cm / h + gleak + act.sum(0) + s_den
        v = num / (den + cell.epsilon)
    return v


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("unfolds,dt", [(1, 1.0), (6, 0.05), (6, 3.0), (17, 0.4)])
def test_ltc_step_follows_the_equations(unfolds, dt, implicit):
    cell = _ltc_cell(unfolds, implicit)
    rng = np.random.default_rng(unfolds)
    x, v = rng.normal(size=3), rng.normal(size=10)
    expected = _reference_ltc_step(cell, x, v, dt)
    _, got = cell(torch.tensor(x)[None], torch.tensor(v)[None], dt)
    np.testing.assert_allclose(got[0].detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_elapsed_time_splits_exactly_into_sub_steps():
    """One step of dt with 2k unfolds is two steps of dt/2 with k unfolds (same input)."""
    long, short = _ltc_cell(12), _ltc_cell(6)
    x, v = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 10, dtype=torch.float64)
    _, once = long(x, v, 2.0)
    _, half = short(x, v, 1.0)
    _, twice = short(x, half, 1.0)
    assert torch.allclose(once, twice, atol=1e-12)


def test_solver_converges_with_more_unfolds_and_reaches_equilibrium():
    x, v = torch.randn(1, 3, dtype=torch.float64), torch.randn(1, 10, dtype=torch.float64)
    results = {n: _ltc_cell(n)(x, v, 1.0)[1] for n in (2, 4, 256, 512)}
    coarse = (results[2] - results[4]).abs().max()
    fine = (results[256] - results[512]).abs().max()
    assert fine < coarse / 50
    # Held at one input for a long time the state settles where dv/dt = 0: further steps change nothing.
    cell = _ltc_cell(6)
    state = v
    for _ in range(400):
        _, state = cell(x, state, 1.0)
    _, after = cell(x, state, 1.0)
    assert (after - state).abs().max() < 1e-9


@pytest.mark.parametrize("make", [
    lambda: CfC(3, 8, backbone_units=16),
    lambda: CfC(3, AutoNCP(10, 2), mode="pure"),
    lambda: CfC(3, AutoNCP(10, 2), mixed_memory=True, proj_size=1),
    lambda: LTC(3, AutoNCP(10, 2)),
    lambda: LTC(3, 6, mixed_memory=True),
], ids=["cfc-dense", "cfc-ncp-pure", "cfc-ncp-mixed-proj", "ltc-ncp", "ltc-dense-mixed"])
def test_stepping_equals_the_sequence_forward(make):
    torch.manual_seed(0)
    model = make()
    x = torch.randn(4, 9, 3)
    ts = 0.05 + torch.rand(4, 9)
    y_seq, final = model(x, timespans=ts)
    state = None
    for t in range(9):
        y, state = model.step(x[:, t], ts[:, t], state)
        assert torch.allclose(y, y_seq[:, t], atol=1e-6)
    for a, b in zip(final if isinstance(final, tuple) else (final,), state if isinstance(state, tuple) else (state,)):
        assert torch.allclose(a, b, atol=1e-6)


def test_batched_step_equals_one_by_one():
    torch.manual_seed(0)
    model = LTC(3, AutoNCP(12, 1))
    x, dt = torch.randn(5, 3), torch.tensor([0.01, 0.1, 0.5, 1.0, 4.0])
    state = torch.randn(5, 12)
    y, new_state = model.step(x, dt, state)
    for i in range(5):
        yi, si = model.step(x[i], float(dt[i]), state[i])
        assert torch.allclose(yi, y[i], atol=1e-6) and torch.allclose(si, new_state[i], atol=1e-6)


def test_elapsed_time_matters_and_is_per_sample():
    torch.manual_seed(0)
    model = CfC(3, AutoNCP(10, 1))
    x = torch.randn(1, 3).expand(2, 3)
    y, _ = model.step(x, torch.tensor([0.1, 5.0]))
    assert not torch.allclose(y[0], y[1]), "different elapsed times must give different outputs"


def test_stepper_carries_resets_and_inspects_state():
    torch.manual_seed(0)
    model = CfC(4, AutoNCP(19, 1), mixed_memory=True)
    stepper = Stepper(model, batch_size=3)
    x = torch.randn(3, 4)
    first = stepper(x, 0.1)
    second = stepper(x, 0.1)
    assert not torch.allclose(first, second), "the state carries over between calls"
    info = stepper.inspect()
    assert set(info) == {"inter", "command", "motor", "lstm_memory"}
    assert info["motor"]["neurons"] == [0]
    assert len(info["inter"]["neurons"]) == 11 and len(info["command"]["neurons"]) == 7
    assert info["motor"]["values"].shape == (3, 1)
    # The wired CfC's last layer is the motor layer, and the motor neuron's state is the output.
    assert torch.allclose(info["motor"]["values"], second)
    stepper.reset(samples=[1])
    h, c = stepper.state
    assert torch.count_nonzero(h[1]) == 0 and torch.count_nonzero(c[1]) == 0 and torch.count_nonzero(h[0]) > 0
    stepper.reset()
    assert stepper.steps == 0 and torch.allclose(stepper(x, 0.1), first)


def test_stepper_unbatched_and_ltc_state_order_is_neuron_ids():
    model = LTC(2, FullyConnected(5, output_dim=2))
    stepper = Stepper(model)
    y = stepper(torch.ones(2), 0.5)
    assert y.shape == (2,) and stepper.state.shape == (5,)
    info = stepper.inspect()
    assert info["motor"]["neurons"] == [0, 1] and info["inter"]["neurons"] == [2, 3, 4]


def test_ltc_time_scale_is_the_same_ode_in_other_time_units():
    """time_scale s stepped by dt seconds = time_scale 1 stepped by s * dt (same weights), and it is
    saved with the architecture; the default keeps the reference's units."""
    torch.manual_seed(4)
    scaled = LTC(5, AutoNCP(12, 2, seed=1), time_scale=20.0)
    plain = LTC.from_architecture({**scaled.architecture(), "time_scale": 1.0})
    plain.load_state_dict(scaled.state_dict())
    x = torch.randn(3, 7, 5)
    dts = 0.01 + 0.1 * torch.rand(3, 7)
    with torch.no_grad():
        y_scaled, h_scaled = scaled(x, timespans=dts)
        y_plain, h_plain = plain(x, timespans=20.0 * dts)
        y_unscaled, _ = plain(x, timespans=dts)
    torch.testing.assert_close(y_scaled, y_plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h_scaled, h_plain, rtol=1e-5, atol=1e-6)
    assert (y_scaled - y_unscaled).abs().max() > 1e-3, "the time scale changes what the network does"
    assert LTC.from_architecture(scaled.architecture()).rnn_cell.time_scale == 20.0
    assert LTC(5, 4).architecture()["time_scale"] == 1.0
    with pytest.raises(ValueError, match="time_scale must be a positive number"):
        LTC(5, 4, time_scale=0.0)


def test_ltc_sensory_saturation_tells_a_cell_that_still_sees_its_input_from_one_that_does_not():
    """Inputs near the synapses' mu (0.3-0.8) pass through; inputs of tens, as from a conv head
    whose features drifted, leave every wired sensory synapse at 0 or 1 (no change passes, no
    gradient comes back)."""
    torch.manual_seed(0)
    cell = LTC(6, AutoNCP(12, 2, seed=1)).rnn_cell
    moderate = 0.5 + 0.3 * torch.randn(40, 6)
    assert cell.sensory_saturation(moderate) < 0.5
    assert cell.sensory_saturation(70.0 + torch.randn(40, 6)) == 1.0
    assert cell.sensory_saturation(-70.0 + torch.randn(2, 20, 6)) == 1.0  # any leading shape
    drifted = moderate.clone().requires_grad_(True)
    huge = (70.0 + torch.randn(40, 6)).requires_grad_(True)
    for inputs in (drifted, huge):  # the gradient a saturated synapse passes back is (close to) nothing
        activation = torch.sigmoid(cell.sensory_sigma * (cell.map_inputs(inputs)[:, :, None] - cell.sensory_mu))
        (activation * cell.sensory_sparsity_mask).sum().backward()
    assert huge.grad.abs().max() < 1e-6 < drifted.grad.abs().max()
