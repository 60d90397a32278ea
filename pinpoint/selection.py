"""Select: which of the scored candidates to keep — the best k, all of them, or by position/size.

The spatial picks are explicit options a user chooses ("leftmost"), never words parsed out of the
match text: "the leftmost car" is ``text="a car", pick="leftmost"``. A pin overrides every pick:
it names candidates by their number (:attr:`pinpoint.regions.Region.number`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import torch

from .boxes import box_area
from .choices import Choice
from .errors import PinpointError
from .images import check_image
from .regions import IfNothingFound, ImageRegions, Region, RegionBatch, resolve_nothing_found
from .request import Request


class Pick(Choice):
    """Which of the candidates that pass the threshold to keep."""

    BEST = "best"
    ALL = "all matches"
    LEFTMOST = "leftmost"
    RIGHTMOST = "rightmost"
    TOPMOST = "topmost"
    BOTTOMMOST = "bottommost"
    LARGEST = "largest"
    SMALLEST = "smallest"
    NEAREST_TO_CENTER = "nearest to center"


def _centre(region: Region) -> tuple[float, float]:
    x0, y0, x1, y1 = region.box
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


def region_area(region: Region) -> float:
    """Pixels covered: the mask's sum when the region has one, else the box's area."""
    if region.mask is not None:
        return float(region.mask.sum())
    return box_area(region.box)


def _distance_to_centre(found: ImageRegions) -> Callable[[Region], float]:
    def distance(region: Region) -> float:
        x, y = _centre(region)
        return (x - found.width / 2.0) ** 2 + (y - found.height / 2.0) ** 2

    return distance


SPATIAL: dict[Pick, Callable[[ImageRegions], Callable[[Region], float]]] = {
    Pick.LEFTMOST: lambda found: lambda region: _centre(region)[0],
    Pick.RIGHTMOST: lambda found: lambda region: -_centre(region)[0],
    Pick.TOPMOST: lambda found: lambda region: _centre(region)[1],
    Pick.BOTTOMMOST: lambda found: lambda region: -_centre(region)[1],
    Pick.LARGEST: lambda found: lambda region: -region_area(region),
    Pick.SMALLEST: lambda found: region_area,
    Pick.NEAREST_TO_CENTER: _distance_to_centre,
}
"""pick → (image → sort key, smaller first). Positions use the box centre."""


def check_top_k(top_k: int) -> int:
    """``top_k`` if it is at least 1; a :class:`PinpointError` otherwise."""
    if top_k < 1:
        raise PinpointError(f"top_k is {top_k}", "set top_k to 1 or more")
    return top_k


def select_regions(found: ImageRegions, pick: Pick, top_k: int) -> ImageRegions:
    """Keep some of one image's candidates.

    Args:
        found: the candidates that passed the caller's threshold, best score first.
        pick: a checked :class:`Pick`.
        top_k: how many to keep, at least 1 (ignored by ``Pick.ALL``); ties in a spatial order
            keep the better-scored candidate first.

    Returns:
        ``found`` with only the kept regions, in the pick's order (the same objects, so callers
        can recognise them by identity).
    """
    if pick == Pick.ALL:
        kept = found.regions
    elif pick == Pick.BEST:
        kept = found.regions[:top_k]
    else:
        key = SPATIAL[pick](found)
        kept = tuple(sorted(found.regions, key=key)[:top_k])  # stable: score order breaks ties
    return dataclasses.replace(found, regions=tuple(kept))


@dataclasses.dataclass(frozen=True)
class SelectRequest(Request):
    """A checked call of :func:`choose_regions`.

    Attributes:
        images: IMAGE ``[B, H, W, 3]`` the regions were found on.
        regions: candidates per image, e.g. from a detector, segments or a matcher.
        pick, top_k: which and how many to keep (see :func:`select_regions`).
        min_score: candidates scoring below this are never kept.
        if_nothing_found: what an image left with nothing gets (see
            :func:`pinpoint.regions.resolve_nothing_found`).
    """

    images: torch.Tensor
    regions: RegionBatch
    pick: Pick = Pick.BEST
    top_k: int = 1
    min_score: float = 0.0
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR

    def __post_init__(self) -> None:
        check_image(self.images)
        self.regions.check_matches(self.images)
        self._normalise(
            pick=Pick.check(self.pick, "pick"),
            top_k=check_top_k(self.top_k),
            if_nothing_found=IfNothingFound.check(self.if_nothing_found, "if_nothing_found"),
        )


def choose_regions(request: SelectRequest) -> RegionBatch:
    """Apply the threshold on ``Region.score`` and the pick to every image of a batch.

    Returns:
        The kept regions per image, the same objects as in ``request.regions``.
    """
    regions, min_score = request.regions, request.min_score
    chosen = []
    for index, found in enumerate(regions):
        passing = tuple(region for region in found.regions if region.score >= min_score)
        kept = select_regions(
            dataclasses.replace(found, regions=passing), request.pick, request.top_k
        )
        chosen.append(
            resolve_nothing_found(
                kept,
                request.if_nothing_found,
                reason=f"no region scored >= {min_score:.2f}"
                if found.regions
                else "there are no candidate regions",
                fix="lower min_score" if found.regions else "find some regions first",
                index=index,
                batch_size=regions.batch_size,
            )
        )
    return RegionBatch(tuple(chosen))


_PIN_ITEM = re.compile(r"(?:(\d+):)?(\d+)")
"""One pin item: ``n`` (candidate n of every image) or ``b:n`` (candidate n of image b)."""


def parse_pin(text: str, batch_size: int) -> tuple[frozenset[int], ...]:
    """The candidate numbers a pin names, per image of a batch of ``batch_size``.

    Args:
        text: items separated by commas, semicolons or whitespace: ``n`` pins candidate ``n``
            of every image, ``b:n`` candidate ``n`` of image ``b`` only (both 1-based), e.g.
            ``"2"``, ``"1, 3"``, ``"1:2 2:1"``. Empty or blank: nothing is pinned.
        batch_size: images in the batch.

    Returns:
        One set of candidate numbers per image (empty where nothing is pinned).

    Raises:
        PinpointError: for anything else, and for an image number outside ``1..batch_size``.
    """
    pinned: list[set[int]] = [set() for _ in range(batch_size)]
    for item in re.split(r"[,;\s]+", re.sub(r"\s*:\s*", ":", text.strip())):
        if not item:
            continue
        parsed = _PIN_ITEM.fullmatch(item)
        if parsed is None or int(parsed[2]) < 1:
            raise PinpointError(
                f"pin '{text.strip()}' is not a list of candidate numbers",
                "write numbers from the scores table, e.g. '2', '1, 3' or '2:1' (image 2, "
                "candidate 1), or leave it empty",
            )
        number = int(parsed[2])
        if parsed[1] is None:
            for numbers in pinned:
                numbers.add(number)
            continue
        image = int(parsed[1])
        if not 1 <= image <= batch_size:
            others = f", or use an image number from 1 to {batch_size}" if batch_size > 1 else ""
            raise PinpointError(
                f"pin '{item}' names image {image} but the batch has {batch_size} image(s)",
                f"write '{number}' alone to pin candidate {number} in every image{others}",
            )
        pinned[image - 1].add(number)
    return tuple(frozenset(numbers) for numbers in pinned)


def resolve_pin(text: str, regions: RegionBatch) -> tuple[frozenset[int], ...]:
    """:func:`parse_pin` for ``regions``' batch, checked against each image's candidates.

    Candidate numbers run from 1 to the image's count (see :attr:`Region.number`). Cheap (no
    model): a stale pin fails before any CLIP work.

    Raises:
        PinpointError: a pinned number is not one of an image's candidates.
    """
    pinned = parse_pin(text, regions.batch_size)
    for index, (found, numbers) in enumerate(zip(regions, pinned, strict=True)):
        count = len(found.regions)
        missing = sorted(number for number in numbers if number > count)
        if missing:
            of_batch = f" of {regions.batch_size}" if regions.batch_size > 1 else ""
            raise PinpointError(
                f"pin names candidate #{missing[0]} but image {index + 1}{of_batch} has "
                f"{count} candidate(s)",
                "pick a number from the scores table or clear pin",
            )
    return pinned


def apply_pin(found: ImageRegions, pinned: frozenset[int]) -> ImageRegions:
    """Keep exactly the pinned candidates of one image, whatever their scores.

    Args:
        found: the image's scored candidates, best first, numbered (as
            :func:`pinpoint.match.match_text` numbers them).
        pinned: candidate numbers to keep, checked by :func:`resolve_pin` (not empty).

    Returns:
        ``found`` with only the pinned regions, in score order (the same objects), and a note
        saying which numbers are pinned.
    """
    kept = tuple(region for region in found.regions if region.number in pinned)
    listed = ", ".join(f"#{number}" for number in sorted(pinned))
    return dataclasses.replace(found, regions=kept, note=f"pinned {listed}")
