"""Routes: how an edit finds its area without ComfyUI, from the same stage requests the nodes
build, in the order the shipped workflows wire them.

    find (the route's finder) → choose (CLIP match, or the finder's own score) →
    refine (Segment Anything, optional) → mask operations → the edit's mask

A route names its finder: ``detect`` (a closed-set detector: Detect Objects), ``detect-by-text``
(an open-vocabulary detector: Detect by Text), ``segments`` (a semantic segmenter: Segment
Image), ``heatmap`` (CLIPSeg: Text to Heatmap's regions), ``text-segmenter`` (SAM 3 or
Florence-2: Segment by Text) or ``anchors`` (DINO: Attention Anchors). Finders that need no text
run once for every edit of a list; those that read text run once per query (an edit's ``query``,
else its ``find`` text). Choosing is Match Text to Regions (CLIP) or Select Regions (the finder's
score); refining all edits' chosen regions shares one image embedding per image (Refine with
SAM); the mask is Regions to Mask then Mask Operations (fill holes, drop islands, grow, invert),
then, with a matting model, Matte Edges (ViTMatte's alpha in a band around the mask's edge).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .anchors import AnchorRequest, find_anchors
from .detect import DetectRequest, TextDetectRequest, detect_by_text, detect_objects
from .edit_list import EditLine, EditOutcome, EditSettings, choose_edits
from .errors import PinpointError, reported_as
from .heatmap import HeatmapRequest, find_by_heat
from .loading.models import ClipMatcher, SamFolder, SamModel, VitMatte
from .masks import regions_to_mask
from .matte import check_band, matte_outcomes
from .progress import Progress, no_progress
from .refine import RefineRequest, check_points, refine_with_sam
from .regions import ImageRegions, RegionBatch
from .request import Request
from .route_settings import Choose, RouteKind, RouteSettings
from .segments import SegmentRequest, segment_regions
from .text_segments import TextSegmentRequest, segment_by_text


@dataclass(frozen=True)
class RouteModels:
    """The models a route runs.

    Attributes:
        finder: the route's finder (a ``route.finder.kind.result``: Detector, Segmenter ...).
        clip: the CLIP that chooses (``choose`` = match).
        sam: Segment Anything to refine the chosen regions with; None: the chosen regions'
            own masks, or their boxes.
        matte: ViTMatte to matte each edit's mask edge with (``route.matte_band_px``); None:
            the mask stays hard.
    """

    finder: Any
    clip: ClipMatcher | None = None
    sam: SamModel | SamFolder | None = None
    matte: VitMatte | None = None


@dataclass(frozen=True)
class Localised:
    """What :func:`localise` found.

    Attributes:
        edits: one outcome per edit, its mask final (before feathering).
        candidates: every edit's candidates per image (one set when the edits share them), for
            the preview.
        notes: remarks from every stage.
    """

    edits: tuple[EditOutcome, ...]
    candidates: RegionBatch
    notes: tuple[str, ...]


def _find_request(
    models: RouteModels,
    images: torch.Tensor,
    settings: EditSettings,
    route: RouteSettings,
    query: str,
) -> Request:
    """The checked request of the route's finder (``query``: a text finder's words)."""
    s, r, finder = settings, route, models.finder
    expected = r.finder.kind.result
    if not isinstance(finder, expected):
        raise PinpointError(
            f"the {r.route} route runs a {r.finder.kind.title}, not a {type(finder).__name__}",
            f"give it a {r.finder.kind.title} (models/{r.finder.kind.folder})",
        )
    if r.route is RouteKind.DETECT:
        return s.detect_request(finder, images)
    if r.route is RouteKind.DETECT_BY_TEXT:
        return TextDetectRequest(
            finder,
            images,
            query,
            threshold=s.threshold,
            max_detections=s.max_detections,
            if_nothing_found=s.if_nothing_found,
        )
    if r.route is RouteKind.SEGMENTS:
        return SegmentRequest(
            finder,
            images,
            labels=s.labels,
            min_area=r.min_area,
            split_instances=r.split_instances,
            max_regions=s.max_detections,
            if_nothing_found=s.if_nothing_found,
        )
    if r.route is RouteKind.HEATMAP:
        return HeatmapRequest(
            finder,
            images,
            query,
            threshold=s.threshold,
            min_area=r.min_area,
            max_regions=s.max_detections,
            if_nothing_found=s.if_nothing_found,
        )
    if r.route is RouteKind.TEXT_SEGMENTER:
        return TextSegmentRequest(
            finder,
            images,
            query,
            threshold=s.threshold,
            max_regions=s.max_detections,
            florence_task=r.florence_task,
            if_nothing_found=s.if_nothing_found,
        )
    return AnchorRequest(
        finder, images, anchors=r.anchors, box_sizes=r.box_sizes, min_distance=r.min_distance
    )


FIND = {
    DetectRequest: detect_objects,
    TextDetectRequest: detect_by_text,
    SegmentRequest: segment_regions,
    HeatmapRequest: lambda request, progress: find_by_heat(request, progress).regions,
    TextSegmentRequest: segment_by_text,
    AnchorRequest: lambda request, progress: find_anchors(request, progress).regions,
}
"""Each finder's request → what runs it (its regions)."""


