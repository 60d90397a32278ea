"""The whole edit in one call: Detect → Match → mask → Inpaint (what the CLI runs)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .detect import detect_objects
from .inpaint import inpaint_masked
from .loading.models import ClipMatcher, Detector, InpaintPipe
from .masks import regions_to_mask
from .match import format_scores, match_text
from .preview import draw_regions
from .progress import Progress, no_progress
from .regions import RegionBatch


@dataclass(frozen=True)
class EditSettings:
    """Every knob of the edit, with the defaults the nodes use."""

    threshold: float = 0.7
    max_detections: int = 20
    labels: tuple[str, ...] = ()
    top_k: int = 1
    context_pad: float = 0.1
    confidence_weight: float = 0.0
    min_probability: float = 0.0
    if_nothing_found: str = "error"
    grow_px: int = 8
    negative_prompt: str = ""
    steps: int = 20
    cfg: float = 7.5
    strength: float = 1.0
    seed: int = 0
    context: float = 0.5
    feather_px: int = 8


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
    found = detect_objects(
        detector,
        images,
        s.threshold,
        s.max_detections,
        s.labels,
        s.if_nothing_found,
        where="Detect",
    )
    matched = match_text(
        clip,
        images,
        found,
        find,
        context_pad=s.context_pad,
        confidence_weight=s.confidence_weight,
        top_k=s.top_k,
        min_probability=s.min_probability,
        if_nothing_found=s.if_nothing_found,
        where="Match",
    )
    mask = regions_to_mask(matched.chosen, grow_px=s.grow_px)
    result = inpaint_masked(
        pipe,
        images,
        mask,
        prompt,
        s.negative_prompt,
        s.steps,
        s.cfg,
        s.strength,
        s.seed,
        s.context,
        s.feather_px,
        progress=progress,
        where="Inpaint",
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
