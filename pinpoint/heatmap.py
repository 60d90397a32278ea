"""Heatmaps: where a text is in an image, pixel by pixel, from CLIPSeg (the design's S0 route).

A heatmap gives regions of its own (the connected pieces above a threshold), or re-ranks or cuts
regions found by another route (a detector's boxes, a segmenter's masks).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .boxes import mask_bounds
from .detect import _to_uint8_arrays
from .errors import PinpointError
from .images import check_image, check_prompt
from .loading.models import ClipSeg, module_device, module_dtype
from .masks import box_mask, drop_islands, label_components
from .progress import Progress, no_progress
from .regions import (
    Box,
    ImageRegions,
    Region,
    RegionBatch,
    check_if_nothing_found,
    resolve_nothing_found,
)

MAX_PAIRS_PER_FORWARD = 8
"""(image, text) pairs per CLIPSeg forward pass: eight 352x352 inputs through a ViT-B/16 and the
decoder take about 100 MB of activations; only larger batches are split."""

EXAMPLE_TEXT = "a car | a bus"


def parse_texts(text: str, where: str = "Heatmap") -> list[str]:
    """``"a car | a bus"`` → ``["a car", "a bus"]``: alternatives split at ``|`` or line breaks.

    Raises:
        PinpointError: when no alternative is left (an empty text, or only separators).
    """
    text = check_prompt(text, where, "text", EXAMPLE_TEXT)
    return _check_texts(re.split(r"[|\n]", text), where)


def _check_texts(texts: Sequence[str], where: str) -> list[str]:
    kept = [text.strip() for text in texts if text and text.strip()]
    if not kept:
        raise PinpointError(
            where, "the text names nothing to find", f"type what to find, e.g. '{EXAMPLE_TEXT}'"
        )
    return kept


def _text_embeddings(clipseg: ClipSeg, texts: list[str], device: torch.device) -> torch.Tensor:
    """CLIPSeg's conditional embedding of each text, ``[T, projection_dim]``."""
    tokens = clipseg.processor.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    return clipseg.model.get_conditional_embeddings(
        batch_size=len(texts),
        input_ids=tokens["input_ids"].to(device),
        attention_mask=tokens["attention_mask"].to(device),
    )


def text_heatmaps(
    clipseg: ClipSeg,
    images: torch.Tensor,
    texts: Sequence[str],
    progress: Progress = no_progress,
    where: str = "Heatmap",
) -> torch.Tensor:
    """How strongly each pixel shows any of ``texts``, per image.

    The processor stretches each image to CLIPSeg's square input (352x352 for the released
    models) and CLIPSeg predicts logits on that square; the sigmoid of the logits, resized
    bilinearly to the image's own ``H x W``, undoes the stretch for any aspect ratio. Several
    texts are alternatives: a pixel's heat is the largest over the texts.

    Args:
        clipseg: from :func:`pinpoint.loading.clipseg.load_clipseg`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        texts: what to find, e.g. ``["a car", "a bus"]``; empty entries are ignored.
        progress: called as ``progress(passes_done, passes)`` over the forward passes; every
            (image, text) pair goes through one of them, :data:`MAX_PAIRS_PER_FORWARD` at a time.

    Returns:
        ``[B, H, W]`` float32 in [0, 1] on the CPU.

    Raises:
        PinpointError: a malformed image batch or no text.
    """
    check_image(images, where)
    texts = _check_texts(texts, where)
    model = clipseg.model
    device, dtype = module_device(model), module_dtype(model)
    batch, height, width = int(images.shape[0]), int(images.shape[1]), int(images.shape[2])
    pixel_values = clipseg.processor.image_processor(
        images=_to_uint8_arrays(images), return_tensors="pt"
    )["pixel_values"]
    pairs = torch.arange(batch * len(texts))
    image_of, text_of = pairs // len(texts), pairs % len(texts)
    heat = torch.zeros(batch, height, width)
    passes = range(0, len(pairs), MAX_PAIRS_PER_FORWARD)
    with torch.inference_mode():
        embeddings = _text_embeddings(clipseg, texts, device)
        for done, start in enumerate(passes, start=1):
            chunk = slice(start, start + MAX_PAIRS_PER_FORWARD)
            logits = model(
                pixel_values=pixel_values[image_of[chunk]].to(device, dtype),
                conditional_embeddings=embeddings[text_of[chunk]],
            ).logits
            logits = logits.reshape(-1, 1, *logits.shape[-2:]).float()
            maps = F.interpolate(
                torch.sigmoid(logits), size=(height, width), mode="bilinear", align_corners=False
            )
            for image, heat_of_pair in zip(image_of[chunk].tolist(), maps[:, 0].cpu(), strict=True):
                torch.maximum(heat[image], heat_of_pair, out=heat[image])
            progress(done, len(passes))
    return heat


