"""The whole edit in one call: Detect → Match → mask → Inpaint (what the CLI runs)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .detect import DetectRequest, detect_objects
from .errors import reported_as
from .inpaint import InpaintRequest, inpaint_masked
from .loading.models import ClipMatcher, Detector, InpaintPipe
from .masks import regions_to_mask
from .match import MatchRequest, format_scores, match_text
from .preview import draw_regions
from .progress import Progress, no_progress
from .regions import IfNothingFound, RegionBatch


@dataclass(frozen=True)
class EditSettings:
    """Every knob of the edit; the defaults are the stages' own (their requests')."""

    threshold: float = DetectRequest.threshold
    max_detections: int = DetectRequest.max_detections
    labels: str = DetectRequest.labels
    top_k: int = MatchRequest.top_k
    context_pad: float = MatchRequest.context_pad
    confidence_weight: float = MatchRequest.confidence_weight
    min_probability: float = MatchRequest.min_probability
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR
    grow_px: int = 8
    """The chosen boxes' mask grows by this many pixels before inpainting (covers edges)."""
    negative_prompt: str = InpaintRequest.negative_prompt
    steps: int = InpaintRequest.steps
    cfg: float = InpaintRequest.cfg
    strength: float = InpaintRequest.strength
    seed: int = InpaintRequest.seed
    context: float = InpaintRequest.context
    feather_px: int = InpaintRequest.feather_px


@dataclass(frozen=True)
class EditResult:
    """The outcome of :func:`edit`.

    Attributes:
        images: ``[B, H, W, 3]`` edited images.
        mask: ``[B, H, W]`` the mask that was inpainted (before feathering).
        preview: ``[B, H, W, 3]`` candidates and the chosen region drawn over the input.
        chosen: the chosen regions per image.
        scores: the score table (see :func:`pinpoint.match.format_scores`).
        notes: remarks from every stage (nothing found, empty masks).
    """

    images: torch.Tensor
    mask: torch.Tensor
    preview: torch.Tensor
    chosen: RegionBatch
    scores: str
    notes: tuple[str, ...]


def edit(
    detector: Detector,
    clip: ClipMatcher,
    pipe: InpaintPipe,
    images: torch.Tensor,
    find: str,
    prompt: str,
    settings: EditSettings = EditSettings(),
    progress: Progress = no_progress,
) -> EditResult:
    """Find the object ``find`` names in each image and repaint it as ``prompt`` describes.

    Args:
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        find: what to change, e.g. ``"the red car"``.
        prompt: what it should become, e.g. ``"a blue pickup truck"``.
        progress: called as ``progress(done, total)`` during sampling.
    """
    s = settings
    with reported_as("Detect"):
        found = detect_objects(
            DetectRequest(
                detector,
                images,
                threshold=s.threshold,
                max_detections=s.max_detections,
                labels=s.labels,
                if_nothing_found=s.if_nothing_found,
            )
        )
    with reported_as("Match"):
        matched = match_text(
            MatchRequest(
                clip,
                images,
                found,
                find,
                top_k=s.top_k,
                context_pad=s.context_pad,
                confidence_weight=s.confidence_weight,
                min_probability=s.min_probability,
                if_nothing_found=s.if_nothing_found,
            )
        )
    mask = regions_to_mask(matched.chosen, grow_px=s.grow_px)
    with reported_as("Inpaint"):
        result = inpaint_masked(
            InpaintRequest(
                pipe,
                images,
                mask,
                prompt,
                negative_prompt=s.negative_prompt,
                seed=s.seed,
                steps=s.steps,
                cfg=s.cfg,
                strength=s.strength,
                context=s.context,
                feather_px=s.feather_px,
            ),
            progress,
        )
    notes = (
        tuple(
            f"image {index}: {item.note}"
            for index, item in enumerate(matched.chosen, start=1)
            if item.note
        )
        + result.notes
    )
    return EditResult(
        images=result.images,
        mask=mask,
        preview=draw_regions(images, matched.scored, matched.chosen),
        chosen=matched.chosen,
        scores=format_scores(matched.scored, matched.chosen),
        notes=notes,
    )
