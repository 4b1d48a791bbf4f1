"""Wiring rules, determinism, parity with ncps.wirings, serialisation and the picture."""

import ncps.wirings
import numpy as np
import pytest

from liquid_control.nets import NCP, AutoNCP, FullyConnected, Random, Wiring, make_wiring
from liquid_control.nets.ncps_wiring import wiring_from_ncps
from liquid_control.nets.plot import plot_wiring

GENERATORS = [
    ("AutoNCP", dict(units=19, output_size=1)),
    ("AutoNCP", dict(units=32, output_size=4, sparsity_level=0.75)),
    ("NCP", dict(inter_neurons=6, command_neurons=5, motor_neurons=2, sensory_fanout=3, inter_fanout=2,
                 recurrent_command_synapses=4, motor_fanin=3)),
    ("FullyConnected", dict(units=7, output_dim=3, self_connections=False)),
    ("FullyConnected", dict(units=5)),
    ("Random", dict(units=9, output_dim=2, sparsity_level=0.6)),
]
SEED_ARG = {"AutoNCP": "seed", "NCP": "seed", "FullyConnected": "erev_init_seed", "Random": "random_seed"}


@pytest.mark.parametrize("seed", [0, 1, 1111, 22222])
@pytest.mark.parametrize("kind,params", GENERATORS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(GENERATORS)])
def test_same_seed_same_wiring_as_ncps(kind, params, seed):
    params = {**params, SEED_ARG[kind]: seed}
    reference = getattr(ncps.wirings, kind)(**params)
    reference.build(13)
    ours = make_wiring(kind, **params)
    ours.build(13)
    assert np.array_equal(ours.adjacency_matrix, reference.adjacency_matrix)
    assert np.array_equal(ours.sensory_adjacency_matrix, reference.sensory_adjacency_matrix)
    assert ours.layers == [list(reference.get_neurons_of_layer(i)) for i in range(reference.num_layers)]
    assert ours.roles == [reference.get_type_of_neuron(i) for i in range(reference.units)]
    converted = wiring_from_ncps(reference)
    assert np.array_equal(converted.adjacency_matrix, ours.adjacency_matrix) and converted.layers == ours.layers


def test_autoncp_19_is_the_lane_keeper_layout():
    wiring = AutoNCP(19, 1)
    wiring.build(32)
    assert wiring.neuron_counts() == {"motor": 1, "command": 7, "inter": 11}
    assert [len(layer) for layer in wiring.layers] == [11, 7, 1]
    assert wiring.output_dim == 1 and wiring.units == 19


@pytest.mark.parametrize("seed", range(6))
def test_ncp_synapses_follow_the_layer_rules(seed):
    inter, command, motor = 8, 6, 3
    sensory_fanout, inter_fanout, recurrent, motor_fanin = 4, 3, 5, 2
    wiring = NCP(inter, command, motor, sensory_fanout, inter_fanout, recurrent, motor_fanin, seed=seed)
    wiring.build(10)
    motors, commands, inters = wiring.layers[2], wiring.layers[1], wiring.layers[0]
    assert motors == list(range(3)) and commands == list(range(3, 9)) and inters == list(range(9, 17))
    adj, sens = np.abs(wiring.adjacency_matrix), np.abs(wiring.sensory_adjacency_matrix)
    # Sensory synapses reach inter neurons only; each input reaches at least its fan-out; every inter neuron is reached.
    assert sens[:, motors + commands].sum() == 0
    assert (sens[:, inters].sum(axis=1) >= sensory_fanout).all()
    assert (sens[:, inters].sum(axis=0) >= 1).all()
    # Inter neurons feed command neurons only, each with its fan-out; every command neuron is reached.
    assert adj[np.ix_(inters, inters + motors)].sum() == 0
    assert (adj[np.ix_(inters, commands)].sum(axis=1) == inter_fanout).all()
    assert (adj[np.ix_(inters, commands)].sum(axis=0) >= 1).all()
    # Recurrent command synapses: at most the requested number (repeats overwrite), at least one.
    assert 1 <= adj[np.ix_(commands, commands)].sum() <= recurrent
    # Motor neurons: at least motor_fanin command inputs; every command neuron drives some motor neuron.
    assert (adj[np.ix_(commands, motors)].sum(axis=0) >= motor_fanin).all()
    assert (adj[np.ix_(commands, motors)].sum(axis=1) >= 1).all()
    assert adj[motors, :].sum() == 0, "motor neurons have no outgoing synapses"


