"""The final study's design in its config: equal tuning (``tuning``), the locked test split,
wiring seeds that take turns, size-matched and data-fraction variants, and the elapsed-time
ablation as a condition. All refused or accepted before anything trains."""

from pathlib import Path

import numpy as np
import pytest

from liquid_control.data.episodes import Episode
from liquid_control.nets import load_model
from liquid_control.train.study import StudyConfig, evaluation_tasks, model_plan
from liquid_control.train.study.cache import episode_seeds
from liquid_control.train.study.locked_split import LOCKED_DOMAINS, LOCKED_FROM
from liquid_control.train.study.tuning_config import Tuning, training_keys
from liquid_control.train.trainer import TrainConfig, train

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE = {"architectures": [{"name": "a", "arch": "ncp-cfc"}, {"name": "b", "arch": "lstm"}],
        "evaluation": {"tracks": [1000]}}
TUNING = {"trials": 4, "validation_seeds": "900-901", "space": {"lr": {"log_uniform": [3e-4, 1e-2]}}}


@pytest.mark.parametrize("space, message", [
    ({}, "space is empty"),
    ({"data_fraction": {"uniform": [0.1, 1]}}, "cannot be tuned"),
    ({"lr": {"gaussian": [0, 1]}}, "give one of log_uniform"),
    ({"lr": {"log_uniform": [0, 1e-2]}}, "low > 0"),
    ({"epochs": {"int": [12, 4]}}, "low < high"),
    ({"seq_len": {"choice": []}}, "at least one value"),
])
def test_a_tuning_space_that_cannot_be_searched_is_refused(space, message):
    with pytest.raises(ValueError, match=message):
        Tuning.from_dict({**TUNING, "space": space}, training_keys())


def test_tuning_needs_validation_episodes_that_nothing_trains_or_is_evaluated_on():
    with pytest.raises(ValueError, match="needs validation_seeds"):
        StudyConfig.from_dict({**BASE, "tuning": {"space": TUNING["space"]}})
    with pytest.raises(ValueError, match="unknown tuning settings"):
        StudyConfig.from_dict({**BASE, "tuning": {**TUNING, "budget": 3}})
    config = StudyConfig.from_dict({**BASE, "tuning": {**TUNING, "validation_seeds": "20-30"}})  # lane trains on 0-23
    from liquid_control.train.study.tuning import tune_study

    with pytest.raises(ValueError, match=r"\[20, 21, 22, 23\] are also trained on"):
        tune_study(config, "/nonexistent", list, list, None, print)
    with pytest.raises(ValueError, match="locked test split"):
        StudyConfig.from_dict({**BASE, "tuning": {**TUNING, "validation_seeds": f"{LOCKED_FROM}-{LOCKED_FROM + 3}"}})


def test_the_locked_split_is_evaluated_only_by_a_locked_config_and_never_with_quick():
    locked_tracks = {"tracks": [LOCKED_FROM, LOCKED_FROM + 1]}
    with pytest.raises(ValueError, match=f"tracks/scenes {LOCKED_FROM}-{LOCKED_FROM + 1} belong to the study's locked"):
        StudyConfig.from_dict({**BASE, "evaluation": locked_tracks})
    drone = {**BASE, "world": "drone", "evaluation": {"scenes": "1000-1001"}}
    with pytest.raises(ValueError, match=f"domain\\(s\\) {LOCKED_DOMAINS[0]}"):
        StudyConfig.from_dict({**drone, "conditions": [{"name": "n", "domain": LOCKED_DOMAINS[0]}]})
    with pytest.raises(ValueError, match="the attention measure"):  # not even a locked config looks there
        StudyConfig.from_dict({**BASE, "locked": True, "evaluation": locked_tracks,
                               "attention": {"track": LOCKED_FROM}})
    with pytest.raises(ValueError, match="the training data"):
        StudyConfig.from_dict({**BASE, "data": {"sim_seeds": f"0-{LOCKED_FROM}"}})
    final = StudyConfig.from_dict({**BASE, "locked": True, "evaluation": locked_tracks})
    with pytest.raises(ValueError, match="this config is locked"):
        final.quick()


