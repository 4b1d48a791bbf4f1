"""``study --pack`` on a copy of a kept study cache (the lane development study): the cache
shrinks, the report made from it is the one in docs/, and a pruned model is refused by name."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "config" / "study_lane.yaml"


def _study(*args, config=CONFIG):
    return subprocess.run([sys.executable, "-m", "liquid_control", "study", str(config), *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)


@pytest.fixture
def cache(tmp_path):
    out = tmp_path / "lane"
    shutil.copytree(REPO_ROOT / "study" / "lane", out)
    return out


def _weights(out):
    return sorted(folder.name.rsplit("-", 1)[0] for folder in (out / "models").iterdir()
                  if (folder / "weights.safetensors").is_file())


def test_a_packed_cache_reports_exactly_the_docs_results(cache):
    loose = len(list((cache / "evaluations").glob("*.json")))
    packed = _study("--out", cache, "--pack")
    assert packed.returncode == 0, packed.stderr
    assert json.loads(packed.stdout) == {"models_packed": 21, "episode_files_removed": loose, "weights_removed": 14,
                                         "models_unfinished": 0}
    assert not list((cache / "evaluations").glob("*.json"))
    assert len(list((cache / "evaluations" / "packed").iterdir())) == 21
    assert all(name.endswith("-s0") for name in _weights(cache)) and len(_weights(cache)) == 7, _weights(cache)
    again = _study("--out", cache, "--pack")
    assert json.loads(again.stdout)["models_packed"] == 0, "packing twice changes nothing"

    report = _study("--out", cache, "--json")
    assert report.returncode == 0, report.stderr
    results, kept = json.loads(report.stdout), json.loads((REPO_ROOT / "docs" / "study_results.json").read_text())
    assert results["work"] == {"models_trained": 0, "models_cached": 21, "evaluations_run": 0,
                               "evaluations_cached": loose}
    assert {name: row["conditions"] for name, row in results["results"].items()} == \
        {name: row["conditions"] for name, row in kept["results"].items()}
    assert results["comparisons"] == kept["comparisons"]


def test_an_unfinished_model_stays_loose_and_a_pruned_one_is_refused_by_name(cache, tmp_path):
    unfinished = next(path for path in sorted((cache / "evaluations").glob("lstm-64-s1-*.json")))
    unfinished.unlink()
    packed = json.loads(_study("--out", cache, "--pack").stdout)
    assert packed["models_unfinished"] == 1 and packed["models_packed"] == 20 and packed["weights_removed"] == 13
    assert len(list((cache / "evaluations").glob("lstm-64-s1-*.json"))) > 0, "its episodes stay loose"
    assert "lstm-64-s1" in _weights(cache), "and its weights stay"

    # A condition added later needs episodes of models whose weights were removed: refused, naming the way back.
    config = tmp_path / "study_lane_more.yaml"
    config.write_text(CONFIG.read_text().replace("  - {name: 10 Hz, camera_rate_hz: 10.0}\n",
                                                 "  - {name: 10 Hz, camera_rate_hz: 10.0}\n"
                                                 "  - {name: 5 Hz, camera_rate_hz: 5.0}\n"))
    refused = _study("--out", cache, "--seeds", "2", config=config)
    assert refused.returncode == 2, refused.stderr
    assert "have no weights (study --pack removed them" in refused.stderr and "delete their folders" in refused.stderr
    assert "--seeds" in _study("--out", cache, "--pack", "--seeds", "1").stderr
