"""The whole edit in one call: Detect → Match → mask → Inpaint (what the CLI runs).

An edit list (:mod:`pinpoint.edit_list`) runs in one pass: the detector runs once, CLIP embeds
the candidates once and scores them against each edit's text, and every edit's crops are
inpainted together, each from its own prompt, then painted in list order. With several
candidates per image, every image is repainted with that many seeds in the same sampling
passes and the candidates are ranked (:mod:`pinpoint.metrics`); the best is kept.
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
from .errors import PinpointError, reported_as
from .guidance import GuidanceRecipe
from .inpaint import inpaint_layers, inpaint_masked
from .loading.models import ClipMatcher, Detector, InpaintPipe
from .metrics import MASK_THRESHOLD, MetricsRequest, RankSettings, measure_edits
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
        ranking: with several candidates, each image's candidates ranked (see
            :func:`rank_candidates`); empty otherwise.
    """

    images: torch.Tensor
    mask: torch.Tensor
    preview: torch.Tensor
    edits: tuple[EditOutcome, ...]
    notes: tuple[str, ...]
    ranking: str = ""

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
    candidates: int = 1,
    ranking: RankSettings = RankSettings(),
    guidance: GuidanceRecipe | None = None,
) -> EditResult:
    """Find what each edit names in each image and repaint it as the edit's prompt describes.

    Args:
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        edits: one or more edits, e.g. ``EditLine("the red car", "a blue pickup truck")`` (see
            :func:`pinpoint.edit_list.parse_edit_list`); painted in order, a later edit on top
            where masks overlap.
        progress: called as ``progress(done, total)`` during sampling.
        candidates: above 1, each image is repainted that many times (candidate ``j`` of
            image ``b`` with ``seed + b * candidates + j``) in the same sampling passes, and
            the best by ``ranking`` (``alpha * S_t2i + beta * S_i2i``) is kept.
        guidance: CLIP guidance of the sampling (:mod:`pinpoint.guided_scheduler`), towards
            each edit's prompt (the recipe's own text is replaced by it).
    """
    s, count = settings, check_candidates(candidates)
    sources = images.repeat_interleave(count, dim=0)
    with reported_as("Inpaint"):  # checked before any model runs; the masks come later
        empty = torch.zeros(sources.shape[:3])
        planned = [
            s.inpaint_request(
                pipe,
                sources,
                empty,
                line.prompt,
                guidance=dataclasses.replace(guidance, text=line.prompt) if guidance else None,
            )
            for line in edits
        ]
    with reported_as("Detect"):
        found = detect_objects(s.detect_request(detector, images))
    outcomes, notes = match_edits(clip, images, found, edits, s)
    with reported_as("Inpaint"):
        result = inpaint_layers(
            [
                dataclasses.replace(request, masks=outcome.mask.repeat_interleave(count, dim=0))
                for request, outcome in zip(planned, outcomes, strict=True)
            ],
            progress,
        )
    edited, table = result.images, ""
    if count > 1:
        with reported_as("Rank"):
            targets = [RankTarget(o.mask, o.edit.prompt, o.edit.find) for o in outcomes]
            best, table = rank_candidates(clip, images, result.images, targets, count, ranking)
        edited = result.images[best]
    return EditResult(
        images=edited,
        mask=edit_mask(outcomes),
        preview=draw_edits(images, found, outcomes),
        edits=outcomes,
        notes=(*notes, *result.notes),
        ranking=table,
    )


def restyle(
    pipe: InpaintPipe,
    images: torch.Tensor,
    style: str,
    settings: EditSettings = EditSettings(),
    progress: Progress = no_progress,
    guidance: GuidanceRecipe | None = None,
) -> EditResult:
    """Each whole image restyled as ``style`` says (S3 on the diffusers route): the inpainting
    pipeline over a mask of the whole image, a strength below 1 keeping the layout, steered by
    ``guidance`` (usually :data:`pinpoint.guidance.STYLE`'s losses; its text is replaced by
    ``style``).

    Args:
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        style: the style in words, also the prompt ("a watercolor painting").
        settings: the sampling settings (``strength``, ``steps``, ``scheduler``, ``seed`` ...).
    """
    whole = torch.ones(images.shape[:3])
    with reported_as("Restyle"):
        request = settings.inpaint_request(
            pipe,
            images,
            whole,
            style,
            feather_px=0,
            harmonise=0.0,
            guidance=dataclasses.replace(guidance, text=style) if guidance else None,
        )
        result = inpaint_masked(request, progress)
    return EditResult(result.images, whole, images, (), result.notes)


