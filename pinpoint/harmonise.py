"""Seams that match (S0's harmony): the colour and tone a sampler gave the surroundings of the
new content are measured against the original and the difference is carried smoothly into the
new content, so the pasted area meets its surroundings without a visible edge.

A sampler regenerates a crop's context too (the pixels around the mask, which the stitch then
throws away), and through the VAE it shifts their colour and brightness a little: the same
shift sits on the new content and shows as a seam. The shift is known exactly where the
original is known, on the context ring, so it is spread from there over the crop by normalised
convolution (a smooth fill-in of the ring's differences) and added to the sampled crop. The
edit's own colours and detail stay (a smooth offset changes no edge inside it), and the stitch
still takes the original wherever the blend mask is 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import PinpointError

GRID = 32
"""The correction is computed on a grid of at most this many cells a side (it is smooth)."""
PASSES = 24
"""3x3 box passes of the normalised convolution on that grid (a Gaussian of about 4 cells):
the ring's shift reaches the middle of a mask that fills half the crop."""


def check_harmonise(strength: float, name: str = "harmonise") -> float:
    """``strength`` if it is in [0, 1] (0: off, 1: the whole measured shift is corrected)."""
    if not 0.0 <= strength <= 1.0:
        raise PinpointError(f"{name} is {strength}", "use 0 (off) to 1 (the whole shift)")
    return float(strength)


def harmonise_seam(
    original: torch.Tensor, sampled: torch.Tensor, blend: torch.Tensor, strength: float
) -> torch.Tensor:
    """``sampled`` with the colour shift of its context corrected.

    Args:
        original: ``[h, w, 3]`` the window of the original image.
        sampled: ``[h, w, 3]`` the sampled crop's content resized to the window.
        blend: ``[h, w]`` the feathered blend mask (0: the original is kept: the context).
        strength: how much of the measured shift is corrected, 0 to 1.

    Returns:
        ``[h, w, 3]`` in [0, 1]; ``sampled`` itself when ``strength`` is 0 or the window has no
        context (the mask covers it all).
    """
    known = (blend == 0).to(torch.float32)
    if strength == 0 or not bool(known.any()):
        return sampled
    height, width = int(sampled.shape[0]), int(sampled.shape[1])
    scale = min(1.0, GRID / max(height, width))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    difference = (original.to(torch.float32) - sampled.to(torch.float32)).permute(2, 0, 1)
    shift = F.interpolate((difference * known)[None], size=size, mode="area")
    weight = F.interpolate(known[None, None], size=size, mode="area")
    for _ in range(PASSES):
        shift = F.avg_pool2d(F.pad(shift, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        weight = F.avg_pool2d(F.pad(weight, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    field = shift / weight.clamp_min(1e-6)
    field = F.interpolate(field, size=(height, width), mode="bilinear", align_corners=False)
    corrected = sampled.to(torch.float32) + strength * field[0].permute(1, 2, 0)
    return corrected.clamp(0.0, 1.0).to(sampled.dtype)
