"""The attention overlay: the VisualBackProp map of the conv head blended on the camera frame.

``nets.saliency.visual_backprop`` gives the map at the network's input resolution; the overlay
puts it back where that input came from in the raw frame (the card's crop, then the resize) and
blends a heat map there, so a user sees the road edges (or the target) the network attends to.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from liquid_control.nets.saliency import visual_backprop


def saliency_map(policy, preprocessed: np.ndarray) -> np.ndarray:
    """VisualBackProp of a camera policy's head on one preprocessed (H, W, C) float32 frame: (H, W) in [0, 1]."""
    device = next(policy.head.parameters()).device
    image = torch.from_numpy(np.ascontiguousarray(preprocessed)).to(device).permute(2, 0, 1)
    return visual_backprop(policy.head, image).cpu().numpy()


def blend_attention(frame: np.ndarray, saliency: np.ndarray, crop: tuple[int, int, int, int] = (0, 0, 0, 0),
                    strength: float = 0.6) -> np.ndarray:
    """``frame`` (H, W, 3) RGB uint8 with the (h, w) map in [0, 1] blended as a heat map over the
    region the network saw (``crop``: pixels removed from the top, bottom, left and right)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    frame = frame[:, :, :3].astype(np.uint8, copy=False)
    top, bottom, left, right = crop
    height, width = frame.shape[:2]
    region = (slice(top, height - bottom), slice(left, width - right))
    seen = frame[region]
    heat_map = cv2.resize(np.asarray(saliency, dtype=np.float32), (seen.shape[1], seen.shape[0]),
                          interpolation=cv2.INTER_LINEAR)
    heat_map = np.clip(heat_map, 0.0, 1.0)
    colours = cv2.applyColorMap((heat_map * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    weight = (strength * heat_map)[:, :, None]
    out = frame.copy()
    out[region] = (seen * (1.0 - weight) + colours * weight).astype(np.uint8)
    return out


def attention_overlay(policy, frame: np.ndarray, preprocessed: np.ndarray,
                      crop: tuple[int, int, int, int] = (0, 0, 0, 0)) -> np.ndarray:
    """The overlay image (RGB uint8, the frame's size) of ``policy`` looking at ``frame``."""
    return blend_attention(frame, saliency_map(policy, preprocessed), crop)
