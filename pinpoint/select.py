"""Select: which of the scored candidates to keep — the best k, all of them, or by position/size.

The spatial picks are explicit options a user chooses ("leftmost"), never words parsed out of the
match text: "the leftmost car" is ``text="a car", pick="leftmost"``. A pin overrides every pick:
it names candidates by their number (:attr:`pinpoint.regions.Region.number`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection

from .errors import PinpointError
from .regions import (
    ImageRegions,
    Region,
    RegionBatch,
    check_if_nothing_found,
    resolve_nothing_found,
)

BEST = "best"
ALL = "all matches"


def _centre(region: Region) -> tuple[float, float]:
    x0, y0, x1, y1 = region.box
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


def region_area(region: Region) -> float:
    """Pixels covered: the mask's sum when the region has one, else the box's area."""
    if region.mask is not None:
        return float(region.mask.sum())
    x0, y0, x1, y1 = region.box
    return (x1 - x0) * (y1 - y0)


def _distance_to_centre(found: ImageRegions) -> Callable[[Region], float]:
    def distance(region: Region) -> float:
        x, y = _centre(region)
        return (x - found.width / 2.0) ** 2 + (y - found.height / 2.0) ** 2

    return distance


SPATIAL: dict[str, Callable[[ImageRegions], Callable[[Region], float]]] = {
    "leftmost": lambda found: lambda region: _centre(region)[0],
    "rightmost": lambda found: lambda region: -_centre(region)[0],
    "topmost": lambda found: lambda region: _centre(region)[1],
    "bottommost": lambda found: lambda region: -_centre(region)[1],
    "largest": lambda found: lambda region: -region_area(region),
    "smallest": lambda found: region_area,
    "nearest to center": _distance_to_centre,
}
"""pick name → (image → sort key, smaller first). Positions use the box centre."""

PICK_CHOICES = [BEST, ALL, *SPATIAL]
PICK_TOOLTIP = (
    "Which candidates to keep. best: the top_k highest scores; all matches: every candidate that "
    "passes the threshold (for 'all the cars'); leftmost/rightmost/topmost/bottommost/largest/"
    "smallest/nearest to center: order the candidates that pass the threshold by box position or "
    "size and keep top_k (raise the threshold or filter the detector's labels so only the right "
    "kind of object competes)."
)


def check_pick(pick: str, where: str) -> str:
    """``pick`` if it is one of :data:`PICK_CHOICES`; a :class:`PinpointError` otherwise."""
    if pick not in PICK_CHOICES:
        choices = ", ".join(repr(choice) for choice in PICK_CHOICES)
        raise PinpointError(where, f"pick is {pick!r}", f"pick one of {choices}")
    return pick


def select_regions(
    found: ImageRegions, pick: str = BEST, top_k: int = 1, where: str = "Select"
) -> ImageRegions:
    """Keep some of one image's candidates.

    Args:
        found: the candidates that passed the caller's threshold, best score first.
        pick: one of :data:`PICK_CHOICES`.
        top_k: how many to keep (ignored by ``"all matches"``); ties in a spatial order keep the
            better-scored candidate first.

    Returns:
        ``found`` with only the kept regions, in the pick's order (the same objects, so callers
        can recognise them by identity).
    """
    check_pick(pick, where)
    if top_k < 1:
        raise PinpointError(where, f"top_k is {top_k}", "set top_k to 1 or more")
    if pick == ALL:
        kept = found.regions
    elif pick == BEST:
        kept = found.regions[:top_k]
    else:
        key = SPATIAL[pick](found)
        kept = tuple(sorted(found.regions, key=key)[:top_k])  # stable: score order breaks ties
    return dataclasses.replace(found, regions=tuple(kept))


def choose_regions(
    regions: RegionBatch,
    pick: str = BEST,
    top_k: int = 1,
    min_score: float = 0.0,
    if_nothing_found: str = "error",
    where: str = "Select",
) -> RegionBatch:
    """Apply a threshold on ``Region.score`` and a pick to every image of a batch.

    Args:
        regions: candidates per image, e.g. from a detector, segments or a matcher.
        pick, top_k: see :func:`select_regions`.
        min_score: candidates scoring below this are never kept.
        if_nothing_found: policy for an image left with nothing (see
            :func:`pinpoint.regions.resolve_nothing_found`).

    Returns:
        The kept regions per image, the same objects as in ``regions``.
    """
    check_pick(pick, where)
    check_if_nothing_found(if_nothing_found, where)
    chosen = []
    for index, found in enumerate(regions):
        passing = tuple(region for region in found.regions if region.score >= min_score)
        kept = select_regions(dataclasses.replace(found, regions=passing), pick, top_k, where)
        chosen.append(
            resolve_nothing_found(
                kept,
                if_nothing_found,
                where,
                reason=f"no region scored >= {min_score:.2f}"
                if found.regions
                else "there are no candidate regions",
                fix="lower min_score" if found.regions else "check the node that found the regions",
                index=index,
                batch_size=regions.batch_size,
            )
        )
    return RegionBatch(tuple(chosen))


_PIN_ITEM = re.compile(r"(?:(\d+):)?(\d+)")
"""One pin item: ``n`` (candidate n of every image) or ``b:n`` (candidate n of image b)."""


def parse_pin(text: str, batch_size: int, where: str) -> tuple[frozenset[int], ...]:
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
                where,
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
                where,
                f"pin '{item}' names image {image} but the batch has {batch_size} image(s)",
                f"write '{number}' alone to pin candidate {number} in every image{others}",
            )
        pinned[image - 1].add(number)
    return tuple(frozenset(numbers) for numbers in pinned)


def _check_pinned(
    pinned: frozenset[int],
    available: Collection[int | None],
    where: str,
    index: int,
    batch_size: int,
) -> None:
    """Raise unless every pinned number is among the ``available`` numbers of image ``index``."""
    missing = sorted(pinned.difference(available))
    if missing:
        count = len(available)
        of_batch = f" of {batch_size}" if batch_size > 1 else ""
        raise PinpointError(
            where,
            f"pin names candidate #{missing[0]} but image {index + 1}{of_batch} has {count} "
            "candidate(s)",
            "pick a number from the scores table or clear pin",
        )


def resolve_pin(text: str, regions: RegionBatch, where: str) -> tuple[frozenset[int], ...]:
    """:func:`parse_pin` for ``regions``' batch, checked against each image's candidate count.

    Cheap (no model): callers run it before any CLIP work, so a stale pin fails at once.
    """
    pinned = parse_pin(text, regions.batch_size, where)
    for index, (found, numbers) in enumerate(zip(regions, pinned, strict=True)):
        count = len(found.regions)
        _check_pinned(numbers, range(1, count + 1), where, index, regions.batch_size)
    return pinned


def apply_pin(
    found: ImageRegions,
    pinned: frozenset[int],
    where: str,
    index: int = 0,
    batch_size: int = 1,
) -> ImageRegions:
    """Keep exactly the pinned candidates of one image, whatever their scores.

    Args:
        found: the image's scored candidates, best first, numbered ``1..len(found)`` (as
            :func:`pinpoint.match.match_text` numbers them).
        pinned: candidate numbers to keep (not empty).
        index, batch_size: 0-based position of the image in its batch and the batch's size,
            for messages.

    Returns:
        ``found`` with only the pinned regions, in score order (the same objects), and a note
        saying which numbers are pinned.

    Raises:
        PinpointError: when a pinned number is not one of the image's candidates.
    """
    available = [region.number for region in found.regions]
    _check_pinned(pinned, available, where, index, batch_size)
    kept = tuple(region for region in found.regions if region.number in pinned)
    listed = ", ".join(f"#{number}" for number in sorted(pinned))
    return dataclasses.replace(found, regions=kept, note=f"pinned {listed}")
