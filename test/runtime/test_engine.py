"""The deployment runtime: every backend against the training model, batching, fallbacks, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from liquid_control.nets.policy import make_policy
from liquid_control.nets.sequence import LTC, CfC
from liquid_control.nets.wirings import NCP, AutoNCP, Random
from liquid_control.runtime.engines import BackendUnavailable, available_backends, load_engine

TOLERANCE = 1e-5


def _modules():
    torch.manual_seed(0)
    wiring = lambda: AutoNCP(19, 2, seed=3)  # noqa: E731
    return {
        # a later layer wider than the first one's rows in pure mode (a scratch-buffer size case)
        "cfc-wide-layers-pure": CfC(1, NCP(1, 10, 10, 1, 1, 2, 3), mode="pure"),
        "cfc-dense-relu": CfC(6, 5, activation="relu"),
        "ltc-sparse-random": LTC(8, Random(6, 2, sparsity_level=0.8)),
        "cfc-ncp": CfC(32, wiring()),
        "cfc-ncp-pure": CfC(32, wiring(), mode="pure"),
        "cfc-ncp-no-gate": CfC(32, wiring(), mode="no_gate"),
        "cfc-dense": CfC(20, 16),
        "cfc-dense-2-layers-gelu": CfC(20, 16, backbone_layers=2, backbone_units=24, activation="gelu"),
        "cfc-dense-relu-silu": CfC(20, 8, backbone_layers=2, backbone_units=12, activation="silu"),
        "cfc-dense-proj-mixed": CfC(20, 16, proj_size=3, mixed_memory=True),
        "cfc-no-backbone-pure": CfC(20, 16, backbone_layers=0, mode="pure"),
        "ltc-ncp": LTC(32, wiring()),
        "ltc-dense-explicit-linear": LTC(10, 12, implicit_param_constraints=False, input_mapping="linear",
                                         output_mapping="none", ode_unfolds=3),
        "ltc-ncp-mixed": LTC(10, wiring(), mixed_memory=True),
        "ltc-ncp-time-scaled": LTC(32, wiring(), time_scale=20.0),  # how training makes an LTC (a unit per frame)
        "policy-ncp-cfc": make_policy("ncp-cfc", image_shape=(3, 66, 80)),
        "policy-ncp-ltc": make_policy("ncp-ltc", image_shape=(3, 66, 80)),
        "policy-ncp-ltc-time-scaled": make_policy("ncp-ltc", image_shape=(3, 66, 80), ltc_time_scale=20.0),
        "policy-ncp-ltc-tanh": make_policy("ncp-ltc-tanh", image_shape=(3, 66, 80), ltc_time_scale=20.0),
        "policy-ncp-ltc-norm": make_policy("ncp-ltc-norm", image_shape=(3, 66, 80), ltc_time_scale=20.0),
        "policy-lstm": make_policy("lstm", image_shape=(3, 66, 80)),
        "policy-lstm-norm": make_policy("lstm", image_shape=(3, 66, 80), head_activation="layernorm"),
        "policy-ncp-cfc-norm": make_policy("ncp-cfc", image_shape=(3, 66, 80), head_activation="layernorm"),
        "policy-cnn": make_policy("cnn", image_shape=(3, 66, 80)),
        "policy-random-cfc": make_policy("random-cfc", image_shape=(3, 66, 80), outputs=4, ncp_units=34, readout=True),
    }


MODULES = _modules()


def _reference_rollout(module, inputs: np.ndarray, dts: np.ndarray):
    """The training model's own step, per-sample elapsed times: outputs and states at every step."""
    state, outputs, states = None, [], []
    with torch.no_grad():
        for x, dt in zip(inputs, dts):
            y, state = module.step(torch.from_numpy(x), torch.from_numpy(dt), state)
            outputs.append(y.numpy())
            parts = [] if state is None else (list(state) if isinstance(state, tuple) else [state])
            states.append([p.numpy() for p in parts])
    return outputs, states


