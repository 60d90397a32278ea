"""Crop a context window around a mask at the model's native size, and stitch the result back.

The round trip only ever changes pixels where the blend mask is above 0: everything else in the
output is the input tensor's own values, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .boxes import mask_bounds


@dataclass(frozen=True)
class CropWindow:
    """Where the crop sits in the source image and the size it is processed at.

    Attributes:
        x0, y0, x1, y1: the window in source pixels (right/bottom exclusive), inside the image.
        width, height: the size of the crop as given to the model: multiples of the model's
            ``multiple``, the longer side equal to the model's native size, aspect kept.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    width: int
    height: int

    @property
    def source_size(self) -> tuple[int, int]:
        """``(width, height)`` of the window in source pixels."""
        return self.x1 - self.x0, self.y1 - self.y0


def _round_to_multiple(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def plan_crop(
    mask: torch.Tensor, context: float, native_size: int, multiple: int = 8
) -> CropWindow | None:
    """Choose the window around the non-zero pixels of ``mask``.

    Args:
        mask: ``[H, W]`` blend mask; the window contains every pixel where it is above 0.
        context: padding added on every side, as a fraction of the mask's larger side
            (0.5 → the window is about twice the object's size), clipped to the image.
        native_size: the model's preferred resolution; the window's longer side is scaled to it
            (small objects are upscaled, large ones downscaled).
        multiple: the processing size is rounded to multiples of this (8 for SD's VAE).

    Returns:
        The window, or ``None`` when the mask is empty.
    """
    bounds = mask_bounds(mask)
    if bounds is None:
        return None
    height, width = int(mask.shape[-2]), int(mask.shape[-1])
    left, top, right, bottom = bounds
    pad = int(math.ceil(context * max(right - left, bottom - top)))
    x0, y0 = max(0, left - pad), max(0, top - pad)
    x1, y1 = min(width, right + pad), min(height, bottom + pad)
    scale = native_size / max(x1 - x0, y1 - y0)
    return CropWindow(
        x0,
        y0,
        x1,
        y1,
        width=_round_to_multiple((x1 - x0) * scale, multiple),
        height=_round_to_multiple((y1 - y0) * scale, multiple),
    )


def resize_image(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize ``[H, W, C]`` (values in [0, 1]) with antialiased bicubic; identity if same size."""
    if tuple(image.shape[:2]) == (height, width):
        return image.clone()
    work = image.movedim(-1, 0)[None].to(torch.float32)
    work = F.interpolate(
        work, size=(height, width), mode="bicubic", antialias=True, align_corners=False
    )
    return work[0].movedim(0, -1).clamp(0.0, 1.0)


def crop_image(image: torch.Tensor, window: CropWindow) -> torch.Tensor:
    """``[H, W, C]`` → the window's pixels resized to ``[window.height, window.width, C]``."""
    pixels = image[window.y0 : window.y1, window.x0 : window.x1]
    return resize_image(pixels, window.height, window.width)


def crop_mask(mask: torch.Tensor, window: CropWindow) -> torch.Tensor:
    """``[H, W]`` → binary ``[window.height, window.width]``: 1 wherever the mask touches.

    This is the area the model regenerates; it covers every pixel the blend will take from the
    model's output.
    """
    pixels = mask[window.y0 : window.y1, window.x0 : window.x1][..., None]
    resized = resize_image((pixels > 0).to(torch.float32), window.height, window.width)[..., 0]
    return (resized > 0.01).to(torch.float32)


def stitch(
    original: torch.Tensor, generated: torch.Tensor, window: CropWindow, blend: torch.Tensor
) -> torch.Tensor:
    """Paste ``generated`` back into ``original`` through the soft ``blend`` mask.

    Args:
        original: ``[H, W, C]`` source image.
        generated: ``[window.height, window.width, C]`` model output for the window.
        window: from :func:`plan_crop` on ``blend``.
        blend: ``[H, W]`` in [0, 1]; 1 takes the generated pixel, 0 keeps the original.

    Returns:
        ``[H, W, C]``: ``original * (1 - m) + generated * m`` where ``m > 0``, and exactly
        ``original`` everywhere else.

    Raises:
        ValueError: if ``blend`` is non-zero outside ``window`` (the window was planned for
            another mask).
    """
    bounds = mask_bounds(blend)
    if bounds is not None and not (
        window.x0 <= bounds[0]
        and window.y0 <= bounds[1]
        and bounds[2] <= window.x1
        and bounds[3] <= window.y1
    ):
        raise ValueError("stitch: the blend mask reaches outside the crop window")
    source_w, source_h = window.source_size
    back = resize_image(generated, source_h, source_w).to(original.device, original.dtype)
    out = original.clone()
    area = original[window.y0 : window.y1, window.x0 : window.x1]
    weight = blend[window.y0 : window.y1, window.x0 : window.x1, None].to(original.dtype)
    mixed = area * (1.0 - weight) + back * weight
    out[window.y0 : window.y1, window.x0 : window.x1] = torch.where(weight > 0, mixed, area)
    return out
