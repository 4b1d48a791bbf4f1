"""The study's extra baselines: GRU, dense CfC and CT-RNN cores behind the conv head.

Each new preset steps exactly as it runs over sequences, survives a model file, exports to ONNX,
runs in the deployment engine and trains. The CT-RNN, the one that integrates time itself, is
also checked to use the elapsed time it is given.
"""

import numpy as np
import pytest
import torch

from liquid_control.data.episodes import Episode
from liquid_control.nets import load_model, save_model
from liquid_control.nets.policy import PRESETS, make_policy, set_output_bias
from liquid_control.runtime.engines import load_engine

NEW_PRESETS = ("gru", "cfc", "ctrnn")
SHAPE = (3, 66, 80)  # the smallest width the conv head takes comfortably: quick tests, same cores
TOLERANCE = 1e-5


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These cores are tiny: their many small operations run fastest on one thread, where two
    threads on a busy two-core machine spend most of their time waiting for each other."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _policy(preset: str, outputs: int = 1, seed: int = 0):
    torch.manual_seed(seed)
    return make_policy(preset, image_shape=SHAPE, outputs=outputs).eval()


def _rollout(policy, images: torch.Tensor, dt: torch.Tensor):
    """Frame-by-frame outputs (batch, time, outputs) and the final state, per-sample elapsed times."""
    state, outputs = None, []
    with torch.no_grad():
        for t in range(images.shape[1]):
            y, state = policy.step(images[:, t], dt[:, t], state)
            outputs.append(y)
    return torch.stack(outputs, dim=1), state


def test_the_presets_include_the_new_baselines():
    assert set(NEW_PRESETS) <= set(PRESETS)