def _rollout_data(engine, steps=10, batch=3, seed=1):
    generator = np.random.default_rng(seed)
    inputs = generator.standard_normal((steps, batch, *engine.input_shape)).astype(np.float32)
    dts = (0.005 + 0.3 * generator.random((steps, batch))).astype(np.float32)  # irregular, per agent
    return inputs, dts


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "native"])
def test_backend_matches_the_training_model(name, backend):
    module = MODULES[name].eval()
    try:
        engine = load_engine(module, backend=backend)
    except BackendUnavailable as error:
        # Only the native backend may refuse, and only for cores it does not compile.
        assert backend == "native" and name in ("policy-lstm", "policy-lstm-norm", "policy-cnn"), error
        assert "CfC and LTC" in str(error)
        return
    inputs, dts = _rollout_data(engine)
    expected_outputs, expected_states = _reference_rollout(module, inputs, dts)
    state = engine.initial_state(inputs.shape[1])
    for x, dt, want_y, want_state in zip(inputs, dts, expected_outputs, expected_states):
        y, state = engine.step(x, dt, state)
        assert y.dtype == np.float32 and y.shape == want_y.shape
        np.testing.assert_allclose(y, want_y, atol=TOLERANCE, rtol=0)
        got = engine.state_arrays(state)
        assert len(got) == len(want_state)
        for a, b in zip(got, want_state):
            np.testing.assert_allclose(a, b, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("name", ["cfc-ncp", "cfc-ncp-pure", "cfc-ncp-no-gate", "cfc-no-backbone-pure", "ltc-ncp",
                                  "ltc-dense-explicit-linear", "ltc-ncp-mixed"])
def test_native_kernels_for_many_agents_match_the_training_model(name):
    """From ``batch_kernel_from`` agents on, the native backend switches to kernels that are SIMD over
    agents (its own vectorisable exp); 70 agents also cross a block boundary (64)."""
    module = MODULES[name].eval()
    engine = load_engine(module, backend="native")
    assert 70 >= engine.batch_kernel_from
    inputs, dts = _rollout_data(engine, steps=6, batch=70, seed=5)
    dts[:, 3] = 1e-3  # very short and very long steps too
    dts[:, 4] = 5.0
    expected_outputs, expected_states = _reference_rollout(module, inputs, dts)
    state = engine.initial_state(70)
    for x, dt, want_y, want_state in zip(inputs, dts, expected_outputs, expected_states):
        y, state = engine.step(x, dt, state)
        np.testing.assert_allclose(y, want_y, atol=TOLERANCE, rtol=0)
        for a, b in zip(engine.state_arrays(state), want_state):
            np.testing.assert_allclose(a, b, atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "native"])
@pytest.mark.parametrize("name", ["cfc-ncp", "ltc-ncp", "policy-ncp-cfc"])
def test_a_rollout_equals_the_sequence_forward_pass(name, backend):
    """Stepping frame by frame gives what training computes over the whole sequence at once."""
    module = MODULES[name].eval()
    engine = load_engine(module, backend=backend)
    inputs, dts = _rollout_data(engine, steps=8, batch=2)
    with torch.no_grad():
        sequence, _ = module(torch.from_numpy(inputs).transpose(0, 1), timespans=torch.from_numpy(dts).T)
    state, stepped = engine.initial_state(2), []
    for x, dt in zip(inputs, dts):
        y, state = engine.step(x, dt, state)
        stepped.append(y)
    np.testing.assert_allclose(np.stack(stepped, axis=1), sequence.numpy(), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "native"])