def _mask_box(mask: torch.Tensor) -> Box | None:
    """The box around the set pixels of ``[H, W]``, as floats; None for an empty mask."""
    bounds = mask_bounds(mask)
    if bounds is None:
        return None
    x0, y0, x1, y1 = bounds
    return (float(x0), float(y0), float(x1), float(y1))


def _min_pixels(min_area: float, height: int, width: int) -> int:
    """``min_area`` (a fraction of the image) as a whole number of pixels, at least 1."""
    return max(1, math.ceil(min_area * height * width))


def heat_mask(heatmaps: torch.Tensor, threshold: float, min_area: float = 0.0) -> torch.Tensor:
    """Where ``[B, H, W]`` heat is at least ``threshold``, without pieces under ``min_area``.

    Args:
        min_area: the smallest 4-connected piece kept, as a fraction of the image's area.

    Returns:
        ``[B, H, W]`` bool on the heatmaps' device.
    """
    height, width = int(heatmaps.shape[-2]), int(heatmaps.shape[-1])
    above = (heatmaps >= threshold).to(torch.float32)
    return drop_islands(above, _min_pixels(min_area, height, width)) > 0.5


def _components(
    heat: torch.Tensor,
    threshold: float,
    min_pixels: int,
    max_regions: int,
    make: Callable[[torch.Tensor, float], Region],
) -> tuple[Region, ...]:
    """The hottest ``max_regions`` pieces of one ``[H, W]`` heatmap, as ``make(mask, heat)``."""
    labels = label_components((heat >= threshold)[None])[0]
    ids, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    sums = torch.zeros(len(ids), dtype=torch.float64)
    sums.index_add_(0, inverse.reshape(-1), heat.reshape(-1).to(torch.float64))
    means = (sums / counts).tolist()
    kept = [k for k in range(len(ids)) if int(ids[k]) > 0 and int(counts[k]) >= min_pixels]
    kept.sort(key=lambda k: means[k], reverse=True)  # stable: ties keep reading order
    return tuple(make((inverse == k).to(torch.float32), means[k]) for k in kept[:max_regions])


def heatmap_regions(
    heatmaps: torch.Tensor,
    threshold: float,
    min_area: float = 0.0,
    max_regions: int = 8,
    source: str = "clipseg",
    label: str = "",
    if_nothing_found: str = "error",
    where: str = "Heatmap",
) -> RegionBatch:
    """One region per connected piece of heat at or above ``threshold``.

    Args:
        heatmaps: ``[B, H, W]`` float in [0, 1] (e.g. from :func:`text_heatmaps`).
        threshold: the heat a pixel needs to belong to a region.
        min_area: smaller 4-connected pieces are ignored; a fraction of the image's area.
        max_regions: keep at most this many regions per image, the hottest.
        source, label: carried by every region (``label`` is usually the text).
        if_nothing_found: policy for an image without any piece (see
            :func:`pinpoint.regions.resolve_nothing_found`).

    Returns:
        Per image, regions with ``mask`` = the piece (``[H, W]`` float32 in {0, 1}, CPU),
        ``box`` = its bounds, ``confidence`` = ``score`` = the mean heat inside it, hottest first.
    """
    check_if_nothing_found(if_nothing_found, where)
    heat = heatmaps.detach().to("cpu", torch.float32)
    batch, height, width = (int(size) for size in heat.shape)
    min_pixels = _min_pixels(min_area, height, width)

    def make(mask: torch.Tensor, mean_heat: float) -> Region:
        box = _mask_box(mask)
        assert box is not None, "a connected component has at least one pixel"
        return Region(box, label, mean_heat, source, mask=mask, score=mean_heat)

    named = f" for '{label}'" if label else ""
    large = f" covering at least {min_area:.2%} of the image" if min_pixels > 1 else ""
    reason = f"no heat above threshold {threshold:.2f}{named}{large}"
    fix = "lower the threshold" + (" or min_area" if large else "") + ", or describe it differently"
    found = []
    for index in range(batch):
        pieces = _components(heat[index], threshold, min_pixels, max_regions, make)
        found.append(
            resolve_nothing_found(
                ImageRegions(width, height, pieces),
                if_nothing_found,
                where,
                reason=reason,
                fix=fix,
                index=index,
                batch_size=batch,
            )
        )
    return RegionBatch(tuple(found))


