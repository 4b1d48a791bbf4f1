"""Inference speed, side by side in one run: ncps 1.0.1 (+ torch) against our runtime's backends.

The cell, policy and batch sections of ``python -m liquid_control bench`` (benchmarks/runtime_bench.py).
Same weights everywhere (ours imported from the seeded ncps module, ``nets.from_ncps``), parity
checked before any timing. Lanes are timed interleaved round by round (see ``timed``); per lane:
median and p99 of single calls, and speed-ups as the median of per-round ratios, so drift in the
machine's load cancels out. Lanes: ``ncps`` (its cell under ``torch.no_grad``, its fastest path),
``ncps+torch`` (our conv head feeding it, policy section), ``torch``/``onnxruntime``/``native``
(``Engine.step`` of our runtime, numpy in and out, argument checks included), and where torch sees
a GPU ``ncps_cuda``/``torch_cuda`` (synchronised after each step).
"""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from typing import Callable

import numpy as np
import torch

from liquid_control.runtime.engines import BACKENDS, ENGINES, BackendUnavailable

CELL_CASES = {
    "CfC-NCP19": "ncps.torch.CfC(32, AutoNCP(19, 1)): the wired CfC of the NCP lane keeper",
    "LTC-NCP19": "ncps.torch.LTC(32, AutoNCP(19, 1)): the LTC lane keeper (6 ODE unfolds)",
    "CfC-FC19": "ncps.torch.CfC(32, 19): dense (fully connected) CfC, backbone 128 units",
}


def _ncps_module(case: str, seed: int):
    import ncps.torch
    import ncps.wirings

    torch.manual_seed(seed)
    if case == "CfC-NCP19":
        return ncps.torch.CfC(32, ncps.wirings.AutoNCP(19, 1))
    if case == "LTC-NCP19":
        return ncps.torch.LTC(32, ncps.wirings.AutoNCP(19, 1))
    if case == "CfC-FC19":
        return ncps.torch.CfC(32, 19)
    raise ValueError(f"unknown cell case {case!r}; choose from {sorted(CELL_CASES)}")


