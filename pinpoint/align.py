"""Undo an editor's shift and zoom: instruction editors (Qwen-Image-Edit, FLUX Kontext / FLUX.2)
often move or scale the whole picture by a few pixels while they edit the object, so a masked
paste would put a shifted context next to the untouched original and show a seam.

The motion is measured where the picture should not have changed (the context around the
object): a similarity ``edited(c + s (p - c) + t) ≈ source(p)`` (``c`` the crop's centre, ``s``
the zoom, ``t`` the shift in pixels) is fitted to the context's grey levels by least squares,
coarse to fine on an image pyramid (so a shift of several pixels is found), and the edit is
resampled by its inverse before the stitch. A motion below :data:`STILL` is left alone, so an
edit that did not move comes back untouched, bit for bit; so is one that does not explain the
context's change (:data:`EXPLAINED`): an edit that relit or restyled the whole crop is not moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .masks import grow_mask

STILL = 0.05
"""A shift (in pixels) and a zoom (as ``|s - 1| * crop size``) below this are not corrected."""
LEVELS = 4
"""Pyramid levels: the coarsest is 1/8 of the crop, where a 16-px shift is 2 px."""
STEPS = 40
"""Gauss-Newton steps at most per level."""
DELTAS = (0.05, 0.05, 1e-3)
"""The finite-difference steps of the shift (pixels) and of the log zoom."""
MARGIN = 0.02
"""Context closer to the object than this fraction of the crop is not measured."""
MIN_CONTEXT = 64
"""Context pixels needed to measure the motion at all."""
EXPLAINED = 0.5
"""A fitted motion is kept only when undoing it removes at least half of the context's squared
difference; otherwise the context changed for another reason (light, style, a different
picture) and no motion is reported."""


@dataclass(frozen=True)
class Motion:
    """How an edit moved its crop: ``edited(c + scale (p - c) + (dx, dy)) = source(p)``.

    Attributes:
        dx, dy: the shift in pixels of the crop (right and down are positive).
        scale: the zoom (above 1: the edit enlarged the picture).
        size: the crop's longer side, in pixels (how much a zoom moves its edges).
    """

    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    size: int = 0

    @property
    def still(self) -> bool:
        """Whether the motion is too small to correct."""
        zoom = abs(self.scale - 1.0) * self.size / 2
        return abs(self.dx) < STILL and abs(self.dy) < STILL and zoom < STILL

    def __str__(self) -> str:
        parts = []
        if abs(self.dx) >= STILL:
            parts.append(f"{abs(self.dx):.1f} px {'right' if self.dx > 0 else 'left'}")
        if abs(self.dy) >= STILL:
            parts.append(f"{abs(self.dy):.1f} px {'down' if self.dy > 0 else 'up'}")
        moved = f"shifted the picture {' and '.join(parts)}" if parts else ""
        zoomed = f"zoomed it {self.scale:.3f}x" if not math.isclose(self.scale, 1.0) else ""
        return ", ".join(part for part in (moved, zoomed) if part) or "did not move the picture"


def _grey(pixels: torch.Tensor) -> torch.Tensor:
    """``[h, w, 3]`` → ``[1, 1, h, w]`` float32 luminance."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=pixels.device)
    return (pixels.to(torch.float32) @ weights)[None, None]


