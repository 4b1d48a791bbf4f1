"""Parity with the reference library ncps 1.0.1: outputs, states, initial weights and gradients."""

import copy

import ncps.torch
import ncps.wirings
import numpy as np
import pytest
import torch

from liquid_control.nets import LTC, AutoNCP, from_ncps, from_ncps_state_dict
from liquid_control.nets.parity import TIMESPANS, measure_parity, parity_cases

CASES = parity_cases()
TOL = 1e-5


@pytest.mark.parametrize("timespans", TIMESPANS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_outputs_states_and_init_match_ncps(case, timespans):
    result = measure_parity(case, seed=0, timespans=timespans)
    assert result["init"] == 0.0, "same torch seed must give the same initial weights as ncps"
    assert result["output"] <= TOL, result
    assert result["state"] <= TOL, result


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_more_seeds_with_irregular_elapsed_times(case, seed):
    result = measure_parity(case, seed=seed, timespans="per_sample", batch=2, seq_len=6, with_state=seed % 2 == 1)
    assert max(result["output"], result["state"]) <= TOL, result


GRADIENT_CASES = [c for c in CASES if c.name in {
    "cfc-ncp19-lane", "ltc-ncp19-lane", "cfc-dense-default-mixed", "cfc-dense-pure-backbone2",
    "ltc-dense-explicit", "cfc-ncp-mixed-proj", "ltc-map-none-affine", "cfc-dense-no_gate-backbone0",
}]


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=str)
def test_gradients_match_ncps(case):
    result = measure_parity(case, seed=4, timespans="per_sample", gradients=True)
    assert result["grad_params"] <= 2e-5, result
    assert result["grad_input"] <= TOL, result


def test_gradient_cases_exist():
    assert len(GRADIENT_CASES) == 8