@pytest.mark.parametrize("name", ["study_lane_final.yaml", "study_drone_final.yaml"])
def test_a_rehearsal_keeps_every_arm_and_condition_but_none_of_the_locked_split(name):
    """``study --rehearse``: the final config's whole design in miniature, on development seeds."""
    final = StudyConfig.load(REPO_ROOT / "config" / name)
    rehearsal = final.rehearsal()
    assert rehearsal.architectures == final.architectures and not rehearsal.locked
    assert rehearsal.seeds == final.seeds[:5] and rehearsal.training["epochs"] == 1
    left_out = final.rehearsal_leaves_out()
    assert rehearsal.conditions == tuple(c for c in final.conditions if c not in left_out)
    assert {c.domain for c in left_out} == ({"night"} if final.world == "drone" else set())
    seeds = episode_seeds(rehearsal)
    assert len(seeds) == 1 and seeds[0] < LOCKED_FROM
    assert rehearsal.tuning.trials == 2 and rehearsal.tuning.space == final.tuning.space[:1]


def test_the_rehearsal_says_what_it_leaves_out_and_a_tuned_study_packs_only_once_searched(tmp_path):
    import subprocess
    import sys

    def study(*args):
        return subprocess.run([sys.executable, "-m", "liquid_control", "study",
                               str(REPO_ROOT / "config" / "study_drone_final.yaml"), *args],
                              capture_output=True, text=True, timeout=120)

    both = study("--rehearse", "--quick", "--out", str(tmp_path))
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    packed = study("--rehearse", "--pack", "--out", str(tmp_path))
    assert "rehearsal: leaving out 'night', in the locked night domain" in packed.stderr
    assert packed.returncode == 2 and "NCP-CfC 34 has not been tuned yet" in packed.stderr
    assert not (tmp_path / "evaluations" / "packed").exists()


@pytest.mark.parametrize("name", ["study_lane_final.yaml", "study_drone_final.yaml"])
def test_the_final_configs_follow_the_protocol(name):
    """docs/study_protocol.md: locked split, equal tuning for all, >= 5 (lane) / 10 (drone) seeds,
    three wirings per liquid network, size-matched baselines, the random-wiring control, the
    data-efficiency arms and the elapsed-time ablation."""
    config = StudyConfig.load(REPO_ROOT / "config" / name)
    assert config.locked and config.tuning is not None and config.tuning.trials == 20
    assert len(config.seeds) >= (10 if config.world == "drone" else 5)
    episodes = config.setting("evaluation").get("scenes") or config.setting("evaluation")["tracks"]
    from liquid_control.train.study.stats import seed_list

    assert min(seed_list(episodes)) >= LOCKED_FROM
    assert len(seed_list(episodes)) == (50 if config.world == "drone" else 10)
    if config.world == "lane":
        assert config.setting("evaluation")["distance_m"] == 400 and config.setting("evaluation")["speed"] == 3
        assert len(config.seeds) == 8  # five against five could never pass Holm over the family (the config says why)
    assert config.tuning.key()["space"] == {"lr": {"log_uniform": [3.0e-4, 1.0e-2]},
                                            "weight_decay": {"uniform": [0.0, 1.0e-3]}, "epochs": {"int": [4, 12]},
                                            "seq_len": {"choice": [16, 24, 32]}}
    assert config.tuning.validation_seeds == ("900-949" if config.world == "drone" else "900-911")
    assert config.tuning.training_seed not in config.seeds
    compared = [c for c in config.conditions if c.compared]
    assert len(compared) == (7 if config.world == "drone" else 5), "the protocol's headline conditions"
    assert not any(c.fixed_dt or c.perturbations.get("frame_interval_jitter") for c in compared)
    if config.world == "drone":
        assert [c.domain for c in compared[:6]] == [None, "autumn", "winter", "urban", "dusk", "night"]
    assert config.setting("training").get("head_activation") == ("layernorm" if config.world == "drone" else None)
    arches = {a.name: a for a in config.architectures}
    assert {"LSTM 64", "GRU 64", "CfC 64 (dense)", "CT-RNN 64", "CNN (no memory)"} <= set(arches)
    assert {a.tuning_from for a in arches.values()} == {None, f"NCP-CfC {34 if config.world == 'drone' else 19}",
                                                         "LSTM 64", "CNN (no memory)"}
    units = 34 if config.world == "drone" else 19
    for liquid in (f"NCP-CfC {units}", f"NCP-LTC {units}", f"Random-wired CfC {units}"):
        assert arches[liquid].wiring_seeds == (22222, 1, 2)
    for baseline in ("LSTM", "GRU", "CfC"):
        size = f"{baseline} {units}" + (" (dense)" if baseline == "CfC" else "")
        assert arches[size].training["units"] == units
    fractions = {a.training.get("data_fraction") for a in config.architectures if a.tuning_from}
    assert fractions == {0.25, 0.5}
    assert any(c.fixed_dt for c in config.conditions)
    plan = model_plan(config, "/nonexistent")
    assert len({str(folder) for folder, _ in plan.values()}) == len(config.seeds) * len(config.architectures)
    ncp = [training.wiring_seed for (arch, _), (_, training) in plan.items() if arch == f"NCP-CfC {units}"]
    assert ncp[:4] == [22222, 1, 2, 22222]
    tasks = evaluation_tasks(config, {key: folder for key, (folder, _) in plan.items()}, "/nonexistent")
    assert len({str(path) for path, _ in tasks.values()}) == len(tasks), "the dt-fixed condition has keys of its own"


