"""The model format: round trips, what the card holds, and every way a model folder can be broken."""

import json
import subprocess
import sys

import ncps.torch
import ncps.wirings
import pytest
import torch
import yaml

from liquid_control.nets import LTC, AutoNCP, CfC, ModelFileError, load_model, read_card, save_model

MODELS = {
    "cfc-ncp19": lambda: CfC(32, AutoNCP(19, 1), mode="default"),
    "cfc-dense-mixed-proj": lambda: CfC(6, 12, backbone_layers=2, backbone_units=20, mixed_memory=True, proj_size=2),
    "ltc-ncp": lambda: LTC(6, AutoNCP(12, 2), implicit_param_constraints=False, ode_unfolds=3),
    "ltc-dense": lambda: LTC(6, 7, input_mapping="linear", output_mapping="none"),
}


def _saved(tmp_path, make=MODELS["cfc-ncp19"]):
    torch.manual_seed(0)
    model = make()
    folder = save_model(model, tmp_path / "model", name="test", description="a test model",
                        preprocessing={"size": [66, 200], "encoding": "rgb8"}, outputs={"names": ["curvature"]},
                        metrics={"val_mse": 0.01})
    return model, folder


@pytest.mark.parametrize("name", MODELS)
def test_round_trip_reproduces_outputs(tmp_path, name):
    model, folder = _saved(tmp_path, MODELS[name])
    loaded, card = load_model(folder)
    assert type(loaded) is type(model) and not loaded.training
    x = torch.randn(2, 5, model.input_size)
    ts = 0.1 + torch.rand(2, 5)
    model.eval()
    assert torch.equal(model(x, timespans=ts)[0], loaded(x, timespans=ts)[0])
    assert loaded.wiring.to_config()["adjacency_matrix"] == model.wiring.to_config()["adjacency_matrix"]
    assert card["architecture"] == model.architecture()


def test_card_is_readable_yaml_with_everything_a_user_needs(tmp_path):
    model, folder = _saved(tmp_path)
    text = (folder / "card.yaml").read_text()
    card = yaml.safe_load(text)
    assert card["format"] == "liquid_control.model" and card["format_version"] == 1
    assert card["name"] == "test" and card["preprocessing"]["size"] == [66, 200]
    assert card["outputs"]["names"] == ["curvature"] and card["metrics"]["val_mse"] == 0.01
    assert card["weights"]["parameters"] == sum(p.numel() for p in model.parameters())
    assert len(card["weights"]["sha256"]) == 64 and card["provenance"]["created_utc"]
    assert card["architecture"]["units"]["wiring"]["kind"] == "AutoNCP"
    # Matrix rows are written one per line, not one number per line.
    assert len(text.splitlines()) < 200
    assert read_card(folder / "card.yaml") == card


def test_weights_are_safetensors_not_pickle(tmp_path):
    _, folder = _saved(tmp_path)
    raw = (folder / "weights.safetensors").read_bytes()
    header_length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_length])
    assert "rnn_cell.layer_0.sparsity_mask" in header and header["__metadata__"]["format"] == "pt"


def _break(folder, how):
    weights, card_path = folder / "weights.safetensors", folder / "card.yaml"
    card = yaml.safe_load(card_path.read_text())
    if how == "changed weights":
        raw = bytearray(weights.read_bytes())
        raw[-5] ^= 0xFF
        weights.write_bytes(bytes(raw))
    elif how == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:100])
        card["weights"]["sha256"] = None
    elif how == "missing weights":
        weights.unlink()
    elif how == "missing card":
        card_path.unlink()
        return
    elif how == "not yaml":
        card_path.write_text("architecture: [unclosed\n")
        return
    elif how == "wrong format":
        card["format"] = "something.else"
    elif how == "newer format":
        card["format_version"] = 99
    elif how == "unknown kind":
        card["architecture"]["kind"] = "transformer"
    elif how == "mismatched architecture":
        card["architecture"]["mixed_memory"] = True
    elif how == "inconsistent architecture":
        card["architecture"]["input_size"] = 16
    elif how == "bad architecture field":
        card["architecture"]["mode"] = "turbo"
    elif how == "no architecture":
        del card["architecture"]
    card_path.write_text(yaml.safe_dump(card))


