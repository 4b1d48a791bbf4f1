"""Data-parallel training under torchrun (gloo on the CPU here): the CLI end to end, and the
weights two processes train compared with one process stepping on the same combined batches."""

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from liquid_control.data.episodes import Episode
from liquid_control.data.images import PreprocessSpec
from liquid_control.data.sequences import Augmentation, SequenceDataset
from liquid_control.nets import load_model
from liquid_control.nets.policy import make_policy
from liquid_control.train import distributed
from liquid_control.train.trainer import (
    TrainConfig,
    default_loss_scale,
    output_weights,
    split_episodes,
    train,
    weighted_mse,
)

pytestmark = pytest.mark.slow

# Two processes, each stepping on 2 windows (4 per combined step), two epochs with augmentation
# and a validation episode.
# float32 and the default memory layout: the comparison with one process is to float32 rounding
# (a bfloat16 conv head, the default where the CPU has it, would differ by its own rounding).
CONFIG = {"epochs": 2, "batch_size": 2, "seq_len": 4, "stride": 4, "lr": 3e-3, "val_fraction": 0.34, "threads": 1,
          "head_precision": "fp32", "channels_last": False}

WORKER = """
import json, sys
from pathlib import Path
import numpy as np, torch
from liquid_control.data.episodes import Episode
from liquid_control.train.trainer import TrainConfig, train

data, out, config = np.load(sys.argv[1]), Path(sys.argv[2]), TrainConfig(**json.loads(sys.argv[3]))
episodes = [Episode(f"e{i}", data[f"frames{i}"], data[f"stamps{i}"], data[f"labels{i}"]) for i in range(3)]
assert train(episodes, out / "full", config, progress=False) == out / "full"
assert train(episodes, out / "resumed", config, progress=False, stop_after_epochs=1) is None
assert train(episodes, out / "resumed", config, progress=False, resume=True) == out / "resumed"
assert not torch.distributed.is_initialized()
"""


