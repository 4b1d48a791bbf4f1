"""Attention stability and compactness, two of the NCP paper's figures, measured per trained model.

Lechner et al. (2020) argue that the 19-neuron NCP is more interpretable and robust than larger
networks: its VisualBackProp attention stays on the road's edges under pixel noise, and a few
principal components explain its activity. The closed-loop study says *whether* a model keeps its
lane; these measures say something about *why*, on the same expert frames for every model:
``saliency_ssim`` (SSIM of clean against noisy saliency), ``pc1_variance_fraction`` (the hidden
state's variance on its first principal component) and ``output_spread`` (a model answering every
frame alike has not learned to use its camera). Definitions: docs/study.md, "Attention measures".
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from liquid_control.data.images import PreprocessSpec
from liquid_control.nets import load_model
from liquid_control.nets.saliency import visual_backprop
from liquid_control.sim.perturbations import FramePerturber, PerturbationConfig

# VisualBackProp keeps every conv layer's maps of a batch (~0.5 MB a frame for the PilotNet head at
# 66x200, more for larger images): this many frames at a time bound that, whatever the drive's length.
SALIENCY_BATCH = 32


def expert_frames(world: str, seed: int, n_frames: int = 200, speed: float = 3.0,
                  camera_rate_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n_frames`` camera frames of the expert's clean episode in ``world`` (``lane``: a drive
    on track ``seed`` at ``speed``; ``drone``: a flight to the target in scene ``seed``, which ends
    when the target is reached).

    Returns (frames, dts): the raw delivered frames, uint8 (N, H, W, 3) RGB, and the elapsed time
    before each (N,) float32 seconds; the first frame has no predecessor and gets the camera
    period, as the controller's first step after a reset does. ``expert_sequence`` adds the
    expert's labels.
    """
    frames, dts, _ = expert_sequence(world, seed, n_frames, speed, camera_rate_hz)
    return frames, dts


