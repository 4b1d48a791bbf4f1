"""The study pipeline in miniature (``study --quick``): two architectures trained on the same tiny
data with two seeds (a stage of its own with ``--stop-after training``), each driven (flown) under
two conditions, attention and compactness measured, the report written; a second run finds
everything cached; a bad config is refused before anything runs."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from liquid_control.train.study import StudyConfig, digest, report_markdown, seeds_that_did_not_learn

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "config" / "study_lane.yaml"
DRONE_CONFIG = REPO_ROOT / "config" / "study_drone.yaml"


def study(*args, config=CONFIG):
    result = subprocess.run([sys.executable, "-m", "liquid_control", "study", str(config), "--quick", *args],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


# A whole pipeline (data, four trainings, drives, attention): minutes on a CPU without bfloat16.
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_study_trains_evaluates_reports_and_then_resumes_from_its_cache(tmp_path):
    out, report = tmp_path / "study", tmp_path / "study.md"
    plot, saliency = tmp_path / "study.png", tmp_path / "saliency.png"
    config = StudyConfig.load(CONFIG).quick()
    # A long study runs in stages: first every training and no episode.
    staged = study("--out", str(out), "--stop-after", "training")
    assert staged.stdout.startswith("stopped after training: ") and "training" in staged.stderr
    assert json.loads(staged.stdout.split(": ", 1)[1]) == {"models_trained": 4, "models_cached": 0,
                                                           "evaluations_run": 0, "evaluations_cached": 0}
    assert not list((out / "evaluations").iterdir()) and not (out / "results.json").exists()
    # The first seed alone (as a session that can finish only part of a study reports on it).
    study("--out", str(out), "--seeds", str(config.seeds[0]), "--report", str(tmp_path / "first.md"))
    partial = json.loads((out / "results.json").read_text())
    assert partial["seeds"] == [config.seeds[0]]
    assert partial["work"]["models_cached"] == 2 and partial["work"]["evaluations_run"] == 2 * len(config.conditions)
    assert all(len(row["validation_loss"]) == 1 for row in partial["results"].values())
    assert f"--seeds {config.seeds[0]}" in (tmp_path / "first.md").read_text()
    # The whole study: the first seed's work is reused; it trains and drives the second seed.
    full = study("--out", str(out), "--jobs", "2", "--report", str(report), "--plot", str(plot),
                 "--saliency", str(saliency))
    results = json.loads((out / "results.json").read_text())
    assert list(results["results"]) == [a.name for a in config.architectures] and len(results["results"]) == 2
    assert results["work"] == {"models_trained": 0, "models_cached": 4, "evaluations_run": 2 * len(config.conditions),
                               "evaluations_cached": 2 * len(config.conditions)}
    assert "closed-loop episodes to run" in full.stderr
    bad = subprocess.run([sys.executable, "-m", "liquid_control", "study", str(CONFIG), "--seeds", "7", "--out",
                          str(tmp_path / "none")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--seeds must name some of the config's training seeds [0, 1, 2]" in bad.stderr
    for row in results["results"].values():
        assert row["parameters"] > row["recurrent_parameters"] >= row["recurrent_parameters_wired"] > 0
        # counted as the cost table counts them: an NCP's masked weights by synapse, a dense core's all
        assert (row["recurrent_parameters_wired"] < row["recurrent_parameters"]) == (row["arch"].startswith("ncp"))
        assert len(row["validation_loss"]) == 2 and all(loss > 0 for loss in row["validation_loss"])
        for condition in config.conditions:
            cell = row["conditions"][condition.name]
            assert cell["drives"] == 2 and cell["distance_m"] > 0
            low, high = cell["departures_per_km_ci95"]
            assert low <= cell["departures_per_km"] <= high
            per_seed = row["per_seed"][condition.name]  # each seed's drives summed: the mean's parts
            assert [r["drives"] for r in per_seed] == [1, 1]
            assert sum(r["distance_m"] for r in per_seed) == pytest.approx(cell["distance_m"], abs=0.2)
    assert "synapses" in results["results"][config.architectures[0].name], "the NCP's synapse count is reported"
    # The liquid network against the other architecture, in each condition, Holm-corrected.
    comparisons = results["comparisons"]["rows"]
    assert [(r["condition"], r["a"], r["b"]) for r in comparisons] == [
        (c.name, config.architectures[0].name, config.architectures[1].name) for c in config.conditions]
    assert all(r["p_holm"] >= r["p"] for r in comparisons)
    for row in results["results"].values():  # both quick architectures are liquid networks with a state
        assert 0 <= row["attention"]["saliency_ssim"] <= 1 and 0 < row["attention"]["pc1_variance_fraction"] <= 1
        assert "saliency_ssim_range" in row["attention"], "two seeds: a range, not an interval"
    text = report.read_text()
    assert all(a.name in text for a in config.architectures) and "departures per km" in text and "saliency SSIM" in text
    assert "Validation loss at the end of training" in text and "Per seed (0 / 1): lane departures" in text
    assert plot.read_bytes()[:4] == b"\x89PNG" and saliency.read_bytes()[:4] == b"\x89PNG"
    # Each seed's output spread is measured and shown; a model under the threshold is marked flat
    # (here made so by hand: the quick models' spreads are whatever two epochs of tiny data give).
    assert "Output spread per seed" in text
    for row in results["results"].values():
        assert len(row["attention"]["output_spread"]) == 2 and all(v >= 0 for v in row["attention"]["output_spread"])
    name = config.architectures[0].name
    marked = json.loads(json.dumps(results))
    marked["results"][name]["attention"]["output_spread"] = [0.5, 0.02]
    for row in marked["results"].values():
        if row is not marked["results"][name]:
            row["attention"]["output_spread"] = [0.5, 0.5]
    assert seeds_that_did_not_learn(marked) == {name: [config.seeds[1]]}
    flagged = report_markdown(marked, "study")
    assert f"| {name} (flat: seed {config.seeds[1]}) |" in flagged and "**0.020 flat**" in flagged
    assert "Flat models did not learn" in flagged and "Flat models did not learn" not in report_markdown(
        marked | {"results": {k: v for k, v in marked["results"].items() if k != name}}, "study")
    # Nothing changed: nothing is recomputed. An analysis cached before the output spread was
    # measured (the key stripped here) is redone, to the same figures.
    analysis = sorted((out / "analyses").glob("*.json"))[0]
    old = json.loads(analysis.read_text())
    analysis.write_text(json.dumps({k: v for k, v in old.items() if k != "output_spread"}))
    again = json.loads(study("--out", str(out), "--json").stdout)
    assert again["work"]["models_trained"] == 0 and again["work"]["evaluations_run"] == 0
    assert again["results"] == results["results"]
    assert json.loads(analysis.read_text()) == old


# A whole pipeline (data, four trainings, drives, attention): minutes on a CPU without bfloat16.
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_drone_study_flies_every_model_and_reports_success_rates(tmp_path):
    out, report = tmp_path / "study", tmp_path / "study.md"
    run = study("--out", str(out), "--jobs", "2", "--report", str(report), config=DRONE_CONFIG)
    results = json.loads((out / "results.json").read_text())
    config = StudyConfig.load(DRONE_CONFIG).quick()
    # Seed by seed: the first seed's models are flown before the second seed's are trained.
    steps = [re.search(r"seed \d+", line).group() for line in run.stderr.splitlines()
             if line.startswith("... training") or "closed-loop episodes to run" in line]
    assert steps == ["seed 0", "seed 0", "seed 0", "seed 1", "seed 1", "seed 1"], run.stderr
    assert results["world"] == "drone" and results["work"]["models_trained"] == 4
    assert results["work"]["evaluations_run"] == 4 * len(config.conditions)  # 2 models x 2 seeds, one scene each
    for row in results["results"].values():
        for condition in config.conditions:
            cell = row["conditions"][condition.name]
            assert cell["flights"] == 2 and 0 <= cell["success_rate"] <= 1
            assert sum(cell["stop_reasons"].values()) == 2
            per_seed = row["per_seed"][condition.name]
            assert [r["flights"] for r in per_seed] == [1, 1]
            assert sum(r["successes"] for r in per_seed) == round(2 * cell["success_rate"])
    # The first two conditions of the drone config: the training domain and a held-out one.
    assert [c.domain for c in config.conditions] == [None, "autumn"]
    for row in results["results"].values():  # NCP-CfC and LSTM: attention over an expert flight's frames
        assert 0 <= row["attention"]["saliency_ssim"] <= 1 and 0 < row["attention"]["pc1_variance_fraction"] <= 1
    assert "Success rate" in report.read_text()


def test_bad_configs_are_refused_with_the_reason():
    base = {"architectures": [{"name": "a", "arch": "ncp-cfc"}]}
    with pytest.raises(ValueError, match="presets"):
        StudyConfig.from_dict({"architectures": [{"name": "a", "arch": "transformer"}]})
    with pytest.raises(ValueError, match="unknown training settings"):
        StudyConfig.from_dict({**base, "training": {"epoch": 3}})
    with pytest.raises(ValueError, match="noise_std"):
        StudyConfig.from_dict({**base, "conditions": [{"name": "x", "perturbations": {"noise_std": -1}}]})
    with pytest.raises(ValueError, match="world must be one of"):
        StudyConfig.from_dict({**base, "world": "boat"})
    with pytest.raises(ValueError, match=r"unknown settings \['domain'\] for the lane world"):
        StudyConfig.from_dict({**base, "conditions": [{"name": "x", "domain": "winter"}]})
    with pytest.raises(ValueError, match="domain must be one of"):
        StudyConfig.from_dict({**base, "world": "drone", "conditions": [{"name": "x", "domain": "mars"}]})
    with pytest.raises(ValueError, match="start_distance_m"):
        StudyConfig.from_dict({**base, "world": "drone", "conditions": [{"name": "x", "start_distance_m": [30, 10]}]})
    with pytest.raises(ValueError, match="unknown evaluation settings"):
        StudyConfig.from_dict({**base, "world": "drone", "evaluation": {"tracks": [1000]}})
    with pytest.raises(ValueError, match="unknown training settings"):
        StudyConfig.from_dict({"architectures": [{"name": "a", "arch": "ncp-ltc", "training": {"learning_rate": 1}}]})
    with pytest.raises(ValueError, match="condition names must be distinct"):
        StudyConfig.from_dict({**base, "conditions": [{"name": "x"}, {"name": "x", "camera_rate_hz": 10}]})
    with pytest.raises(ValueError, match="head_precision must be one of"):  # "auto" would differ per machine
        StudyConfig.from_dict({**base, "training": {"head_precision": "auto"}})
    assert StudyConfig.from_dict(base).setting("training")["head_precision"] == "fp32"
    with pytest.raises(ValueError, match="NT: the ncp-ltc-tanh preset has the tanh head"):  # before any training
        StudyConfig.from_dict({"architectures": [{"name": "a", "arch": "lstm"}, {"name": "NT", "arch": "ncp-ltc-tanh"}],
                               "training": {"head_activation": "layernorm"}})
    with pytest.raises(ValueError, match="head_activation must be one of"):
        StudyConfig.from_dict({"architectures": [{"name": "a", "arch": "lstm",
                                                  "training": {"head_activation": "relu"}}]})


def test_a_cached_model_trained_in_another_precision_is_refused_before_anything_runs(tmp_path):
    import yaml

    from liquid_control.train.study import model_plan, run_study

    config = StudyConfig.load(CONFIG).quick()
    (folder, training), *_ = model_plan(config, tmp_path).values()
    assert training.head_precision == "fp32"
    folder.mkdir(parents=True)  # as a model trained before the study named its precision, on a bf16 CPU
    (folder / "card.yaml").write_text(yaml.safe_dump({"training": {"head_precision": "bf16"}}))
    said = []
    with pytest.raises(ValueError, match="trained its conv head in bf16, but the config says fp32"):
        run_study(config, tmp_path, progress=said.append)
    assert said == [], "nothing ran"


def test_cache_keys():
    assert digest({"a": 1, "b": [2]}) == digest({"b": [2], "a": 1}) != digest({"a": 2, "b": [2]})


# The study caches kept in the repository, by the config whose --out they are.
CACHES = {"study_lane.yaml": "study/lane", "study_drone.yaml": "study/drone",
          "study_drone_norm.yaml": "study/drone_norm"}


@pytest.mark.parametrize("name", sorted(CACHES))
def test_the_kept_caches_are_found_under_their_keys(name):
    """Every model of a kept study cache is found under the key the code computes now: a new
    training setting at its default must not change the keys (and orphan hours of training)."""
    from liquid_control.train.study import evaluation_tasks, model_plan
    from liquid_control.train.study.packing import is_cached

    config = StudyConfig.load(REPO_ROOT / "config" / name)
    plan = model_plan(config, REPO_ROOT / CACHES[name])
    missing = [str(folder) for folder, _ in plan.values() if not (folder / "card.yaml").is_file()]
    assert not missing, f"{len(missing)} of {len(plan)} models not under their keys: {missing[:3]}"
    tasks = evaluation_tasks(config, {key: folder for key, (folder, _) in plan.items()}, REPO_ROOT / CACHES[name])
    assert all(is_cached(path) for path, _ in tasks.values()), "every episode of the study is cached"


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "config").glob("study_*.yaml")), ids=lambda p: p.name)
def test_shipped_study_configs_are_valid(path):
    config = StudyConfig.load(path)
    assert len(config.seeds) >= 3 and len(config.architectures) >= 5 and config.conditions


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_model_stopped_part_way_resumes_after_its_last_finished_epoch_and_drops_its_checkpoint(tmp_path):
    from dataclasses import replace

    import yaml

    from liquid_control.train.study import expert_episodes, model_plan, run_study
    from liquid_control.train.trainer import train

    quick = StudyConfig.load(CONFIG).quick()
    config = replace(quick, architectures=quick.architectures[:1], seeds=quick.seeds[:1],
                     conditions=quick.conditions[:1], training={**quick.training, "epochs": 2})
    [(folder, training)] = model_plan(config, tmp_path).values()
    # The first epoch, then a stop (as when a session ends part way through a model).
    assert train(expert_episodes(config), folder, training, progress=False, stop_after_epochs=1) is None
    first_epoch = json.loads((folder / "checkpoint" / "history.json").read_text())
    assert len(first_epoch) == 1 and not (folder / "card.yaml").exists()

    said = []
    results = run_study(config, tmp_path, progress=said.append)
    assert any("resuming" in line for line in said), said
    history = yaml.safe_load((folder / "card.yaml").read_text())["training"]["history"]
    assert len(history) == 2 and history[0] == first_epoch[0], "epoch 1 was kept, not trained again"
    assert not (folder / "checkpoint").exists(), "a finished model keeps no optimiser state"
    assert results["work"]["models_trained"] == 1 and results["work"]["models_cached"] == 0