@pytest.mark.parametrize("preset", NEW_PRESETS)
def test_the_sequence_forward_equals_stepping_frame_by_frame(preset):
    policy = _policy(preset, outputs=2)
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(2, 6, *SHAPE, generator=generator)
    dt = 0.01 + 0.2 * torch.rand(2, 6, generator=generator)
    with torch.no_grad():
        outputs, final = policy(images, timespans=dt)
        with_trailing_axis, _ = policy(images, timespans=dt.unsqueeze(-1))
    stepped, stepped_final = _rollout(policy, images, dt)
    assert outputs.shape == (2, 6, 2) and final.shape == (2, 64)
    torch.testing.assert_close(stepped, outputs, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(stepped_final, final, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(with_trailing_axis, outputs, atol=0, rtol=0)


@pytest.mark.parametrize("preset", NEW_PRESETS)
def test_one_frame_or_a_batch_steps_alike(preset):
    policy = _policy(preset, outputs=2)
    images = torch.randn(3, *SHAPE)
    with torch.no_grad():
        batch, batch_state = policy.step(images, torch.tensor([0.05, 0.05, 0.05]))
        one, one_state = policy.step(images[1], 0.05)
        again, _ = policy.step(images[1], 0.05, one_state)
    assert batch.shape == (3, 2) and batch_state.shape == (3, 64)
    assert one.shape == (2,) and one_state.shape == (64,) and again.shape == (2,)
    torch.testing.assert_close(one, batch[1], atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(one_state, batch_state[1], atol=TOLERANCE, rtol=0)
    # A dense CfC is described by its FullyConnected wiring: every neuron a motor neuron.
    assert set(policy.describe_state(one_state)) == ({"motor"} if preset == "cfc" else {preset})


@pytest.mark.parametrize("preset", NEW_PRESETS)
def test_model_files_round_trip_the_architecture_and_the_outputs(tmp_path, preset):
    policy = _policy(preset, outputs=2, seed=3)
    folder = save_model(policy, tmp_path / preset, preprocessing={"size": list(SHAPE[1:])})
    loaded, card = load_model(folder)
    assert card["architecture"] == policy.architecture()
    assert card["architecture"]["core"]["kind"] == preset
    images, dt = torch.randn(2, 4, *SHAPE), torch.full((2, 4), 0.05)
    ours, _ = _rollout(policy, images, dt)
    theirs, _ = _rollout(loaded.eval(), images, dt)
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("preset", NEW_PRESETS)
def test_onnx_export_matches_torch_over_a_rollout(tmp_path, preset):
    from liquid_control.nets.onnx_export import check_onnx, export_onnx

    policy = _policy(preset, seed=2)
    path = export_onnx(policy, tmp_path / "policy.onnx")
    parity = check_onnx(policy, path, steps=6, batch=2)
    assert parity["max_abs_output_error"] < TOLERANCE and parity["max_abs_state_error"] < TOLERANCE, parity


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
@pytest.mark.parametrize("preset", NEW_PRESETS)
def test_the_engine_matches_the_module(preset, backend):
    policy = _policy(preset, seed=4)
    engine = load_engine(policy, backend=backend)
    generator = np.random.default_rng(0)
    images = generator.standard_normal((2, 5, *SHAPE)).astype(np.float32)
    dt = (0.005 + 0.3 * generator.random((2, 5))).astype(np.float32)  # irregular, per agent
    expected, expected_state = _rollout(policy, torch.from_numpy(images), torch.from_numpy(dt))
    state = engine.initial_state(2)
    for t in range(5):
        y, state = engine.step(images[:, t], dt[:, t], state)
        np.testing.assert_allclose(y, expected[:, t].numpy(), atol=TOLERANCE, rtol=0)
    (h,) = engine.state_arrays(state)
    np.testing.assert_allclose(h, expected_state.numpy(), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("preset", NEW_PRESETS)
def test_auto_picks_a_backend_that_runs_the_core(preset):
    policy = _policy(preset, seed=5)
    engine = load_engine(policy, backend="auto", timing_steps=2)
    native = engine.selection["median_step_us"]["native"]
    if preset == "cfc":
        assert isinstance(native, float), "the native kernels run a dense CfC"
    else:
        assert "unavailable" in native and "CfC and LTC" in native
    image = np.random.default_rng(1).standard_normal((1, *SHAPE)).astype(np.float32)
    y, _ = engine.step(image, 0.05)
    with torch.no_grad():
        expected, _ = policy.step(torch.from_numpy(image), 0.05)
    np.testing.assert_allclose(y, expected.numpy(), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("preset", NEW_PRESETS)
def test_the_output_bias_is_the_readout_of_each_core(preset):
    policy = _policy(preset, outputs=2)
    assert set_output_bias(policy, [0.5, -1.0])
    readout = policy.core.fc if preset == "cfc" else policy.core.readout
    assert readout.bias.tolist() == [0.5, -1.0]


def _ctrnn_core_and_input():
    torch.manual_seed(6)
    core = make_policy("ctrnn").core.eval()
    return core, torch.randn(core.input_size)


def _fixed_point(core, x: torch.Tensor) -> torch.Tensor:
    """h* = tanh(W_in x + W_rec h* + b): where the state settles under a constant input."""
    state = core.initial_state(None)
    with torch.no_grad():
        for _ in range(200):
            _, state = core.step(x, 1.0, state)
    return state


def test_a_longer_elapsed_time_takes_the_ctrnn_further_toward_its_fixed_point():
    core, x = _ctrnn_core_and_input()
    settled = _fixed_point(core, x)
    with torch.no_grad():
        assert torch.allclose(core.step(x, 1.0, settled)[1], settled, atol=1e-6), "the fixed point is one"
        distances = [float((core.step(x, dt)[1] - settled).norm()) for dt in (0.01, 0.05, 0.2, 1.0)]
    assert distances == sorted(distances, reverse=True) and distances[-1] < 0.5 * distances[0], distances


def test_a_zero_elapsed_time_leaves_the_ctrnn_state_unchanged():
    core, x = _ctrnn_core_and_input()
    state = torch.randn(3, core.hidden_size)
    with torch.no_grad():
        _, same = core.step(x.expand(3, -1), 0.0, state)
        _, per_sample = core.step(x.expand(3, -1), torch.tensor([0.0, 0.1, 0.0]), state)
    assert torch.equal(same, state)
    assert torch.equal(per_sample[[0, 2]], state[[0, 2]]) and not torch.equal(per_sample[1], state[1])


def test_the_ctrnn_takes_elapsed_times_in_every_form():
    core, _ = _ctrnn_core_and_input()
    x = torch.randn(2, 3, core.input_size)
    column = torch.full((2, 1), 0.07)
    with torch.no_grad():
        reference, _ = core(x, timespans=0.07)
        for form in (torch.full((2, 3), 0.07), torch.full((2, 3, 1), 0.07), torch.tensor(0.07)):
            torch.testing.assert_close(core(x, timespans=form)[0], reference, atol=TOLERANCE, rtol=0)
        for dt in (0.07, column, column[:, 0], torch.tensor(0.07)):
            torch.testing.assert_close(core.step(x[:, 0], dt)[0], reference[:, 0], atol=TOLERANCE, rtol=0)
    with pytest.raises(ValueError, match="finite and >= 0"):
        core.step(x[:, 0], -0.05)
    with pytest.raises(ValueError, match="timespans has shape"):
        core(x, timespans=torch.full((3, 2), 0.05))


def _synthetic_episode(seed: int, frames: int = 40) -> Episode:
    """A bright vertical bar on a dark noisy frame; its column sets the curvature label."""
    generator = np.random.default_rng(seed)
    columns = generator.integers(8, SHAPE[2] - 8, frames)
    images = generator.integers(0, 60, (frames, *SHAPE[1:], 3), dtype=np.uint8)
    for image, column in zip(images, columns):
        image[:, column - 3 : column + 3] = 255
    labels = (0.1 + 0.003 * (columns - SHAPE[2] / 2)).astype(np.float32)[:, None]
    stamps = np.cumsum(generator.uniform(0.03, 0.08, frames))  # irregular frame times
    return Episode(f"synthetic-{seed}", images, stamps, labels)


@pytest.mark.parametrize("preset", NEW_PRESETS)
def test_a_tiny_training_run_reduces_the_loss(tmp_path, preset):
    from liquid_control.train.trainer import DEFAULT_PREPROCESSING, TrainConfig, train

    config = TrainConfig(arch=preset, epochs=4, batch_size=4, seq_len=8, stride=8, lr=3e-3, val_fraction=0.0,
                         augment=False, preprocessing={**DEFAULT_PREPROCESSING, "size": list(SHAPE[1:])})
    folder = train([_synthetic_episode(0), _synthetic_episode(1)], tmp_path / preset, config, progress=False)
    model, card = load_model(folder)
    losses = [epoch["train_loss"] for epoch in card["training"]["history"]]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses
    assert card["architecture"]["core"] == make_policy(preset, image_shape=SHAPE).architecture()["core"]