def timed(lanes: dict[str, Callable[[], object]], rounds: int, steps: int, warmup: int = 20) -> dict[str, list[float]]:
    """Seconds per call of each lane, interleaved round by round; also the per-round medians."""
    for fn in lanes.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in lanes}
    round_medians: dict[str, list[float]] = {name: [] for name in lanes}
    names = list(lanes)
    clock = time.perf_counter
    for round_ in range(rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            fn = lanes[name]
            these = []
            for _ in range(steps):
                started = clock()
                fn()
                these.append(clock() - started)
            times[name] += these
            round_medians[name].append(statistics.median(these))
    return {"times": times, "round_medians": round_medians}


def summarise(measured: dict, reference: str | None, batch: int = 1) -> dict:
    out = {}
    for name, values in measured["times"].items():
        ordered = sorted(values)
        median = statistics.median(ordered)
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        out[name] = {"median_us": round(median * 1e6, 2), "p99_us": round(p99 * 1e6, 2),
                     "steps_per_s": round(1.0 / median, 1)}
        if batch > 1:
            out[name]["per_agent_us"] = round(median * 1e6 / batch, 3)
    for base in [reference, "onnxruntime"]:
        if base is None or base not in measured["round_medians"]:
            continue
        for name, medians in measured["round_medians"].items():
            if name == base:
                continue
            ratios = [b / m for b, m in zip(measured["round_medians"][base], medians)]
            out[name][f"speedup_vs_{base}"] = round(statistics.median(ratios), 2)
    return out


def _engines(module, backends, threads: int) -> tuple[dict, dict]:
    """Our engines on the CPU, plus ``torch_cuda`` where torch sees a GPU (on a copy of the module,
    since moving it to the GPU would move the CPU engines' weights too)."""
    engines, skipped = {}, {}
    for name in backends:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                engines[name] = ENGINES[name](module, device="cpu", threads=threads)
        except BackendUnavailable as error:
            skipped[name] = str(error)
    if torch.cuda.is_available():
        engines["torch_cuda"] = ENGINES["torch"](copy.deepcopy(module), device="cuda", threads=threads)
    return engines, skipped


def _stepper(engine, inputs: np.ndarray, dt):
    state = [engine.initial_state(inputs.shape[0])]

    def step():
        _, state[0] = engine.step(inputs, dt, state[0])

    return step


def _ncps_stepper(cell, x: torch.Tensor, state_size: int, dt: float, head=None, image=None, device: str = "cpu"):
    """One ncps step per call (on ``device``: a copy of the cell and head moved there, synchronised
    after each step so the time is the step's)."""
    if device != "cpu":
        cell, head = copy.deepcopy(cell).to(device), (copy.deepcopy(head).to(device) if head is not None else None)
        x = x.to(device) if x is not None else None
        image = image.to(device) if image is not None else None
    h = [torch.zeros(x.shape[0] if image is None else image.shape[0], state_size, device=device)]
    synchronise = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step():
        with torch.no_grad():
            features = x if head is None else head(image)
            _, h[0] = cell(features, h[0], dt)
        synchronise()

    return step


def _ncps_lanes(cell, x, state_size: int, dt: float, head=None, image=None) -> dict:
    lanes = {("ncps+torch" if head is not None else "ncps"): _ncps_stepper(cell, x, state_size, dt, head, image)}
    if torch.cuda.is_available():
        lanes["ncps_cuda"] = _ncps_stepper(cell, x, state_size, dt, head, image, device="cuda")
    return lanes


def _parity(ncps_module, engines: dict, steps: int = 12, seed: int = 0) -> dict:
    """Largest |ours - ncps| over a rollout (batch 1, irregular elapsed times, state carried)."""
    cell = ncps_module.rnn_cell
    worst = {}
    for name, engine in engines.items():
        state = engine.initial_state(1)
        h = torch.zeros(1, ncps_module.state_size)
        error = 0.0
        gen = np.random.default_rng(seed)
        for _ in range(steps):
            x = gen.standard_normal((1, 32)).astype(np.float32)
            dt = float(0.01 + 0.2 * gen.random())
            with torch.no_grad():
                y_ref, h = cell(torch.from_numpy(x), h, dt)
                if hasattr(ncps_module, "fc"):
                    y_ref = ncps_module.fc(y_ref)
            y, state = engine.step(x, dt, state)
            error = max(error, float(np.abs(y - y_ref.numpy()).max()),
                        float(np.abs(engine.state_arrays(state)[0] - h.numpy()).max()))
        worst[name] = error
    return worst


def cell_bench(threads: int, rounds: int, steps: int, seed: int = 0, cases=tuple(CELL_CASES)) -> dict:
    from liquid_control.nets.ncps_import import from_ncps

    results = {}
    for case in cases:
        theirs = _ncps_module(case, seed).eval()
        ours = from_ncps(theirs).eval()
        engines, skipped = _engines(ours, BACKENDS, threads)
        x = np.random.default_rng(seed).standard_normal((1, 32)).astype(np.float32)
        lanes = _ncps_lanes(theirs.rnn_cell, torch.from_numpy(x), theirs.state_size, 0.05)
        lanes.update({name: _stepper(engine, x, 0.05) for name, engine in engines.items()})
        measured = timed(lanes, rounds, steps)
        results[case] = {"what": CELL_CASES[case], "parity_max_abs_vs_ncps": _parity(theirs, engines),
                         "lanes": summarise(measured, "ncps"), **({"unavailable": skipped} if skipped else {})}
    return results


def policy_bench(threads: int, rounds: int, steps: int, seed: int = 0) -> dict:
    """The NCP lane policy on one 66x200 frame: conv head + CfC-NCP19."""
    import ncps.torch
    import ncps.wirings

    from liquid_control.nets.policy import make_policy

    torch.manual_seed(seed)
    ours = make_policy("ncp-cfc").eval()
    theirs = ncps.torch.CfC(32, ncps.wirings.AutoNCP(19, 1)).eval()
    ours.core.load_state_dict(theirs.state_dict())
    engines, skipped = _engines(ours, BACKENDS, threads)
    image = np.random.default_rng(seed).standard_normal((1, 3, 66, 200)).astype(np.float32)
    lanes = _ncps_lanes(theirs.rnn_cell, None, theirs.state_size, 0.05, head=ours.head, image=torch.from_numpy(image))
    lanes.update({name: _stepper(engine, image, 0.05) for name, engine in engines.items()})
    # the same frame and dt through both: how close are the outputs?
    parity = {}
    with torch.no_grad():
        _, h = theirs.rnn_cell(ours.head(torch.from_numpy(image)), torch.zeros(1, theirs.state_size), 0.05)
    for name, engine in engines.items():
        y, state = engine.step(image, 0.05)
        parity[name] = float(np.abs(engine.state_arrays(state)[0] - h.numpy()).max())
    measured = timed(lanes, rounds, steps, warmup=5)
    result = {"what": "conv head (5 convolutions, 66x200x3 frame) + CfC on AutoNCP(19, 1), batch 1",
              "parity_max_abs_state_vs_ncps": parity, "lanes": summarise(measured, "ncps+torch")}
    native = engines.get("native")
    if native is not None:
        result["native_head_runs_on"] = native.head_backend
    if skipped:
        result["unavailable"] = skipped
    return result


def batch_bench(threads: int, rounds: int, steps: int, sizes=(1, 10, 100, 1000), seed: int = 0,
                cases=("CfC-NCP19", "LTC-NCP19")) -> dict:
    """Stepping N independent agents in one call (separate states; our backends: separate elapsed times)."""
    from liquid_control.nets.ncps_import import from_ncps

    results = {}
    for case in cases:
        theirs = _ncps_module(case, seed).eval()
        ours = from_ncps(theirs).eval()
        engines, skipped = _engines(ours, BACKENDS, threads)
        per_size = {}
        for size in sizes:
            generator = np.random.default_rng(seed + size)
            x = generator.standard_normal((size, 32)).astype(np.float32)
            dt = (0.02 + 0.06 * generator.random(size)).astype(np.float32)
            lanes = _ncps_lanes(theirs.rnn_cell, torch.from_numpy(x), theirs.state_size, 0.05)
            lanes.update({name: _stepper(engine, x, dt) for name, engine in engines.items()})
            scale = max(1, size // 100)
            summary = summarise(timed(lanes, rounds, max(3, steps // scale), warmup=3), "ncps", batch=size)
            fastest = min((name for name in engines), key=lambda name: summary[name]["median_us"])
            per_size[str(size)] = {"lanes": summary, "fastest_ours": fastest,
                                   "fastest_ours_steps_per_s": summary[fastest]["steps_per_s"]}
        results[case] = {"by_agents": per_size, **({"unavailable": skipped} if skipped else {}),
                         "note": "ncps gets one elapsed time for all agents (it mis-broadcasts per-sample times at "
                                 "batch > 1, its issues #81-83); ours take one per agent"}
    return results
