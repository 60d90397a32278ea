"""Masks from regions, and the grow / shrink / feather operations.

Every function keeps the mask shape and the [0, 1] range, and leaves pixels far from the mask at
exactly 0, so "outside the mask" stays a hard, testable set.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .boxes import mask_bounds, pixel_bounds
from .regions import ImageRegions, Region, RegionBatch


def box_mask(region: Region, height: int, width: int) -> torch.Tensor:
    """``[H, W]`` float32 mask of one region: its own mask if it has one, else its box."""
    if region.mask is not None:
        return region.mask.to(torch.float32).reshape(height, width)
    mask = torch.zeros(height, width, dtype=torch.float32)
    x0, y0, x1, y1 = pixel_bounds(region.box, width, height)
    mask[y0:y1, x0:x1] = 1.0
    return mask


def image_regions_mask(found: ImageRegions) -> torch.Tensor:
    """Union (pixel-wise max) of every region of one image: ``[H, W]`` float32."""
    mask = torch.zeros(found.height, found.width, dtype=torch.float32)
    for region in found.regions:
        mask = torch.maximum(mask, box_mask(region, found.height, found.width))
    return mask


def regions_to_mask(regions: RegionBatch, grow_px: int = 0, feather_px: int = 0) -> torch.Tensor:
    """One mask per image from its regions, then grown/shrunk and feathered.

    Args:
        regions: a batch whose images all share one size (as an IMAGE batch does).
        grow_px: pixels to grow (> 0) or shrink (< 0) the union of the regions.
        feather_px: width of the soft outward edge, see :func:`feather_mask`.

    Returns:
        ``[B, H, W]`` float32 in [0, 1]; an image without regions gets an all-zero mask.
    """
    mask = torch.stack([image_regions_mask(found) for found in regions])
    return feather_mask(grow_mask(mask, grow_px), feather_px)


def _dilate_once(mask: torch.Tensor, square: bool) -> torch.Tensor:
    """One 3x3 grey-level dilation of ``[B, 1, H, W]`` with a square or a cross element."""
    if square:
        return F.max_pool2d(mask, kernel_size=3, stride=1, padding=1)
    rows = F.max_pool2d(mask, kernel_size=(3, 1), stride=1, padding=(1, 0))
    cols = F.max_pool2d(mask, kernel_size=(1, 3), stride=1, padding=(0, 1))
    return torch.maximum(rows, cols)


def _near_mask(
    mask: torch.Tensor, margin: int, operation: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Apply ``operation`` to the part of ``[B, H, W]`` within ``margin`` px of any set pixel.

    Every operation here changes nothing farther than its reach from the mask, so running it on
    that window (with its own zero/edge padding) gives exactly the full-image result, at a cost
    that follows the mask's size instead of the image's.
    """
    bounds = mask_bounds(mask.amax(dim=0))
    if bounds is None:
        return operation(mask)
    height, width = int(mask.shape[-2]), int(mask.shape[-1])
    x0, y0 = max(0, bounds[0] - margin), max(0, bounds[1] - margin)
    x1, y1 = min(width, bounds[2] + margin), min(height, bounds[3] + margin)
    out = torch.zeros_like(mask, dtype=torch.float32)
    out[:, y0:y1, x0:x1] = operation(mask[:, y0:y1, x0:x1])
    return out


def grow_mask(mask: torch.Tensor, px: int) -> torch.Tensor:
    """Grow (``px > 0``) or shrink (``px < 0``) ``[B, H, W]`` by ``|px|`` pixels.

    Alternating square and cross steps give an octagon, close to a round brush, so corners do
    not balloon as with a square kernel. Shrinking is growing the complement.
    """
    if px == 0:
        return mask.clone()

    def grow(part: torch.Tensor) -> torch.Tensor:
        work = (part if px > 0 else 1.0 - part)[:, None].to(torch.float32)
        for step in range(abs(px)):
            work = _dilate_once(work, square=step % 2 == 1)
        return work[:, 0] if px > 0 else 1.0 - work[:, 0]

    return _near_mask(mask, abs(px), grow)


def _gaussian_kernel(radius: int) -> torch.Tensor:
    """1-D Gaussian of support ``2 * radius + 1`` (sigma = radius / 2), summing to 1."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / (radius / 2.0)) ** 2)
    return kernel / kernel.sum()


def blur_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Separable Gaussian blur of ``[B, H, W]`` with a kernel of finite ``radius``.

    The finite support keeps pixels farther than ``radius`` from the mask at exactly 0.
    """
    if radius <= 0:
        return mask.clone()
    kernel = _gaussian_kernel(radius)
    work = mask[:, None].to(torch.float32)
    work = F.conv2d(F.pad(work, (radius, radius, 0, 0)), kernel.reshape(1, 1, 1, -1))
    work = F.conv2d(F.pad(work, (0, 0, radius, radius)), kernel.reshape(1, 1, -1, 1))
    return work[:, 0].clamp(0.0, 1.0)


def feather_mask(mask: torch.Tensor, px: int) -> torch.Tensor:
    """Soften the edge of ``[B, H, W]`` outwards over about ``px`` pixels.

    The mask is grown by ``ceil(px / 2)`` and blurred with the same radius, so every pixel that
    was 1 stays exactly 1 (the object is fully replaced) and the ramp to 0 lies outside it;
    pixels farther than ``2 * ceil(px / 2)`` from the mask stay exactly 0.
    """
    if px <= 0:
        return mask.clone()
    radius = math.ceil(px / 2)

    def feather(part: torch.Tensor) -> torch.Tensor:
        return torch.maximum(blur_mask(grow_mask(part, radius), radius), part.to(torch.float32))

    return _near_mask(mask, 2 * radius, feather)
