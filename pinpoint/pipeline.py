"""The whole edit in one call: Detect → Match → mask → Inpaint (what the CLI runs).

An edit list (:mod:`pinpoint.edit_list`) runs in one pass: the detector runs once, CLIP embeds
the candidates once and scores them against each edit's text, and every edit's crops are
inpainted together, each from its own prompt, then painted in list order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .detect import detect_objects
from .edit_list import (
    EditLine,
    EditOutcome,
    EditSettings,
    draw_edits,
    edit_mask,
    edit_scores,
    match_edits,
)
from .errors import reported_as
from .inpaint import InpaintRequest, inpaint_layers
from .loading.models import ClipMatcher, Detector, InpaintPipe
from .progress import Progress, no_progress


@dataclass(frozen=True)
class EditResult:
    """The outcome of :func:`edit`.

    Attributes:
        images: ``[B, H, W, 3]`` edited images.
        mask: ``[B, H, W]`` every edit's mask together (before feathering).
        preview: ``[B, H, W, 3]`` the candidates and what each edit chose, over the input.
        edits: one outcome per edit, in list order.
        notes: remarks from every stage (nothing found, empty masks).
    """

    images: torch.Tensor
    mask: torch.Tensor
    preview: torch.Tensor
    edits: tuple[EditOutcome, ...]
    notes: tuple[str, ...]

    @property
    def scores(self) -> str:
        """Every edit's score table (see :func:`edit_scores`)."""
        return edit_scores(self.edits)


def edit(
    detector: Detector,
    clip: ClipMatcher,
    pipe: InpaintPipe,
    images: torch.Tensor,
    edits: Sequence[EditLine],
    settings: EditSettings = EditSettings(),
    progress: Progress = no_progress,
) -> EditResult:
    """Find what each edit names in each image and repaint it as the edit's prompt describes.

    Args:
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        edits: one or more edits, e.g. ``EditLine("the red car", "a blue pickup truck")`` (see
            :func:`pinpoint.edit_list.parse_edit_list`); painted in order, a later edit on top
            where masks overlap.
        progress: called as ``progress(done, total)`` during sampling.
    """
    s = settings
    with reported_as("Inpaint"):  # checked before any model runs; the masks come later
        empty = torch.zeros(images.shape[:3])
        planned = [
            InpaintRequest(
                pipe,
                images,
                empty,
                line.prompt,
                negative_prompt=s.negative_prompt,
                seed=s.seed,
                steps=s.steps,
                cfg=s.cfg,
                strength=s.strength,
                context=s.context,
                feather_px=s.feather_px,
            )
            for line in edits
        ]
    with reported_as("Detect"):
        found = detect_objects(s.detect_request(detector, images))
    outcomes, notes = match_edits(clip, images, found, edits, s)
    with reported_as("Inpaint"):
        result = inpaint_layers(
            [
                dataclasses.replace(request, masks=outcome.mask)
                for request, outcome in zip(planned, outcomes, strict=True)
            ],
            progress,
        )
    return EditResult(
        images=result.images,
        mask=edit_mask(outcomes),
        preview=draw_edits(images, found, outcomes),
        edits=outcomes,
        notes=(*notes, *result.notes),
    )
