"""The settings of a route (:mod:`pinpoint.route`): which finder proposes an edit's candidates,
how they are chosen, how the chosen regions are refined and their mask shaped; what each
finder reads, so an option a route does not read is refused before any model loads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .anchors import AnchorRequest, check_anchors, parse_box_sizes
from .choices import Choice
from .detect import DetectRequest, TextDetectRequest
from .edit_list import EditLine
from .errors import PinpointError
from .heatmap import HeatmapRequest
from .loading.kinds import CLIPSEG, DETECTOR, DINO, SEGMENTER, TEXT_SEGMENTER, ModelKind
from .masks import MaskOpsRequest, apply_mask_ops
from .match import CropMode
from .matte import MatteRequest
from .refine import RefineRequest, parse_points
from .request import Request
from .segments import SegmentRequest
from .text_segments import FlorenceTask, TextSegmentRequest


class RouteKind(Choice):
    """Which finder proposes an edit's candidate regions."""

    DETECT = "detect"
    DETECT_BY_TEXT = "detect-by-text"
    SEGMENTS = "segments"
    HEATMAP = "heatmap"
    TEXT_SEGMENTER = "text-segmenter"
    ANCHORS = "anchors"


class Choose(Choice):
    """How an edit's regions are chosen among its candidates."""

    MATCH = "match"
    """CLIP scores each candidate against the edit's ``find`` text (Match Text to Regions)."""
    SELECT = "select"
    """The finder's own score (Select Regions): it has read the text already."""


@dataclass(frozen=True)
class Finder:
    """What a route's finder is.

    Attributes:
        kind: the model kind it loads (and so its folder and loader).
        reads_text: it is given words (each query runs it once).
        choose: how its candidates are chosen unless told otherwise.
        crop: what CLIP sees of its candidates: their masks where they have them.
        threshold: its request's default threshold; None where it has none.
        options: the route options it reads (besides threshold, max_detections, labels).
        labels: it filters its own classes by ``labels``.
    """

    kind: ModelKind
    reads_text: bool
    choose: Choose
    crop: CropMode
    threshold: float | None
    options: frozenset[str] = frozenset()
    labels: bool = False


FINDERS: dict[RouteKind, Finder] = {
    RouteKind.DETECT: Finder(
        DETECTOR, False, Choose.MATCH, CropMode.BOX, DetectRequest.threshold, labels=True
    ),
    RouteKind.DETECT_BY_TEXT: Finder(
        DETECTOR, True, Choose.SELECT, CropMode.BOX, TextDetectRequest.threshold
    ),
    RouteKind.SEGMENTS: Finder(
        SEGMENTER,
        False,
        Choose.MATCH,
        CropMode.MASKED,
        None,
        frozenset({"min_area", "split_instances"}),
        labels=True,
    ),
    RouteKind.HEATMAP: Finder(
        CLIPSEG,
        True,
        Choose.SELECT,
        CropMode.MASKED,
        HeatmapRequest.threshold,
        frozenset({"min_area"}),
    ),
    RouteKind.TEXT_SEGMENTER: Finder(
        TEXT_SEGMENTER,
        True,
        Choose.SELECT,
        CropMode.MASKED,
        TextSegmentRequest.threshold,
        frozenset({"florence_task"}),
    ),
    RouteKind.ANCHORS: Finder(
        DINO,
        False,
        Choose.MATCH,
        CropMode.BOX,
        None,
        frozenset({"anchors", "box_sizes", "min_distance"}),
    ),
}
"""Every route's finder, in the order the CLI lists them."""
NO_REFINER = "none"
"""How a run that does not refine names its refiner (``--refine none``, rows' ``refiner``)."""
TEXT_OPTIONS = frozenset({"query"})
"""Route options only the finders that read text take."""


