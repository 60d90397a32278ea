"""Preview images: boxes, labels, scores and masks drawn over the input, plus notes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import torch
from PIL import ImageDraw, ImageFont

from .boxes import mask_box
from .crop import StitchPlan
from .images import from_pil, to_pil
from .regions import ImageRegions, Region, RegionBatch

CHOSEN = (40, 220, 90)
CANDIDATE = (255, 160, 40)
NOTE_BACKGROUND = (200, 30, 30)
MASK_TINT = torch.tensor([1.0, 0.15, 0.15])
REGION_TINTS = torch.tensor(
    [
        [0.90, 0.10, 0.10],
        [0.10, 0.45, 0.95],
        [0.95, 0.80, 0.05],
        [0.60, 0.15, 0.85],
        [0.05, 0.80, 0.80],
        [0.95, 0.45, 0.05],
        [0.55, 0.85, 0.10],
        [0.95, 0.30, 0.65],
    ]
)
"""Mask colours, one per region in order (cycled), so neighbouring segments stay apart."""


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed-size bitmap font
        return ImageFont.load_default()


def _caption(region: Region) -> str:
    number = f"#{region.number} " if region.number is not None else ""  # what Match's pin takes
    iou = f" iou={region.mask_iou:.2f}" if region.mask_iou is not None else ""
    if region.probability is None:
        return f"{number}{region.label} {region.confidence:.2f}{iou}"
    return f"{number}{region.label} p={region.probability:.2f}{iou}"


def _draw_one(
    image: torch.Tensor,
    found: ImageRegions,
    chosen: ImageRegions | None,
    caption: Callable[[Region], str] = _caption,
) -> torch.Tensor:
    height, width = int(image.shape[0]), int(image.shape[1])
    tinted = image.to(torch.float32).clone()
    for index, region in enumerate(found.regions):
        if region.mask is not None:
            alpha = 0.4 * region.mask.to(torch.float32).reshape(height, width, 1)
            tint = REGION_TINTS[index % len(REGION_TINTS)]
            tinted = tinted * (1 - alpha) + tint * alpha
    picture = to_pil(tinted)
    draw = ImageDraw.Draw(picture)
    font = _font(max(10, min(height, width) // 32))
    line = max(1, min(height, width) // 200)
    picked = chosen.regions if chosen is not None else ()
    chosen_ids = {id(region) for region in picked}
    found_ids = {id(region) for region in found.regions}
    extra = [region for region in picked if id(region) not in found_ids]  # e.g. "whole image"
    # candidates first, chosen ones last so their thick green boxes stay on top
    ordered = sorted([*found.regions, *extra], key=lambda region: id(region) in chosen_ids)
    for region in ordered:
        is_chosen = id(region) in chosen_ids
        colour = CHOSEN if is_chosen else CANDIDATE
        thickness = line * 3 if is_chosen else line
        x0, y0, x1, y1 = region.box
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=colour, width=thickness)
        text = caption(region)
        left, top, right, bottom = draw.textbbox((x0, y0), text, font=font)
        label_top = y0 - (bottom - top) - 2 * line if y0 - (bottom - top) - 2 * line >= 0 else y0
        draw.rectangle(
            [x0, label_top, x0 + (right - left) + 2 * line, label_top + (bottom - top) + 2 * line],
            fill=colour,
        )
        draw.text((x0 + line, label_top + line - (top - y0)), text, fill=(0, 0, 0), font=font)
    note = chosen.note if chosen is not None and chosen.note else found.note
    if note:
        left, top, right, bottom = draw.textbbox((0, 0), note, font=font)
        draw.rectangle([0, 0, width, (bottom - top) + 4 * line], fill=NOTE_BACKGROUND)
        draw.text((2 * line, 2 * line - top), note, fill=(255, 255, 255), font=font)
    return from_pil(picture)


def draw_regions(
    images: torch.Tensor, regions: RegionBatch, chosen: RegionBatch | None = None
) -> torch.Tensor:
    """Draw every region's box and caption over its image.

    Args:
        images: IMAGE ``[B, H, W, 3]`` the regions belong to.
        regions: candidates to draw (orange, thin); captions show the detector confidence, or
            the CLIP probability once matched, and SAM's predicted IoU once refined.
        chosen: optional selection drawn in green, thick; its notes (e.g. "whole image used")
            are printed in a red band at the top.

    Returns:
        ``[B, H, W, 3]`` float32 preview.
    """
    return torch.stack(
        [
            _draw_one(image, found, chosen[index] if chosen is not None else None)
            for index, (image, found) in enumerate(zip(images, regions, strict=True))
        ]
    )


def draw_crops(plan: StitchPlan) -> torch.Tensor:
    """Each crop's window (green) and feathered blend mask over its image, captioned with the
    crop's number and the size the sampler works at; the plan's notes in the red band.

    Returns:
        ``[B, H, W, 3]`` float32 preview of ``plan.images``.
    """
    height, width = int(plan.images.shape[1]), int(plan.images.shape[2])
    per_image: list[list[Region]] = [[] for _ in range(int(plan.images.shape[0]))]
    for number, piece in enumerate(plan.pieces, start=1):
        mask = torch.zeros(height, width)
        mask[piece.y0 : piece.y1, piece.x0 : piece.x1] = piece.blend
        label = f"crop {number}: {piece.width}x{piece.height}"
        per_image[piece.image_index].append(Region(piece.window, label, 1.0, "crop", mask=mask))
    note = "; ".join(plan.notes)
    pictures = []
    for image, regions in zip(plan.images, per_image, strict=True):
        found = ImageRegions(width, height, tuple(regions), note)
        pictures.append(_draw_one(image, found, found, caption=lambda region: region.label))
    return torch.stack(pictures)


def draw_ranked(
    edits: torch.Tensor, masks: torch.Tensor, scores: Sequence[float], kept: Sequence[int]
) -> torch.Tensor:
    """Every candidate with the bounds of its mask and its rank and score, the kept ones in
    green: ComfyUI shows the batch as a contact sheet.

    Args:
        edits: IMAGE ``[N, H, W, 3]`` candidates; masks: ``[N, H, W]``; scores: ``S`` of each.
        kept: indices of the kept candidates, best first.

    Returns:
        ``[N, H, W, 3]`` float32 preview, in input order.
    """
    height, width = int(edits.shape[1]), int(edits.shape[2])
    ranks = {
        index: rank
        for rank, index in enumerate(
            sorted(range(len(scores)), key=lambda index: scores[index], reverse=True), start=1
        )
    }
    pictures = []
    for index, (image, mask) in enumerate(zip(edits, masks, strict=True)):
        box = mask_box(mask >= 0.5) or (0.0, 0.0, float(width), float(height))
        label = f"#{ranks[index]} S={scores[index]:.3f}"
        found = ImageRegions(width, height, (Region(box, label, 1.0, "rank", mask=None),))
        chosen = found if index in kept else ImageRegions(width, height)
        pictures.append(_draw_one(image, found, chosen, caption=lambda region: region.label))
    return torch.stack(pictures)


def overlay_mask(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Tint ``[B, H, W, 3]`` red where ``masks`` ``[B, H, W]`` is set (50 % at mask = 1)."""
    alpha = 0.5 * masks.to(torch.float32)[..., None]
    return images.to(torch.float32) * (1 - alpha) + MASK_TINT * alpha
