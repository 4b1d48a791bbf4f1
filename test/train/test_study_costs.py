"""The cost counts of the study's cost table on models whose answers are known by hand: parameters of
a small LSTM core and of a wired NCP, FLOPs of a linear layer, of element-wise ops and of torch's fused
LSTM, an LTC whose core FLOPs grow by one unfold's worth per ODE unfold, and a policy's step counted
as its head plus its core."""

import torch
from torch import nn

from liquid_control.nets.cores import build_core
from liquid_control.nets.policy import Policy
from liquid_control.nets.sequence import LTC
from liquid_control.nets.wirings import AutoNCP
from liquid_control.train.study.costs import count_flops, parameter_counts, policy_step_flops


def test_parameter_count_of_a_small_lstm_core_split_into_recurrent_and_output():
    core = build_core({"kind": "lstm", "input_size": 4, "hidden_size": 3, "outputs": 2})
    counts = parameter_counts(core)
    assert counts["recurrent"] == 4 * 3 * (4 + 3) + 2 * 4 * 3  # input and recurrent weights, two biases
    assert counts["output"] == 3 * 2 + 2
    assert counts["total"] == counts["recurrent"] + counts["output"] == sum(p.numel() for p in core.parameters())
    assert counts["head"] == 0 and counts["recurrent_wired"] == counts["recurrent"]


def test_a_wired_ncp_counts_its_synapses_only_in_the_wired_count():
    torch.manual_seed(0)
    core = LTC(5, AutoNCP(8, 2, seed=1))
    cell = core.rnn_cell
    synapses = int((cell.sparsity_mask != 0).sum())
    sensory = int((cell.sensory_sparsity_mask != 0).sum())
    counts = parameter_counts(core)
    # sigma, mu, w, erev per synapse and per sensory synapse; the rest (per neuron, per input) unmasked
    dense = 4 * cell.sparsity_mask.numel() + 4 * cell.sensory_sparsity_mask.numel()
    assert counts["recurrent"] - counts["recurrent_wired"] == dense - 4 * (synapses + sensory)
    assert 0 < counts["recurrent_wired"] < counts["recurrent"]


def test_flops_of_a_linear_layer_are_its_multiply_adds_twice():
    layer = nn.Linear(10, 5)
    x = torch.zeros(3, 10)
    with torch.no_grad():
        count = count_flops(lambda: layer(x))
    assert count.multiply_adds == 3 * 10 * 5
    assert count.flops == 2 * 3 * 10 * 5


def test_elementwise_ops_and_reductions_are_counted():
    x = torch.ones(3, 4)
    assert count_flops(lambda: torch.sigmoid(x)).elementwise == 12
    assert count_flops(lambda: x.sum(dim=1)).elementwise == 3 * (4 - 1)
    assert count_flops(lambda: x.clone()).elementwise == 0


def test_torchs_fused_lstm_is_counted_inside():
    lstm = nn.LSTM(8, 16, batch_first=True)
    with torch.inference_mode():
        count = count_flops(lambda: lstm(torch.zeros(1, 1, 8)))
    assert count.multiply_adds == 4 * 16 * (8 + 16)
    assert count.elementwise > 0  # the gates


def test_ltc_core_flops_grow_by_one_unfold_per_ode_unfold():
    def core_flops(unfolds: int) -> int:
        torch.manual_seed(0)
        return policy_step_flops(LTC(4, 6, ode_unfolds=unfolds))["core"]["flops"]

    one, two, three, six = (core_flops(k) for k in (1, 2, 3, 6))
    per_unfold = two - one
    assert per_unfold > 6 * 6  # at least a sigmoid per synapse
    assert three - two == per_unfold
    assert six == one + 5 * per_unfold


def test_a_policy_step_is_its_head_plus_its_core():
    torch.manual_seed(0)
    policy = Policy(head={"height": 66, "width": 66, "features": 8, "channels": [4, 4, 4, 4, 4]},
                    core={"kind": "gru", "input_size": 8, "hidden_size": 6, "outputs": 2})
    flops = policy_step_flops(policy)
    assert flops["step"]["flops"] == flops["head"]["flops"] + flops["core"]["flops"]
    assert flops["core"]["multiply_adds"] == 3 * 6 * (8 + 6) + 6 * 2  # the GRU's gates and the readout
    counts = parameter_counts(policy)
    assert counts["head"] == sum(p.numel() for p in policy.head.parameters())
    assert counts["head"] + counts["recurrent"] + counts["output"] == counts["total"]
