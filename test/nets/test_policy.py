"""Camera policies (conv head + liquid/LSTM/feed-forward core), their files, and VisualBackProp."""

import pytest
import torch

from liquid_control.nets import ModelFileError, load_model, save_model
from liquid_control.nets.policy import PRESETS, ConvHead, Policy, make_policy
from liquid_control.nets.saliency import visual_backprop

SHAPE = (3, 66, 200)


@pytest.mark.parametrize("preset", PRESETS)
def test_stepping_frame_by_frame_equals_the_sequence_forward(preset):
    torch.manual_seed(0)
    policy = make_policy(preset).eval()
    images = torch.randn(2, 6, *SHAPE)
    dt = 0.03 + 0.05 * torch.rand(2, 6)
    with torch.no_grad():
        outputs, _ = policy(images, timespans=dt)
        state = None
        for t in range(6):
            y, state = policy.step(images[:, t], dt[:, t], state)
            assert torch.allclose(y, outputs[:, t], atol=1e-5)
    assert outputs.shape == (2, 6, 1)


@pytest.mark.parametrize("preset", PRESETS)
def test_policy_files_round_trip(tmp_path, preset):
    torch.manual_seed(1)
    policy = make_policy(preset, outputs=2).eval()
    folder = save_model(policy, tmp_path / preset, preprocessing={"size": [66, 200]}, outputs={"names": ["v", "w"]})
    loaded, card = load_model(folder)
    image = torch.randn(*SHAPE)
    with torch.no_grad():
        assert torch.equal(policy.step(image, 0.05)[0], loaded.step(image, 0.05)[0])
    assert card["architecture"]["kind"] == "policy"
    assert card["architecture"]["core"]["kind"] in ("cfc", "ltc", "lstm", "gru", "ctrnn", "none")


def test_ncp_policy_is_the_19_neuron_lane_keeper():
    policy = make_policy("ncp-cfc")
    assert policy.is_liquid and policy.core.state_size == 19
    assert policy.core.wiring.neuron_counts() == {"motor": 1, "command": 7, "inter": 11}
    state = policy.initial_state(None)
    assert set(policy.describe_state(state)) == {"inter", "command", "motor"}


def test_elapsed_time_reaches_the_liquid_core():
    torch.manual_seed(0)
    policy = make_policy("ncp-ltc").eval()
    image = torch.randn(*SHAPE)
    with torch.no_grad():
        short, _ = policy.step(image, 0.01)
        long, _ = policy.step(image, 1.0)
    assert not torch.allclose(short, long)


@pytest.mark.parametrize("bad,match", [
    (torch.randn(3, 64, 200), "expected .*3, 66, 200"),
    (torch.randn(1, 66, 200), "expected .*3, 66, 200"),
    (torch.full(SHAPE, float("nan")), "non-finite"),
])
def test_bad_images_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        make_policy("ncp-cfc").step(bad, 0.05)


def test_bad_policy_specs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown policy preset"):
        make_policy("transformer")
    with pytest.raises(ValueError, match="too small"):
        ConvHead(height=20, width=20)
    with pytest.raises(ValueError, match="core takes 16 inputs"):
        Policy({"features": 32}, {"kind": "none", "input_size": 16, "outputs": 1})
    folder = save_model(make_policy("cnn"), tmp_path / "p")
    card = (folder / "card.yaml").read_text().replace("kind: none", "kind: transformer")
    (folder / "card.yaml").write_text(card)
    with pytest.raises(ModelFileError, match="unknown policy core kind 'transformer'"):
        load_model(folder)


