"""The training loop: truncated back-propagation through time on driving sequences.

Each batch is a set of windows of ``seq_len`` consecutive frames; the liquid core gets the real
elapsed time before each frame, starts every window from a zero state (as deployment does) and
the loss is the weighted mean squared error over the window. One validation pass per epoch on
episodes held out *by episode*, a checkpoint per epoch (weights in safetensors, optimiser state
in a tensors-only torch file, so resuming never unpickles code), a training-curve PNG, and the
final model with a card that records data, settings and metrics. Under ``torchrun`` the same loop
runs data parallel (``train.distributed``).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from liquid_control.data.episodes import Episode
from liquid_control.data.images import PreprocessSpec
from liquid_control.data.sequences import Augmentation, SequenceDataset
from liquid_control.nets import load_model, save_model
from liquid_control.nets.policy import make_policy, set_output_bias
from liquid_control.train.distributed import Distributed, from_environment
from liquid_control.train.trainer.batches import on_device, split_episodes, window_loader
from liquid_control.train.trainer.config import TrainConfig, resolve_head_precision
from liquid_control.train.trainer.diagnostics import (
    FLAT_OUTPUT_SPREAD,
    SATURATED,
    loss_and_spread,
    ltc_sensory_saturation,
)
from liquid_control.train.trainer.loss import default_loss_scale, output_weights, weighted_mse


def output_section(label_names: tuple[str, ...]) -> dict:
    """The model card's ``outputs``: what each output means, from the labels it was trained on."""
    if tuple(label_names) == ("curvature",):
        return {"mode": "steering", "names": ["curvature"], "units": ["1/m"],
                "meaning": "curvature of the path to drive; yaw rate = speed * curvature"}
    if tuple(label_names) == ("angular.z",):  # a turn rate alone: the controller drives on at its speed
        return {"mode": "steering", "names": ["yaw_rate"], "units": ["rad/s"],
                "meaning": "yaw rate (angular.z) to turn at, while the controller drives forward at its speed "
                           "parameter"}
    from liquid_control.tasks import OUTPUT_UNITS

    return {"mode": "velocity", "names": list(label_names), "units": [OUTPUT_UNITS[name] for name in label_names],
            "frame": "body",
            "meaning": "body-frame velocity command (REP 103: x forward, y left, z up, counter-clockwise yaw rate), "
                       "each output the Twist field named"}


def train(episodes: list[Episode], out_dir: str | os.PathLike, config: TrainConfig | None = None,
          resume: bool = False, progress: bool = True, data_description: dict | None = None,
          stop_after_epochs: int | None = None, validation_episodes: list[Episode] | None = None) -> Path | None:
    """Train a policy on ``episodes`` and save it to ``out_dir`` (a model folder); returns the folder.

    The validation loss is measured on ``validation_episodes`` when given (all of ``episodes``
    then train), else on ``config.val_fraction`` of ``episodes`` held out.

    ``stop_after_epochs`` ends this run early (after its checkpoint, returning None) so that a
    later ``resume=True`` run continues exactly where it stopped.

    Under torchrun every process calls this with the same arguments; each trains on its share of
    the windows, rank 0 alone validates and writes checkpoints and the model, and all return the
    model folder (or None).
    """
    config = config or TrainConfig()
    config.validate()
    if config.threads:
        torch.set_num_threads(config.threads)
    ddp = from_environment()
    try:
        return _train(episodes, Path(out_dir), config, resume, progress, data_description, stop_after_epochs, ddp,
                      validation_episodes)
    finally:
        if ddp is not None:
            ddp.close()