@pytest.mark.parametrize("name", ["policy-ncp-cfc", "policy-ncp-ltc", "policy-lstm"])
def test_a_policy_in_two_halves_equals_the_whole_step(name, backend):
    """features() when a frame arrives + step_features() at the tick == step() on the frame."""
    module = MODULES[name].eval()
    try:
        engine = load_engine(module, backend=backend)
    except BackendUnavailable:
        assert backend == "native" and name == "policy-lstm"
        return
    inputs, dts = _rollout_data(engine, steps=5, batch=2)
    expected_outputs, _ = _reference_rollout(module, inputs, dts)
    whole = halves = None
    for x, dt, want in zip(inputs, dts, expected_outputs):
        features = engine.features(x)
        assert features.shape == (2, engine.feature_size) and features.dtype == np.float32
        y_halves, halves = engine.step_features(features, dt, halves)
        y_whole, whole = engine.step(x, dt, whole)
        np.testing.assert_allclose(y_halves, want, atol=TOLERANCE, rtol=0)
        np.testing.assert_allclose(y_halves, y_whole, atol=TOLERANCE, rtol=0)
    with pytest.raises(ValueError, match=r"takes \(batch, 32\)"):
        engine.step_features(np.zeros((1, 31), dtype=np.float32), 0.05)
    core = load_engine(MODULES["cfc-ncp"], backend=backend)
    with pytest.raises(ValueError, match="for camera policies"):
        core.features(np.zeros((1, 32), dtype=np.float32))


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "native"])
def test_batched_agents_equal_agents_stepped_one_by_one(backend):
    module = MODULES["ltc-ncp"]
    engine = load_engine(module, backend=backend)
    inputs, dts = _rollout_data(engine, steps=6, batch=5, seed=4)
    together = engine.initial_state(5)
    alone = [engine.initial_state(1) for _ in range(5)]
    for x, dt in zip(inputs, dts):
        y_all, together = engine.step(x, dt, together)
        for agent in range(5):
            y_one, alone[agent] = engine.step(x[agent : agent + 1], dt[agent : agent + 1], alone[agent])
            np.testing.assert_allclose(y_all[agent : agent + 1], y_one, atol=1e-6, rtol=0)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "native"])
def test_resetting_some_agents_restarts_only_them(backend):
    engine = load_engine(MODULES["cfc-ncp"], backend=backend)
    inputs, dts = _rollout_data(engine, steps=4, batch=3)
    state = engine.initial_state(3)
    for x, dt in zip(inputs, dts):
        _, state = engine.step(x, dt, state)
    before = engine.state_arrays(state)[0]
    reset = engine.reset_agents(state, np.array([False, True, False]))
    after = engine.state_arrays(reset)[0]
    assert np.all(after[1] == 0) and np.abs(before[1]).max() > 0
    np.testing.assert_array_equal(after[[0, 2]], before[[0, 2]])
    fresh, _ = engine.step(inputs[0, 1:2], dts[0, 1:2])
    y, _ = engine.step(inputs[0], dts[0], reset)
    np.testing.assert_allclose(y[1:2], fresh, atol=1e-6, rtol=0)


def test_auto_times_every_available_backend_and_keeps_the_fastest():
    engine = load_engine(MODULES["cfc-ncp"], backend="auto", timing_steps=5)
    timings = engine.selection["median_step_us"]
    assert set(timings) == set(available_backends("cpu")) == {"torch", "onnxruntime", "native"}
    numeric = {name: value for name, value in timings.items() if isinstance(value, float)}
    assert engine.selection["chosen"] == engine.backend == min(numeric, key=numeric.get)
    # A camera policy is timed as the controller runs it: the head on the frame, then the core.
    policy = load_engine(MODULES["policy-ncp-cfc"], backend="auto", timing_steps=3)
    heads, cores = policy.selection["median_head_us"], policy.selection["median_core_us"]
    assert set(heads) == set(cores) == {"torch", "onnxruntime", "native"}
    for name, total in policy.selection["median_step_us"].items():
        assert total == pytest.approx(heads[name] + cores[name], abs=0.2)
    # A core the native kernels do not cover is skipped with the reason, not an error.
    lstm = load_engine(MODULES["policy-lstm"], backend="auto", timing_steps=3)
    assert lstm.backend in ("torch", "onnxruntime")
    assert "unavailable" in lstm.selection["median_step_us"]["native"]


