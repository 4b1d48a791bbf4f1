"""The study's statistics on synthetic results with known answers: the hierarchical bootstrap widens
the interval when seeds disagree, few seeds give a range, a paired comparison finds a real
difference and not a null one after Holm's correction, and the kept caches still give the results
JSON files in docs/ (so every interval there is recomputed from the episodes)."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from liquid_control.train.study import StudyConfig, compare_architectures, hierarchical_bootstrap_ci
from liquid_control.train.study.comparisons import cliffs_delta, compare, holm, paired_difference_ci
from liquid_control.train.study.stats import hierarchical_span, seed_span

REPO_ROOT = Path(__file__).resolve().parents[2]


def pooled_ci(groups):
    """The interval the study reported before: every episode resampled as if independent."""
    values = np.concatenate([np.asarray(g, dtype=float) for g in groups])
    result = stats.bootstrap((values,), np.mean, n_resamples=2000, method="percentile", rng=np.random.default_rng(0))
    return [result.confidence_interval.low, result.confidence_interval.high]


def test_seeds_that_disagree_widen_the_interval_against_the_pooled_one():
    # The drone study's LSTM in autumn: 18, 2 and 3 of 20 flights per seed.
    groups = [[1.0] * 18 + [0.0] * 2, [1.0] * 2 + [0.0] * 18, [1.0] * 3 + [0.0] * 17]
    low, high = hierarchical_bootstrap_ci(groups)
    pooled_low, pooled_high = pooled_ci(groups)
    assert low <= np.mean(groups) <= high
    assert high - low > 2 * (pooled_high - pooled_low)
    assert low < 0.1 and high > 0.85  # about the range of the seeds' means, 0.1..0.9
    # Seeds that agree: the two intervals are alike (the two-level one a little wider: drawing
    # episodes within drawn seeds counts their spread twice, on the safe side).
    rng = np.random.default_rng(1)
    alike = [list(rng.random(40) < 0.5) for _ in range(8)]
    low, high = hierarchical_bootstrap_ci(alike)
    pooled_low, pooled_high = pooled_ci(alike)
    assert 0.8 < (high - low) / (pooled_high - pooled_low) < 2.0


def test_constant_results_give_a_point_and_a_paired_comparison_refuses_unequal_seeds():
    assert hierarchical_bootstrap_ci([[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]) == [2.0, 2.0]
    with pytest.raises(ValueError, match="same number of episodes"):
        paired_difference_ci([[1.0, 2.0], [1.0]], [[1.0, 2.0], [1.0, 2.0]])


def test_seeds_with_different_counts_weigh_by_their_count_and_empty_ones_drop_out():
    """A drone's time to target exists only for the flights that reached it. One seed with a single
    10 s flight, one with nine of 0 s: the pooled mean is 1 s; each round draws the two seeds as
    (a, a), (b, b) or a mix, whose means are 10, 0 and 1 (not 5: a seed weighs by its count)."""
    assert hierarchical_bootstrap_ci([[2.0, 2.0, 2.0], [2.0], []]) == [2.0, 2.0]
    assert hierarchical_bootstrap_ci([[10.0], [0.0] * 9]) == [0.0, 10.0]
    uneven = [[1.0, 2.0, 3.0], [], [4.0], [2.5, 2.0]]
    assert hierarchical_bootstrap_ci(uneven) == hierarchical_bootstrap_ci([g for g in uneven if g])
    assert all(np.isnan(hierarchical_bootstrap_ci([[], []])))


def test_fewer_than_five_values_give_their_range_not_an_interval():
    assert seed_span([0.941, 0.960, 0.889]) == ("range", [0.889, 0.96])
    kind, (low, high) = seed_span([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert kind == "ci95" and 0.1 < low < 0.35 < high < 0.6
    # Grouped by seed, the count that matters is the values in all, not the seeds.
    assert hierarchical_span([[1.23456], [], [2.0, 0.5]], digits=3) == ("range", [0.5, 2.0])
    assert hierarchical_span([[1.23456], [2.0, 0.5], [7.0, 7.0]]) == ("ci95", hierarchical_bootstrap_ci(
        [[1.23456], [2.0, 0.5], [7.0, 7.0]]))
    assert hierarchical_span([[], []]) is None


def test_pairing_by_episode_removes_the_episodes_difficulty():
    difficulty = np.linspace(0.0, 300.0, 10)  # per track, shared by every model
    a = [difficulty + 10.0] * 3
    b = [difficulty] * 3
    assert paired_difference_ci(a, b) == [10.0, 10.0]
    assert hierarchical_bootstrap_ci(a)[1] - hierarchical_bootstrap_ci(a)[0] > 50  # unpaired: wide


def test_a_known_difference_is_found_and_a_null_one_is_not_after_holm():
    rng = np.random.default_rng(7)

    def models(rate, seeds=10, scenes=20):  # each seed's own skill around the architecture's rate
        return [list(rng.random(scenes) < np.clip(rate + rng.normal(0, 0.05), 0, 1)) for _ in range(seeds)]

    values = {("liquid", "differs"): models(0.85), ("lstm", "differs"): models(0.3), ("gru", "differs"): models(0.3),
              ("liquid", "same"): models(0.6), ("lstm", "same"): models(0.6), ("gru", "same"): models(0.6)}
    rows = compare_architectures(values, {"liquid": "ncp-cfc", "lstm": "lstm", "gru": "gru"}, ["differs", "same"])
    assert [(r["condition"], r["a"], r["b"]) for r in rows] == [
        ("differs", "liquid", "lstm"), ("differs", "liquid", "gru"), ("same", "liquid", "lstm"),
        ("same", "liquid", "gru")]
    for row in rows:
        low, high = row["difference_ci95"]
        assert low <= row["difference"] <= high and row["p_holm"] >= row["p"]
        if row["condition"] == "differs":
            assert row["p_holm"] < 0.01 and low > 0.3 and row["cliffs_delta"] > 0.9
        else:
            assert row["p_holm"] > 0.05 and low < 0 < high


def test_three_seeds_each_cannot_reach_five_percent():
    """With 3 models per architecture the exact permutation test has 20 relabellings: however far
    apart, the two-sided p is 0.1 at least."""
    a = [[1.0] * 20] * 3
    b = [[0.0] * 20] * 3
    result = compare(a, b)
    assert result["p"] == pytest.approx(0.1) and result["cliffs_delta"] == 1.0 and result["difference"] == 1.0
    assert compare(b, b)["p"] == 1.0


def test_holm_and_cliffs_delta_by_hand():
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.5, 0.5]) == [1.0, 1.0]
    assert cliffs_delta([3, 4], [1, 2]) == 1.0 and cliffs_delta([1, 2], [1, 2]) == 0.0


RESULTS = {"study_lane.yaml": ("study/lane", "docs/study_results.json"),
           "study_drone.yaml": ("study/drone", "docs/study_drone_results.json"),
           "study_drone_norm.yaml": ("study/drone_norm", "docs/study_drone_norm_results.json")}


def test_the_elapsed_time_effect_is_paired_within_model_and_episode():
    """Each fixed_dt condition meets its twin; a core whose every episode changes by one unit gives
    exactly that difference, and one whose episodes do not change gives none and says so."""
    from types import SimpleNamespace

    from liquid_control.train.study.config import Architecture, Condition
    from liquid_control.train.study.elapsed_time import dt_twins, elapsed_time_effects
    from liquid_control.train.study.report import _elapsed_time_lines

    # The secondary metric (a time to target) falls by 0.5 with the real elapsed time for the liquid
    # core; one of its held flights has none (it failed), so that episode has no pair.
    jitter = {"frame_interval_jitter": 3.0}
    conditions = (Condition("clean"), Condition("jitter", jitter), Condition("jitter, dt held", jitter, fixed_dt=True,
                                                                             compared=False),
                  Condition("noise, dt held", {"noise_std": 40.0}, fixed_dt=True))  # no twin: not paired
    assert dt_twins(conditions) == [("jitter", "jitter, dt held")]
    config = SimpleNamespace(conditions=conditions, seeds=(0, 1, 2, 3, 4),
                             architectures=(Architecture("liquid", "ncp-cfc"), Architecture("lstm", "lstm")))
    rng = np.random.default_rng(0)
    runs = {}
    for seed in config.seeds:
        for episode in (7, 8):
            base = float(rng.normal())  # the episode's difficulty, shared by both conditions
            for condition in ("jitter", "jitter, dt held"):
                uses_dt = 1.0 if condition == "jitter" else 0.0
                time = None if (seed, episode, uses_dt) == (0, 7, 0.0) else 10.0 + base - 0.5 * uses_dt
                runs["liquid", seed, condition, episode] = {"seed": seed, "score": base + uses_dt, "time": time,
                                                            "wall_s": rng.random()}
                runs["lstm", seed, condition, episode] = {"seed": seed, "score": base, "time": 10.0 + base,
                                                          "wall_s": rng.random()}
    liquid, lstm = elapsed_time_effects(config, runs, [7, 8], lambda episode: episode["score"],
                                        lambda episode: episode["time"])
    assert liquid["difference"] == 1.0 and liquid["difference_ci95"] == [1.0, 1.0]
    assert liquid["secondary_difference"] == -0.5 and liquid["secondary_difference_ci95"] == [-0.5, -0.5]
    assert liquid["secondary_pairs"] == 9
    assert liquid["episodes_changed"] == liquid["episodes"] == 10
    assert lstm["difference"] == 0.0 and lstm["difference_ci95"] == [0.0, 0.0]
    assert lstm["secondary_difference"] == 0.0 and lstm["secondary_pairs"] == 10
    assert lstm["episodes_changed"] == 0, "how long an episode took is not a change"
    secondary = ("time", "Time to target, s", "{:.1f}")
    lines = _elapsed_time_lines({"elapsed_time": [liquid, lstm]}, "{:.2f}", secondary)
    assert "| liquid | jitter | jitter, dt held | 1.00 [1.00, 1.00] | -0.5 [-0.5, -0.5] (9) | 10 of 10 |" in lines
    assert "| lstm | jitter | jitter, dt held | 0.00 [0.00, 0.00] | 0.0 [0.0, 0.0] (10) | 0 of 10 |" in lines
    # Under five pairs the secondary difference gets their range, as any figure of so few values.
    _, few = elapsed_time_effects(config, runs, [7, 8], lambda episode: episode["score"],
                                  lambda episode: episode["time"] if episode["seed"] == 1 else None)
    assert few["secondary_pairs"] == 2 and few["secondary_difference_ci95"] is None
    assert "| lstm | jitter | jitter, dt held | 0.00 [0.00, 0.00] | 0.0 (0.0–0.0) (2) | 0 of 10 |" in \
        _elapsed_time_lines({"elapsed_time": [few]}, "{:.2f}", secondary)


def test_the_time_to_target_counts_the_successful_flights_and_few_give_a_range():
    from liquid_control.train.study.worlds import study_world

    def flight(success, time):
        return {"success": success, "collision": not success, "time_to_target_s": time if success else None,
                "final_distance_m": 0.0 if success else 3.0, "stop_reason": "target" if success else "collision"}

    drone = study_world("drone")
    many = drone.aggregate([[flight(True, 4.0), flight(True, 6.0), flight(False, None)],
                            [flight(True, 5.0), flight(True, 5.0), flight(True, 5.0)]])
    assert many["success_rate"] == round(5 / 6, 4) and many["mean_time_to_target_s"] == 5.0
    low, high = many["mean_time_to_target_s_ci95"]
    assert 4.0 <= low < 5.0 < high <= 6.0
    few = drone.aggregate([[flight(True, 4.0), flight(False, None)], [flight(True, 7.0), flight(False, None)]])
    assert few["mean_time_to_target_s"] == 5.5 and few["mean_time_to_target_s_range"] == [4.0, 7.0]
    assert "mean_time_to_target_s_ci95" not in few
    none = drone.aggregate([[flight(False, None)]])
    assert none["mean_time_to_target_s"] is None and none["mean_time_to_target_s_range"] is None


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_the_docs_results_are_what_the_kept_caches_give(name):
    """Every interval and comparison in docs/study*_results.json, recomputed from the kept episodes
    (the tables of docs/study.md are made from these files)."""
    from liquid_control.train.study.cache import episode_seeds, evaluation_tasks, model_plan
    from liquid_control.train.study.packing import cached_episode
    from liquid_control.train.study.run import _comparisons
    from liquid_control.train.study.worlds import study_world

    cache, kept = RESULTS[name]
    config = StudyConfig.load(REPO_ROOT / "config" / name)
    models = {key: folder for key, (folder, _) in model_plan(config, REPO_ROOT / cache).items()}
    runs = {key: cached_episode(path) for key, (path, _) in evaluation_tasks(config, models, REPO_ROOT / cache).items()}
    held_out = episode_seeds(config)
    results = json.loads((REPO_ROOT / kept).read_text())
    world = study_world(config.world)
    for architecture in config.architectures:
        for condition in config.conditions:
            row = world.aggregate([[runs[(architecture.name, seed, condition.name, episode)] for episode in held_out]
                                   for seed in config.seeds])
            assert results["results"][architecture.name]["conditions"][condition.name] == row
    assert results["comparisons"] == _comparisons(config, runs, held_out)
    # The comparisons in which every episode scored alike are listed below the report's table, not
    # left out: what the report says of them (δ 0, p 1) holds for each.
    from liquid_control.train.study.report import _alike, _comparison_lines

    alike = [r for r in results["comparisons"]["rows"] if _alike(r)]
    assert alike and all((r["cliffs_delta"], r["p"], r["p_holm"]) == (0.0, 1.0, 1.0) for r in alike)
    listed = _comparison_lines(results, "{:.3g}")[-1]
    assert listed.startswith("Alike in every episode") and all(f"{r['a']} − {r['b']}" in listed for r in alike)