def expert_sequence(world: str, seed: int, n_frames: int = 200, speed: float = 3.0,
                    camera_rate_hz: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``expert_frames`` and the expert's labels for each frame, (N, outputs) float32."""
    from liquid_control.tasks import load_task
    from liquid_control.train.simulate import simulate_episode

    if n_frames < 2:
        raise ValueError(f"n_frames must be >= 2, got {n_frames}")
    period = 1.0 / (camera_rate_hz or load_task(world).camera_rate_hz)
    # The car needs a moment to reach its speed: a tenth more road, and two metres, is plenty.
    distance_m = 1.1 * n_frames * period * speed + 2.0
    episode = simulate_episode(seed, world, distance_m, speed=speed, recovery_rate_hz=0.0, camera_rate_hz=1.0 / period)
    if len(episode) < 2:
        raise ValueError(f"{world} {seed}: the expert's episode delivered {len(episode)} frame(s) "
                         f"({episode.meta['report']['stop_reason']}); choose another track or scene")
    return episode.frames[:n_frames], episode.elapsed(period)[:n_frames], episode.labels[:n_frames]


def noisy_frames(frames: np.ndarray, noise_std: float, seed: int = 0) -> np.ndarray:
    """``frames`` with the simulator's Gaussian pixel noise of ``noise_std`` (0..255 units), one
    seeded stream for the whole sequence: the same call gives the same pixels."""
    perturber = FramePerturber(PerturbationConfig(noise_std=noise_std), seed)
    return np.stack([perturber.apply_image(frame) for frame in frames])


def saliency_maps(policy, spec: PreprocessSpec, frames: np.ndarray) -> np.ndarray:
    """VisualBackProp of the policy's conv head for raw uint8 ``frames``: (N, H, W) float32 in [0, 1]."""
    maps = []
    for start in range(0, len(frames), SALIENCY_BATCH):
        maps.append(visual_backprop(policy.head, _network_input(spec, frames[start:start + SALIENCY_BATCH])).numpy())
    return np.concatenate(maps)


def saliency_ssim(clean: np.ndarray, noisy: np.ndarray) -> np.ndarray:
    """SSIM of each pair of saliency maps (N, H, W) in [0, 1]: (N,) float64."""
    try:
        from skimage.metrics import structural_similarity
    except ImportError as error:
        raise ImportError("the attention measures need scikit-image for SSIM: "
                          "pip install 'liquid_control[study]'") from error
    if clean.shape != noisy.shape or clean.ndim != 3:
        raise ValueError("saliency maps must be two (N, H, W) stacks of one shape; "
                         f"got {clean.shape} and {noisy.shape}")
    return np.array([structural_similarity(a, b, data_range=1.0) for a, b in zip(clean, noisy)])


def pc1_variance_fraction(activity: np.ndarray) -> float:
    """The fraction of the variance of ``activity`` (time x neurons) along its first principal
    component, in (0, 1]; NaN when the activity does not vary at all (nothing to explain)."""
    activity = np.asarray(activity, dtype=np.float64)
    if activity.ndim != 2 or activity.shape[0] < 2:
        raise ValueError(f"activity must be (time >= 2, neurons); got shape {activity.shape}")
    singular_values = np.linalg.svd(activity - activity.mean(axis=0), compute_uv=False)
    variances = singular_values ** 2
    total = variances.sum()
    # Centring a constant matrix leaves rounding residue (~1e-16 of its values), not variance.
    residue = 1e-12 * np.abs(activity).max()
    if total <= activity.size * residue ** 2:
        return math.nan
    return float(variances[0] / total)


def hidden_activity(policy, frames: np.ndarray, dts: np.ndarray, spec: PreprocessSpec) -> np.ndarray | None:
    """The core's hidden state after each frame, stepping from a fresh state: (N, neurons), or None
    for a core without state."""
    return step_through(policy, frames, dts, spec)[1]


def step_through(policy, frames: np.ndarray, dts: np.ndarray,
                 spec: PreprocessSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """Step the policy over ``frames`` from a fresh state with the elapsed times ``dts``: its
    outputs (N, outputs) and the core's hidden state after each frame (N, neurons), None for a core
    without state."""
    images = _network_input(spec, frames)
    outputs, rows = [], []
    state = None
    with torch.inference_mode():
        for image, dt in zip(images, dts):
            output, state = policy.step(image, float(dt), state)
            outputs.append(output.reshape(-1).numpy())
            if state is not None:
                # An LSTM's state is (h, c), a mixed-memory liquid core's too: h is the neurons' activity.
                hidden = state[0] if isinstance(state, tuple) else state
                rows.append(hidden.reshape(-1).numpy())
    return np.stack(outputs), (np.stack(rows) if rows else None)


def analyse_model(model_dir: str | Path, frames: np.ndarray, dts: np.ndarray, noise_std: float = 40.0,
                  seed: int = 0, labels: np.ndarray | None = None) -> dict:
    """Attention stability and compactness of the model in ``model_dir`` on ``frames`` (see the module doc).

    Returns ``saliency_ssim`` (mean over frames), ``saliency_ssim_per_frame``,
    ``pc1_variance_fraction`` and ``state_size`` (neurons in the activity); the last two are None
    for a memoryless core. With the expert's ``labels`` for the frames, also ``output_spread``
    (``trainer.output_spread`` of the outputs stepped over the clean frames): under
    ``FLAT_OUTPUT_SPREAD`` the model answers every frame alike.
    """
    from liquid_control.train.trainer import output_spread

    if len(frames) != len(dts):
        raise ValueError(f"{len(frames)} frames but {len(dts)} elapsed times")
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"{len(frames)} frames but {len(labels)} labels")
    policy, card = load_model(model_dir)
    policy.eval()
    spec = PreprocessSpec.from_card(card)
    per_frame = saliency_ssim(saliency_maps(policy, spec, frames),
                              saliency_maps(policy, spec, noisy_frames(frames, noise_std, seed)))
    outputs, activity = step_through(policy, frames, dts, spec)
    result = {"saliency_ssim": float(per_frame.mean()),
              "saliency_ssim_per_frame": [round(float(v), 4) for v in per_frame],
              "pc1_variance_fraction": None if activity is None else pc1_variance_fraction(activity),
              "state_size": None if activity is None else int(activity.shape[1]),
              "noise_std": float(noise_std), "frames": int(len(frames))}
    if labels is not None:
        spread = output_spread(outputs, labels)
        result["output_spread"] = None if spread is None else round(spread, 4)
    return result


def saliency_panel(rows: dict[str, str | Path], frame: np.ndarray, noise_std: float, path: str | Path,
                   seed: int = 0) -> None:
    """A PNG with one row per model (name -> model folder): the frame, its saliency, the frame with
    pixel noise of ``noise_std`` and its saliency, titled with that frame's SSIM. One entry gives a
    single model's picture; several put the models side by side for the docs."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("saliency_panel needs at least one model")
    noisy = noisy_frames(frame[None], noise_std, seed)[0]
    height, width = frame.shape[:2]
    column_width = 2.8
    row_height = column_width * height / width + 0.45  # room for the titles
    fig, axes = plt.subplots(len(rows), 4, figsize=(4 * column_width, len(rows) * row_height), squeeze=False)
    for axes_row, (name, model_dir) in zip(axes, rows.items()):
        policy, card = load_model(model_dir)
        policy.eval()
        spec = PreprocessSpec.from_card(card)
        maps = saliency_maps(policy, spec, np.stack([frame, noisy]))
        similarity = saliency_ssim(maps[:1], maps[1:])[0]
        pictures = [(frame, f"{name}: frame"), (maps[0], "saliency"), (noisy, f"pixel noise σ {noise_std:g}"),
                    (maps[1], f"saliency, SSIM {similarity:.2f}")]
        for axis, (picture, title) in zip(axes_row, pictures):
            if picture.ndim == 2:
                axis.imshow(picture, cmap="inferno", vmin=0.0, vmax=1.0)
            else:
                axis.imshow(picture)
            axis.set_title(title, fontsize=8)
            axis.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _network_input(spec: PreprocessSpec, frames: np.ndarray) -> torch.Tensor:
    """Raw uint8 RGB frames (N, H, W, 3) as the network's input (N, C, H, W), preprocessed as the card says."""
    return torch.from_numpy(np.stack([spec.apply(frame, "rgb8") for frame in frames])).permute(0, 3, 1, 2)
