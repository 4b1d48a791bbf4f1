"""A study's results as a Markdown report (what docs/study.md is made from), with the paired
comparisons between architectures, its bar plot with the 95 % intervals, and the saliency picture
of each architecture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from liquid_control.train.study.stats import FEWEST_FOR_AN_INTERVAL, seeds_that_did_not_learn, span_of
from liquid_control.train.study.worlds import study_world


def _cell(row: dict, key: str, form: str) -> str:
    """A figure with its 95 % interval [low, high], or its range over few seeds (low–high)."""
    kind, (low, high) = span_of(row, key)
    if kind == "range":
        return f"{form.format(row[key])} ({form.format(low)}–{form.format(high)})"
    return f"{form.format(row[key])} [{form.format(low)}, {form.format(high)}]"


def _comparison_lines(results: dict, form: str) -> list[str]:
    comparisons = results.get("comparisons")
    if not comparisons:
        return []
    rows = [r for r in comparisons["rows"] if not _alike(r)]
    left_out = comparisons.get("left_out") or {}
    outside = "; ".join(f"{what} left out of the family: {', '.join(f'“{n}”' for n in names)}"
                        for what, names in left_out.items() if names)
    lines = ["", f"Paired comparisons, liquid networks against the others ({len(comparisons['rows'])} in all"
                 + (f"; {outside}" if outside else "") + ", "
                 f"paired by {comparisons['paired_by']}; the {len(comparisons['rows']) - len(rows)} where every "
                 "episode of both scored alike are listed below the table): the difference of the means (A − B) "
                 "[95 % hierarchical "
                 "bootstrap, seeds of each architecture drawn independently, then the same "
                 f"{comparisons['paired_by']} for both], Cliff's delta over the models' means, the two-sided p of an "
                 "exact permutation test exchanging the models' architecture labels (the seed is the unit), and "
                 "that p Holm-corrected over all the comparisons.", "",
             "| condition | A − B | difference [95 %] | Cliff's δ | p | p, Holm |", "|---|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['condition']} | {r['a']} − {r['b']} | {_difference(r, form)} | {r['cliffs_delta']:+.2f} | "
                     f"{r['p']:.2f} | {r['p_holm']:.2f} |")
    alike: dict[str, list[str]] = {}
    for r in comparisons["rows"]:
        if _alike(r):
            alike.setdefault(r["condition"], []).append(f"{r['a']} − {r['b']}")
    if alike:
        lines += ["", "Alike in every episode (difference 0 [0, 0], Cliff's δ 0, p 1, p Holm 1): "
                      + "; ".join(f"{condition}: {', '.join(pairs)}" for condition, pairs in alike.items()) + "."]
    return lines


def _alike(row: dict) -> bool:
    """A comparison in which every episode of both architectures scored the same: nothing to tabulate."""
    return row["difference"] == 0 and row["difference_ci95"] == [0.0, 0.0]


def _difference(row: dict, form: str) -> str:
    """A row's difference with its 95 % interval: '-0.20 [-0.60, 0.00]'."""
    low, high = row["difference_ci95"]
    return f"{form.format(row['difference'])} [{form.format(low)}, {form.format(high)}]"


def _elapsed_time_lines(results: dict, form: str, secondary: tuple[str, str, str]) -> list[str]:
    """What the elapsed-time input buys (``elapsed_time``): real dt minus dt held, per architecture,
    on the headline metric and on the secondary one (``secondary``: the world's (key, what, format))."""
    rows = results.get("elapsed_time")
    if not rows:
        return []
    _, what, secondary_form = secondary
    lines = ["", "What the elapsed-time input buys: each model driven in the same episodes with the real time "
                 "between frames and with its dt input held at the training period; the difference (real − held) "
                 "[95 % hierarchical bootstrap of the paired differences] of the headline metric and of the "
                 f"secondary one ({what[0].lower() + what[1:]}, over the episodes that have it in both; their range "
                 f"under {FEWEST_FOR_AN_INTERVAL} pairs), and the "
                 "episodes that changed at all (for the LSTM, GRU and CNN, which ignore the elapsed time, it must be "
                 "none).", "",
             "| architecture | real | held | real − held [95 %] | secondary: real − held [95 %] (pairs) | "
             "episodes changed |", "|---|---|---|---|---|---:|"]
    for r in rows:
        secondary_cell = ("—" if r["secondary_difference"] is None else
                          f"{_cell(r, 'secondary_difference', secondary_form)} ({r['secondary_pairs']})")
        lines.append(f"| {r['architecture']} | {r['real']} | {r['fixed']} | {_difference(r, form)} | "
                     f"{secondary_cell} | {r['episodes_changed']} of {r['episodes']} |")
    return lines


def _settings_text(settings: dict) -> str:
    """Training settings in a table cell: 'lr 0.00206, epochs 9'."""
    return ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in settings.items())


