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

from .detect import DetectRequest, detect_objects
from .edit_list import EditLine
from .errors import reported_as
from .inpaint import InpaintRequest, inpaint_layers
from .loading.models import ClipMatcher, Detector, InpaintPipe
from .masks import regions_to_mask
from .match import MatchRequest, embed_candidates, format_scores, match_text
from .preview import draw_regions
from .progress import Progress, no_progress
from .regions import IfNothingFound, ImageRegions, RegionBatch
from .selection import Pick


@dataclass(frozen=True)
class EditSettings:
    """Every knob of the edit; the defaults are the stages' own (their requests').

    ``pick``, ``top_k`` and ``min_probability`` are the defaults of an edit list's lines (a line
    may set its own).
    """

    threshold: float = DetectRequest.threshold
    max_detections: int = DetectRequest.max_detections
    labels: str = DetectRequest.labels
    pick: Pick = MatchRequest.pick
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

    def line_defaults(self) -> EditLine:
        """What an edit-list line without options gets (see :func:`parse_edit_list`)."""
        return EditLine("", "", self.pick, self.top_k, self.min_probability)


@dataclass(frozen=True)
class EditOutcome:
    """What one edit of the list did.

    Attributes:
        edit: the edit line.
        scored: every candidate scored against the edit's text, best first, per image.
        chosen: the regions it repainted, per image.
        mask: ``[B, H, W]`` its mask before feathering.
        scores: its score table (see :func:`pinpoint.match.format_scores`).
    """

    edit: EditLine
    scored: RegionBatch
    chosen: RegionBatch
    mask: torch.Tensor
    scores: str


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
        """Every edit's score table under a header naming the edit."""
        return "\n".join(
            f"edit {number}: {outcome.edit}\n{outcome.scores}"
            for number, outcome in enumerate(self.edits, start=1)
        )


def edit_title(number: int, line: EditLine) -> str:
    """How messages name edit ``number`` (1-based) of a list."""
    return f"edit {number} ('{line.find}')"


def _preview(images: torch.Tensor, found: RegionBatch, edits: Sequence[EditOutcome]):
    """One edit: its scored candidates and its choice; several: the detections, and each edit's
    choice captioned with the edit's number and text."""
    if len(edits) == 1:
        return draw_regions(images, edits[0].scored, edits[0].chosen)
    chosen = []
    for index, candidates in enumerate(found):
        picked = tuple(
            dataclasses.replace(region, label=f"{number}: {outcome.edit.find}")
            for number, outcome in enumerate(edits, start=1)
            for region in outcome.chosen[index].regions
        )
        chosen.append(ImageRegions(candidates.width, candidates.height, picked))
    return draw_regions(images, found, RegionBatch(tuple(chosen)))


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
    outcomes: list[EditOutcome] = []
    notes: list[str] = []
    candidates = None
    for number, line in enumerate(edits, start=1):
        title = edit_title(number, line) if len(edits) > 1 else ""
        with reported_as(f"Match, {title}" if title else "Match"):
            request = MatchRequest(
                clip,
                images,
                found,
                line.find,
                pick=line.pick,
                top_k=line.top_k,
                context_pad=s.context_pad,
                confidence_weight=s.confidence_weight,
                min_probability=line.min_probability,
                if_nothing_found=s.if_nothing_found,
            )
            if candidates is None:  # one CLIP image pass serves every edit
                candidates = embed_candidates(request)
            matched = match_text(request, candidates=candidates)
        mask = regions_to_mask(matched.chosen, grow_px=s.grow_px)
        scores = format_scores(matched.scored, matched.chosen)
        outcomes.append(EditOutcome(line, matched.scored, matched.chosen, mask, scores))
        notes.extend(
            f"{title + ': ' if title else ''}image {index}: {item.note}"
            for index, item in enumerate(matched.chosen, start=1)
            if item.note
        )
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
        mask=torch.stack([outcome.mask for outcome in outcomes]).amax(dim=0),
        preview=_preview(images, found, outcomes),
        edits=tuple(outcomes),
        notes=(*notes, *result.notes),
    )
