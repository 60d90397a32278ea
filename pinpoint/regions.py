"""Candidate regions: what Detect produces, Match scores and Refine/Inpaint consume.

A ``PINPOINT_REGIONS`` socket carries a :class:`RegionBatch`: one :class:`ImageRegions` per
image of the IMAGE batch, each a tuple of :class:`Region` in that image's pixel coordinates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from .choices import Choice
from .errors import PinpointError

Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in pixels of the source image, x0 < x1, y0 < y1 (right/bottom exclusive)."""


@dataclass(frozen=True)
class Region:
    """One candidate object in one image.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in source-image pixels.
        label: the detector's class name (or a description such as ``"whole image"``).
        confidence: the detector's confidence in [0, 1].
        source: which route produced it, e.g. ``"detector:detr-resnet-50"``.
        mask: optional ``[H, W]`` float mask in [0, 1] at the full image size (1 = object).
        similarity: CLIP cosine similarity to the match text, once matched.
        probability: softmax of the CLIP logits across this image's candidates, once matched.
        score: the ranking score: ``confidence`` before matching, the blended match score after.
        mask_iou: Segment Anything's predicted IoU of ``mask``, once refined with SAM.
        number: once matched, the 1-based position of the candidate among its image's candidates
            as they came into Match (detection order, so it stays the same while the detector's
            output is cached and only the match text changes); what a pin names.
    """

    box: Box
    label: str
    confidence: float
    source: str
    mask: torch.Tensor | None = None
    similarity: float | None = None
    probability: float | None = None
    score: float = 0.0
    mask_iou: float | None = None
    number: int | None = None

    def with_scores(
        self, similarity: float, probability: float, score: float, number: int
    ) -> Region:
        """A copy of this region carrying match scores and its candidate number."""
        return dataclasses.replace(
            self, similarity=similarity, probability=probability, score=score, number=number
        )


@dataclass(frozen=True)
class ImageRegions:
    """The candidates found in one image of a batch, best first.

    Attributes:
        width, height: size of the image the boxes refer to, in pixels.
        regions: the candidates, sorted by ``score`` descending.
        note: a human-readable remark shown in previews and reports, e.g. why the list is empty
            or that the whole image stands in for "nothing found".
    """

    width: int
    height: int
    regions: tuple[Region, ...] = ()
    note: str = ""

    def __len__(self) -> int:
        return len(self.regions)


@dataclass(frozen=True)
class RegionBatch:
    """Regions for every image of an IMAGE batch ``[B, H, W, C]``; ``len(per_image) == B``."""

    per_image: tuple[ImageRegions, ...] = field(default_factory=tuple)

    @property
    def batch_size(self) -> int:
        return len(self.per_image)

    def __iter__(self) -> Iterator[ImageRegions]:
        return iter(self.per_image)

    def __getitem__(self, index: int) -> ImageRegions:
        return self.per_image[index]

    def check_matches(self, image: torch.Tensor) -> None:
        """Raise unless these regions were found on an IMAGE of ``image``'s batch and size.

        Args:
            image: ``[B, H, W, C]`` tensor the caller is about to combine with these regions.
        """
        batch, height, width = int(image.shape[0]), int(image.shape[1]), int(image.shape[2])
        fix = "use the regions found on this same image batch"
        if self.batch_size != batch:
            raise PinpointError(
                f"the image batch has {batch} image(s) but the regions cover {self.batch_size}",
                fix,
            )
        for index, item in enumerate(self.per_image):
            if (item.width, item.height) != (width, height):
                raise PinpointError(
                    f"regions of image {index + 1} were found on a {item.width}x{item.height} "
                    f"image but this image is {width}x{height}",
                    fix,
                )


class IfNothingFound(Choice):
    """What to do when an image ends up with no region (nothing detected or nothing matched)."""

    ERROR = "error"
    EMPTY_MASK = "empty mask"
    WHOLE_IMAGE = "whole image"


def resolve_nothing_found(
    found: ImageRegions,
    policy: IfNothingFound,
    reason: str,
    fix: str,
    index: int = 0,
    batch_size: int = 1,
) -> ImageRegions:
    """Apply the user's "nothing found" policy to one image's (possibly empty) candidates.

    Args:
        found: the candidates left for the image.
        policy: the checked policy.
        reason: why nothing is left, e.g. ``"nothing detected above threshold 0.70"``.
        fix: how the user can get a result, used only by the ``error`` policy.
        index, batch_size: 0-based position of the image in its batch and the batch's size,
            for messages.

    Returns:
        ``found`` unchanged when it is not empty; otherwise an empty list (``empty mask``) or a
        single whole-image region (``whole image``), with ``note`` saying what happened.

    Raises:
        PinpointError: when the list is empty and the policy is ``error``.
    """
    if found.regions:
        return found
    where_in_batch = f" in image {index + 1} of {batch_size}" if batch_size > 1 else ""
    if policy == IfNothingFound.ERROR:
        raise PinpointError(
            f"{reason}{where_in_batch}",
            f"{fix}, or set if_nothing_found to 'empty mask' or 'whole image'",
        )
    if policy == IfNothingFound.EMPTY_MASK:
        return dataclasses.replace(found, regions=(), note=f"{reason}: empty mask")
    whole = Region(
        box=(0.0, 0.0, float(found.width), float(found.height)),
        label="whole image",
        confidence=0.0,
        source="if_nothing_found",
    )
    return dataclasses.replace(found, regions=(whole,), note=f"{reason}: whole image used")


def resolve_each(
    found: Sequence[ImageRegions], policy: IfNothingFound, reason: str, fix: str
) -> RegionBatch:
    """:func:`resolve_nothing_found` for every image of a batch, with one reason and fix."""
    return RegionBatch(
        tuple(
            resolve_nothing_found(item, policy, reason, fix, index, len(found))
            for index, item in enumerate(found)
        )
    )
