"""Box geometry in pixel coordinates: ``(x0, y0, x1, y1)``, right/bottom exclusive."""

from __future__ import annotations

import math

import torch

from .regions import Box


def clamp_box(box: Box, width: int, height: int) -> Box:
    """Clip ``box`` to the image ``[0, width] x [0, height]``."""
    x0, y0, x1, y1 = box
    return (
        min(max(x0, 0.0), float(width)),
        min(max(y0, 0.0), float(height)),
        min(max(x1, 0.0), float(width)),
        min(max(y1, 0.0), float(height)),
    )


def pad_box(box: Box, fraction: float, width: int, height: int) -> Box:
    """Grow ``box`` on every side by ``fraction`` of its larger side, clipped to the image.

    Used to give CLIP (and the inpainting model) some context around an object.
    """
    x0, y0, x1, y1 = box
    pad = fraction * max(x1 - x0, y1 - y0)
    return clamp_box((x0 - pad, y0 - pad, x1 + pad, y1 + pad), width, height)


def pixel_bounds(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel range covering ``box``: every pixel the box touches, at least 1x1.

    Returns:
        ``(x0, y0, x1, y1)`` ints with ``0 <= x0 < x1 <= width`` and ``0 <= y0 < y1 <= height``.
    """
    x0, y0, x1, y1 = clamp_box(box, width, height)
    left = min(int(math.floor(x0)), width - 1)
    top = min(int(math.floor(y0)), height - 1)
    right = max(int(math.ceil(x1)), left + 1)
    bottom = max(int(math.ceil(y1)), top + 1)
    return left, top, min(right, width), min(bottom, height)


def box_area(box: Box) -> float:
    """Area in square pixels (0 for degenerate boxes)."""
    x0, y0, x1, y1 = box
    return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def mask_bounds(mask: torch.Tensor) -> tuple[int, int, int, int] | None:
    """Tightest integer box ``(x0, y0, x1, y1)`` around the non-zero pixels of ``[H, W]``.

    Returns ``None`` for an all-zero mask.
    """
    rows = torch.nonzero(mask.reshape(mask.shape[-2:]).any(dim=1)).flatten()
    if rows.numel() == 0:
        return None
    cols = torch.nonzero(mask.reshape(mask.shape[-2:]).any(dim=0)).flatten()
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def mask_box(mask: torch.Tensor) -> Box | None:
    """:func:`mask_bounds` as a float :data:`~pinpoint.regions.Box`; None for an empty mask."""
    bounds = mask_bounds(mask)
    if bounds is None:
        return None
    x0, y0, x1, y1 = bounds
    return (float(x0), float(y0), float(x1), float(y1))


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when both are empty)."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = box_area((x0, y0, x1, y1))
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0
