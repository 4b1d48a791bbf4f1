"""Training throughput, ours against ncps 1.0.1, on the same architecture, weights and data.

Used by the train section of ``python -m liquid_control bench`` (benchmarks/runtime_bench.py) and by
benchmarks/train_bench.py. Each measurement is a full training step (forward, MSE loss, backward, Adam):
``full`` on camera sequences, ``core`` on the recurrent core alone with features already computed
(where the libraries differ). The two are timed step by step, interleaved round by round.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn


class NcpsPolicy(nn.Module):
    """Our conv head feeding an ncps CfC: the ncps side of the comparison."""

    def __init__(self, head: nn.Module, core: nn.Module):
        super().__init__()
        self.head, self.core = head, core

    def forward(self, images: torch.Tensor, timespans=None):
        batch, steps = images.shape[:2]
        features = self.head(images.flatten(0, 1)).reshape(batch, steps, -1)
        with torch.autocast(device_type=features.device.type, enabled=False):  # as ours: the core in float32
            return self.core(features.float(), timespans=timespans)


class TrainingRecipe(nn.Module):
    """A policy (ours or the ncps one) trained the way ``liquid_control.train`` trains by default:
    the conv head's weights channels-last and its arithmetic bfloat16 under autocast where the CPU
    has native bfloat16, the core in float32 (both policies' forward keep it so)."""

    def __init__(self, policy: nn.Module, bf16: bool):
        super().__init__()
        self.policy, self.bf16 = policy, bf16
        policy.head.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor, timespans=None):
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return self.policy(images, timespans=timespans)


def build(seed: int):
    """The NCP lane policy (``make_policy("ncp-cfc")``: conv head + CfC on AutoNCP(19, 1)), and the same conv
    head (a copy) + ``ncps.torch.CfC(32, AutoNCP(19, 1), batch_first=True)``, both cores with the same weights
    (ncps' state dict loaded into ours, wiring masks included)."""
    import ncps.torch
    import ncps.wirings

    from liquid_control.nets.policy import make_policy

    torch.manual_seed(seed)
    ncps_core = ncps.torch.CfC(32, ncps.wirings.AutoNCP(19, 1), batch_first=True)
    ours = make_policy("ncp-cfc")
    reference = ncps_core.state_dict()
    for name, tensor in ours.core.state_dict().items():
        if name.endswith("sparsity_mask") and not torch.equal(tensor, reference[name]):
            raise RuntimeError(f"the wirings differ ({name}): the comparison would not be on the same architecture")
    ours.core.load_state_dict(reference)
    return ours, NcpsPolicy(copy.deepcopy(ours.head), ncps_core)