@pytest.mark.parametrize("kind", ["cfc", "ltc"])
def test_training_steps_match_ncps(kind):
    """Ten Adam steps on both libraries from the same weights end at the same weights."""
    torch.manual_seed(0)
    wiring = ncps.wirings.AutoNCP(10, 1, seed=3)
    reference = (ncps.torch.CfC(4, wiring) if kind == "cfc"
                 else ncps.torch.LTC(4, wiring, implicit_param_constraints=False))
    ours = from_ncps(reference)
    x = torch.randn(4, 12, 4)
    ts = 0.1 + torch.rand(4, 12)
    target = torch.randn(4, 12, 1)
    opt_ref = torch.optim.Adam([p for p in reference.parameters() if p.requires_grad], lr=1e-2)
    opt_ours = torch.optim.Adam([p for p in ours.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(10):
        # ncps gets the elapsed times one sample at a time (its batched timespans are broken).
        y_ref = torch.cat([reference(x[i : i + 1], timespans=ts[i : i + 1])[0] for i in range(4)])
        y_ours, _ = ours(x, timespans=ts)
        for opt, y, model in ((opt_ref, y_ref, reference), (opt_ours, y_ours, ours)):
            opt.zero_grad()
            torch.nn.functional.mse_loss(y, target).backward()
            opt.step()
            if kind == "ltc":
                (model.rnn_cell.apply_weight_constraints() if model is reference else model.apply_weight_constraints())
    ref_state = reference.state_dict()
    for key, value in ours.state_dict().items():
        assert torch.allclose(value, ref_state[key], atol=1e-5), key


def test_batched_timespans_where_ncps_is_silently_wrong():
    """batch == units: ncps broadcasts the (batch,) times across units without an error; we do not."""
    torch.manual_seed(0)
    reference = ncps.torch.CfC(3, 4, backbone_units=8)
    ours = from_ncps(reference)
    x = torch.randn(4, 5, 3)
    ts = torch.tensor([0.1, 1.0, 3.0, 0.5]).unsqueeze(1).expand(4, 5).contiguous()
    wrong, _ = reference(x, timespans=ts)  # runs, but mixes samples
    per_sample = torch.cat([reference(x[i : i + 1], timespans=ts[i : i + 1])[0] for i in range(4)])
    y, _ = ours(x, timespans=ts)
    assert torch.allclose(y, per_sample, atol=TOL)
    assert not torch.allclose(wrong, per_sample, atol=1e-3)


@pytest.mark.parametrize("make", [
    lambda: ncps.torch.CfCCell(5, 6, mode="pure", backbone_layers=2, backbone_units=8),
    lambda: ncps.torch.WiredCfCCell(5, ncps.wirings.AutoNCP(10, 2, seed=1), mode="no_gate"),
    lambda: ncps.torch.LTCCell(ncps.wirings.AutoNCP(10, 2, seed=1), in_features=5, ode_unfolds=4),
], ids=["CfCCell", "WiredCfCCell", "LTCCell"])
def test_cells_match_ncps(make):
    torch.manual_seed(0)
    reference = make()
    ours = from_ncps(reference)
    x = torch.randn(3, 5)
    state_size = getattr(reference, "state_size", None) or reference.hidden_size
    h = torch.randn(3, state_size)
    for elapsed in (1.0, 0.25):
        y_ref, h_ref = reference(x, h, elapsed)
        y_ours, h_ours = ours(x, h, elapsed)
        assert torch.allclose(y_ref, y_ours, atol=TOL) and torch.allclose(h_ref, h_ours, atol=TOL)


def test_unbatched_input_matches_ncps():
    torch.manual_seed(0)
    reference = ncps.torch.LTC(3, ncps.wirings.AutoNCP(8, 2, seed=2), mixed_memory=True)
    ours = from_ncps(reference)
    x = torch.randn(7, 3)
    ts = 0.2 + torch.rand(7)
    y_ref, (h_ref, c_ref) = reference(x, timespans=ts)
    y_ours, (h_ours, c_ours) = ours(x, timespans=ts)
    assert y_ours.shape == y_ref.shape == (7, 2)
    assert torch.allclose(y_ref, y_ours, atol=TOL) and torch.allclose(h_ref, h_ours, atol=TOL)
    assert torch.allclose(c_ref, c_ours, atol=TOL)


@pytest.mark.parametrize("kind", ["cfc", "ltc"])
def test_plain_state_dict_masks_come_from_the_checkpoint(kind):
    """Loading with a wiring drawn from another seed still reproduces the checkpoint exactly."""
    torch.manual_seed(0)
    trained_wiring = ncps.wirings.AutoNCP(12, 2, seed=11)
    reference = (ncps.torch.CfC if kind == "cfc" else ncps.torch.LTC)(5, trained_wiring)
    state_dict = copy.deepcopy(reference.state_dict())
    other_seed = AutoNCP(12, 2, seed=99)
    ours = from_ncps_state_dict(state_dict, kind, 5, other_seed)
    x = torch.randn(2, 6, 5)
    assert torch.allclose(reference(x)[0], ours(x)[0], atol=TOL)
    # The wiring now lists the checkpoint's synapses, not the other seed's.
    if kind == "ltc":
        assert np.array_equal(np.abs(ours.wiring.adjacency_matrix), np.abs(trained_wiring.adjacency_matrix))
    assert np.array_equal(np.abs(ours.wiring.sensory_adjacency_matrix), np.abs(trained_wiring.sensory_adjacency_matrix))


def test_plain_state_dict_of_a_bare_cell_and_a_dense_network():
    torch.manual_seed(0)
    reference = ncps.torch.CfC(5, 8, mode="no_gate", backbone_layers=2, backbone_units=12, mixed_memory=True)
    ours = from_ncps_state_dict(reference.state_dict(), "cfc", 5, 8, mode="no_gate", backbone_layers=2,
                                backbone_units=12, mixed_memory=True)
    x = torch.randn(2, 4, 5)
    assert torch.allclose(reference(x)[0], ours(x)[0], atol=TOL)
    cell = ncps.torch.LTCCell(ncps.wirings.FullyConnected(6, 2), in_features=3, implicit_param_constraints=True)
    ours = from_ncps_state_dict(cell.state_dict(), "ltc", 3, ncps.wirings.FullyConnected(6, 2))
    h = torch.zeros(2, 6)
    x = torch.randn(2, 3)
    assert torch.allclose(cell(x, h)[0], ours.step(x, 1.0, h)[0], atol=TOL)


def test_state_dict_with_wrong_settings_names_the_problem():
    reference = ncps.torch.CfC(5, 8, backbone_units=16)
    with pytest.raises(ValueError, match=r"shape mismatch: .*backbone\.0\.weight"):
        from_ncps_state_dict(reference.state_dict(), "cfc", 5, 8, backbone_units=32)
    with pytest.raises(ValueError, match="missing .*lstm"):
        from_ncps_state_dict(reference.state_dict(), "cfc", 5, 8, backbone_units=16, mixed_memory=True)


def test_from_ncps_refuses_other_modules():
    with pytest.raises(TypeError, match="ncps.torch"):
        from_ncps(torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="no liquid_control equivalent"):
        from_ncps(ncps.torch.lstm.LSTMCell(2, 2))


def test_native_constructor_matches_ncps_init_for_our_own_wiring():
    torch.manual_seed(5)
    reference = ncps.torch.LTC(6, ncps.wirings.NCP(4, 3, 2, 2, 2, 2, 2, seed=1))
    torch.manual_seed(5)
    from liquid_control.nets import NCP
    ours = LTC(6, NCP(4, 3, 2, 2, 2, 2, 2, seed=1))
    for key, value in reference.state_dict().items():
        assert torch.equal(value, ours.state_dict()[key]), key
