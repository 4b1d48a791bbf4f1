"""VisualBackProp (Bojarski et al., 2017): which pixels the conv head's features come from.

Each convolution's feature maps are averaged over channels. Starting at the deepest layer, the
averaged map is scaled up to the size of the layer before it and multiplied point-wise with
that layer's averaged map, down to the input resolution. Where the product stays large, the
pixels fed strongly activated units all the way up. The NCP paper used it to show that the
19-neuron lane keeper attends to the road's edges. One forward pass, no gradients: cheap enough
to publish from a controller at a reduced rate.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .policy import ConvHead


@torch.no_grad()
def visual_backprop(head: ConvHead, images: torch.Tensor) -> torch.Tensor:
    """Saliency of ``images`` (batch, C, H, W) for ``head``: (batch, H, W) in [0, 1]."""
    if images.dim() == 3:
        return visual_backprop(head, images.unsqueeze(0))[0]
    _, maps = head(images, return_maps=True)
    mask = None
    for feature_map in reversed(maps):
        averaged = feature_map.mean(dim=1, keepdim=True)
        if mask is not None:
            averaged = averaged * F.interpolate(mask, size=averaged.shape[-2:], mode="bilinear", align_corners=False)
        mask = averaged
    mask = F.interpolate(mask, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    low = mask.flatten(1).min(dim=1).values[:, None, None]
    high = mask.flatten(1).max(dim=1).values[:, None, None]
    return (mask - low) / (high - low).clamp_min(1e-12)
