"""Heatmaps: where a text is in an image, pixel by pixel, from CLIPSeg (the design's S0 route).

A heatmap gives regions of its own (the connected pieces above a threshold), or re-ranks or cuts
regions found by another route (a detector's boxes, a segmenter's masks).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .boxes import mask_box
from .choices import Choice
from .errors import PinpointError
from .images import check_image, check_prompt, to_uint8_arrays
from .loading.models import ClipSeg, module_device, module_dtype
from .masks import area_pixels, box_mask, drop_islands, mask_pieces
from .progress import Progress, no_progress
from .regions import (
    IfNothingFound,
    RegionBatch,
    resolve_each,
    resolve_nothing_found,
)
from .request import Request
from .text_limits import cut_note

MAX_PAIRS_PER_FORWARD = 8
"""(image, text) pairs per CLIPSeg forward pass: eight 352x352 inputs through a ViT-B/16 and the
decoder take about 100 MB of activations; only larger batches are split."""

EXAMPLE_TEXT = "a car | a bus"


def parse_texts(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"a car | a bus"`` (or a sequence of texts) → ``("a car", "a bus")``: alternatives are
    split at ``|`` or line breaks, stripped, empty ones dropped.

    Raises:
        PinpointError: when no alternative is left (an empty text, or only separators).
    """
    if isinstance(text, str):
        text = re.split(r"[|\n]", check_prompt(text, "text", EXAMPLE_TEXT))
    kept = tuple(item.strip() for item in text if item and item.strip())
    if not kept:
        raise PinpointError(
            "the text names nothing to find", f"type what to find, e.g. '{EXAMPLE_TEXT}'"
        )
    return kept


class UseRegions(Choice):
    """What the heat does to regions found by another route."""

    RESCORE = "rescore"
    INTERSECT = "intersect"


@dataclass(frozen=True)
class HeatmapRequest(Request):
    """A checked call of :func:`find_by_heat`.

    Attributes:
        clipseg: from :func:`pinpoint.loading.load_model`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1]; any size and aspect ratio.
        text: what to find, ``"a car | a bus"`` (alternatives) or a sequence of texts; stored
            as the checked alternatives (:func:`parse_texts`).
        threshold: the heat a pixel needs to count as found.
        min_area: hot pieces smaller than this fraction of the image are ignored.
        max_regions: at most this many regions per image, the hottest (without ``regions``).
        use_regions: with ``regions``: rescore them by their heat, or cut them to the hot area.
        heat_weight: rescore only: ``w`` in ``score = (1 - w) * score + w * mean heat``.
        if_nothing_found: what an image without a hot piece (or a kept region) gets.
        regions: optional candidates of the same images to rescore or intersect instead of
            making regions from the heat.
    """

    clipseg: ClipSeg
    images: torch.Tensor
    text: str | Sequence[str]
    threshold: float = 0.4
    min_area: float = 0.001
    max_regions: int = 8
    use_regions: UseRegions = UseRegions.RESCORE
    heat_weight: float = 0.5
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR
    regions: RegionBatch | None = None

    def __post_init__(self) -> None:
        check_image(self.images)
        if self.regions is not None:
            self.regions.check_matches(self.images)
        self._normalise(
            text=parse_texts(self.text),
            use_regions=UseRegions.check(self.use_regions, "use_regions"),
            if_nothing_found=IfNothingFound.check(self.if_nothing_found, "if_nothing_found"),
        )


@dataclass(frozen=True)
class HeatmapResult:
    """What :func:`find_by_heat` found.

    Attributes:
        heat: ``[B, H, W]`` float32 in [0, 1] on the CPU (see :func:`text_heatmaps`).
        mask: ``[B, H, W]`` bool: heat at or above the threshold without pieces under
            ``min_area`` (see :func:`heat_mask`).
        regions: the hot pieces as regions, or the given regions rescored or intersected;
            each image's ``note`` also says how much of a text CLIPSeg read where it cut it.
    """

    heat: torch.Tensor
    mask: torch.Tensor
    regions: RegionBatch


def find_by_heat(request: HeatmapRequest, progress: Progress = no_progress) -> HeatmapResult:
    """Where the text is in each image, and the regions that heat gives or changes.

    Args:
        request: the CLIPSeg model, images, text and settings.
        progress: called as ``progress(passes_done, passes)`` over CLIPSeg's forward passes.
    """
    heat = text_heatmaps(request.clipseg, request.images, request.text, progress)
    mask = heat_mask(heat, request.threshold, request.min_area)
    policy = request.if_nothing_found
    if request.regions is None:
        source, label = f"clipseg:{request.clipseg.name}", " | ".join(request.text)
        regions = heatmap_regions(
            heat, request.threshold, request.min_area, request.max_regions, source, label, policy
        )
    elif request.use_regions == UseRegions.RESCORE:
        regions = rescore_regions(request.regions, heat, request.heat_weight, policy)
    else:
        regions = intersect_regions(request.regions, mask, policy)
    cut = _cut_notes(request.clipseg, request.text)
    noted = tuple(
        dataclasses.replace(found, note="; ".join(filter(None, [*cut, found.note])))
        for found in regions
    )
    return HeatmapResult(heat, mask, RegionBatch(noted))