def make_data(batch: int, steps: int, seed: int):
    """Images, features, labels and elapsed times. ncps 1.0.1 cannot take per-sample elapsed times for a
    batch > 1 (a (B, T) or (B, T, 1) tensor is squeezed to (B,) per step and broadcast against the neurons:
    a size mismatch at B = 16; its issues #81-83); the one batched form it runs is (1, T, 1), one sequence
    shared by all samples. So both get the same values: ncps as (1, T, 1), ours as (B, T) (its per-sample
    path, the one training uses); ``per_sample_ts`` are distinct per sample (ours alone)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, steps, 3, 66, 200, generator=generator)
    features = torch.randn(batch, steps, 32, generator=generator)
    labels = 0.1 * torch.randn(batch, steps, 1, generator=generator)
    shared = 0.05 + 0.02 * torch.rand(steps, generator=generator)  # one elapsed-time sequence for all samples
    per_sample = 0.05 + 0.02 * torch.rand(batch, steps, generator=generator)
    return {"images": images, "features": features, "labels": labels,
            "ours_ts": shared.expand(batch, steps).contiguous(), "ncps_ts": shared.reshape(1, steps, 1),
            "per_sample_ts": per_sample}


def loss_and_grads(model, inputs, timespans, labels):
    model.zero_grad(set_to_none=True)
    outputs, _ = model(inputs, timespans=timespans)
    loss = nn.functional.mse_loss(outputs, labels)
    loss.backward()
    # (ncps keeps its wiring masks as parameters that need no gradient)
    return loss.item(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


def parity(ours, theirs, data) -> dict:
    """Same loss and gradients from both, before any timing (the weights are still identical)."""
    images = data["images"][:4, :8]
    labels = data["labels"][:4, :8]
    loss_a, grads_a = loss_and_grads(ours, images, data["ours_ts"][:4, :8], labels)
    loss_b, grads_b = loss_and_grads(theirs, images, data["ncps_ts"][:, :8], labels)
    if grads_a.keys() != grads_b.keys():
        raise RuntimeError(f"different trainable parameters: {sorted(grads_a.keys() ^ grads_b.keys())}")
    worst = max(float((grads_a[name] - grads_b[name]).abs().max() / (grads_b[name].abs().max() + 1e-12))
                for name in grads_b)
    return {"loss_ours": loss_a, "loss_ncps": loss_b, "max_relative_gradient_difference": worst}


def timed_steps(model, optimizer, inputs, timespans, labels, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        outputs, _ = model(inputs, timespans=timespans)
        loss = nn.functional.mse_loss(outputs, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - started)
    return times


def summary(times: list[float], batch: int) -> dict:
    quartiles = statistics.quantiles(times, n=4)
    median = statistics.median(times)
    return {"median_ms": round(1e3 * median, 3), "iqr_ms": [round(1e3 * quartiles[0], 3), round(1e3 * quartiles[2], 3)],
            "sequences_per_s": round(batch / median, 2), "steps_timed": len(times)}


def compare(lanes: dict, rounds: int, steps: int, warmup: int, batch: int) -> dict:
    """``lanes``: name -> (model, inputs, timespans, labels); timed step by step after ``warmup`` steps,
    interleaved round by round (alternating which goes first) so that load from other processes hits all
    alike. Per lane the median with the interquartile range; the ratio ours/ncps is taken per round (each
    round's two medians, measured seconds apart) and its median reported, so drifting load cancels out."""
    prepared = {}
    for name, (model, inputs, timespans, labels) in lanes.items():
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        timed_steps(model, optimizer, inputs, timespans, labels, warmup)
        prepared[name] = (model, optimizer, inputs, timespans, labels)
    times = {name: [] for name in lanes}
    round_ratios = []
    names = list(lanes)
    for round_ in range(rounds):
        medians = {}
        for name in names if round_ % 2 == 0 else names[::-1]:
            model, optimizer, inputs, timespans, labels = prepared[name]
            these = timed_steps(model, optimizer, inputs, timespans, labels, steps)
            times[name] += these
            medians[name] = statistics.median(these)
        round_ratios.append(medians["ncps"] / medians["ours"])
    result = {name: summary(values, batch) for name, values in times.items()}
    quartiles = statistics.quantiles(round_ratios, n=4) if len(round_ratios) > 1 else round_ratios * 3
    result["ratio_ours_over_ncps"] = round(statistics.median(round_ratios), 2)
    result["ratio_iqr_over_rounds"] = [round(quartiles[0], 2), round(quartiles[-1], 2)]
    return result


def breakdown(policy, images: torch.Tensor, repeats: int) -> dict:
    """Where our full step's time goes, besides the core (timed above): the conv head's forward and
    backward over all frames, and the NaN/Inf check over the images."""
    from liquid_control.nets.validation import check_finite

    frames = images.flatten(0, 1)

    def head_step():
        policy.head.zero_grad(set_to_none=True)
        policy.head(frames).sum().backward()

    def median_ms(fn, count):
        fn()
        times = []
        for _ in range(count):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return round(1e3 * statistics.median(times), 1)

    return {"head_forward_backward_ms": median_ms(head_step, repeats),
            "image_check_ms": median_ms(lambda: check_finite(images, "image"), 3 * repeats)}
