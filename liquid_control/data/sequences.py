"""Training sequences: windows of consecutive preprocessed frames with their elapsed times and labels.

Frames are preprocessed once (crop, resize, normalise as the model card will say) and kept as
float16 to halve the memory. Each window starts from a fresh network state, as deployment does.
Augmentation acts per window, so a sequence stays consistent over time the way a real change of
lighting or camera would: brightness/contrast and colour gains, sensor noise, and a small
horizontal shift whose label is corrected (shifting the view to the right looks like the car
sat further left, so it should steer right: a recovery example).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .episodes import Episode
from .images import PreprocessSpec


@dataclass(frozen=True)
class Augmentation:
    brightness: float = 0.25  # +- offset in normalised units
    contrast: float = 0.25  # +- relative
    colour: float = 0.15  # +- per-channel gain
    noise_std: float = 0.08  # normalised units
    max_shift_px: int = 8  # horizontal shift, pixels (0 = off)
    # Label correction per pixel of shift, 1/m: one pixel is ~0.45 deg of heading at a 90 deg field of
    # view, which the expert's pure pursuit (look-ahead ~1.35 m) answers with ~0.012 1/m; we take less.
    shift_curvature_per_px: float = 0.008
    # A yaw-rate label (a velocity policy's angular.z) per pixel of shift, rad/s: at 128 px over a 90 deg
    # field of view one pixel is ~0.012 rad of bearing, which the drone expert turns at 2 rad/s per rad.
    shift_yaw_rate_per_px: float = 0.02
    grayscale_probability: float = 0.1  # 0 where colour is the cue (the drone's red target)

    @classmethod
    def from_dict(cls, values: dict) -> "Augmentation":
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown augmentation settings {sorted(unknown)}; "
                             f"known: {sorted(cls.__dataclass_fields__)}")
        return cls(**values)


class SequenceDataset(torch.utils.data.Dataset):
    def __init__(self, episodes: list[Episode], spec: PreprocessSpec, seq_len: int, stride: int | None = None,
                 nominal_dt: float = 0.05, augmentation: Augmentation | None = None, seed: int = 0):
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        self.spec = spec
        self.seq_len = seq_len
        self.augmentation = augmentation
        self.seed = seed
        self.nominal_dt = nominal_dt
        self.epoch = 0
        self.frames, self.elapsed, self.labels, self.windows = [], [], [], []
        gain, offset = spec.affine
        self._gain = torch.from_numpy(gain)[None, :, None, None]
        self._offset = torch.from_numpy(offset)[None, :, None, None]
        for number, episode in enumerate(episodes):
            if len(episode) < seq_len:
                continue
            if episode.preprocessed:
                # The model's input pixels already (often memory-mapped from a recording's cache):
                # a view, never a copy, so memory does not grow with the recording.
                self.frames.append(torch.from_numpy(episode.frames).permute(0, 3, 1, 2))
            elif spec.pixels(episode.frames[0], "rgb8") is not None:
                # Frames at the model's size stay uint8 (a quarter of float32's memory) and are
                # normalised on the fly in __getitem__, exactly as spec.apply would.
                stacked = np.stack([spec.pixels(frame, "rgb8") for frame in episode.frames])
                self.frames.append(torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous())  # (T, C, H, W)
            else:
                stacked = np.stack([spec.apply(frame, "rgb8") for frame in episode.frames]).astype(np.float16)
                self.frames.append(torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous())
            self.elapsed.append(torch.from_numpy(episode.elapsed(nominal_dt)))
            self.labels.append(torch.from_numpy(episode.labels.astype(np.float32)))
            self.label_names = episode.label_names
            index = len(self.frames) - 1
            for start in range(0, len(episode) - seq_len + 1, stride or seq_len):
                self.windows.append((index, start))
        if not self.windows:
            raise ValueError(f"no episode has {seq_len} frames: nothing to train on")

    def __len__(self) -> int:
        return len(self.windows)

    def set_epoch(self, epoch: int) -> None:
        """Reseed augmentation per epoch so epochs differ but a run is reproducible."""
        self.epoch = epoch

    def __getitem__(self, item: int):
        index, start = self.windows[item]
        stop = start + self.seq_len
        frames = self.frames[index][start:stop].contiguous()  # a memory-mapped view: (C, H, W) order, as the others
        frames = frames.float() * self._gain - self._offset if frames.dtype == torch.uint8 else frames.float()
        elapsed = self.elapsed[index][start:stop].clone()
        elapsed[0] = self.nominal_dt  # a window starts from a fresh state, like deployment's first step
        labels = self.labels[index][start:stop].clone()
        if self.augmentation is not None:
            frames, labels = self._augment(frames, labels, np.random.default_rng([self.seed, self.epoch, item]))
        return frames, elapsed, labels

    def _noise(self, shape: torch.Size, rng: np.random.Generator) -> torch.Tensor:
        """Standard normal noise of ``shape``: a window at a random offset into a bank of four
        items' worth, drawn once per dataset from its seed. Drawing fresh normals for every item
        cost more than the rest of the augmentation together; a shifted window of a bank this size
        does not repeat within an item and is as deterministic per seed, epoch and item."""
        count = int(np.prod(shape))
        if getattr(self, "_noise_bank", None) is None or len(self._noise_bank) < 4 * count:
            generator = torch.Generator().manual_seed(int(np.random.default_rng([self.seed, 0x5E]).integers(2**31)))
            self._noise_bank = torch.randn(4 * count, generator=generator)
        start = int(rng.integers(0, len(self._noise_bank) - count + 1))
        return self._noise_bank[start:start + count].view(shape)

    def _augment(self, frames: torch.Tensor, labels: torch.Tensor, rng: np.random.Generator):
        aug = self.augmentation
        channels = frames.shape[1]
        if channels == 3 and rng.random() < aug.grayscale_probability:
            frames = frames.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1).contiguous()
        gain = 1.0 + rng.uniform(-aug.contrast, aug.contrast) + rng.uniform(-aug.colour, aug.colour, size=channels)
        offset = rng.uniform(-aug.brightness, aug.brightness)
        frames = frames * torch.tensor(gain, dtype=frames.dtype)[None, :, None, None] + offset
        if aug.noise_std > 0:
            frames = frames + aug.noise_std * self._noise(frames.shape, rng)
        if aug.max_shift_px > 0:
            shift = int(rng.integers(-aug.max_shift_px, aug.max_shift_px + 1))
            if shift:
                # Roll the view sideways and repeat the edge column into the gap it leaves.
                frames = torch.roll(frames, shifts=shift, dims=3)
                if shift > 0:
                    frames[..., :shift] = frames[..., shift : shift + 1]
                else:
                    frames[..., shift:] = frames[..., shift - 1 : shift]
                # What a view turned by the shift asks of the command: turn back (curvature or yaw
                # rate); the other fields of a velocity command do not change with the heading.
                labels = labels.clone()
                for k, name in enumerate(self.label_names):
                    if name == "curvature":
                        labels[:, k] -= shift * aug.shift_curvature_per_px
                    elif name == "angular.z":
                        labels[:, k] -= shift * aug.shift_yaw_rate_per_px
        return frames, labels


def episode_inputs(episode: Episode, spec: PreprocessSpec, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """Frames ``start:stop`` of an episode as the network's input, float32 (T, C, H, W)."""
    frames = episode.frames[start:stop]
    if episode.preprocessed:
        gain, offset = spec.affine
        pixels = torch.from_numpy(np.ascontiguousarray(frames)).float()
        return (pixels * torch.from_numpy(gain) - torch.from_numpy(offset)).permute(0, 3, 1, 2)
    return torch.from_numpy(np.stack([spec.apply(frame, "rgb8") for frame in frames])).permute(0, 3, 1, 2)