def _check_sizes(regions: RegionBatch, heatmaps: torch.Tensor, where: str) -> torch.Tensor:
    """``heatmaps`` as CPU float32 after checking they cover the regions' images."""
    regions.check_matches(heatmaps[..., None], where, "Detect Objects (Pinpoint)")
    return heatmaps.detach().to("cpu", torch.float32)


def rescore_regions(
    regions: RegionBatch,
    heatmaps: torch.Tensor,
    weight: float,
    if_nothing_found: str = "error",
    where: str = "Heatmap",
) -> RegionBatch:
    """Blend each region's mean heat into its score and re-rank.

    Args:
        regions: candidates of the images the heatmaps were made for.
        heatmaps: ``[B, H, W]`` float in [0, 1].
        weight: ``w`` in ``score = (1 - w) * score + w * heat``, where ``heat`` is the mean of
            the heatmap inside the region's mask (weighted by a soft mask), or its box.
        if_nothing_found: policy for an image that arrives without regions.

    Returns:
        The same regions with new scores, best first.
    """
    check_if_nothing_found(if_nothing_found, where)
    heat = _check_sizes(regions, heatmaps, where)
    found = []
    for index, item in enumerate(regions):
        rescored = []
        for region in item.regions:
            weights = box_mask(region, item.height, item.width)
            mean_heat = float((weights * heat[index]).sum() / weights.sum().clamp_min(1e-12))
            score = (1.0 - weight) * region.score + weight * mean_heat
            rescored.append(dataclasses.replace(region, score=score))
        rescored.sort(key=lambda region: region.score, reverse=True)
        found.append(
            resolve_nothing_found(
                dataclasses.replace(item, regions=tuple(rescored)),
                if_nothing_found,
                where,
                reason="no regions came in to rescore",
                fix="make the node that finds the regions find some (e.g. lower its threshold)",
                index=index,
                batch_size=regions.batch_size,
            )
        )
    return RegionBatch(tuple(found))


def intersect_regions(
    regions: RegionBatch,
    inside: torch.Tensor,
    if_nothing_found: str = "error",
    where: str = "Heatmap",
) -> RegionBatch:
    """Cut each region's mask (or box) down to where ``inside`` is set.

    Args:
        regions: candidates of the images ``inside`` was made for.
        inside: ``[B, H, W]`` bool, e.g. :func:`heat_mask` of the heatmaps.
        if_nothing_found: policy for an image where no region overlaps ``inside``.

    Returns:
        Per image, the regions that overlap, in their order, each with ``mask`` = the overlap
        (``[H, W]`` float32, CPU) and ``box`` = the overlap's bounds; scores are unchanged.
    """
    check_if_nothing_found(if_nothing_found, where)
    keep = _check_sizes(regions, inside, where)
    found = []
    for index, item in enumerate(regions):
        cut = []
        for region in item.regions:
            mask = box_mask(region, item.height, item.width) * keep[index]
            box = _mask_box(mask)
            if box is not None:
                cut.append(dataclasses.replace(region, mask=mask, box=box))
        found.append(
            resolve_nothing_found(
                dataclasses.replace(item, regions=tuple(cut)),
                if_nothing_found,
                where,
                reason=f"none of the {len(item.regions)} region(s) overlaps the heat mask"
                if item.regions
                else "no regions came in to intersect",
                fix="lower the threshold or min_area, or set use_regions to 'rescore'",
                index=index,
                batch_size=regions.batch_size,
            )
        )
    return RegionBatch(tuple(found))