def test_visual_backprop_highlights_what_drives_the_features():
    """A head that only sees a bright square attends to that square."""
    torch.manual_seed(0)
    head = ConvHead()
    with torch.no_grad():
        for conv in head.convs:
            conv.weight.abs_()  # all-positive filters: activation follows brightness
            conv.bias.zero_()
    image = torch.zeros(*SHAPE)
    image[:, 20:40, 120:160] = 1.0
    saliency = visual_backprop(head, image)
    assert saliency.shape == (66, 200) and saliency.min() >= 0 and saliency.max() == pytest.approx(1.0)
    inside = saliency[20:40, 120:160].mean()
    outside = saliency[:, :80].mean()
    assert inside > 5 * outside
    batch = visual_backprop(head, image.expand(2, *SHAPE))
    assert batch.shape == (2, 66, 200) and torch.allclose(batch[0], saliency)


@pytest.mark.parametrize("preset", PRESETS)
def test_onnx_export_matches_torch_over_a_rollout(tmp_path, preset):
    from liquid_control.nets.onnx_export import check_onnx, export_onnx

    torch.manual_seed(2)
    policy = make_policy(preset).eval()
    path = export_onnx(policy, tmp_path / "policy.onnx")
    parity = check_onnx(policy, path, steps=8, batch=2)
    assert parity["max_abs_output_error"] < 1e-5 and parity["max_abs_state_error"] < 1e-5, parity