def _tuning_lines(results: dict) -> list[str]:
    """Each architecture's search: its budget, best validation loss and settings; and the compute."""
    lines = []
    tuning = results.get("tuning")
    if tuning:
        search = tuning["search"]
        lines += ["", f"Equal tuning: {search['trials']} trials for each architecture (Ray Tune, Optuna TPE, seed "
                      f"{search['seed']}) over {', '.join(search['space'])}, each trained with seed "
                      f"{search['training_seed']} and scored by its validation loss on {search['score_window']}-frame "
                      f"windows of the expert episodes of seeds {search['validation_seeds']}; an architecture not "
                      "listed takes the settings of the one it names.", "",
                  "| architecture | trials (failed) | best validation loss | its settings | trial core-hours |",
                  "|---|---:|---:|---|---:|"]
        for name, row in tuning["searches"].items():
            settings = _settings_text(row["best_settings"])
            hours = row["trial_seconds"] * (row.get("threads_per_trial") or 1) / 3600
            lines.append(f"| {name} | {row['trials']} ({row['failed']}) | {row['best_val_loss']:.4g} | {settings} | "
                         f"{hours:.2f} |")
    compute = results.get("compute")
    if compute:
        lines += ["", f"Compute, as recorded: tuning {compute['tuning_core_h']:g} core-hours, training "
                      f"{compute['training_core_h']:g}, closed-loop episodes {compute['episodes_core_h']:g} "
                      f"({compute['episodes_timed']} of {compute['episodes']} episodes timed; those cached before "
                      "episodes were timed are not counted)."]
    return lines


def _by_wiring_lines(results: dict, conditions: list[str], title: str, form: str) -> list[str]:
    """The wired architectures' headline per wiring: the mean over the seeds that had it (seed list)."""
    wired = {name: row for name, row in results["results"].items() if row.get("wiring_seeds")}
    if not wired:
        return []
    lines = ["", f"{title} by wiring (the wirings take turns over the training seeds; the mean over the seeds that "
                 "had each wiring, and those seeds):", "",
             "| architecture | wiring seed | " + " | ".join(conditions) + " |", "|---|---|" + "---|" * len(conditions)]
    for name, row in wired.items():
        for wiring in sorted(set(row["wiring_seeds"])):
            chosen = [i for i, w in enumerate(row["wiring_seeds"]) if w == wiring]
            seeds = ", ".join(str(results["seeds"][i]) for i in chosen)
            cells = (form.format(np.mean([row["headline_per_seed"][c][i] for i in chosen])) for c in conditions)
            lines.append(f"| {name} | {wiring} (seeds {seeds}) | " + " | ".join(cells) + " |")
    return lines