def _torchrun(*args: str, timeout: float) -> subprocess.CompletedProcess:
    launcher = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    command = [launcher] if launcher else [sys.executable, "-m", "torch.distributed.run"]
    env = {k: v for k, v in os.environ.items() if k not in distributed.LAUNCH_VARIABLES}
    env["OMP_NUM_THREADS"] = "1"
    process = subprocess.Popen([*command, "--standalone", "--nproc_per_node=2", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()  # torchrun hands SIGTERM on to its workers (a SIGKILL would orphan them)
        stdout, stderr = process.communicate(timeout=60)
    ranks = "\n".join(line for line in stderr.splitlines() if line.startswith("[rank"))
    assert process.returncode == 0, f"torchrun exited with {process.returncode}\n{ranks[-4000:]}\n{stderr[-1500:]}"
    return stdout


def _episodes() -> list[Episode]:
    rng = np.random.default_rng(7)
    episodes = []
    for i in range(3):
        stamps = np.cumsum(rng.uniform(0.03, 0.09, 18))
        labels = rng.normal(0, 0.1, (18, 1)).astype(np.float32)
        episodes.append(Episode(f"e{i}", rng.integers(0, 256, (18, 66, 200, 3), dtype=np.uint8), stamps, labels))
    return episodes


def _one_process_on_combined_batches(episodes, config: TrainConfig) -> tuple[torch.nn.Module, list[float]]:
    """What two data-parallel processes compute, done by one: each step takes rank 0's and rank 1's
    batches together (equal sizes, so the mean loss is the mean of the two processes' losses)."""
    torch.manual_seed(config.seed)
    spec = PreprocessSpec.from_dict(config.preprocessing)
    training, _ = split_episodes(episodes, config.val_fraction, config.seed)
    train_set = SequenceDataset(training, spec, config.seq_len, config.stride, config.nominal_dt, Augmentation(),
                                config.seed)
    model = make_policy(config.arch, image_shape=(3, 66, 200), outputs=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    shard = math.ceil(len(train_set) / 2)
    steps = math.ceil(shard / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.epochs * steps,
                                                    pct_start=0.15)
    losses = []
    # As the trainer does: the loss scale from the labels, each output weighted by its variance.
    loss_scale = config.loss_scale or default_loss_scale(training[0].label_names)
    weights = output_weights(training)
    for epoch in range(config.epochs):
        train_set.set_epoch(epoch)
        shards = []
        for rank in (0, 1):
            sampler = torch.utils.data.DistributedSampler(train_set, num_replicas=2, rank=rank, shuffle=True,
                                                          seed=config.seed)
            sampler.set_epoch(epoch)
            shards.append(list(sampler))
        running = 0.0
        for step in range(steps):
            # Each process's batch forward and backward on its own, the gradients averaged, as DDP
            # does: the same sums in the same order, so the weights agree to float32 rounding.
            optimizer.zero_grad(set_to_none=True)
            for part in shards:
                items = part[step * config.batch_size:(step + 1) * config.batch_size]
                frames, elapsed, labels = torch.utils.data.default_collate([train_set[j] for j in items])
                outputs, _ = model(frames, timespans=elapsed)
                loss = weighted_mse(outputs, labels, weights) * loss_scale
                (loss / len(shards)).backward()
                running += loss.item() * len(items)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
        losses.append(running / (2 * shard))
    return model, losses


def test_two_processes_train_what_one_process_trains_on_their_combined_batches(tmp_path, monkeypatch):
    episodes = _episodes()
    np.savez(tmp_path / "episodes.npz", **{f"{key}{i}": getattr(e, key) for i, e in enumerate(episodes)
                                            for key in ("frames", "stamps", "labels")})
    (tmp_path / "worker.py").write_text(WORKER)
    _torchrun(str(tmp_path / "worker.py"), str(tmp_path / "episodes.npz"), str(tmp_path), json.dumps(CONFIG),
              timeout=120)

    trained, card = load_model(tmp_path / "full")
    assert card["training"]["world_size"] == 2 and card["training"]["config"]["batch_size"] == 2
    history = card["training"]["history"]
    assert len(history) == 2 and all(h["val_loss"] is not None for h in history), "rank 0 validated every epoch"

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference, losses = _one_process_on_combined_batches(episodes, TrainConfig(**CONFIG))
    finally:
        torch.set_num_threads(threads)
    assert [h["train_loss"] for h in history] == pytest.approx(losses, rel=1e-4), \
        "the logged loss is over both processes"
    for (name, a), b in zip(trained.state_dict().items(), reference.state_dict().values()):
        assert torch.allclose(a, b, atol=5e-5), f"{name}: differs by {float((a - b).abs().max()):.2e}"

    # Stopped after one epoch and resumed (also data parallel), training ends where the whole run did.
    resumed, resumed_card = load_model(tmp_path / "resumed")
    resumed_losses = [h["train_loss"] for h in resumed_card["training"]["history"]]
    assert resumed_losses == pytest.approx([h["train_loss"] for h in history])
    for (name, a), b in zip(trained.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), f"resuming changed the result ({name})"

    # A single process is not torchrun: no process group, and it refuses the 2-process checkpoint
    # (its learning-rate schedule counts per-process steps).
    for name in distributed.LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert distributed.from_environment() is None
    with pytest.raises(ValueError, match="written by a run of 2 process"):
        train(episodes, tmp_path / "resumed", TrainConfig(**CONFIG), progress=False, resume=True)
    assert not torch.distributed.is_initialized()


def test_torchrun_cli_trains_and_writes_a_loadable_model(tmp_path):
    out = tmp_path / "model"
    stdout = _torchrun("-m", "liquid_control", "train", "--sim-seeds", "3,4", "--sim-distance", "15", "--epochs", "1",
                       "--seq-len", "8", "--batch-size", "4", "--threads", "1", "--out", str(out), timeout=150)
    assert stdout.count('"epoch": 1') == 1, "only rank 0 reports"
    model, card = load_model(out)
    assert card["training"]["world_size"] == 2
    assert math.isfinite(card["metrics"]["train_loss"]) and (out / "training_curve.png").is_file()
    outputs, _ = model(torch.zeros(1, 3, 3, 66, 200), timespans=0.05)
    assert outputs.shape == (1, 3, 1) and torch.isfinite(outputs).all()
