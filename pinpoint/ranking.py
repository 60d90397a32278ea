"""Ranking candidate edits: several seeds (or prompts, or regions) of one edit are measured
(:mod:`pinpoint.metrics`) and ordered by ``S = alpha * S_t2i + beta * S_i2i``; the inpainting
loop keeps each image's best (:func:`rank_candidates`); :func:`rank_edits` ranks any set of
candidates in one table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .clip_embed import clip_notes
from .errors import PinpointError
from .loading.models import ClipMatcher
from .metrics import MASK_THRESHOLD, EditMetrics, MetricsRequest, measure_edits
from .request import Request


@dataclasses.dataclass(frozen=True)
class RankSettings(Request):
    """How candidates of one edit (several seeds, prompts or regions) are ranked: by
    ``S = alpha * S_t2i + beta * S_i2i``.

    Attributes:
        alpha: weight of ``S_t2i`` (says what the text asks).
        beta: weight of ``S_i2i`` (keeps what the source shows).
        top_k: how many of the best to keep.
    """

    alpha: float = 1.0
    beta: float = 0.5
    top_k: int = 1

    def __post_init__(self) -> None:
        for name in ("alpha", "beta"):
            if getattr(self, name) < 0:
                raise PinpointError(f"{name} is {getattr(self, name)}", "use 0 or more")
        if self.alpha == 0 and self.beta == 0:
            raise PinpointError("alpha and beta are both 0", "give at least one a weight")
        if self.top_k < 1:
            raise PinpointError(f"top_k is {self.top_k}", "keep at least 1")

    def score(self, measured: EditMetrics) -> float:
        """``S`` of one candidate."""
        return self.alpha * measured.t2i + self.beta * measured.i2i


@dataclass(frozen=True)
class RankResult:
    """The outcome of :func:`rank_edits`.

    Attributes:
        order: candidate indices (0-based, into the request's edits), best first, at most
            ``top_k``.
        scores: ``S`` of every candidate, in input order.
        metrics: every candidate's measures, in input order.
        table: a text table of every candidate, best first, the kept ones marked, under a
            note for each text CLIP cut (how much it read).
    """

    order: tuple[int, ...]
    scores: tuple[float, ...]
    metrics: tuple[EditMetrics, ...]
    table: str


def rank_edits(metrics: MetricsRequest, settings: RankSettings = RankSettings()) -> RankResult:
    """Measure every candidate of ``metrics`` once (one CLIP pass for all) and rank by ``S``."""
    measured = measure_edits(metrics)
    scores = tuple(settings.score(m) for m in measured)
    ranked = sorted(range(len(scores)), key=lambda index: scores[index], reverse=True)
    kept = tuple(ranked[: settings.top_k])
    notes = [
        f"note: {note}" for note in clip_notes(metrics.clip, metrics.text, metrics.source_text)
    ]
    table = "\n".join([*notes, _table(ranked, kept, scores, measured)])
    return RankResult(kept, scores, tuple(measured), table)


def _table(
    ranked: Sequence[int],
    kept: Sequence[int],
    scores: Sequence[float],
    measured: Sequence[EditMetrics],
) -> str:
    lines = [
        "  rank  candidate       S     t2i     i2i  ssim_in  ssim_out  max_delta_out  lpips_out"
    ]
    for rank, index in enumerate(ranked, start=1):
        m = measured[index]
        mark = "*" if index in kept else " "
        inside = f"{m.ssim_inside:7.3f}" if m.ssim_inside is not None else "      -"
        outside = f"{m.ssim_outside:8.3f}" if m.ssim_outside is not None else "       -"
        lpips = f"{m.lpips_outside:9.4f}" if m.lpips_outside is not None else "        -"
        lines.append(
            f"{mark} {rank:4d}  {index + 1:9d}  {scores[index]:6.3f}  {m.t2i:6.3f}  {m.i2i:6.3f}"
            f"  {inside}  {outside}  {m.max_delta_outside:13.1f}  {lpips}"
        )
    return "\n".join(lines)


def check_candidates(
    count: int, name: str = "candidates", clip: ClipMatcher | None = None, ranked: bool = False
) -> int:
    """``count`` candidates per image if at least 1 (1: no ranking); with ``ranked`` (the
    ranking is about to run), more than 1 needs ``clip``."""
    if count < 1:
        raise PinpointError(f"{name} is {count}", "use 1 (no ranking) or more")
    if ranked and count > 1 and clip is None:
        raise PinpointError(
            f"{name} is {count} but no CLIP is connected to rank them",
            "give a CLIP matcher (clip) to rank them, or set candidates to 1",
        )
    return count


@dataclass(frozen=True)
class Kept:
    """The candidate kept for one image (:func:`rank_candidates`).

    Attributes:
        index: its index into the candidates (``[B * count, H, W, 3]``, image by image).
        number: its number among its image's candidates (1-based, as the table prints it).
        score: its ``S`` (summed over the edits found in the image; 0 where none was).
    """

    index: int
    number: int
    score: float


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
) -> tuple[list[Kept], str]:
    """The best candidate of each image and every image's ranking table.

    Args:
        images: ``[B, H, W, 3]`` sources; candidates: ``[B * count, H, W, 3]``, image by
            image.
        targets: the edits; a candidate's score is the sum over the edits whose mask is not
            empty in its image of ``alpha * S_t2i + beta * S_i2i``.

    Returns:
        The kept candidate of each image, and the tables (under a note for each edit's text
        CLIP cut).
    """
    best, tables = [], []
    for number, target in enumerate(targets, start=1):
        edit = f"edit {number}: " if len(targets) > 1 else ""
        tables.extend(
            f"note: {edit}{note}" for note in clip_notes(clip, target.text, target.source_text)
        )
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
        best.append(Kept(index * count + winner, winner + 1, float(totals[winner])))
        header = f"image {index + 1}: candidate {winner + 1} of {count} kept"
        tables.append("\n".join([header, *lines]))
    return best, "\n".join(tables)
