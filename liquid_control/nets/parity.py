"""Measure how closely our networks reproduce the reference library ``ncps`` (needs ``ncps`` installed).

Each ``ParityCase`` names one constructor configuration. ``measure_parity`` builds the ncps
module with a torch seed, converts it with ``from_ncps``, runs both on the same random inputs
and reports the largest absolute differences of outputs, final states, initial weights (our own
constructor, same seed) and, optionally, gradients. Per-sample elapsed times are compared with
ncps run one sample at a time, because ncps 1.0.1 mis-broadcasts them for batch > 1.

The test suite asserts on these numbers; ``benchmarks/parity_report.py`` prints them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from . import wirings as our_wirings
from .ncps_import import from_ncps
from .sequence import LTC, CfC

TIMESPANS = ("none", "scalar", "per_sample")


@dataclass(frozen=True)
class ParityCase:
    name: str
    kind: str  # "cfc" or "ltc"
    input_size: int
    units: Any  # int, or (wiring kind, params) for a wiring
    settings: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def _wired(kind, **params):
    return (kind, params)


def parity_cases() -> list[ParityCase]:
    """Every public option of the CfC and LTC modules, each at least once."""
    auto = _wired("AutoNCP", units=12, output_size=2, seed=5)
    ncp = _wired("NCP", inter_neurons=5, command_neurons=4, motor_neurons=2, sensory_fanout=3, inter_fanout=2,
                 recurrent_command_synapses=3, motor_fanin=2, seed=7)
    cases = []
    for mode in ("default", "pure", "no_gate"):
        for layers in (0, 1, 2):
            cases.append(ParityCase(f"cfc-dense-{mode}-backbone{layers}", "cfc", 5, 8,
                                    {"mode": mode, "backbone_layers": layers, "backbone_units": 16}))
        cases.append(ParityCase(f"cfc-dense-{mode}-mixed", "cfc", 5, 8, {"mode": mode, "mixed_memory": True}))
        cases.append(ParityCase(f"cfc-autoncp-{mode}", "cfc", 5, auto, {"mode": mode}))
    for activation in ("silu", "relu", "tanh", "gelu"):
        cases.append(ParityCase(f"cfc-dense-{activation}", "cfc", 5, 8,
                                {"activation": activation, "backbone_units": 16}))
    cases += [
        ParityCase("cfc-dense-dropout-eval", "cfc", 5, 8,
                   {"backbone_layers": 2, "backbone_units": 16, "backbone_dropout": 0.3}),
        ParityCase("cfc-dense-proj", "cfc", 5, 8, {"proj_size": 3}),
        ParityCase("cfc-dense-time-first", "cfc", 5, 8, {"batch_first": False}),
        ParityCase("cfc-dense-last-output", "cfc", 5, 8, {"return_sequences": False}),
        ParityCase("cfc-ncp-mixed-proj", "cfc", 5, ncp, {"mixed_memory": True, "proj_size": 1}),
        ParityCase("cfc-ncp19-lane", "cfc", 32, _wired("AutoNCP", units=19, output_size=1, seed=22222), {}),
        ParityCase("cfc-fullyconnected-wired", "cfc", 4, _wired("FullyConnected", units=6, erev_init_seed=3), {}),
        ParityCase("cfc-random-wired", "cfc", 4,
                   _wired("Random", units=6, output_dim=6, sparsity_level=0.5, random_seed=9), {}),
        ParityCase("cfc-autoncp-time-first-last", "cfc", 5, auto, {"batch_first": False, "return_sequences": False}),
    ]
    for implicit in (True, False):
        tag = "implicit" if implicit else "explicit"
        cases.append(ParityCase(f"ltc-dense-{tag}", "ltc", 5, 7, {"implicit_param_constraints": implicit}))
        cases.append(ParityCase(f"ltc-autoncp-{tag}", "ltc", 5, auto, {"implicit_param_constraints": implicit}))
    for input_mapping, output_mapping in (("linear", "linear"), ("none", "affine"), ("affine", "none")):
        cases.append(ParityCase(f"ltc-map-{input_mapping}-{output_mapping}", "ltc", 5, auto,
                                {"input_mapping": input_mapping, "output_mapping": output_mapping}))
    for unfolds in (1, 3, 12):
        cases.append(ParityCase(f"ltc-unfolds{unfolds}", "ltc", 5, auto, {"ode_unfolds": unfolds}))
    cases += [
        ParityCase("ltc-epsilon", "ltc", 5, auto, {"epsilon": 1e-3}),
        ParityCase("ltc-ncp-mixed", "ltc", 5, ncp, {"mixed_memory": True}),
        ParityCase("ltc-ncp19-lane", "ltc", 32, _wired("AutoNCP", units=19, output_size=1, seed=22222), {}),
        ParityCase("ltc-random", "ltc", 4,
                   _wired("Random", units=6, output_dim=2, sparsity_level=0.4, random_seed=3), {}),
        ParityCase("ltc-fullyconnected-noself", "ltc", 4,
                   _wired("FullyConnected", units=6, output_dim=2, self_connections=False), {}),
        ParityCase("ltc-time-first-last", "ltc", 5, auto, {"batch_first": False, "return_sequences": False}),
    ]
    return cases


def _ncps_units(units):
    import ncps.wirings

    if isinstance(units, int):
        return units
    kind, params = units
    return getattr(ncps.wirings, kind)(**params)


def build_ncps(case: ParityCase, seed: int):
    import ncps.torch

    torch.manual_seed(seed)
    cls = ncps.torch.CfC if case.kind == "cfc" else ncps.torch.LTC
    return cls(case.input_size, _ncps_units(case.units), **case.settings)


def build_ours(case: ParityCase, seed: int):
    units = case.units if isinstance(case.units, int) else our_wirings.make_wiring(case.units[0], **case.units[1])
    torch.manual_seed(seed)
    cls = CfC if case.kind == "cfc" else LTC
    return cls(case.input_size, units, **case.settings)


def _max_diff(a, b) -> float:
    if isinstance(a, (tuple, list)):
        return max(_max_diff(x, y) for x, y in zip(a, b))
    return float((a.detach() - b.detach()).abs().max())


def _run_reference_per_sample(reference, x, hx, ts, batch_first):
    """ncps one sample at a time (correct for batch 1), stacked back into a batch."""
    outputs, states = [], []
    for i in range(x.shape[0] if batch_first else x.shape[1]):
        xi = x[i : i + 1] if batch_first else x[:, i : i + 1]
        ti = ts[i : i + 1] if batch_first else ts[:, i : i + 1]
        hi = None if hx is None else tuple(h[i : i + 1] for h in hx) if isinstance(hx, tuple) else hx[i : i + 1]
        y, h = reference(xi, hi, timespans=ti)
        outputs.append(y)
        states.append(h)
    out_dim = 0 if (batch_first or not reference.return_sequences) else 1
    y = torch.cat(outputs, dim=out_dim)
    if isinstance(states[0], tuple):
        return y, tuple(torch.cat(part, dim=0) for part in zip(*states))
    return y, torch.cat(states, dim=0)


def measure_parity(case: ParityCase, seed: int = 0, timespans: str = "none", batch: int = 3, seq_len: int = 10,
                   with_state: bool = True, gradients: bool = False) -> dict[str, float]:
    """Largest absolute differences between ncps and us for one case; see the module docstring."""
    if timespans not in TIMESPANS:
        raise ValueError(f"timespans must be one of {TIMESPANS}")
    reference = build_ncps(case, seed).eval()
    ours = from_ncps(reference).eval()
    native = build_ours(case, seed)
    result = {"init": _max_diff(
        [native.state_dict()[k] for k in sorted(native.state_dict())],
        [reference.state_dict()[k] for k in sorted(reference.state_dict())],
    )}

    generator = torch.Generator().manual_seed(seed + 1)
    batch_first = case.settings.get("batch_first", True)
    shape = (batch, seq_len, case.input_size) if batch_first else (seq_len, batch, case.input_size)
    x = torch.randn(shape, generator=generator)
    hx = None
    if with_state:
        h0 = 0.5 * torch.randn(batch, ours.state_size, generator=generator)
        hx = (h0, 0.5 * torch.randn(batch, ours.state_size, generator=generator)) if ours.use_mixed else h0
    if timespans == "none":
        ts = None
    elif timespans == "scalar":
        ts = 0.37
    else:
        ts_shape = (batch, seq_len) if batch_first else (seq_len, batch)
        ts = 0.05 + 1.5 * torch.rand(ts_shape, generator=generator)

    x_ref, x_ours = x.clone().requires_grad_(gradients), x.clone().requires_grad_(gradients)
    if timespans == "none":
        y_ref, h_ref = reference(x_ref, hx)
    else:
        # ncps takes no plain number, so it gets the scalar as a full tensor, one sample at a time.
        ts_ref = torch.full(shape[:2], ts) if timespans == "scalar" else ts
        y_ref, h_ref = _run_reference_per_sample(reference, x_ref, hx, ts_ref, batch_first)
    y_ours, h_ours = ours(x_ours, hx, timespans=ts)
    if tuple(y_ref.shape) != tuple(y_ours.shape):
        raise AssertionError(f"{case}: output shapes differ: ncps {tuple(y_ref.shape)}, ours {tuple(y_ours.shape)}")
    result["output"] = _max_diff(y_ref, y_ours)
    result["state"] = _max_diff(h_ref, h_ours)
    if gradients:
        weights = torch.randn(y_ref.shape, generator=generator)
        (y_ref * weights).sum().backward()
        (y_ours * weights).sum().backward()
        ref_grads = {name: p.grad for name, p in reference.named_parameters() if p.grad is not None}
        our_grads = {name: p.grad for name, p in ours.named_parameters() if p.grad is not None}
        if set(ref_grads) != set(our_grads):
            raise AssertionError(f"{case}: different parameters receive gradients: "
                                 f"{sorted(set(ref_grads) ^ set(our_grads))}")
        result["grad_params"] = max(_max_diff(ref_grads[k], our_grads[k]) for k in ref_grads)
        result["grad_input"] = _max_diff(x_ref.grad, x_ours.grad)
    return result
