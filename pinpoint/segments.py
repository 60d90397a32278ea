"""Segments as regions: every class a semantic-segmentation model (Segformer, ...) finds in an
image becomes a candidate region with a pixel mask, ready for CLIP to choose among."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .boxes import mask_box
from .images import IMAGES_PER_PASS, check_image, to_uint8_arrays
from .labels import check_labels
from .loading.models import Segmenter, to_module
from .masks import label_components
from .progress import Progress, no_progress
from .regions import IfNothingFound, ImageRegions, Region, RegionBatch, resolve_each
from .request import Request

BAND_ELEMENTS = 1 << 24
"""Class scores upsampled at once (64 MB in float32): an ADE model has 150 classes, so a whole
4K image at once would need about 5 GB."""


def _processor_inputs(segmenter: Segmenter, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The processor's tensors for ``[n, H, W, 3]``, on the model's device and dtype.

    Center cropping (MobileViT) and padding (DPT) are switched off so that the logits always
    cover the whole image and upsampling them to ``H, W`` puts every class where it belongs.
    """
    processor = segmenter.processor
    whole_image = {
        name: False for name in ("do_center_crop", "do_pad") if getattr(processor, name, None)
    }
    inputs = processor(images=to_uint8_arrays(images), return_tensors="pt", **whole_image)
    return to_module(segmenter.model, inputs)


def class_map(logits: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel class and its probability at the image's own size.

    The logits are upsampled bilinearly (as ``F.interpolate(..., align_corners=False)`` would)
    to ``height x width``, a band of rows at a time, then soft-maxed over the classes.

    Args:
        logits: ``[C, h, w]`` class scores of one image.
        height, width: the image's size in pixels (any aspect ratio).

    Returns:
        ``([H, W] int64 class ids, [H, W] float32 softmax probability of that class)``, on the
        logits' device.
    """
    classes = int(logits.shape[0])
    scores = logits[None].float()
    device = scores.device
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) * (2.0 / width) - 1.0
    band = max(1, BAND_ELEMENTS // (classes * width))
    ids, probabilities = [], []
    for top in range(0, height, band):
        rows = torch.arange(top, min(top + band, height), device=device, dtype=torch.float32)
        ys = (rows + 0.5) * (2.0 / height) - 1.0
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)
        upsampled = F.grid_sample(
            scores, grid[None], mode="bilinear", padding_mode="border", align_corners=False
        )[0]
        probability, class_id = upsampled.softmax(dim=0).max(dim=0)
        ids.append(class_id)
        probabilities.append(probability)
    return torch.cat(ids), torch.cat(probabilities)


def _segments(
    classes: torch.Tensor,
    probability: torch.Tensor,
    names: dict[int, str],
    source: str,
    wanted: set[str],
    min_pixels: float,
    split_instances: bool,
    max_regions: int,
) -> tuple[Region, ...]:
    """One image's regions from its ``[H, W]`` class map and per-pixel probability."""
    if split_instances:
        # component labels are 1 + a flat pixel index, so they never clash across classes
        segment_ids = torch.zeros_like(classes)
        for class_id in torch.unique(classes).tolist():
            segment_ids += label_components((classes == class_id)[None])[0]
    else:
        segment_ids = classes
    _, inverse, counts = torch.unique(segment_ids, return_inverse=True, return_counts=True)
    flat = inverse.flatten()
    sums = torch.zeros(len(counts), dtype=torch.float64).index_add_(
        0, flat, probability.flatten().double()
    )
    segment_class = torch.zeros(len(counts), dtype=torch.int64).scatter_(0, flat, classes.flatten())
    candidates = []
    for index, (count, total, class_id) in enumerate(
        zip(counts.tolist(), sums.tolist(), segment_class.tolist(), strict=True)
    ):
        label = names.get(class_id, str(class_id))
        if count >= min_pixels and (not wanted or label.lower() in wanted):
            candidates.append((total / count, index, label))
    candidates.sort(key=lambda candidate: candidate[0], reverse=True)
    regions = []
    for confidence, index, label in candidates[:max_regions]:
        mask = (inverse == index).to(torch.float32)
        box = mask_box(mask)
        assert box is not None  # every segment has at least one pixel
        regions.append(
            Region(
                box=box,
                label=label,
                confidence=confidence,
                source=source,
                mask=mask,
                score=confidence,
            )
        )
    return tuple(regions)


@dataclasses.dataclass(frozen=True)
class SegmentRequest(Request):
    """A checked call of :func:`segment_regions`.

    Attributes:
        segmenter: from :func:`pinpoint.loading.load_model`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1]; any size and aspect ratio.
        labels: keep only these class names (``"car, sky"`` or a sequence; case ignored);
            empty keeps every class. Checked against the segmenter's classes.
        min_area: drop segments covering less than this fraction of the image.
        split_instances: one region per 4-connected piece of a class instead of one per class
            (two separate cars become two regions).
        max_regions: keep at most this many regions per image, the most confident.
        if_nothing_found: what an image without segments gets (see
            :func:`pinpoint.regions.resolve_nothing_found`).
        wanted: the checked class names (set from ``labels``).
    """

    segmenter: Segmenter
    images: torch.Tensor
    labels: str | Sequence[str] = ""
    min_area: float = 0.001
    split_instances: bool = False
    max_regions: int = 20
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR
    wanted: frozenset[str] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        check_image(self.images)
        segmenter = self.segmenter
        self._normalise(
            if_nothing_found=IfNothingFound.check(self.if_nothing_found, "if_nothing_found"),
            wanted=check_labels(self.labels, segmenter.labels, segmenter.name, "segmenter"),
        )


def segment_regions(request: SegmentRequest, progress: Progress = no_progress) -> RegionBatch:
    """Split every image into the classes a semantic-segmentation model sees, as regions.

    Args:
        request: the segmenter, images and settings.
        progress: called as ``progress(images_done, B)`` after each forward pass.

    Returns:
        One :class:`ImageRegions` per image. Each region's ``mask`` is its segment, ``[H, W]``
        float32 in {0, 1} on the CPU; ``box`` the mask's bounds in pixels; ``label`` the class
        name; ``confidence`` (and ``score``) the mean softmax probability of the class over the
        segment's pixels. Sorted by confidence, best first.
    """
    segmenter, images, wanted = request.segmenter, request.images, request.wanted
    batch, height, width = int(images.shape[0]), int(images.shape[1]), int(images.shape[2])
    source = f"segmenter:{segmenter.name}"
    found: list[ImageRegions] = []
    for start in range(0, batch, IMAGES_PER_PASS):
        inputs = _processor_inputs(segmenter, images[start : start + IMAGES_PER_PASS])
        with torch.inference_mode():
            logits = segmenter.model(**inputs).logits
        for item in logits:
            classes, probability = class_map(item, height, width)
            regions = _segments(
                classes.cpu(),
                probability.cpu(),
                segmenter.labels,
                source,
                wanted,
                request.min_area * height * width,
                request.split_instances,
                request.max_regions,
            )
            found.append(ImageRegions(width, height, regions))
        progress(min(start + IMAGES_PER_PASS, batch), batch)
    classes_text = f" among {', '.join(sorted(wanted))}" if wanted else ""
    return resolve_each(
        found,
        request.if_nothing_found,
        reason=f"no segment{classes_text} covers at least {request.min_area * 100:g}% of the image",
        fix="lower min_area" + (" or widen the label filter" if wanted else ""),
    )
