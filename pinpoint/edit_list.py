"""Edit lists: several edits of the same images, one per line, ``what to find => what it becomes``;
each edit's regions chosen among the same candidates (one CLIP image pass for all).

    the cat => a small red fox
    the car => a blue pickup | pick=leftmost
    # a comment; blank lines are skipped too
    the people => statues | pick=all matches; min_probability=0.2

After ``|`` a line may set Match's choice options for itself (``pick``, ``top_k``,
``min_probability``, separated by ``;``), and on a route whose finder reads text
(:mod:`pinpoint.route`) also ``query``, the words the finder is given (``query=cat``); the rest
come from the caller's settings. Edits are painted in list order: where two edits' masks
overlap, the later edit's result is on top.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from .detect import DetectRequest
from .diffusers_sampler import DiffusersSampler, Scheduler
from .errors import PinpointError, concerning, reported_as
from .harmonise import check_harmonise
from .loading.models import ClipMatcher, Detector, InpaintPipe
from .masks import regions_to_mask
from .match import (
    CandidateEmbeddings,
    CropMode,
    MatchRequest,
    embed_candidates,
    format_scores,
    match_text,
)
from .preview import draw_regions
from .progress import Progress, no_progress
from .regions import IfNothingFound, ImageRegions, RegionBatch
from .repaint import Layer, RepaintRequest
from .request import Request
from .selection import Pick, SelectRequest, check_top_k, choose_regions
from .settle import EDITOR_SETTLE

ARROW = "=>"
EXAMPLE = "the cat => a small red fox"
SHAPE_FIX = f"write each edit as 'what to find {ARROW} what it becomes', e.g. '{EXAMPLE}'"
MATCH_OPTIONS = ("pick", "top_k", "min_probability")
"""The options every line may set (how its regions are chosen)."""
QUERY = "query"
"""The line option of the routes whose finder reads text: the words it is given."""


@dataclass(frozen=True)
class EditLine:
    """One edit of an edit list.

    Attributes:
        find: what to change, e.g. ``"the cat"`` (Match's text).
        prompt: what it becomes, e.g. ``"a small red fox"`` (the inpainting prompt).
        pick, top_k, min_probability: which of the matching regions the edit takes (as in
            :class:`pinpoint.match.MatchRequest`).
        query: on a route whose finder reads text, what it is given (``"cat"``, while ``find``
            tells CLIP which cat); empty: ``find``.
    """

    find: str
    prompt: str
    pick: Pick = MatchRequest.pick
    top_k: int = MatchRequest.top_k
    min_probability: float = MatchRequest.min_probability
    query: str = ""

    def __str__(self) -> str:
        return f"{self.find} {ARROW} {self.prompt}"


def _option(key: str, value: str) -> object:
    """A line option's checked value (``value`` is the text after ``=``)."""
    if key == QUERY:
        return value
    if key == "pick":
        return Pick.check(value, "pick")
    try:
        number = float(value) if key == "min_probability" else int(value)
    except ValueError:
        kind = "a number" if key == "min_probability" else "a whole number"
        raise PinpointError(f"{key}={value} is not {kind}", f"write {kind}, e.g. {key}=1") from None
    if key == "top_k":
        return check_top_k(int(number))
    if not 0.0 <= number <= 1.0:
        raise PinpointError(f"min_probability={value}", "use a probability from 0 to 1")
    return number


def parse_edit_line(text: str, defaults: EditLine, keys: Sequence[str] = MATCH_OPTIONS) -> EditLine:
    """One line ``find => prompt [| key=value; ...]`` → :class:`EditLine`.

    Args:
        text: the line (not blank, not a comment).
        defaults: where unset options come from (its ``find`` and ``prompt`` are not used).
        keys: the options a line may set (:data:`MATCH_OPTIONS`, with :data:`QUERY` on a
            route whose finder reads text).

    Raises:
        PinpointError: no ``=>``, an empty side, or an unknown or bad option.
    """
    body, _, options = text.partition("|")
    if ARROW not in body:
        raise PinpointError(f"'{text.strip()}' has no '{ARROW}'", SHAPE_FIX)
    find, _, prompt = (part.strip() for part in body.partition(ARROW))
    if not find or not prompt:
        side = "what to find" if not find else "what it becomes"
        raise PinpointError(f"'{text.strip()}' does not say {side}", SHAPE_FIX)
    settings = {key: getattr(defaults, key) for key in keys}
    for item in options.split(";") if options.strip() else ():
        key, equals, value = (part.strip() for part in item.partition("="))
        if key not in settings or not equals or not value:
            raise PinpointError(
                f"'{item.strip()}' in '{text.strip()}' is not an option",
                f"write options after '|' as key=value separated by ';', the keys being "
                f"{', '.join(settings)} (e.g. '{EXAMPLE} | pick=leftmost; top_k=2')",
            )
        settings[key] = _option(key, value)
    return dataclasses.replace(defaults, find=find, prompt=prompt, **settings)


def parse_edit_list(
    lines: Iterable[str],
    defaults: EditLine | None = None,
    keys: Sequence[str] = MATCH_OPTIONS,
) -> tuple[EditLine, ...]:
    """Every edit of an edit list, in order.

    Args:
        lines: the list's lines (``text.splitlines()``, or one ``--edit`` value per item); blank
            lines and lines starting with ``#`` are skipped.
        defaults: the options an edit gets unless its line sets them (Match's defaults).
        keys: the options a line may set (see :func:`parse_edit_line`).

    Raises:
        PinpointError: naming the line (1-based, counting skipped lines) that is not an edit, or
            when there is no edit at all.
    """
    defaults = defaults or EditLine("", "")
    edits = []
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        with concerning(f"line {number}"):
            edits.append(parse_edit_line(text, defaults, keys))
    if not edits:
        raise PinpointError("the edit list is empty", f"write one edit per line, e.g. '{EXAMPLE}'")
    return tuple(edits)


HEADLESS_SCHEDULER = Scheduler.AUTO
"""The sampler of the headless diffusers route (``python -m pinpoint edit`` and ``eval``):
``auto``, DPM-Solver++ on SD-style families (a flow-matching family's own Euler on the others,
one call per step already). DPM-Solver++ spends one UNet call per step where SD 1.5
inpainting's own PNDM spends one more than its steps, and as a second-order multistep solver it
is good in 20 steps or fewer, where first-order DDIM needs more for the same detail; guidance
reads it too. The diffusers node keeps the pipeline's own (:attr:`DiffusersSampler.scheduler`):
a saved graph made before its ``scheduler`` input existed carries no value and must sample as
it did."""


@dataclass(frozen=True)
class EditSettings(Request):
    """Every knob of the edit; the defaults are the stages' own (their requests'), but for the
    headless sampler (:data:`HEADLESS_SCHEDULER`).

    ``threshold``, ``max_detections`` and ``labels`` are the finder's (the detector's on the
    detect route; see :mod:`pinpoint.route` for the others). ``pick``, ``top_k`` and
    ``min_probability`` are the defaults of an edit list's lines (a line may set its own). The
    choices are checked here, before any model runs; the rest by each stage's request.
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
    negative_prompt: str = Layer.negative
    steps: int = DiffusersSampler.steps
    cfg: float | None = DiffusersSampler.cfg
    """None: the family's usual (7.5 for SD, 4 for Qwen-Image ...)."""
    strength: float = DiffusersSampler.strength
    seed: int = RepaintRequest.seed
    context: float = RepaintRequest.context
    feather_px: int = RepaintRequest.feather_px
    scheduler: Scheduler = HEADLESS_SCHEDULER
    harmonise: float = RepaintRequest.harmonise
    settle: bool = False
    """Settle each edit as an instruction editor's (:data:`~pinpoint.settle.EDITOR_SETTLE`):
    its shift and zoom undone, the blend following it a little past the mask."""

    def __post_init__(self) -> None:
        self._normalise(
            pick=Pick.check(self.pick, "pick"),
            top_k=check_top_k(self.top_k),
            if_nothing_found=IfNothingFound.check(self.if_nothing_found, "if_nothing_found"),
            scheduler=Scheduler.check(self.scheduler, "scheduler"),
            harmonise=check_harmonise(self.harmonise),
        )

    def detect_request(self, detector: Detector, images: torch.Tensor) -> DetectRequest:
        """The checked detection these settings ask of ``detector`` on ``images``."""
        return DetectRequest(
            detector,
            images,
            threshold=self.threshold,
            max_detections=self.max_detections,
            labels=self.labels,
            if_nothing_found=self.if_nothing_found,
        )

    def repaint_request(
        self,
        pipe: InpaintPipe,
        images: torch.Tensor,
        layers: tuple[Layer, ...],
        **changes: object,
    ) -> RepaintRequest:
        """The checked inpainting these settings ask of ``pipe`` for ``layers`` (``changes``:
        other fields of :class:`~pinpoint.repaint.RepaintRequest`, e.g. ``candidates``)."""
        sampler = DiffusersSampler(pipe, self.steps, self.cfg, self.strength, self.scheduler)
        settings = dict(
            seed=self.seed,
            context=self.context,
            feather_px=self.feather_px,
            harmonise=self.harmonise,
            settle=EDITOR_SETTLE if self.settle else RepaintRequest.settle,
        )
        return RepaintRequest(sampler, images, layers, **settings | changes)  # type: ignore[arg-type]

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


def edit_scores(edits: Sequence[EditOutcome]) -> str:
    """Every edit's score table under a header naming the edit."""
    return "\n".join(
        f"edit {number}: {outcome.edit}\n{outcome.scores}"
        for number, outcome in enumerate(edits, start=1)
    )


def edit_mask(edits: Sequence[EditOutcome]) -> torch.Tensor:
    """``[B, H, W]``: every edit's mask together (pixel-wise max)."""
    return torch.stack([outcome.mask for outcome in edits]).amax(dim=0)


def edit_title(number: int, line: EditLine) -> str:
    """How messages name edit ``number`` (1-based) of a list."""
    return f"edit {number} ('{line.find}')"


def draw_edits(
    images: torch.Tensor, found: RegionBatch, edits: Sequence[EditOutcome]
) -> torch.Tensor:
    """The preview of an edit list: one edit's scored candidates and its choice; for several,
    the candidates and each edit's choice captioned with the edit's number and text.

    Returns:
        ``[B, H, W, 3]`` float32.
    """
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


def choose_edits(
    images: torch.Tensor,
    finds: Sequence[RegionBatch],
    edits: Sequence[EditLine],
    settings: EditSettings,
    clip: ClipMatcher | None,
    crop: CropMode = MatchRequest.crop,
    progress: Progress = no_progress,
    before_clip: Callable[[MatchRequest], None] = lambda request: None,
) -> tuple[tuple[EditOutcome, ...], tuple[str, ...]]:
    """Choose each edit's regions among its candidates, and its mask.

    With ``clip``, CLIP scores each edit's candidates against its ``find`` text (Match Text to
    Regions); the candidates of edits that share them are embedded once
    (:func:`pinpoint.match.embed_candidates`). Without, the candidates' own scores choose
    (Select Regions; ``min_probability`` is then the lowest score kept). Each edit takes its
    own ``pick``, ``top_k`` and ``min_probability``, the rest comes from ``settings``. Errors
    (reported as ``Match``) and notes name the edit when there are several.

    Args:
        finds: each edit's candidates per image of ``images`` (the same object for edits that
            share them: a detector's, or any route's).
        crop: what CLIP sees of a candidate (see :func:`pinpoint.match.crop_regions`).
        progress: called over CLIP's image passes.
        before_clip: called with the first edit's checked request before CLIP runs (a node
            moves CLIP to the GPU there).

    Returns:
        One outcome per edit (its mask: the chosen regions grown by ``settings.grow_px``), and
        the notes.
    """
    outcomes: list[EditOutcome] = []
    notes: list[str] = []
    embedded: dict[int, CandidateEmbeddings] = {}  # one CLIP image pass per set of candidates
    for number, (line, found) in enumerate(zip(edits, finds, strict=True), start=1):
        title = edit_title(number, line) if len(edits) > 1 else ""
        with reported_as("Match"), concerning(title) if title else nullcontext():
            if clip is None:
                request = SelectRequest(
                    images,
                    found,
                    pick=line.pick,
                    top_k=line.top_k,
                    min_score=line.min_probability,
                    if_nothing_found=settings.if_nothing_found,
                )
                scored, chosen, note = found, choose_regions(request), ""
            else:
                matching = MatchRequest(
                    clip,
                    images,
                    found,
                    line.find,
                    pick=line.pick,
                    top_k=line.top_k,
                    context_pad=settings.context_pad,
                    crop=crop,
                    confidence_weight=settings.confidence_weight,
                    min_probability=line.min_probability,
                    if_nothing_found=settings.if_nothing_found,
                )
                if id(found) not in embedded:
                    if not embedded:
                        before_clip(matching)
                    embedded[id(found)] = embed_candidates(matching, progress)
                matched = match_text(matching, candidates=embedded[id(found)])
                scored, chosen, note = matched.scored, matched.chosen, matched.note
        mask = regions_to_mask(chosen, grow_px=settings.grow_px)
        outcomes.append(
            EditOutcome(line, scored, chosen, mask, format_scores(scored, chosen, note))
        )
        notes.extend(
            f"{title + ': ' if title else ''}image {index}: {item.note}"
            for index, item in enumerate(chosen, start=1)
            if item.note
        )
    return tuple(outcomes), tuple(notes)


def match_edits(
    clip: ClipMatcher,
    images: torch.Tensor,
    found: RegionBatch,
    edits: Sequence[EditLine],
    settings: EditSettings,
    progress: Progress = no_progress,
    before_clip: Callable[[MatchRequest], None] = lambda request: None,
) -> tuple[tuple[EditOutcome, ...], tuple[str, ...]]:
    """Choose each edit's regions among the same candidates with CLIP, and its mask (one CLIP
    image pass for every edit; see :func:`choose_edits`)."""
    finds = [found] * len(edits)
    return choose_edits(
        images, finds, edits, settings, clip, progress=progress, before_clip=before_clip
    )
