"""Regions from and to what other nodes and packs pass around: any MASK (ComfyUI's own SAM 3
node, another pack's segmenter, a painted mask) and the Impact Pack's SEGS.

SEGS is the Impact Pack's detection type, ``((height, width), [SEG, ...])`` for one image: each
SEG holds ``cropped_mask`` (float32 ``[h, w]`` over ``crop_region``), ``confidence``,
``crop_region`` and ``bbox`` (``[x1, y1, x2, y2]`` pixels, right/bottom exclusive), ``label``,
and ``cropped_image``/``control_net_wrapper`` (None here). :data:`SEG` has the same fields, so
that pack's nodes read what :func:`regions_to_segs` makes; the pack itself is never imported.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .boxes import mask_box, pixel_bounds
from .errors import PinpointError
from .images import as_mask_batch, check_image
from .masks import area_pixels, box_mask, mask_pieces
from .regions import IfNothingFound, ImageRegions, Region, RegionBatch, resolve_each
from .request import Request

MASK_THRESHOLD = 0.5
"""A mask pixel belongs to a piece when it is at least this."""

SEG = namedtuple(
    "SEG",
    ["cropped_image", "cropped_mask", "confidence", "crop_region", "bbox", "label"]
    + ["control_net_wrapper"],
    defaults=[None],
)
"""One Impact Pack detection (the fields and order of that pack's own ``SEG``)."""


@dataclass(frozen=True)
class MaskRegionsRequest(Request):
    """A checked call of :func:`mask_regions`.

    Attributes:
        images: IMAGE ``[B, H, W, 3]`` the mask belongs to.
        masks: MASK ``[B, H, W]`` (or one ``[H, W]`` for the batch), or for one image several
            instance masks ``[N, H, W]`` (ComfyUI's SAM 3 node with individual masks): then
            each mask is one region, so touching instances stay apart; ``N`` = 0 (that node
            found nothing) is an image with nothing found.
        min_area: pieces smaller than this fraction of the image are dropped.
        max_regions: at most this many regions per image, the most covered first.
        label: every region's label (what the mask shows, for Match's table and previews).
        if_nothing_found: what an image without a piece gets.
    """

    images: torch.Tensor
    masks: torch.Tensor
    min_area: float = 0.001
    max_regions: int = 20
    label: str = "mask"
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR

    def __post_init__(self) -> None:
        check_image(self.images)
        masks = self.masks.reshape(-1, *self.masks.shape[-2:])
        if int(self.images.shape[0]) == 1 and int(masks.shape[0]) != 1:  # instance masks
            as_mask_batch(torch.zeros(masks.shape[-2:]), self.images)  # the size check
            masks = masks.detach().to("cpu", torch.float32).clamp(0, 1)
        else:
            masks = as_mask_batch(masks, self.images)
        self._normalise(
            masks=masks,
            if_nothing_found=IfNothingFound.check(self.if_nothing_found, "if_nothing_found"),
        )

    @property
    def instances(self) -> bool:
        """Whether the masks are instance masks of one image (one region each)."""
        return int(self.images.shape[0]) == 1 and int(self.masks.shape[0]) != 1


def mask_regions(request: MaskRegionsRequest) -> RegionBatch:
    """One region per 4-connected piece of each image's mask (pixels at or above
    :data:`MASK_THRESHOLD`; pieces touching only at a corner are two, holes stay holes), or
    one region per instance mask.

    Returns:
        Per image, regions with ``mask`` = the piece (or instance), ``box`` = its bounds,
        ``confidence`` = ``score`` = the mask's mean inside it, highest first (ties in reading
        order, instances in their order), source ``"mask"``; at most ``max_regions``.
    """
    height, width = int(request.masks.shape[-2]), int(request.masks.shape[-1])
    min_pixels = area_pixels(request.min_area, height, width)
    if request.instances:
        found = [_instances(request.masks, min_pixels, request.max_regions, request.label)]
    else:
        found = mask_pieces(
            request.masks, MASK_THRESHOLD, min_pixels, request.max_regions, "mask", request.label
        )
    return resolve_each(
        found,
        request.if_nothing_found,
        reason=f"no piece of the mask covers at least {request.min_area:.2%} of the image",
        fix="lower min_area, or check that the mask marks something in this image",
    )


def _instances(masks: torch.Tensor, min_pixels: int, max_regions: int, label: str) -> ImageRegions:
    """One region per instance mask of ``[N, H, W]`` (one image) with ``min_pixels`` or more at
    or above :data:`MASK_THRESHOLD`, in their order."""
    height, width = int(masks.shape[-2]), int(masks.shape[-1])
    regions = []
    for values in masks:
        piece = values >= MASK_THRESHOLD
        box = mask_box(piece)
        if box is None or int(piece.sum()) < min_pixels:
            continue
        mean = float(values[piece].mean())
        regions.append(Region(box, label, mean, "mask", mask=piece.to(torch.float32), score=mean))
    return ImageRegions(width, height, tuple(regions[:max_regions]))


def _crop_region(box: Sequence[int], crop_factor: float, width: int, height: int) -> list[int]:
    """The box grown ``crop_factor`` times around its centre, shifted inside the image (how
    the Impact Pack frames a detection for its Detailer)."""
    x0, y0, x1, y1 = box
    crop_w = min(width, max(1, round((x1 - x0) * crop_factor)))
    crop_h = min(height, max(1, round((y1 - y0) * crop_factor)))
    left = min(max(0, int((x0 + x1 - crop_w) / 2)), width - crop_w)
    top = min(max(0, int((y0 + y1 - crop_h) / 2)), height - crop_h)
    return [left, top, left + crop_w, top + crop_h]


@dataclass(frozen=True)
class SegsRequest(Request):
    """A checked call of :func:`regions_to_segs`.

    Attributes:
        regions: the regions of one image (SEGS describe a single image).
        crop_factor: how much context a SEG's ``crop_region`` holds around its box, at least 1
            (the Impact Pack detectors' default is 3).
    """

    regions: RegionBatch
    crop_factor: float = 3.0

    def __post_init__(self) -> None:
        if self.regions.batch_size != 1:
            raise PinpointError(
                f"SEGS describe one image but the regions cover {self.regions.batch_size}",
                "convert one image at a time (a batch of 1)",
            )
        if self.crop_factor < 1.0:
            raise PinpointError(
                f"crop_factor is {self.crop_factor}",
                "use 1 (the box alone) or more (3 is typical)",
            )


def regions_to_segs(request: SegsRequest) -> tuple[tuple[int, int], list[SEG]]:
    """The regions of one image as Impact Pack SEGS.

    Returns:
        ``((height, width), [SEG, ...])``: per region, its mask (its box where it has none)
        over the crop region, ``confidence`` = the region's score, ``bbox`` = the pixels its
        box touches, ``label`` = its label.
    """
    found = request.regions[0]
    segs = []
    for region in found.regions:
        mask = box_mask(region, found.height, found.width)
        bbox = list(pixel_bounds(region.box, found.width, found.height))
        left, top, right, bottom = _crop_region(
            bbox, request.crop_factor, found.width, found.height
        )
        cropped = mask[top:bottom, left:right].numpy().astype(np.float32)
        crop = [left, top, right, bottom]
        segs.append(SEG(None, cropped, float(region.score), crop, bbox, region.label))
    return (found.height, found.width), segs


def segs_to_regions(segs: Any, images: torch.Tensor) -> RegionBatch:
    """Impact Pack SEGS of ``images`` (a batch of one) as regions, best confidence first.

    Each SEG's ``cropped_mask`` is pasted at its ``crop_region`` into a full-size mask; the
    region's box is that mask's bounds (its ``bbox`` when the mask is empty), its confidence
    and score the SEG's confidence, its label the SEG's label, its source ``"segs"``.

    Raises:
        PinpointError: not SEGS, SEGS of another image size, or an image batch of more than one.
    """
    check_image(images)
    height, width = int(images.shape[1]), int(images.shape[2])
    try:
        (seg_height, seg_width), items = segs
        seg_height, seg_width, items = int(seg_height), int(seg_width), list(items)
    except (TypeError, ValueError):
        raise PinpointError(
            f"got a {type(segs).__name__}, not SEGS ((height, width), [SEG, ...])",
            "connect the SEGS output of an Impact Pack node",
        ) from None
    if int(images.shape[0]) != 1:
        raise PinpointError(
            f"SEGS describe one image but the image batch has {int(images.shape[0])}",
            "convert one image at a time (a batch of 1)",
        )
    if (seg_width, seg_height) != (width, height):
        raise PinpointError(
            f"the SEGS were made for a {seg_width}x{seg_height} image but this image is "
            f"{width}x{height}",
            "connect the image the SEGS were made from",
        )
    regions = []
    for number, seg in enumerate(items, start=1):
        left, top, right, bottom = (int(value) for value in seg.crop_region)
        cropped = torch.as_tensor(np.asarray(seg.cropped_mask), dtype=torch.float32)
        if tuple(cropped.shape) != (bottom - top, right - left):
            raise PinpointError(
                f"SEG {number}'s mask is {tuple(cropped.shape)} but its crop region "
                f"{[left, top, right, bottom]} is {bottom - top}x{right - left} (height x width)",
                "connect SEGS as an Impact Pack node made them",
            )
        mask = torch.zeros(height, width)
        mask[top:bottom, left:right] = cropped.clamp(0, 1)
        box = mask_box(mask > 0) or tuple(float(value) for value in seg.bbox)
        confidence = float(seg.confidence)
        label = str(seg.label) if seg.label is not None else "segs"
        regions.append(Region(box, label, confidence, "segs", mask=mask, score=confidence))
    regions.sort(key=lambda region: region.score, reverse=True)
    return RegionBatch((ImageRegions(width, height, tuple(regions)),))