@dataclass(frozen=True)
class RouteSettings(Request):
    """How an edit finds its area, besides the finder settings in
    :class:`~pinpoint.edit_list.EditSettings` (``threshold``, ``max_detections`` as the
    finder's ``max_regions``, ``labels``, ``if_nothing_found``) and the choice and grow there.

    Attributes:
        route: the finder.
        choose: how the regions are chosen; None: the route's own (:data:`FINDERS`).
        crop: what CLIP sees of a candidate; None: the route's own.
        query: the words a text finder is given for every edit (an edit's ``query`` wins);
            empty: each edit's ``find`` text.
        min_area, split_instances: the segmenter's and CLIPSeg's (``min_area``).
        florence_task: Florence-2's task.
        anchors, box_sizes, min_distance: DINO's anchors; ``box_sizes`` stored parsed.
        multimask, points: Segment Anything's, when the chosen regions are refined; ``points``
            stored parsed.
        fill_holes, min_island_px, invert: Mask Operations' steps on each edit's mask.
        matte_band_px: Matte Edges' band, when the mask's edge is matted (a matting model).
    """

    route: RouteKind = RouteKind.DETECT
    choose: Choose | None = None
    crop: CropMode | None = None
    query: str = ""
    min_area: float = SegmentRequest.min_area
    split_instances: bool = SegmentRequest.split_instances
    florence_task: FlorenceTask = TextSegmentRequest.florence_task
    anchors: int = AnchorRequest.anchors
    box_sizes: str | Sequence[float] = AnchorRequest.box_sizes
    min_distance: int = AnchorRequest.min_distance
    multimask: bool = RefineRequest.multimask
    points: str | Sequence[Sequence[float]] = RefineRequest.points
    fill_holes: bool = MaskOpsRequest.fill_holes
    min_island_px: int = MaskOpsRequest.min_island_px
    invert: bool = MaskOpsRequest.invert
    matte_band_px: int = MatteRequest.band_px

    def __post_init__(self) -> None:
        route = RouteKind.check(self.route, "route")
        finder = FINDERS[route]
        if self.min_area < 0 or self.min_area > 1:
            raise PinpointError(f"min_area is {self.min_area}", "use a fraction from 0 to 1")
        check_anchors(self.anchors, self.min_distance)
        if self.min_island_px < 0:
            raise PinpointError(f"min_island_px is {self.min_island_px}", "use 0 or more")
        self._normalise(
            route=route,
            choose=Choose.check(self.choose, "choose") if self.choose else finder.choose,
            crop=CropMode.check(self.crop, "crop") if self.crop else finder.crop,
            query=self.query.strip(),
            florence_task=FlorenceTask.check(self.florence_task, "florence_task"),
            box_sizes=parse_box_sizes(self.box_sizes),
            points=parse_points(self.points),
        )

    @property
    def finder(self) -> Finder:
        """The route's finder."""
        return FINDERS[self.route]

    def query_of(self, line: EditLine) -> str:
        """What a text finder is given for ``line``: its query, the route's, or its text."""
        return line.query or self.query or line.find

    def mask_ops(self, mask: torch.Tensor, grow_px: int) -> torch.Tensor:
        """``[B, H, W]`` ``mask`` through Mask Operations' steps (fill holes, drop islands,
        grow by ``grow_px``, invert), as 'Mask Operations' with no other mask and no feather."""
        request = MaskOpsRequest(
            mask,
            grow_px=grow_px,
            fill_holes=self.fill_holes,
            min_island_px=self.min_island_px,
            invert=self.invert,
        )
        return apply_mask_ops(request)


def reads(finder: Finder, name: str) -> bool:
    """Whether ``finder`` reads the option ``name`` (a :class:`RouteSettings` field, or
    ``threshold`` or ``labels``)."""
    if name == "threshold":
        return finder.threshold is not None
    if name == "labels":
        return finder.labels
    return (name in TEXT_OPTIONS and finder.reads_text) or name in finder.options


def check_route_options(route: RouteKind, given: Sequence[str]) -> None:
    """Raise for an option in ``given`` that ``route``'s finder does not read (see
    :func:`reads`), naming the routes that do."""
    route = RouteKind.check(route, "route")
    for name in given:
        if not reads(FINDERS[route], name):
            users = ", ".join(kind.value for kind, finder in FINDERS.items() if reads(finder, name))
            raise PinpointError(
                f"the {route.value} route does not read {name}",
                f"leave {name} out, or use a route that reads it ({users})",
            )
