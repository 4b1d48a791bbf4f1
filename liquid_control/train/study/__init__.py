"""The study: architectures x training seeds x closed-loop evaluations, from one config file.

``python -m liquid_control study config/study_lane.yaml`` trains every architecture the config
lists with every seed on the same expert data and the same recipe, evaluates every model closed
loop under every condition, measures attention and compactness (``train.attention``), and writes
a report with hierarchical bootstrap intervals (seeds, then tracks or scenes within a seed) and
paired comparisons of each liquid network against each other architecture.

- ``config``: the config file (``StudyConfig``) and its checks.
- ``worlds``: what differs between simulated worlds (``lane``: lane departures under camera
  perturbations and control rates; ``drone``: flights to the target across domains and distances).
- ``cache``: the hashes everything is cached under, so a stopped run resumes.
- ``run``: training, evaluation and aggregation (``run_study``).
- ``stats``: seed ranges, hierarchical bootstrap intervals, ranges over few seeds, the seeds that
  did not learn.
- ``comparisons``: paired comparisons between architectures (difference, interval, effect size,
  permutation p, Holm's correction).
- ``report``: the Markdown report, the plot and the saliency picture.

``quick`` shrinks the whole pipeline (data, epochs, tracks, architectures, seeds, conditions) to a
few minutes, for CI: the same code path, tiny numbers.
"""

from liquid_control.train.study.cache import digest, evaluation_tasks, model_plan, slug
from liquid_control.train.study.comparisons import compare_architectures
from liquid_control.train.study.config import HEAD_PRECISIONS, Architecture, Condition, StudyConfig
from liquid_control.train.study.report import plot_study, report_markdown, saliency_picture
from liquid_control.train.study.run import evaluate_model, expert_episodes, run_study
from liquid_control.train.study.stats import hierarchical_bootstrap_ci, seed_list, seeds_that_did_not_learn
from liquid_control.train.study.worlds import STUDY_WORLDS, StudyWorld, study_world

__all__ = [
    "HEAD_PRECISIONS", "STUDY_WORLDS", "Architecture", "Condition", "StudyConfig", "StudyWorld",
    "compare_architectures", "digest", "evaluate_model", "evaluation_tasks", "expert_episodes",
    "hierarchical_bootstrap_ci", "model_plan", "plot_study", "report_markdown", "run_study", "saliency_picture",
    "seed_list", "seeds_that_did_not_learn", "slug", "study_world",
]