def test_a_resumed_searcher_replays_its_trials_failed_ones_included_and_goes_on_as_if_never_stopped():
    """Optuna's TPE searcher (through Ray Tune's OptunaSearch), told the finished trials of a search
    in their order, proposes what the uninterrupted search proposed next; a failed trial is told as
    failed; settings it would not have proposed are refused."""
    from liquid_control.train.study.tuning import _plain, _searcher

    space = {"lr": {"log_uniform": [3e-4, 1e-2]}, "epochs": {"int": [4, 12]}, "seq_len": {"choice": [16, 24, 32]}}
    config = StudyConfig.from_dict({**BASE, "tuning": {**TUNING, "trials": 12, "space": space}})
    losses = [0.5, None, 0.4, 0.3, 0.45, 0.35, 0.6, 0.2, 0.33, 0.31, 0.29, 0.28]  # a failure, and past TPE's start
    uninterrupted, done = _searcher(config, []), []
    for index, loss in enumerate(losses):
        settings = _plain(uninterrupted.suggest(str(index)))
        uninterrupted.on_trial_complete(str(index), None if loss is None else {"val_loss": loss}, error=loss is None)
        done.append({"settings": settings, "val_loss": loss, "error": None if loss is not None else "failed"})
    following = _plain(uninterrupted.suggest("next"))
    assert _plain(_searcher(config, done).suggest("next")) == following
    assert _plain(_searcher(config, done[:4]).suggest("next")) == done[4]["settings"]
    tampered = [{**done[0], "settings": {**done[0]["settings"], "epochs": 99}}]
    with pytest.raises(ValueError, match="remove its .partial.json"):
        _searcher(config, tampered)


def test_architecture_options_are_checked():
    with pytest.raises(ValueError, match="wiring_seeds are for the wired presets"):
        StudyConfig.from_dict({"architectures": [{"name": "a", "arch": "lstm", "wiring_seeds": [1, 2]}]})
    with pytest.raises(ValueError, match="tuning_from must name an architecture"):
        StudyConfig.from_dict({**BASE, "tuning": TUNING,
                               "architectures": [*BASE["architectures"], {"name": "c", "arch": "cnn",
                                                                          "tuning_from": "z"}]})
    with pytest.raises(ValueError, match="tuning_from must name"):  # no search to take it from
        StudyConfig.from_dict({"architectures": [*BASE["architectures"], {"name": "c", "arch": "cnn",
                                                                          "tuning_from": "a"}]})
    with pytest.raises(ValueError, match="data_fraction must be in"):
        TrainConfig(data_fraction=0).validate()
    with pytest.raises(ValueError, match="the ncp-cfc preset ignores it"):
        StudyConfig.from_dict({"architectures": [{"name": "a", "arch": "ncp-cfc", "training": {"units": 34}}]})
    # --quick keeps two architectures: one whose search is cut searches for itself.
    quick = StudyConfig.from_dict({**BASE, "tuning": TUNING, "architectures": [
        {"name": "c", "arch": "cnn"}, {"name": "a 25 %", "arch": "ncp-cfc", "tuning_from": "a",
                                       "training": {"data_fraction": 0.25}}, {"name": "a", "arch": "ncp-cfc"}]}).quick()
    assert [a.tuning_from for a in quick.architectures] == [None, None]