def test_cli_export_records_the_onnx_file_in_the_card(tmp_path):
    import json
    import subprocess
    import sys

    folder = save_model(make_policy("ncp-ltc"), tmp_path / "model")
    result = subprocess.run([sys.executable, "-m", "liquid_control", "export", "--model", str(folder)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["max_abs_output_error"] < 1e-5
    _, card = load_model(folder)
    assert card["exports"]["onnx"]["file"] == "policy.onnx" and (folder / "policy.onnx").is_file()


def test_cli_export_of_a_bare_liquid_core(tmp_path):
    """A CfC/LTC without a camera head exports too (input ``x``), and ONNX Runtime matches torch."""
    import json
    import subprocess
    import sys

    from liquid_control.nets.sequence import LTC
    from liquid_control.nets.wirings import AutoNCP

    folder = save_model(LTC(8, AutoNCP(12, 2)), tmp_path / "core")
    result = subprocess.run([sys.executable, "-m", "liquid_control", "export", "--model", str(folder)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    parity = json.loads(result.stdout)
    assert parity["max_abs_output_error"] < 1e-5 and parity["max_abs_state_error"] < 1e-5
    _, card = load_model(folder)
    assert card["exports"]["onnx"]["file"] == "network.onnx"
    assert card["exports"]["onnx"]["signature"].startswith("(x[B,F]")


def test_the_tanh_head_keeps_an_ltcs_sensory_synapses_out_of_saturation():
    """ncp-ltc-tanh: however large the head's linear layer grows (as it did in the drone study's
    dead LTC seeds, to features of about 70), the LTC sees features within (-1, 1), where its
    sigmoid synapses (mu 0.3-0.8) still pass a change; the plain ncp-ltc saturates."""
    torch.manual_seed(0)
    images = torch.rand(8, *SHAPE)
    seen = {}
    for preset in ("ncp-ltc", "ncp-ltc-tanh"):
        policy = make_policy(preset).eval()
        with torch.no_grad():
            policy.head.fc.weight.mul_(5000.0)  # features of tens to thousands before any squashing
            features = policy.head(images)
        seen[preset] = (features.abs().max().item(), policy.core.rnn_cell.sensory_saturation(features))
    assert seen["ncp-ltc"][0] > 10 and seen["ncp-ltc"][1] > 0.99, seen
    assert seen["ncp-ltc-tanh"][0] <= 1.0 and seen["ncp-ltc-tanh"][1] < 0.9, seen
    assert make_policy("ncp-ltc-tanh").head.architecture()["activation"] == "tanh"
    assert "activation" not in make_policy("ncp-ltc").head.architecture(), "older cards stay as they were"
    with pytest.raises(ValueError, match="activation must be one of"):
        ConvHead(activation="relu")


@pytest.mark.parametrize("preset", ["lstm", "cnn", "ncp-cfc", "ncp-ltc"])
def test_any_preset_goes_behind_the_normalised_head(preset):
    """head_activation: a study that gives every architecture the same head (the drone study's
    normalised-head study) builds each preset with it; the card keeps it, so the loaded model has it."""
    torch.manual_seed(0)
    policy = make_policy(preset, head_activation="layernorm").eval()
    assert policy.head.architecture()["activation"] == "layernorm"
    with torch.no_grad():
        features = policy.head(torch.rand(3, *SHAPE))
    torch.testing.assert_close(features.mean(1), torch.zeros(3), atol=1e-5, rtol=0)
    torch.manual_seed(0)
    plain = make_policy(preset)
    assert "activation" not in plain.head.architecture()
    # The same weights: the activation adds no parameters.
    assert [n for n, _ in plain.named_parameters()] == [n for n, _ in policy.named_parameters()]


def test_a_head_activation_the_preset_contradicts_is_refused():
    assert make_policy("ncp-ltc-norm", head_activation="layernorm").head.architecture()["activation"] == "layernorm"
    with pytest.raises(ValueError, match="ncp-ltc-norm preset has the layernorm head"):
        make_policy("ncp-ltc-norm", head_activation="tanh")
    with pytest.raises(ValueError, match="head_activation must be one of"):
        make_policy("lstm", head_activation="relu")
    from liquid_control.train.trainer import TrainConfig
    with pytest.raises(ValueError, match="ncp-ltc-tanh preset has the tanh head"):
        TrainConfig(arch="ncp-ltc-tanh", head_activation="layernorm").validate()
    TrainConfig(arch="gru", head_activation="tanh").validate()


def test_the_normalised_head_removes_a_common_mode_growth_of_the_features():
    """ncp-ltc-norm: each frame's features are standardised, so a head whose features all grow by a
    common factor or shift (the drift of the drone study's dead LTC seeds) gives the LTC the same
    input (here 30x larger; up to layer_norm's eps, which matters at init's tiny variance)."""
    torch.manual_seed(0)
    policy = make_policy("ncp-ltc-norm").eval()
    images = torch.rand(4, *SHAPE)
    with torch.no_grad():
        before = policy.head(images)
        policy.head.fc.weight.mul_(30.0)
        policy.head.fc.bias.mul_(30.0)
        after = policy.head(images)
    torch.testing.assert_close(before.mean(1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(before.std(1, unbiased=False), torch.ones(4), atol=0.05, rtol=0)  # eps 1e-5
    torch.testing.assert_close(after, before, atol=0.05, rtol=0)  # the same input, 30x larger activations
    assert policy.core.rnn_cell.sensory_saturation(after) < 0.9


@pytest.mark.parametrize("units, outputs", [(19, 1), (34, 4)])
def test_random_cfc_has_the_ncps_synapse_count_without_its_structure(units, outputs):
    """random-cfc: the neurons and the recurrent and sensory synapse counts of the NCP of the same
    wiring seed, wired at random; the seed changes the wiring, and the outputs come through a linear
    readout."""
    ncp = make_policy("ncp-cfc", outputs=outputs, ncp_units=units, readout=outputs > 1, wiring_seed=5).core.wiring
    random = make_policy("random-cfc", outputs=outputs, ncp_units=units, wiring_seed=5).core.wiring
    other = make_policy("random-cfc", outputs=outputs, ncp_units=units, wiring_seed=6).core.wiring
    ncp_total = ncp.synapse_count + ncp.sensory_synapse_count
    assert random.kind == "Random" and random.units == units
    assert random.synapse_count + random.sensory_synapse_count == ncp_total
    assert random.synapse_count == ncp.synapse_count and random.sensory_synapse_count == ncp.sensory_synapse_count
    assert not (random.adjacency_matrix == other.adjacency_matrix).all()
    assert len(random.layers) == 1  # no inter/command/motor structure
    outputs_seen, _ = make_policy("random-cfc", outputs=outputs, ncp_units=units)(torch.zeros(2, 3, 3, 66, 200))
    assert outputs_seen.shape == (2, 3, outputs)