def _train(episodes: list[Episode], out_dir: Path, config: TrainConfig, resume: bool, progress: bool,
           data_description: dict | None, stop_after_epochs: int | None, ddp: Distributed | None,
           validation_episodes: list[Episode] | None) -> Path | None:
    from tqdm import tqdm

    checkpoint_dir = out_dir / "checkpoint"
    main = ddp is None or ddp.is_main  # the process that validates and writes files
    world_size = 1 if ddp is None else ddp.world_size
    device = None if ddp is None else ddp.device
    torch.manual_seed(config.seed)
    spec = PreprocessSpec.from_dict(config.preprocessing)
    if validation_episodes is None:
        training, validation = split_episodes(episodes, config.val_fraction, config.seed)
    else:  # a validation set of its own (hyper-parameter tuning's held-out seeds): every episode trains
        training, validation = split_episodes(episodes, 0.0, config.seed)[0], list(validation_episodes)
    if config.data_fraction < 1:  # the first share of a seeded order: 25 % is part of 50 %, as a data curve needs
        training = training[:max(1, round(config.data_fraction * len(training)))]
    if not training:
        raise ValueError("no episodes left for training after the validation split")
    augmentation = Augmentation.from_dict(config.augmentation) if config.augment else None
    train_set = SequenceDataset(training, spec, config.seq_len, config.stride, config.nominal_dt, augmentation,
                                config.seed)
    val_window = config.val_seq_len or config.seq_len
    val_set = (SequenceDataset(validation, spec, val_window, val_window, config.nominal_dt)
               if validation else None)
    channels, height, width = spec.channels, spec.size[0], spec.size[1]
    label_names = episodes[0].label_names
    mixed = sorted({e.label_names for e in episodes} - {label_names})
    if mixed:
        raise ValueError(f"all episodes must have the same labels; {episodes[0].name} has {label_names}, "
                         f"others have {mixed}")
    outputs = len(label_names)
    loss_scale = config.loss_scale or default_loss_scale(label_names)
    weights = output_weights(training)
    model = make_policy(config.arch, image_shape=(channels, height, width), outputs=outputs, features=config.features,
                        ncp_units=config.ncp_units or (19 if outputs == 1 else 34),
                        wiring_seed=22222 if config.wiring_seed is None else config.wiring_seed,
                        lstm_units=config.units or 64, rnn_units=config.units or 64,
                        channels=tuple(config.head_channels),
                        readout=outputs > 1, ltc_time_scale=1.0 / config.nominal_dt,  # LTC: a time unit per frame
                        head_activation=config.head_activation)
    if outputs > 1:  # velocities: start from the average command (a one-output lane model keeps its recipe)
        set_output_bias(model, np.concatenate([e.labels for e in training]).mean(axis=0))
    if config.channels_last:
        model.head.to(memory_format=torch.channels_last)
    head_precision = resolve_head_precision(config.head_precision, device)
    autocast = {"device_type": "cpu" if device is None else device.type, "dtype": torch.bfloat16,
                "enabled": head_precision == "bf16"}
    if ddp is not None:
        model.to(ddp.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # The schedule counts this process's optimiser steps: with N processes each sees its shard of
    # the windows (ceil(len / N), the same for all), so an epoch has 1/N as many steps.
    sampler = None if ddp is None else ddp.sampler(train_set, config.seed)
    steps_per_epoch = math.ceil((len(train_set) if sampler is None else len(sampler)) / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                    total_steps=config.epochs * steps_per_epoch, pct_start=0.15)
    history: list[dict] = []
    start_epoch = 0
    if resume and (checkpoint_dir / "card.yaml").is_file():
        state = torch.load(checkpoint_dir / "optimizer.pt", map_location="cpu", weights_only=True)
        saved_world_size = int(state.get("world_size", 1))
        if saved_world_size != world_size:
            raise ValueError(f"the checkpoint in {checkpoint_dir} was written by a run of {saved_world_size} "
                             f"process(es); resume it with the same number (this run has {world_size}): the "
                             "learning-rate schedule counts per-process steps")
        restored, _ = load_model(checkpoint_dir)
        model.load_state_dict(restored.state_dict())
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = json.loads((checkpoint_dir / "history.json").read_text())
        start_epoch = len(history)
        torch.set_rng_state(state["torch_rng"])

    net = model if ddp is None else ddp.wrap(model)  # what the training step runs: DDP averages the gradients
    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        net.train()
        train_set.set_epoch(epoch)
        if sampler is None:
            loader = window_loader(train_set, config.batch_size, shuffle=True, seed=config.seed + epoch)
        else:
            sampler.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(train_set, batch_size=config.batch_size, sampler=sampler,
                                                 drop_last=False, num_workers=0,
                                                 pin_memory=device is not None and device.type == "cuda")
        running, seen = 0.0, 0
        bar = tqdm(on_device(device, loader), total=len(loader), desc=f"epoch {epoch + 1}/{config.epochs}",
                   disable=not (progress and main), leave=False)
        for frames, elapsed, labels in bar:
            with torch.autocast(**autocast):
                outputs, _ = net(frames, timespans=elapsed)
            loss = weighted_mse(outputs, labels, weights) * loss_scale
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            if hasattr(model.core, "apply_weight_constraints"):  # on every process: the weights stay identical
                model.core.apply_weight_constraints()
            running += loss.item() * len(frames)
            seen += len(frames)
            bar.set_postfix(loss=f"{running / seen:.4f}")
        if ddp is not None:
            running, seen = ddp.sum([running, seen])  # the loss over all processes' windows
        if main:
            val_loss, spread = (loss_and_spread(model, window_loader(val_set, config.batch_size, False, 0), loss_scale,
                                                weights, device) if val_set else (None, None))
            record = {"epoch": epoch + 1, "train_loss": running / max(seen, 1), "val_loss": val_loss,
                      "seconds": round(time.perf_counter() - started, 1), "sequences": len(train_set)}
            if spread is not None:
                record["output_spread"] = round(spread, 4)
                # Only the trained model is judged: every network starts out answering frames alike.
                if spread < FLAT_OUTPUT_SPREAD and epoch + 1 == config.epochs:
                    warnings.warn(f"the trained network's outputs vary over the validation frames by {spread:.1%} of "
                                  "the labels' spread: it answers every frame alike and has not learned to use its "
                                  "input. Try another seed or a lower learning rate; for an LTC, the ncp-ltc-norm "
                                  "preset (docs/study.md).", RuntimeWarning, stacklevel=3)  # at the caller of train()
            saturation = ltc_sensory_saturation(model, val_set or train_set, device)
            if saturation is not None:
                record["ltc_sensory_saturation"] = round(saturation, 4)
                if saturation >= SATURATED:
                    warnings.warn(f"epoch {epoch + 1}: {saturation:.1%} of the LTC's sensory synapses are saturated on "
                                  "the validation frames: the network no longer responds to its input and will not "
                                  "learn from here (the conv head's features have grown too large for its sigmoid "
                                  "synapses). Train the ncp-ltc-norm preset, whose head standardises its features "
                                  "per frame (docs/study.md).",
                                  RuntimeWarning, stacklevel=3)  # at the caller of train()
            history.append(record)
            if progress:
                print(json.dumps(record), flush=True)
            _save_checkpoint(model, optimizer, scheduler, history, checkpoint_dir, spec, world_size)
        if ddp is not None:
            ddp.barrier()  # the others wait for rank 0's validation and checkpoint
        if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs and epoch + 1 < config.epochs:
            return None

    elapsed_s = time.perf_counter() - started
    if not main:
        ddp.barrier()  # until rank 0 has written the model
        return out_dir
    final = history[-1]
    folder = save_model(
        model, out_dir, name=out_dir.name,
        description=f"{config.arch} camera policy: {', '.join(label_names)} from a {height}x{width} frame",
        preprocessing=spec.to_dict(),
        outputs=output_section(label_names),
        training={"config": asdict(config), "episodes": {"train": [e.name for e in training],
                  "validation": [e.name for e in validation]}, "frames": int(sum(len(e) for e in episodes)),
                  "data": data_description or {}, "label_statistics": _label_statistics(training, label_names),
                  "wall_time_s": round(elapsed_s, 1), "threads": torch.get_num_threads(),
                  "world_size": world_size, "head_precision": head_precision, "history": history},
        metrics={"train_loss": final["train_loss"], "val_loss": final["val_loss"],
                 "loss": f"mean squared error of {', '.join(label_names)} x {loss_scale}"
                         + ("" if len(label_names) == 1 else f", each output weighted by mean variance / its variance "
                            f"({', '.join(f'{w:.3g}' for w in weights.tolist())})")},
        provenance={"trained_by": "liquid_control.train"},
    )
    plot_history(history, folder / "training_curve.png", f"loss (MSE x {loss_scale:g})")
    if ddp is not None:
        ddp.barrier()
    return folder


def _label_statistics(episodes: list[Episode], label_names: tuple[str, ...]) -> dict:
    """The training labels' mean and standard deviation per output: evaluation's mean predictor."""
    labels = np.concatenate([e.labels for e in episodes]).astype(np.float64)
    return {"names": list(label_names), "mean": [round(float(v), 6) for v in labels.mean(axis=0)],
            "std": [round(float(v), 6) for v in labels.std(axis=0)]}


def _save_checkpoint(model, optimizer, scheduler, history, checkpoint_dir: Path, spec: PreprocessSpec,
                     world_size: int) -> None:
    save_model(model, checkpoint_dir, preprocessing=spec.to_dict())
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(), "world_size": world_size}, checkpoint_dir / "optimizer.pt")
    (checkpoint_dir / "history.json").write_text(json.dumps(history, indent=1))


def plot_history(history: list[dict], path: Path, ylabel: str = "loss (MSE of curvature x 100)") -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="training")
    if any(h["val_loss"] is not None for h in history):
        ax.plot(epochs, [h["val_loss"] for h in history], marker="s", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