def check_candidates(
    count: int, name: str = "candidates", clip: ClipMatcher | None = None, ranked: bool = False
) -> int:
    """``count`` candidates per image if at least 1 (1: no ranking); with ``ranked`` (a caller
    whose CLIP is optional), more than 1 needs ``clip``."""
    if count < 1:
        raise PinpointError(f"{name} is {count}", "use 1 (no ranking) or more")
    if ranked and count > 1 and clip is None:
        raise PinpointError(
            f"{name} is {count} but no CLIP is connected to rank them",
            "give a CLIP model (clip) to rank them, or set candidates to 1",
        )
    return count


def keep_best(
    clip: ClipMatcher | None,
    images: torch.Tensor,
    masks: torch.Tensor,
    candidates: torch.Tensor,
    count: int,
    text: str,
    ranking: RankSettings = RankSettings(),
) -> tuple[torch.Tensor, str]:
    """Each image's best of its ``count`` candidates (all of ``candidates`` when ``count`` is
    1), and the ranking tables.

    Args:
        images: ``[B, H, W, 3]`` sources; masks: ``[B, H, W]`` the edited areas.
        candidates: ``[B * count, H, W, 3]``, image by image (the inpainting of
            ``images.repeat_interleave(count, 0)``: candidate ``j`` of image ``b`` sampled with
            seed ``seed + b * count + j``).
        text: the prompt the candidates were made from.
    """
    if count == 1 or clip is None:
        return candidates, ""
    targets = [RankTarget(masks, text)]
    best, table = rank_candidates(clip, images, candidates, targets, count, ranking)
    return candidates[best], table


@dataclass(frozen=True)
class RankTarget:
    """What candidates are ranked on: one edit's masks and texts.

    Attributes:
        masks: MASK ``[B, H, W]``, the edit's area in each source image.
        text: what the area was to become (the prompt).
        source_text: what it was (for the table's context only; may be empty).
    """

    masks: torch.Tensor
    text: str
    source_text: str = ""


def rank_candidates(
    clip: ClipMatcher,
    images: torch.Tensor,
    candidates: torch.Tensor,
    targets: Sequence[RankTarget],
    count: int,
    ranking: RankSettings,
) -> tuple[list[int], str]:
    """The best candidate of each image and every image's ranking table.

    Args:
        images: ``[B, H, W, 3]`` sources; candidates: ``[B * count, H, W, 3]``, image by
            image.
        targets: the edits; a candidate's score is the sum over the edits whose mask is not
            empty in its image of ``alpha * S_t2i + beta * S_i2i``.

    Returns:
        Indices into ``candidates``, one per image, and the tables.
    """
    best, tables = [], []
    for index, source in enumerate(images):
        rows = slice(index * count, (index + 1) * count)
        totals, lines = torch.zeros(count, dtype=torch.float64), []
        for number, target in enumerate(targets, start=1):
            mask = target.masks[index]
            if not bool((mask >= MASK_THRESHOLD).any()):
                continue  # this edit found nothing in this image
            measured = measure_edits(
                MetricsRequest(
                    clip, source[None], candidates[rows], mask, target.text, target.source_text
                )
            )
            scores = [ranking.score(m) for m in measured]
            totals += torch.tensor(scores, dtype=torch.float64)
            lines.append(f"edit {number}: " + " ".join(f"{v:.3f}" for v in scores))
        winner = int(totals.argmax()) if lines else 0
        best.append(index * count + winner)
        header = f"image {index + 1}: candidate {winner + 1} of {count} kept"
        tables.append("\n".join([header, *lines]))
    return best, "\n".join(tables)