def _grid(motion: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The sampling grid of ``(dx, dy, log scale)`` for ``grid_sample`` (``[1, h, w, 2]``)."""
    scale = torch.exp(motion[2])
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) * 2 / width - 1
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) * 2 / height - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    x = scale * gx + motion[0] * 2 / width
    y = scale * gy + motion[1] * 2 / height
    return torch.stack([x, y], dim=-1)[None]


def _inside(motion: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[1, 1, h, w]``: 1 where the moved position lands inside the image (a border pixel
    repeated past the edge says nothing of the motion)."""
    grid = _grid(motion, height, width)[0]
    x_ok = grid[..., 0].abs() <= 1 - 1 / width
    y_ok = grid[..., 1].abs() <= 1 - 1 / height
    return (x_ok & y_ok).to(torch.float32)[None, None]


def _warp(image: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """``image`` ``[1, C, h, w]`` sampled at the moved positions (bilinear, edges repeated)."""
    grid = _grid(motion, int(image.shape[-2]), int(image.shape[-1]))
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def measure_motion(source: torch.Tensor, edited: torch.Tensor, context: torch.Tensor) -> Motion:
    """The shift and zoom that took ``source`` to ``edited`` on the ``context`` pixels.

    Args:
        source: ``[h, w, 3]`` the crop as it was, float in [0, 1].
        edited: ``[h, w, 3]`` the edited crop, the same size.
        context: ``[h, w]`` 1 where the picture should not have changed (around the object).

    Returns:
        The fitted :class:`Motion`; no motion when there is too little context to measure or
        the fit does not explain the context's change (:data:`EXPLAINED`).
    """
    height, width = int(source.shape[0]), int(source.shape[1])
    if int((context > 0.5).sum()) < MIN_CONTEXT:
        return Motion(size=max(height, width))
    motion = torch.zeros(3)
    a, b = _grey(source), _grey(edited)
    # the pixels next to the object may show the edit once moved: leave a margin around it
    margin = math.ceil(MARGIN * max(height, width)) + 2
    keep = 1.0 - grow_mask((context <= 0.5).to(torch.float32)[None], margin)[0]
    keep = keep[None, None]
    for level in reversed(range(LEVELS)):
        factor = 2**level
        size = (max(8, height // factor), max(8, width // factor))
        a_l = F.interpolate(a, size=size, mode="area")
        b_l = F.interpolate(b, size=size, mode="area")
        keep_l = (F.interpolate(keep, size=size, mode="area") > 0.999).to(torch.float32)
        motion = _refine(a_l, b_l, keep_l, motion, (size[1] / width, size[0] / height))
    keep = (keep > 0.999).to(torch.float32) * _inside(motion, height, width)
    if float(keep.sum()) < MIN_CONTEXT:
        return Motion(size=max(height, width))
    moved = float((((_warp(b, motion) - a) ** 2) * keep).sum())
    unmoved = float((((b - a) ** 2) * keep).sum())
    if moved > EXPLAINED * unmoved:
        return Motion(size=max(height, width))
    dx, dy, log_scale = (float(value) for value in motion)
    return Motion(dx, dy, math.exp(log_scale), max(height, width))


def _refine(
    a: torch.Tensor,
    b: torch.Tensor,
    keep: torch.Tensor,
    motion: torch.Tensor,
    ratio: tuple[float, float],
) -> torch.Tensor:
    """Gauss-Newton on the masked squared difference at one pyramid level; ``motion`` is in
    full-size pixels, ``ratio`` this level's size over the full size (x, y)."""
    if float(keep.sum()) < 8:
        return motion
    scale_to = torch.tensor([ratio[0], ratio[1], 1.0])
    local = motion * scale_to

    def residual(params: torch.Tensor) -> torch.Tensor:
        return ((_warp(b, params) - a) * weight).flatten()

    for _ in range(STEPS):
        weight = keep * _inside(local, int(a.shape[-2]), int(a.shape[-1]))
        columns = []
        for k, h in enumerate(DELTAS):  # central differences: bilinear sampling is piecewise linear
            offset = torch.zeros(3)
            offset[k] = h
            columns.append((residual(local + offset) - residual(local - offset)) / (2 * h))
        jacobian = torch.stack(columns, dim=1)
        normal = jacobian.T @ jacobian + 1e-6 * torch.eye(3)
        step = torch.linalg.solve(normal, -(jacobian.T @ residual(local)))
        local = local + step
        if float(step[:2].abs().max()) < 1e-3 and float(step[2].abs()) < 1e-5:
            break
    return local / scale_to


def undo_motion(edited: torch.Tensor, motion: Motion) -> torch.Tensor:
    """``edited`` ``[h, w, 3]`` resampled so ``motion`` is undone; ``edited`` itself when the
    motion is too small to correct."""
    if motion.still:
        return edited
    params = torch.tensor([motion.dx, motion.dy, math.log(motion.scale)])
    work = edited.to(torch.float32).permute(2, 0, 1)[None]
    return _warp(work, params)[0].permute(1, 2, 0).clamp(0.0, 1.0).to(edited.dtype)