@pytest.fixture
def without(monkeypatch):
    """Make libraries unimportable for one test (as on a robot where they are not installed)."""

    def block(*names):
        for name in names:
            monkeypatch.setitem(sys.modules, name, None)
        for module in [m for m in sys.modules if m.split(".")[:3] == ["liquid_control", "runtime", "kernels"]]:
            monkeypatch.delitem(sys.modules, module)  # the kernels package and its modules: imported afresh

    return block


def test_fallback_to_torch_without_onnxruntime_or_numba(without):
    without("onnxruntime", "numba")
    assert available_backends("cpu") == ["torch"]
    engine = load_engine(MODULES["cfc-ncp"], backend="auto", timing_steps=3)
    assert engine.backend == "torch"
    with pytest.raises(BackendUnavailable, match="pip install onnxruntime"):
        load_engine(MODULES["cfc-ncp"], backend="onnxruntime")
    with pytest.raises(BackendUnavailable, match="pip install numba"):
        load_engine(MODULES["cfc-ncp"], backend="native")


def test_native_policy_head_falls_back_to_torch_without_onnxruntime(without):
    without("onnxruntime")
    module = MODULES["policy-ncp-cfc"]
    engine = load_engine(module, backend="native")
    assert engine.head_backend == "torch"
    inputs, dts = _rollout_data(engine, steps=3, batch=2)
    expected, _ = _reference_rollout(module, inputs, dts)
    state = None
    for x, dt, want in zip(inputs, dts, expected):
        y, state = engine.step(x, dt, state)
        np.testing.assert_allclose(y, want, atol=TOLERANCE, rtol=0)


def test_cuda_runs_the_same_numbers_or_is_refused_clearly():
    module = MODULES["policy-ncp-cfc"]
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="no CUDA device"):
            load_engine(module, backend="torch", device="cuda")
        with pytest.raises(BackendUnavailable, match="CPU"):
            load_engine(module, backend="native", device="cuda")
        assert available_backends("cuda") == ["torch"]
        return
    cpu = load_engine(module, backend="torch")
    gpu = load_engine(_modules()["policy-ncp-cfc"], backend="torch", device="cuda")
    inputs, dts = _rollout_data(cpu, steps=5, batch=2)
    a = b = None
    for x, dt in zip(inputs, dts):
        y_cpu, a = cpu.step(x, dt, a)
        y_gpu, b = gpu.step(x, dt, b)
        np.testing.assert_allclose(y_gpu, y_cpu, atol=1e-4, rtol=0)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "native"])
def test_bad_arguments_are_refused_with_the_reason(backend):
    engine = load_engine(MODULES["ltc-ncp"], backend=backend)
    x = np.zeros((2, 32), dtype=np.float32)
    with pytest.raises(ValueError, match=r"takes \(batch, 32\)"):
        engine.step(np.zeros((2, 31), dtype=np.float32), 0.05)
    with pytest.raises(ValueError, match="2 values for a batch of 3"):
        engine.step(np.zeros((3, 32), dtype=np.float32), [0.1, 0.1])
    with pytest.raises(ValueError, match="> 0"):
        engine.step(x, 0.0)  # an LTC divides by the step length
    with pytest.raises(ValueError, match="finite"):
        engine.step(x, [0.05, float("nan")])
    state = engine.initial_state(3)
    with pytest.raises(ValueError, match="holds 3 agents but 2"):
        engine.step(x, 0.05, state)
    other = "torch" if backend != "torch" else "onnxruntime"
    with pytest.raises(ValueError, match="cannot continue it"):
        engine.step(x, 0.05, load_engine(MODULES["ltc-ncp"], backend=other).initial_state(2))
    with pytest.raises(ValueError, match="backend must be"):
        load_engine(MODULES["ltc-ncp"], backend="tensorrt")
    with pytest.raises(ValueError, match="> 0"):
        engine.step(x, 1e-46)  # a positive double that is 0 in float32
    with pytest.raises(ValueError, match="finite"):
        engine.step(x, 1e39)  # inf in float32
    with pytest.raises(ValueError, match="belongs to another model"):
        engine.step(x, 0.05, load_engine(MODULES["ltc-dense-explicit-linear"], backend=backend).initial_state(2))


