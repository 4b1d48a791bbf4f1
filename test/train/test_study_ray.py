"""``study --quick --ray ADDRESS`` against a real Ray head started here on 127.0.0.1: the cluster's
equal tuning, models and episodes equal a local run's, and both share one cache: a ``--ray`` run
recomputes nothing a local run cached, and a local run nothing the cluster made."""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
import yaml
from safetensors.numpy import load_file

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / "config" / "study_lane.yaml"
# The lane study with an equal tuning (two trials over the learning rate in --quick), so that the
# cluster runs Ray Tune trials as well as Ray Core trainings and episodes.
# One trial at a time wherever it runs, so that the searcher's proposals are the same everywhere.
TUNING = {"trials": 20, "validation_seeds": "900-911", "jobs": 1, "space": {"lr": {"log_uniform": [3.0e-4, 1.0e-2]}}}
RAY = Path(sys.executable).parent / "ray"  # the venv's: its workers run this Python, with liquid_control
# Ray makes a local address reachable by replacing 127.0.0.1 with the machine's network address;
# RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps every Ray address on the loopback (Ray's own switch for
# single-machine clusters). Token authentication, as Ray enables it for local instances from 2.59
# on, with one token for the head and every driver: otherwise a driver takes the token that an
# earlier local instance left in ~/.ray/auth_token and the head refuses it.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def ray_head(cpus: int = 2, timeout_s: float = 120.0):
    """A Ray head on 127.0.0.1 (``ray start --head --block``) for the block's duration: its address. It
    is stopped by ending this ``ray start`` process, which stops the head's own processes; ``ray stop``
    would end every Ray process on the machine."""
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths must stay short
    log = temp / "head.log"
    with log.open("w") as output:
        head = subprocess.Popen([str(RAY), "start", "--head", "--block", "--port", str(port), "--num-cpus", str(cpus),
                                 "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", str(temp)],
                                env={**os.environ, **RAY_ENV}, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None, f"ray start exited with {head.returncode}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no Ray head after {timeout_s} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=30)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def tuned_config(tmp_path) -> Path:
    path = tmp_path / "study_lane_tuned.yaml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(CONFIG.read_text()), "tuning": TUNING}))
    return path


def run_study(config: Path, *args) -> dict:
    result = subprocess.run([sys.executable, "-m", "liquid_control", "study", str(config), "--quick", "--json", *args],
                            capture_output=True, text=True, timeout=600, env={**os.environ, **RAY_ENV})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def cache_files(out: Path) -> dict:
    """The models' and episodes' cache files by path: the episodes' bytes, the weights' tensors (the
    file's header lists its metadata in no fixed order), and each model card less what says when and
    how fast it trained and the weights file's hash."""
    files = {}
    for path in sorted([*(out / "models").rglob("*"), *(out / "evaluations").rglob("*"), *(out / "tuning").rglob("*")]):
        name = path.relative_to(out).as_posix()
        if path.parent.name == "tuning":  # a search: its trials' settings and scores, less their durations
            search = json.loads(path.read_text())
            for trial in [*search["trials"], search["best"]]:
                del trial["seconds"]
            files[name] = {**search, "cpus": None}  # where it ran: compared apart
        elif path.name == "card.yaml":
            card = yaml.safe_load(path.read_text())
            del card["provenance"]["created_utc"], card["training"]["wall_time_s"], card["weights"]["sha256"]
            for epoch in card["training"]["history"]:
                del epoch["seconds"]
            files[name] = card
        elif path.suffix == ".safetensors":
            files[name] = {key: (value.dtype, value.shape, value.tobytes()) for key, value in load_file(path).items()}
        elif path.parent.name == "evaluations":  # an episode, less how long it took
            files[name] = {k: v for k, v in json.loads(path.read_text()).items() if k != "wall_s"}
        elif path.is_file() and path.suffix != ".png":  # the training curve's picture is drawn from the card
            files[name] = path.read_bytes()
    return files


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_study_on_a_local_ray_head_equals_a_local_run_and_shares_its_cache(tmp_path, tuned_config):
    local, clustered = tmp_path / "local", tmp_path / "ray"
    study = partial(run_study, tuned_config)
    # The first seed locally: what the cluster must reproduce.
    assert study("--seeds", "0", "--out", str(local))["work"]["models_trained"] == 2
    searches = [json.loads(path.read_text()) for path in sorted((local / "tuning").glob("*.json"))]
    assert len(searches) == 2, "one search per architecture"
    # The same budget and the same proposals for each (one searcher seed), scored on validation episodes.
    assert [[t["settings"] for t in s["trials"]] for s in searches][0] == [t["settings"] for t in searches[1]["trials"]]
    for search in searches:
        assert len(search["trials"]) == 2 and search["search"]["validation_seeds"] == "900,901"
        assert search["best"]["val_loss"] == min(t["val_loss"] for t in search["trials"])
        card = yaml.safe_load(next((local / "models").glob(f"{search['arch']}*-s0-*/card.yaml")).read_text())
        assert card["training"]["config"]["lr"] == search["best"]["settings"]["lr"], "the seeds train as tuned"
    with ray_head(cpus=3) as address:  # one CPU more than this machine's, to tell where the trials ran
        first = study("--seeds", "0", "--ray", address, "--out", str(clustered))
        assert {json.loads(p.read_text())["cpus"] for p in (clustered / "tuning").glob("*.json")} == {3}
        assert first["work"] == {"models_trained": 2, "models_cached": 0, "evaluations_run": 4, "evaluations_cached": 0}
        assert cache_files(clustered) == cache_files(local), "the cluster's weights, cards and episodes: a local run's"
        # The whole quick study on the cluster, into the local run's cache: seed 0 comes from it.
        full = study("--ray", address, "--out", str(local))
    assert full["work"] == {"models_trained": 2, "models_cached": 2, "evaluations_run": 4, "evaluations_cached": 4}
    # A local run takes what the cluster made: nothing is left to do.
    again = study("--out", str(local))
    assert again["work"] == {"models_trained": 0, "models_cached": 4, "evaluations_run": 0, "evaluations_cached": 8}
    assert again["results"] == full["results"]
    # The report gives each search, and the compute every stage took.
    from liquid_control.train.study import report_markdown

    report = report_markdown(again, "study")
    assert "Equal tuning: 2 trials for each architecture" in report and "| NCP-CfC 19 | 2 (0) |" in report
    assert again["tuning"]["searches"]["NCP-CfC 19"]["trial_seconds"] > 0 and again["compute"]["episodes_timed"] == 8
    for model in (local / "models").iterdir():
        assert (model / "card.yaml").is_file() and (model / "weights.safetensors").is_file()
        assert not (model / "checkpoint").exists()
    assert not list(local.rglob("*.tmp")), "every cache file written whole"
    # A tuned study packs: its models are found under their tuned settings; the report is the same.
    assert study("--out", str(local), "--pack") == {"models_packed": 4, "episode_files_removed": 8,
                                                    "weights_removed": 2, "models_unfinished": 0}
    assert study("--out", str(local))["results"] == again["results"]


def test_an_address_where_no_ray_head_answers_is_refused_before_any_work(tmp_path):
    result = subprocess.run([sys.executable, "-m", "liquid_control", "study", str(CONFIG), "--quick", "--ray",
                             f"127.0.0.1:{free_port()}", "--out", str(tmp_path / "study")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "no Ray head answers at 127.0.0.1:" in result.stderr
    assert not list((tmp_path / "study" / "models").iterdir())