def test_fully_connected_and_random_counts():
    full = FullyConnected(6, self_connections=False)
    full.build(3)
    assert full.synapse_count == 30 and np.all(np.diag(full.adjacency_matrix) == 0)
    assert full.sensory_synapse_count == 18
    big = FullyConnected(60)
    inhibitory = (big.adjacency_matrix == -1).mean()
    assert 0.28 < inhibitory < 0.38, "about a third of the synapses are inhibitory"
    sparse = Random(10, sparsity_level=0.7)
    sparse.build(4)
    assert sparse.synapse_count == 30 and sparse.sensory_synapse_count == 12


def test_determinism_and_seed_sensitivity():
    a, b, c = AutoNCP(19, 1, seed=3), AutoNCP(19, 1, seed=3), AutoNCP(19, 1, seed=4)
    for wiring in (a, b, c):
        wiring.build(16)
    assert np.array_equal(a.adjacency_matrix, b.adjacency_matrix)
    assert np.array_equal(a.sensory_adjacency_matrix, b.sensory_adjacency_matrix)
    assert not np.array_equal(a.sensory_adjacency_matrix, c.sensory_adjacency_matrix)


def test_config_round_trip_restores_without_redrawing():
    wiring = AutoNCP(15, 2, seed=8)
    wiring.build(6)
    restored = Wiring.from_config(wiring.to_config())
    assert np.array_equal(restored.adjacency_matrix, wiring.adjacency_matrix)
    assert np.array_equal(restored.sensory_adjacency_matrix, wiring.sensory_adjacency_matrix)
    assert restored.layers == wiring.layers and restored.roles == wiring.roles
    assert restored.kind == "AutoNCP" and restored.params["seed"] == 8
    assert restored.to_config() == wiring.to_config()


@pytest.mark.parametrize("corrupt,match", [
    (lambda c: c.pop("roles"), "incomplete or malformed"),
    (lambda c: c.update(adjacency_matrix=[[1]]), "adjacency_matrix has shape"),
    (lambda c: c["adjacency_matrix"][0].__setitem__(0, 2), "-1, 0 or"),
    (lambda c: c.update(layers=[[0, 1]]), "partition"),
    (lambda c: c.update(roles=["boss"] * c["units"]), "roles"),
])
def test_malformed_config_is_refused(corrupt, match):
    wiring = AutoNCP(8, 1)
    wiring.build(3)
    config = wiring.to_config()
    corrupt(config)
    with pytest.raises(ValueError, match=match):
        Wiring.from_config(config)


@pytest.mark.parametrize("make,match", [
    (lambda: AutoNCP(5, 3), "less than units - 2"),
    (lambda: AutoNCP(19, 1, sparsity_level=0.05), "sparsity_level"),
    (lambda: NCP(3, 4, 1, sensory_fanout=5, inter_fanout=2, recurrent_command_synapses=1, motor_fanin=1),
     "sensory_fanout"),
    (lambda: NCP(3, 4, 1, sensory_fanout=2, inter_fanout=6, recurrent_command_synapses=1, motor_fanin=1),
     "inter_fanout"),
    (lambda: NCP(3, 4, 1, sensory_fanout=2, inter_fanout=2, recurrent_command_synapses=1, motor_fanin=9),
     "motor_fanin"),
    (lambda: FullyConnected(0), "positive integer"),
    (lambda: FullyConnected(4, output_dim=5), "exceeds units"),
    (lambda: Random(4, sparsity_level=1.0), r"\[0, 1\)"),
    (lambda: make_wiring("Hexagonal", units=3), "unknown wiring kind"),
])
def test_bad_wiring_parameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_rebuilding_with_another_input_size_is_refused():
    wiring = AutoNCP(10, 1)
    wiring.build(4)
    wiring.build(4)  # same size: fine, nothing redrawn
    with pytest.raises(ValueError, match="built for 4 input features"):
        wiring.build(5)


@pytest.mark.parametrize("wiring", [AutoNCP(19, 1), FullyConnected(6, output_dim=2), Random(8, 2, sparsity_level=0.5)],
                         ids=repr)
def test_wiring_picture_is_a_png(tmp_path, wiring):
    wiring.build(12)
    path = tmp_path / "wiring.png"
    figure = plot_wiring(wiring, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert "inputs (12)" in labels and "excitatory" in labels


def test_unbuilt_wiring_cannot_be_drawn():
    with pytest.raises(ValueError, match="not built"):
        plot_wiring(AutoNCP(19, 1))