def _cut_notes(clipseg: ClipSeg, texts: Sequence[str]) -> list[str]:
    """How much of each text (alternative) CLIPSeg reads, for each it cuts."""
    notes = []
    for number, text in enumerate(texts, start=1):
        what = "the text" if len(texts) == 1 else f"alternative {number}"
        notes.append(cut_note(clipseg.processor.tokenizer, text, "CLIPSeg", what))
    return [note for note in notes if note]


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
) -> torch.Tensor:
    """How strongly each pixel shows any of ``texts``, per image.

    The processor stretches each image to CLIPSeg's square input (352x352 for the released
    models) and CLIPSeg predicts logits on that square; the sigmoid of the logits, resized
    bilinearly to the image's own ``H x W``, undoes the stretch for any aspect ratio. Several
    texts are alternatives: a pixel's heat is the largest over the texts.

    Args:
        clipseg: from :func:`pinpoint.loading.load_model`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        texts: what to find, e.g. ``["a car", "a bus"]`` (checked by :func:`parse_texts`).
        progress: called as ``progress(passes_done, passes)`` over the forward passes; every
            (image, text) pair goes through one of them, :data:`MAX_PAIRS_PER_FORWARD` at a time.

    Returns:
        ``[B, H, W]`` float32 in [0, 1] on the CPU.
    """
    model = clipseg.model
    device, dtype = module_device(model), module_dtype(model)
    batch, height, width = int(images.shape[0]), int(images.shape[1]), int(images.shape[2])
    pixel_values = clipseg.processor.image_processor(
        images=to_uint8_arrays(images), return_tensors="pt"
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


def heat_mask(heatmaps: torch.Tensor, threshold: float, min_area: float = 0.0) -> torch.Tensor:
    """Where ``[B, H, W]`` heat is at least ``threshold``, without pieces under ``min_area``.

    Args:
        min_area: the smallest 4-connected piece kept, as a fraction of the image's area.

    Returns:
        ``[B, H, W]`` bool on the heatmaps' device.
    """
    height, width = int(heatmaps.shape[-2]), int(heatmaps.shape[-1])
    above = (heatmaps >= threshold).to(torch.float32)
    return drop_islands(above, area_pixels(min_area, height, width)) > 0.5


def heatmap_regions(
    heatmaps: torch.Tensor,
    threshold: float,
    min_area: float = 0.0,
    max_regions: int = 8,
    source: str = "clipseg",
    label: str = "",
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR,
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
    height, width = int(heatmaps.shape[-2]), int(heatmaps.shape[-1])
    min_pixels = area_pixels(min_area, height, width)
    named = f" for '{label}'" if label else ""
    large = f" covering at least {min_area:.2%} of the image" if min_pixels > 1 else ""
    reason = f"no heat above threshold {threshold:.2f}{named}{large}"
    fix = "lower the threshold" + (" or min_area" if large else "") + ", or describe it differently"
    found = mask_pieces(heatmaps, threshold, min_pixels, max_regions, source, label)
    return resolve_each(found, if_nothing_found, reason, fix)


def rescore_regions(
    regions: RegionBatch,
    heatmaps: torch.Tensor,
    weight: float,
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR,
) -> RegionBatch:
    """Blend each region's mean heat into its score and re-rank.

    Args:
        regions: candidates of the images the heatmaps were made for (checked to fit them).
        heatmaps: ``[B, H, W]`` float in [0, 1].
        weight: ``w`` in ``score = (1 - w) * score + w * heat``, where ``heat`` is the mean of
            the heatmap inside the region's mask (weighted by a soft mask), or its box.
        if_nothing_found: policy for an image that arrives without regions.

    Returns:
        The same regions with new scores, best first.
    """
    heat = heatmaps.detach().to("cpu", torch.float32)
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
                reason="no regions came in to rescore",
                fix="find some regions first (e.g. lower the detector's threshold)",
                index=index,
                batch_size=regions.batch_size,
            )
        )
    return RegionBatch(tuple(found))


def intersect_regions(
    regions: RegionBatch,
    inside: torch.Tensor,
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR,
) -> RegionBatch:
    """Cut each region's mask (or box) down to where ``inside`` is set.

    Args:
        regions: candidates of the images ``inside`` was made for (checked to fit them).
        inside: ``[B, H, W]`` bool, e.g. :func:`heat_mask` of the heatmaps.
        if_nothing_found: policy for an image where no region overlaps ``inside``.

    Returns:
        Per image, the regions that overlap, in their order, each with ``mask`` = the overlap
        (``[H, W]`` float32, CPU) and ``box`` = the overlap's bounds; scores are unchanged.
    """
    keep = inside.detach().to("cpu", torch.float32)
    found = []
    for index, item in enumerate(regions):
        cut = []
        for region in item.regions:
            mask = box_mask(region, item.height, item.width) * keep[index]
            box = mask_box(mask)
            if box is not None:
                cut.append(dataclasses.replace(region, mask=mask, box=box))
        found.append(
            resolve_nothing_found(
                dataclasses.replace(item, regions=tuple(cut)),
                if_nothing_found,
                reason=f"none of the {len(item.regions)} region(s) overlaps the heat mask"
                if item.regions
                else "no regions came in to intersect",
                fix="lower the threshold or min_area, or set use_regions to 'rescore'",
                index=index,
                batch_size=regions.batch_size,
            )
        )
    return RegionBatch(tuple(found))