def test_building_an_engine_leaves_the_module_in_its_mode():
    """ONNX export (onnxruntime backend, native conv head) must not switch dropout back on."""
    module = make_policy("ncp-cfc", image_shape=(3, 66, 80))
    module.head.drop.p = 0.5
    module.eval()
    for backend in ("onnxruntime", "native"):
        load_engine(module, backend=backend)
        assert not module.training and not any(m.training for m in module.modules())
    # (an engine puts its module in eval mode: it is for inference) and export alone hands it back as it came
    import io

    from liquid_control.nets.onnx_export import export_onnx

    module.train()
    export_onnx(module, io.BytesIO())
    assert module.training and module.head.training


@pytest.mark.parametrize("backend", ["torch", "onnxruntime", "native"])
@pytest.mark.parametrize("name,column", [("cfc-ncp", 3), ("ltc-ncp", 3), ("cfc-dense-relu", 2),
                                         ("ltc-sparse-random", None)])
@pytest.mark.parametrize("agents", [1, 20])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_every_backend_refuses_a_non_finite_input_before_the_step(backend, name, column, agents, bad):
    """Safety invariant S8: the backends agree on NaN/Inf inputs by all refusing them, even in an
    input no synapse of a sparse wiring reads. (Left to the arithmetic they disagreed: +Inf
    saturates an LTC's sigmoids to a finite output in torch, while the native kernels gave NaN.)"""
    module = MODULES[name]
    engine = load_engine(module, backend=backend)
    if column is None:  # an input no neuron listens to
        column = int(np.flatnonzero(np.abs(module.wiring.sensory_adjacency_matrix).sum(axis=1) == 0)[0])
    x = np.zeros((agents, engine.input_shape[0]), dtype=np.float32)
    _, state = engine.step(x, 0.05)
    x[-1, column] = bad
    with pytest.raises(ValueError, match="inputs hold NaN or Inf: refused before the step"):
        engine.step(x, 0.05, state)
    assert engine.is_finite(state)


def test_engine_loads_a_model_folder_and_describes_its_state():
    engine = load_engine("models/ncp19_lane", backend="native")
    assert engine.kind == "policy" and engine.input_shape == (3, 66, 200) and engine.output_size == 1
    y, state = engine.step(np.zeros((1, 3, 66, 200), dtype=np.float32), 0.05)
    description = engine.describe_state(state)
    assert set(description) == {"inter", "command", "motor"}
    assert engine.describe()["backend"] == "native"


def test_bench_command_quick_run_reports_every_section():
    completed = subprocess.run([sys.executable, "-m", "liquid_control", "bench", "--quick", "--json"],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["machine"]["threads"] == 1
    for case in ("CfC-NCP19", "LTC-NCP19", "CfC-FC19"):
        entry = result["cell"][case]
        assert set(entry["lanes"]) == {"ncps", "torch", "onnxruntime", "native"}
        assert max(entry["parity_max_abs_vs_ncps"].values()) < TOLERANCE
        assert entry["lanes"]["native"]["median_us"] > 0 and "speedup_vs_ncps" in entry["lanes"]["native"]
    assert max(result["policy"]["parity_max_abs_state_vs_ncps"].values()) < TOLERANCE
    assert set(result["batch"]["CfC-NCP19"]["by_agents"]) == {"1", "10", "100"}
    assert result["train"]["full"]["ours"]["sequences_per_s"] > 0
    assert result["train"]["parity"]["max_relative_gradient_difference"] < 1e-3