def _refine(
    sam: SamModel | SamFolder,
    images: torch.Tensor,
    outcomes: Sequence[EditOutcome],
    route: RouteSettings,
    progress: Progress,
) -> tuple[list[RegionBatch], list[str]]:
    """Every edit's chosen regions refined in one call (one image embedding per image); an
    image where no edit chose a region stays as it is (points alone make no region here)."""
    joined = RegionBatch(
        tuple(
            ImageRegions(
                found.width,
                found.height,
                tuple(region for outcome in outcomes for region in outcome.chosen[index].regions),
            )
            for index, found in enumerate(outcomes[0].chosen)
        )
    )
    request = RefineRequest(sam, images, joined, route.multimask, route.points)
    refined = refine_with_sam(request, progress)
    split: list[list[ImageRegions]] = [[] for _ in outcomes]
    notes = []
    for index, (before, after) in enumerate(zip(joined, refined, strict=True)):
        if after.note:
            notes.append(f"image {index + 1}: {after.note}")
        start = 0
        for number, outcome in enumerate(outcomes):
            own = outcome.chosen[index]
            count = len(own.regions)
            regions = after.regions[start : start + count] if before.regions else own.regions
            split[number].append(dataclasses.replace(own, regions=tuple(regions)))
            start += count
    return [RegionBatch(tuple(images_of)) for images_of in split], notes


def localise(
    models: RouteModels,
    images: torch.Tensor,
    edits: Sequence[EditLine],
    settings: EditSettings,
    route: RouteSettings = RouteSettings(),
    progress: Progress = no_progress,
) -> Localised:
    """Every edit's regions and mask on ``images``, the way the route's node chain finds them.

    The finders' requests (and the points) are checked before any model runs, each later
    stage's request as soon as its inputs exist. Errors are reported as the stage (``Detect``,
    ``Match``, ``Refine``, ``Mask``, ``Matte``).

    Args:
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        edits: the edit list (see :mod:`pinpoint.edit_list`).
        progress: called by each stage as ``progress(done, total)``.
    """
    choosing = route.choose is Choose.MATCH
    if choosing and models.clip is None:
        with reported_as("Match"):
            raise PinpointError(
                "choosing by CLIP needs a CLIP model", "give the route a CLIP, or choose 'select'"
            )
    with reported_as("Detect"):
        queries = [route.query_of(line) if route.finder.reads_text else "" for line in edits]
        requests = {q: _find_request(models, images, settings, route, q) for q in queries}
    with reported_as("Refine"):
        check_points(route.points, int(images.shape[2]), int(images.shape[1]))
    if models.matte is not None:
        with reported_as("Matte"):
            check_band(route.matte_band_px, int(images.shape[1]), int(images.shape[2]))
    with reported_as("Detect"):
        found = {
            query: FIND[type(request)](request, progress) for query, request in requests.items()
        }
    finds = [found[query] for query in queries]
    clip = models.clip if choosing else None
    outcomes, notes = choose_edits(images, finds, edits, settings, clip, route.crop, progress)
    chosen = [outcome.chosen for outcome in outcomes]
    if models.sam is not None:
        with reported_as("Refine"):
            chosen, refine_notes = _refine(models.sam, images, outcomes, route, progress)
        notes = (*notes, *refine_notes)
    with reported_as("Mask"):
        outcomes = tuple(
            dataclasses.replace(
                outcome,
                chosen=regions,
                mask=route.mask_ops(regions_to_mask(regions), settings.grow_px),
            )
            for outcome, regions in zip(outcomes, chosen, strict=True)
        )
    if models.matte is not None:
        with reported_as("Matte"):
            outcomes = matte_outcomes(models.matte, images, outcomes, route.matte_band_px)
    return Localised(outcomes, _candidates(list(found.values())), tuple(notes))


def _candidates(finds: Sequence[RegionBatch]) -> RegionBatch:
    """Every distinct set of candidates together, per image."""
    if len(finds) == 1:
        return finds[0]
    return RegionBatch(
        tuple(
            dataclasses.replace(first, regions=tuple(r for find in finds for r in find[i].regions))
            for i, first in enumerate(finds[0])
        )
    )