@pytest.mark.parametrize("how,match", [
    ("changed weights", "checksum"),
    ("truncated weights", "corrupt or not a safetensors"),
    ("missing weights", "does not exist"),
    ("missing card", "no model card"),
    ("not yaml", "not valid YAML"),
    ("wrong format", "not a liquid_control model card"),
    ("newer format", "newer than this liquid_control"),
    ("unknown kind", "unknown architecture kind 'transformer'"),
    ("mismatched architecture",
     r"missing 3 tensor\(s\): lstm\.input_map\.bias, lstm\.input_map\.weight, lstm\.recurrent_map\.weight"),
    ("inconsistent architecture", "wiring was built for 32 input features but is now used with 16"),
    ("bad architecture field", "unknown CfC mode 'turbo'"),
    ("no architecture", "lacks the 'architecture' section"),
])
def test_broken_model_folders_give_clear_errors(tmp_path, how, match):
    _, folder = _saved(tmp_path)
    _break(folder, how)
    with pytest.raises(ModelFileError, match=match):
        load_model(folder)


def test_non_finite_weights_are_refused(tmp_path):
    torch.manual_seed(0)
    model = LTC(3, 4)
    with torch.no_grad():
        model.rnn_cell.w[0, 0] = float("nan")
    folder = save_model(model, tmp_path / "nan")
    with pytest.raises(ModelFileError, match="non-finite values .* rnn_cell.w"):
        load_model(folder)


def test_saving_something_that_cannot_describe_itself_is_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot describe its architecture"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x")


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "liquid_control", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def test_cli_help_lists_the_verbs():
    result = _cli("--help")
    assert result.returncode == 0
    for verb in ("demo", "wiring", "info", "import-ncps", "drive", "launch", "bag", "generate", "train", "eval"):
        assert verb in result.stdout


def test_cli_demo_without_a_model_says_how_to_get_one(tmp_path):
    result = _cli("demo", "--model", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "no model at" in result.stderr and "python -m liquid_control train" in result.stderr


def test_cli_wiring_summary_and_picture(tmp_path):
    result = _cli("wiring", "AutoNCP:units=19,output_size=1,seed=7", "--inputs", "32", "--out", str(tmp_path / "w.png"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["neurons"] == {"motor": 1, "command": 7, "inter": 11} and summary["inputs"] == 32
    assert (tmp_path / "w.png").read_bytes()[:4] == b"\x89PNG"
    bad = _cli("wiring", "AutoNCP:units=5,output_size=4", "--inputs", "3")
    assert bad.returncode == 1 and "less than units - 2" in bad.stderr


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_cli_imports_an_ncps_state_dict_and_info_describes_it(tmp_path, suffix):
    torch.manual_seed(0)
    reference = ncps.torch.CfC(8, ncps.wirings.AutoNCP(12, 1, seed=4), mode="no_gate")
    path = tmp_path / f"ncps{suffix}"
    if suffix == ".pt":
        torch.save(reference.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    out = tmp_path / "imported"
    result = _cli("import-ncps", str(path), "--kind", "cfc", "--input-size", "8", "--wiring",
                  "AutoNCP:units=12,output_size=1", "--setting", "mode=no_gate", "--out", str(out), "--name", "imp")
    assert result.returncode == 0, result.stderr
    model, card = load_model(out)
    x = torch.randn(2, 6, 8)
    assert torch.allclose(model(x)[0], reference(x)[0], atol=1e-5)
    assert card["provenance"]["source"] == "ncps"
    info = _cli("info", str(out))
    assert info.returncode == 0, info.stderr
    described = json.loads(info.stdout)
    assert described["name"] == "imp" and described["architecture"]["wiring"] == "AutoNCP"
    assert described["output_size"] == 1


def test_cli_import_with_wrong_settings_fails_clearly(tmp_path):
    reference = ncps.torch.LTC(4, 6)
    torch.save(reference.state_dict(), tmp_path / "ltc.pt")
    result = _cli("import-ncps", str(tmp_path / "ltc.pt"), "--kind", "ltc", "--input-size", "5", "--units", "6",
                  "--out", str(tmp_path / "o"))
    assert result.returncode == 1 and "shape mismatch" in result.stderr
