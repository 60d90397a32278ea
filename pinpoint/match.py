"""Match: score every candidate region against a text with CLIP and choose the best.

All crops of all images go through CLIP's image tower in one batched forward pass (chunked only
for very many crops); the text is encoded once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from .boxes import pad_box, pixel_bounds
from .choices import Choice
from .clip_embed import clip_notes, embed_crops, embed_text, neutral
from .errors import PinpointError
from .images import check_image, check_prompt
from .loading.models import ClipMatcher
from .masks import box_mask
from .progress import Progress, no_progress
from .regions import IfNothingFound, ImageRegions, Region, RegionBatch, resolve_nothing_found
from .request import Request
from .selection import Pick, apply_pin, check_top_k, resolve_pin, select_regions


class CropMode(Choice):
    """What CLIP sees of a region: its padded box as is, or with everything outside the region's
    mask painted a neutral colour first (for segments and SAM masks, whose boxes hold
    neighbours)."""

    BOX = "box"
    MASKED = "masked"


@dataclass(frozen=True)
class MatchResult:
    """The outcome of :func:`match_text`.

    Attributes:
        scored: every candidate with ``similarity``, ``probability``, ``score`` and ``number``
            set, best first.
        chosen: the selected regions per image (the pinned candidates, else top-k above
            ``min_probability``, or the "nothing found" policy's result).
        pinned: the candidate numbers pinned per image (empty sets where none).
        note: how much of the text CLIP read where it was cut (``""`` where it read it all).
    """

    scored: RegionBatch
    chosen: RegionBatch
    pinned: tuple[frozenset[int], ...]
    note: str = ""


def crop_regions(
    image: torch.Tensor,
    found: ImageRegions,
    context_pad: float,
    crop: CropMode = CropMode.BOX,
    neutral: tuple[float, float, float] = (0.5, 0.5, 0.5),
) -> list[np.ndarray]:
    """Cut each region's box, padded by ``context_pad`` of its larger side, out of ``[H, W, 3]``.

    Args:
        image: ``[H, W, 3]`` float in [0, 1].
        found: the image's regions.
        context_pad: padding as a fraction of each box's larger side.
        crop: ``BOX`` cuts the padded box as it is; ``MASKED`` first blends every pixel
            with ``neutral`` by the region's mask, ``m * image + (1 - m) * neutral`` (the box
            stands in for a region without a mask), so CLIP sees the segment alone.
        neutral: RGB fill in [0, 1] for ``MASKED``; CLIP's ``image_mean`` normalises to ~0.

    Returns:
        One ``[h, w, 3]`` uint8 array per region, in region order.
    """
    pixels = image.detach().to("cpu", torch.float32).clamp(0, 1)
    fill = torch.tensor(neutral, dtype=torch.float32)
    crops = []
    for region in found.regions:
        box = pad_box(region.box, context_pad, found.width, found.height)
        x0, y0, x1, y1 = pixel_bounds(box, found.width, found.height)
        window = pixels[y0:y1, x0:x1]
        if crop == CropMode.MASKED:
            mask = box_mask(region, found.height, found.width)[y0:y1, x0:x1, None].clamp(0, 1)
            window = mask * window + (1.0 - mask) * fill
        crops.append((window * 255.0).round().to(torch.uint8).numpy())
    return crops


@dataclass(frozen=True)
class CandidateEmbeddings:
    """CLIP's view of every candidate of a batch, reusable for several texts (an edit list).

    Attributes:
        embeddings: ``[N, D]`` L2-normalised image embeddings of every image's candidate crops,
            image by image in region order.
        logit_scale: CLIP's temperature (``exp(logit_scale)``).
        regions, context_pad, crop: what was embedded and how (a request must match them).
    """

    embeddings: torch.Tensor
    logit_scale: float
    regions: RegionBatch
    context_pad: float
    crop: CropMode


def embed_candidates(
    request: MatchRequest, progress: Progress = no_progress
) -> CandidateEmbeddings:
    """Every candidate crop of ``request`` through CLIP's image tower, in batched passes.

    Args:
        request: the CLIP model, images, regions, ``context_pad`` and ``crop`` (its text is
            not used).
        progress: called as ``progress(chunks_done, chunks)`` over the forward passes.
    """
    clip = request.clip
    crops: list[np.ndarray] = []
    for image, found in zip(request.images, request.regions, strict=True):
        crops.extend(crop_regions(image, found, request.context_pad, request.crop, neutral(clip)))
    embeddings, scale = embed_crops(clip, crops, progress)
    return CandidateEmbeddings(
        embeddings, scale, request.regions, request.context_pad, request.crop
    )


def score_candidates(
    regions: tuple[Region, ...],
    similarities: torch.Tensor,
    logit_scale: float,
    confidence_weight: float,
) -> tuple[Region, ...]:
    """Attach match scores to one image's candidates and sort them best first.

    Args:
        regions: the image's candidates.
        similarities: ``[N]`` cosine similarity of each candidate's crop to the text.
        logit_scale: CLIP's temperature (``exp(logit_scale)``, about 100 for trained CLIP).
        confidence_weight: ``w`` in ``score = (1 - w) * probability + w * confidence``.

    Returns:
        Regions with ``similarity``, ``probability`` (softmax of ``logit_scale * similarity``
        over the candidates), ``score`` and ``number`` (1-based position in ``regions``) set,
        sorted by ``score`` descending.
    """
    probabilities = torch.softmax(logit_scale * similarities.double(), dim=0)
    scored = [
        region.with_scores(
            similarity=float(similarity),
            probability=float(probability),
            score=(1.0 - confidence_weight) * float(probability)
            + confidence_weight * region.confidence,
            number=number,
        )
        for number, (region, similarity, probability) in enumerate(
            zip(regions, similarities, probabilities, strict=True), start=1
        )
    ]
    return tuple(sorted(scored, key=lambda region: region.score, reverse=True))


@dataclasses.dataclass(frozen=True)
class MatchRequest(Request):
    """A checked call of :func:`match_text`.

    Attributes:
        clip: from :func:`pinpoint.loading.load_model`.
        images: IMAGE ``[B, H, W, 3]`` the regions were found on.
        regions: candidates per image (e.g. from :func:`pinpoint.detect.detect_objects`).
        text: what to find, e.g. ``"the red car"``; stored stripped.
        pick: which of the candidates passing ``min_probability`` to choose: the best scores,
            all of them, or by position/size (see :func:`pinpoint.selection.select_regions`).
        top_k: how many regions to choose per image.
        context_pad: each crop is the box grown by this fraction of its larger side, so CLIP
            sees some surroundings.
        crop: what CLIP sees of a region (see :func:`crop_regions`); the neutral colour of a
            masked crop is the CLIP processor's ``image_mean``.
        confidence_weight: blend of detector confidence into the ranking (0 = CLIP only).
        min_probability: candidates whose CLIP probability is below this are never chosen.
        if_nothing_found: what an image gets when it has no candidate or none passes
            ``min_probability``.
        pin: candidate numbers to choose whatever their scores, e.g. ``"2"`` or ``"2:1"``
            (image 2, candidate 1; see :func:`pinpoint.selection.parse_pin`). A candidate's
            number is its position in ``regions`` (set as :attr:`Region.number`), so it does
            not change with ``text``. An image with pinned numbers gets exactly those
            candidates: ``pick``, ``top_k`` and ``min_probability`` do not apply to it.
        pinned: the checked pin, one set of candidate numbers per image.
    """

    clip: ClipMatcher
    images: torch.Tensor
    regions: RegionBatch
    text: str
    pick: Pick = Pick.BEST
    top_k: int = 1
    context_pad: float = 0.1
    crop: CropMode = CropMode.BOX
    confidence_weight: float = 0.0
    min_probability: float = 0.0
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR
    pin: str = ""
    pinned: tuple[frozenset[int], ...] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        check_image(self.images)
        self.regions.check_matches(self.images)
        self._normalise(
            text=check_prompt(self.text, "text", "the red car"),
            pick=Pick.check(self.pick, "pick"),
            top_k=check_top_k(self.top_k),
            crop=CropMode.check(self.crop, "crop"),
            if_nothing_found=IfNothingFound.check(self.if_nothing_found, "if_nothing_found"),
            pinned=resolve_pin(self.pin, self.regions),
        )


def match_text(
    request: MatchRequest,
    progress: Progress = no_progress,
    candidates: CandidateEmbeddings | None = None,
) -> MatchResult:
    """Score each image's candidates against the text and choose ``top_k`` of them (or the
    pinned).

    Args:
        request: the CLIP model, images, regions, text and settings.
        progress: called as ``progress(chunks_done, chunks)`` over the CLIP forward passes.
        candidates: the candidates already embedded by :func:`embed_candidates` for another
            text (several texts against one detection cost one image pass); embedded here when
            ``None``.

    Returns:
        :class:`MatchResult` with all scored candidates and the chosen ones.
    """
    if candidates is None:
        candidates = embed_candidates(request, progress)
    elif candidates.regions is not request.regions or (
        candidates.context_pad,
        candidates.crop,
    ) != (request.context_pad, request.crop):
        raise PinpointError(
            "the candidate embeddings were made from other regions or crop settings",
            "embed the candidates with this request's regions, context_pad and crop",
        )
    regions, text = request.regions, request.text
    similarities = candidates.embeddings @ embed_text(request.clip, text)
    scored, chosen = [], []
    start = 0
    for index, found in enumerate(regions):
        count = len(found.regions)
        ranked = score_candidates(
            found.regions,
            similarities[start : start + count],
            candidates.logit_scale,
            request.confidence_weight,
        )
        start += count
        scored.append(dataclasses.replace(found, regions=ranked))
        if request.pinned[index]:
            chosen.append(apply_pin(scored[-1], request.pinned[index]))
            continue
        passing = tuple(r for r in ranked if (r.probability or 0.0) >= request.min_probability)
        picked = select_regions(
            dataclasses.replace(found, regions=passing), request.pick, request.top_k
        ).regions
        if count == 0:
            reason = f"nothing to match '{text}' against (no candidate regions)"
            fix = "lower the detector threshold or widen its label filter"
        else:
            reason = f"no region matched '{text}' with probability >= {request.min_probability:.2f}"
            fix = "lower min_probability"
        chosen.append(
            resolve_nothing_found(
                dataclasses.replace(found, regions=picked),
                request.if_nothing_found,
                reason=reason,
                fix=fix,
                index=index,
                batch_size=regions.batch_size,
            )
        )
    note = "; ".join(clip_notes(request.clip, text))
    return MatchResult(RegionBatch(tuple(scored)), RegionBatch(tuple(chosen)), request.pinned, note)


def format_scores(scored: RegionBatch, chosen: RegionBatch, note: str = "") -> str:
    """A plain-text table of every candidate's scores, best first, marking the chosen with ``*``,
    under ``note`` (how much of the text CLIP read, where it was cut).

    Each row starts with the candidate's number (``#2``, what a pin names; its position in the
    list for regions that were never matched). Chosen regions are recognised by identity
    (``match_text`` returns the scored objects), so two candidates with the same box are told
    apart.
    """
    lines = [f"note: {note}"] if note else []
    for index, (candidates, picked) in enumerate(zip(scored, chosen, strict=True), start=1):
        header = f"image {index}: {len(candidates)} candidate(s), {len(picked)} chosen"
        lines.append(header + (f" - {picked.note}" if picked.note else ""))
        picked_ids = {id(region) for region in picked.regions}
        for rank, region in enumerate(candidates.regions, start=1):
            x0, y0, x1, y1 = (round(v) for v in region.box)
            mark = "*" if id(region) in picked_ids else " "
            number = region.number if region.number is not None else rank
            lines.append(
                f" {mark}#{number} {region.label:<14} score={region.score:.3f} "
                f"p={region.probability or 0.0:.3f} sim={region.similarity or 0.0:+.3f} "
                f"det={region.confidence:.2f} box=({x0},{y0},{x1},{y1})"
            )
        candidate_ids = {id(region) for region in candidates.regions}
        for region in picked.regions:
            if id(region) not in candidate_ids:
                x0, y0, x1, y1 = (round(v) for v in region.box)
                lines.append(f" *   {region.label} box=({x0},{y0},{x1},{y1})")
    return "\n".join(lines)


def candidate_rows(result: MatchResult) -> list[dict[str, object]]:
    """Every candidate of :func:`match_text`'s result as JSON-ready rows, best first per image.

    Each row: ``image`` (1-based), ``number`` (what a pin names), ``label``, ``score``,
    ``probability``, ``confidence``, ``chosen`` and ``pinned`` (booleans); the frontend lists
    them on the node so a candidate can be pinned with a click.
    """
    rows: list[dict[str, object]] = []
    for image, (candidates, picked, pinned) in enumerate(
        zip(result.scored, result.chosen, result.pinned, strict=True), start=1
    ):
        picked_ids = {id(region) for region in picked.regions}
        rows.extend(
            {
                "image": image,
                "number": region.number,
                "label": region.label,
                "score": float(region.score),
                "probability": float(region.probability or 0.0),
                "confidence": float(region.confidence),
                "chosen": id(region) in picked_ids,
                "pinned": region.number in pinned,
            }
            for region in candidates.regions
        )
    return rows