def report_markdown(results: dict, command: str) -> str:
    """The tables of a study's results as Markdown (what docs/study.md is made from)."""
    world_name = results.get("world", "lane")
    world = study_world(world_name)
    conditions = [c["name"] for c in results["conditions"]]
    where = world.where(results["evaluation"])
    lines = [f"# {results['study']}", "", f"Made by `{command}` in {results['wall_time_s']:g} s "
             f"({results['work']['models_trained']} models trained, {results['work']['evaluations_run']} closed-loop "
             f"episodes run, the rest cached).", "",
             f"World `{world_name}`; training seeds {results['seeds']}; expert data from seeds "
             f"{results['data']['sim_seeds']}; {where}. Intervals: 95 % hierarchical bootstrap (training "
             f"seeds drawn with replacement, then {world.episode_noun} with replacement within each drawn seed); a "
             f"figure with one value per seed and fewer than {FEWEST_FOR_AN_INTERVAL} seeds gets its range (min–max) "
             "instead.", "",
             "Parameters: recurrent is the core without its output map, (wired) counts an NCP's masked weights "
             "by their synapses only; the total includes the conv head.", "",
             "| architecture | preset | parameters | recurrent parameters (wired) | synapses | own training settings |",
             "|---|---|---:|---:|---:|---|"]
    for name, row in results["results"].items():
        own = _settings_text(row.get("training") or {}) or "—"
        recurrent, wired = row["recurrent_parameters"], row["recurrent_parameters_wired"]
        lines.append(f"| {name} | {row['arch']} | {row['parameters']:,} | {recurrent:,}"
                     + (f" ({wired:,})" if wired != recurrent else "") + f" | {row.get('synapses', '—')} | {own} |")
    seeds = results["seeds"]
    loss = next(iter(results["results"].values())).get("loss") or "as the cards define it"
    lines += ["", f"Validation loss at the end of training, per seed (the expert's held-out episodes; the cards' "
                  f"`metrics.val_loss`, {loss}):", "",
              "| architecture | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---:|" * len(seeds)]
    for name, row in results["results"].items():
        losses = row.get("validation_loss") or [None] * len(seeds)
        lines.append(f"| {name} | " + " | ".join("—" if v is None else f"{v:.3g}" for v in losses) + " |")
    from liquid_control.train.trainer import FLAT_OUTPUT_SPREAD

    settings = results.get("attention_settings") or {}
    did_not_learn = seeds_that_did_not_learn(results)
    lines += ["", f"Output spread per seed: the standard deviation of the model's outputs over the "
                  f"{settings.get('frames')} clean frames of the expert's episode {settings.get('track')}, divided by "
                  f"the expert's. Under {FLAT_OUTPUT_SPREAD:g} (**flat**) the model answers every frame alike: it did "
                  "not learn to use its camera.", "",
              "| architecture | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---:|" * len(seeds)]
    for name, row in results["results"].items():
        spreads = row["attention"].get("output_spread") or [None] * len(seeds)
        cells = ("—" if v is None else (f"**{v:.3f} flat**" if v < FLAT_OUTPUT_SPREAD else f"{v:.3f}") for v in spreads)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    key, title, form = world.headline
    lines += ["", f"{title} (mean [95 % hierarchical bootstrap interval]):", "",
              "| architecture | " + " | ".join(conditions) + " |", "|---|" + "---|" * len(conditions)]
    for name, row in results["results"].items():
        mark = (f" (flat: seed{'s' if len(did_not_learn[name]) > 1 else ''} {', '.join(map(str, did_not_learn[name]))})"
                if name in did_not_learn else "")
        cells = (_cell(row["conditions"][c], key, form) for c in conditions)
        lines.append(f"| {name}{mark} | " + " | ".join(cells) + " |")
    if did_not_learn:
        lines += ["", "Flat models did not learn; their episodes count in these means and intervals, as every "
                      "trained seed's do: a failure to train is part of an architecture's record."]
    per_seed = [row.get("per_seed") for row in results["results"].values()]
    if all(per_seed):
        what, cell = world.per_seed_table(results["evaluation"], seeds)
        lines += ["", what, "", "| architecture | " + " | ".join(conditions) + " |", "|---|" + "---|" * len(conditions)]
        for name, row in results["results"].items():
            lines.append(f"| {name} | " + " | ".join(cell(row["per_seed"][c]) for c in conditions) + " |")
    lines += _tuning_lines(results)
    lines += _by_wiring_lines(results, conditions, title, form)
    lines += _comparison_lines(results, form)
    lines += _elapsed_time_lines(results, form, world.secondary)
    lines += world.detail_table(results, conditions)
    lines += ["", f"Attention and compactness over {settings.get('frames')} frames of the expert's episode "
                  f"{settings.get('track')} (mean over seeds, with their range (min–max) under "
                  f"{FEWEST_FOR_AN_INTERVAL} seeds, else [95 % bootstrap interval]): SSIM between the "
                  "VisualBackProp saliency of each frame clean and with pixel noise "
                  f"σ {settings.get('noise_std')} (1: the attention did not move); share of the neural activity's "
                  "variance on its first principal component (high: compact dynamics).", "",
              "| architecture | saliency SSIM, clean vs noisy | PC1 share of activity variance |", "|---|---|---|"]
    for name, row in results["results"].items():
        attention = row["attention"]
        pc1 = ("— (no state)" if attention["pc1_variance_fraction"] is None
               else _cell(attention, "pc1_variance_fraction", "{:.3f}"))
        lines.append(f"| {name} | {_cell(attention, 'saliency_ssim', '{:.3f}')} | {pc1} |")
    return "\n".join(lines) + "\n"


def plot_study(results: dict, path: str | Path) -> None:
    """The headline figure per condition, one bar group per architecture, with the 95 % hierarchical intervals."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    key, title, _ = study_world(results.get("world", "lane")).headline
    conditions = [c["name"] for c in results["conditions"]]
    names = list(results["results"])
    width = 0.8 / max(len(names), 1)
    many = len(names) > 10  # more than the default colour cycle has: tab20's, and the legend beside the plot
    fig, ax = plt.subplots(figsize=(max(6, 1.0 * len(conditions) + 2) + (3 if many else 0), 3.8))
    colours = plt.get_cmap("tab20").colors if many else plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(names):
        rows = [results["results"][name]["conditions"][c] for c in conditions]
        means = np.array([r[key] for r in rows])
        # (clipped: the mean and its interval are rounded separately, so they may cross by a rounding step)
        low = np.maximum(means - np.array([r[f"{key}_ci95"][0] for r in rows]), 0.0)
        high = np.maximum(np.array([r[f"{key}_ci95"][1] for r in rows]) - means, 0.0)
        ax.bar(np.arange(len(conditions)) + (i - (len(names) - 1) / 2) * width, means, width, yerr=[low, high],
               capsize=2, label=name, color=colours[i % len(colours)])
    ax.set_xticks(np.arange(len(conditions)), conditions, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel(title.split(",")[0].lower())
    if many:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def saliency_picture(results: dict, path: str | Path, frame_index: int = -1) -> None:
    """One row per architecture (its first seed's model): a frame of the attention episode, its
    saliency, the frame with the study's attention noise and its saliency."""
    from liquid_control.train.attention import expert_frames, saliency_panel

    settings = results["attention_settings"]
    frames, _ = expert_frames(results["world"], int(settings["track"]), int(settings["frames"]),
                              results["data"].get("speed", 3.0))
    saliency_panel({name: row["models"][0] for name, row in results["results"].items()}, frames[frame_index],
                   settings["noise_std"], path)