@pytest.mark.filterwarnings("ignore:the trained network's outputs vary:RuntimeWarning")  # random labels
def test_a_data_fraction_trains_on_the_first_share_of_the_episodes_and_an_own_validation_set_is_used(tmp_path):
    rng = np.random.default_rng(0)
    episodes = [Episode(f"e{i}", rng.integers(0, 255, (9, 66, 200, 3), np.uint8), np.arange(9) * 0.05,
                        rng.normal(size=(9, 1)).astype(np.float32)) for i in range(8)]
    validation = [Episode("held-out", rng.integers(0, 255, (9, 66, 200, 3), np.uint8), np.arange(9) * 0.05,
                          rng.normal(size=(9, 1)).astype(np.float32))]
    trained = {}
    for fraction in (0.25, 0.5, 1.0):
        config = TrainConfig(epochs=1, batch_size=4, seq_len=8, stride=8, augment=False, data_fraction=fraction,
                             threads=1)
        _, card = load_model(train(episodes, tmp_path / f"f{fraction}", config, progress=False,
                                   validation_episodes=validation))
        trained[fraction] = card["training"]["episodes"]["train"]
        assert card["training"]["episodes"]["validation"] == ["held-out"]
    assert len(trained[0.25]) == 2 and len(trained[0.5]) == 4 and len(trained[1.0]) == 8
    assert trained[0.25] == trained[0.5][:2] and trained[0.5] == trained[1.0][:4], "each share holds the smaller ones"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_search_stopped_part_way_resumes_from_its_finished_trials(tmp_path):
    """The real search (a local Ray instance, Optuna's TPE): each finished trial is kept at once; a
    search stopped after its first trial runs only the second, telling the searcher the first."""
    import json
    from dataclasses import replace

    import yaml

    from liquid_control.train.study import run_study

    values = yaml.safe_load((REPO_ROOT / "config" / "study_lane.yaml").read_text())
    config = StudyConfig.from_dict({**values, "tuning": TUNING}).quick()
    config = replace(config, architectures=config.architectures[:1])
    said = []
    run_study(config, tmp_path, progress=said.append, stop_after="tuning")
    [search_file] = (tmp_path / "tuning").glob("*.json")
    search = json.loads(search_file.read_text())
    assert [t["error"] for t in search["trials"]] == [None, None] and "2 of 2 trial(s) to run" in " ".join(said)
    # As if stopped after the first trial: its partial file, no finished search.
    search_file.with_name(search_file.stem + ".partial.json").write_text(json.dumps(search["trials"][:1]))
    search_file.unlink()
    said.clear()
    results = run_study(config, tmp_path, progress=said.append, stop_after="tuning")
    assert "1 of 2 trial(s) to run" in " ".join(said)
    resumed = json.loads(search_file.read_text())
    assert resumed["trials"][0] == search["trials"][0] and len(resumed["trials"]) == 2
    # The searcher, told the first trial, proposes the second as the uninterrupted search did.
    assert resumed["trials"][1]["settings"] == search["trials"][1]["settings"]
    assert not list((tmp_path / "tuning").glob("*.partial.json"))
    assert results["tuning"][config.architectures[0].name]["lr"] == resumed["best"]["settings"]["lr"]
    # A finished search is never run again.
    said.clear()
    run_study(config, tmp_path, progress=said.append, stop_after="tuning")
    assert not any("tuning" in line for line in said)


def test_a_fixed_dt_condition_reaches_the_driver_of_the_studys_episodes():
    """``fixed_dt: true`` in a study condition changes the episode an NCP-CfC drives under
    jittered frames (its dt input is held), through the same function the study runs."""
    from liquid_control.train.study import evaluate_model

    model = str(REPO_ROOT / "models" / "ncp19_lane")
    jitter = {"perturbations": {"frame_interval_jitter": 3.0}, "camera_rate_hz": None}
    evaluation = {"distance_m": 15.0, "speed": 3.0}
    real, fixed = (evaluate_model(model, "lane", 1000, {**jitter, "fixed_dt": held}, evaluation) for held in (0, 1))
    assert real["mean_abs_lateral_m"] != fixed["mean_abs_lateral_m"]
    assert min(real["distance_m"], fixed["distance_m"]) >= 15.0 and "wall_s" in real


def test_a_locked_config_gives_seeds_only_to_a_stage(tmp_path):
    import subprocess
    import sys

    command = [sys.executable, "-m", "liquid_control", "study", str(REPO_ROOT / "config" / "study_lane_final.yaml"),
               "--seeds", "0", "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "give --seeds only with --stop-after" in result.stderr
    assert not list(tmp_path.iterdir()), "nothing ran"
