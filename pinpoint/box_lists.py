"""Regions from and to bounding-box lists: ComfyUI's ``BOUNDING_BOX`` values (its RT-DETR and
SAM 3 detect nodes, its box canvas, its crop and compositing nodes).

A box is a dict ``{"x", "y", "width", "height"}`` in pixels (top-left corner and size, floats or
ints), optionally with ``"label"`` and ``"score"`` (RT-DETR: the COCO class and its confidence;
SAM 3: the score) or a ``"metadata"`` dict holding them (ComfyUI's ``BOUNDING_BOXES``). A value
is one box (every image), a flat list of boxes (every image) or the per-image shape the detect
nodes output, a list with one list of boxes per image. Boxes carry no image size: a box wholly
outside its image is refused (the likely cause: boxes of another image), one partly outside is
clipped to the image and the image's ``note`` says so.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .boxes import clamp_box, pixel_bounds
from .errors import PinpointError
from .images import check_image, check_prompt
from .regions import IfNothingFound, ImageRegions, Region, RegionBatch, resolve_each
from .request import Request

BOX_KEYS = ("x", "y", "width", "height")
"""The keys every box dict has."""
CONNECT_BOXES = "connect a bounding-box output (e.g. RT-DETR's or SAM 3 Detect's 'bboxes')"


def per_image_boxes(boxes: Any, batch_size: int) -> tuple[tuple[Mapping, ...], ...]:
    """A ``BOUNDING_BOX`` value as one tuple of box dicts per image of a batch.

    One box or a flat list of boxes applies to every image; a per-image list needs one entry
    per image (or one, for every image); ``[]`` is no box in any image.

    Raises:
        PinpointError: not a box, a list of boxes or a list of per-image lists; a per-image
            list of another length than the batch.
    """
    if isinstance(boxes, Mapping):
        return ((boxes,),) * batch_size
    if not isinstance(boxes, Sequence) or isinstance(boxes, str):
        raise PinpointError(
            f"got a {type(boxes).__name__}, not bounding boxes (a list of "
            "{x, y, width, height} per image)",
            CONNECT_BOXES,
        )
    items = list(boxes)
    if not items or all(isinstance(item, Mapping) for item in items):
        return (tuple(items),) * batch_size
    if not all(isinstance(item, Sequence) and not isinstance(item, str) for item in items):
        raise PinpointError(
            "the bounding boxes mix boxes and lists of boxes", CONNECT_BOXES + " unchanged"
        )
    if len(items) == 1:
        items = items * batch_size
    if len(items) != batch_size:
        raise PinpointError(
            f"the bounding boxes are for {len(items)} images but the image batch has {batch_size}",
            "connect the image batch the boxes were found on",
        )
    return tuple(tuple(item) for item in items)


@dataclass(frozen=True)
class BoxesRequest(Request):
    """A checked call of :func:`boxes_to_regions`.

    Attributes:
        images: IMAGE ``[B, H, W, 3]`` the boxes were found on.
        boxes: a ``BOUNDING_BOX`` value (see the module); stored as one tuple of box dicts per
            image (:func:`per_image_boxes`).
        label: the label of a box that has none (the box canvas', a SAM 3 box).
        if_nothing_found: what an image without a box gets.
    """

    images: torch.Tensor
    boxes: Any
    label: str = "box"
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR

    def __post_init__(self) -> None:
        check_image(self.images)
        self._normalise(
            boxes=per_image_boxes(self.boxes, int(self.images.shape[0])),
            label=check_prompt(self.label, "label", "car"),
            if_nothing_found=IfNothingFound.check(self.if_nothing_found, "if_nothing_found"),
        )


def _number(box: Mapping, key: str, where: str) -> float:
    """``box[key]`` as a finite float; raises naming the box when it is not one."""
    try:
        value = float(box[key])
    except (KeyError, TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise PinpointError(
            f"{where} has {key}={box.get(key)!r}, not a number (a box is "
            "{x, y, width, height} in pixels)",
            CONNECT_BOXES,
        )
    return value


def _field(box: Mapping, key: str) -> Any:
    """``box[key]``, else its ``metadata[key]`` (``BOUNDING_BOXES``), else None."""
    metadata = box.get("metadata")
    if box.get(key) is not None:
        return box[key]
    return metadata.get(key) if isinstance(metadata, Mapping) else None


def _region(box: Mapping, where: str, label: str, width: int, height: int) -> tuple[Region, bool]:
    """One box dict as a region of a ``width`` x ``height`` image, and whether it was clipped
    to the image; raises for a malformed box or one wholly outside the image."""
    x, y, w, h = (_number(box, key, where) for key in BOX_KEYS)
    if w <= 0 or h <= 0:
        raise PinpointError(
            f"{where} is {w:g}x{h:g} pixels: a box needs a width and height above 0",
            "draw or keep boxes with a size",
        )
    inside = clamp_box((x, y, x + w, y + h), width, height)
    if inside[2] <= inside[0] or inside[3] <= inside[1]:
        raise PinpointError(
            f"{where} (x={x:g}, y={y:g}, {w:g}x{h:g}) lies wholly outside the {width}x{height} "
            "image",
            "connect the image the boxes were found on (boxes carry no image size)",
        )
    score = _field(box, "score")
    confidence = 1.0 if score is None else _number({"score": score}, "score", where)
    confidence = min(max(confidence, 0.0), 1.0)
    name = _field(box, "label")
    name = str(name) if name not in (None, "") else label
    region = Region(inside, name, confidence, "boxes", score=confidence)
    return region, inside != (x, y, x + w, y + h)


def _image_regions(boxes: Sequence[Mapping], index: int, request: BoxesRequest) -> ImageRegions:
    """One image's boxes as its regions, best score first (ties in the boxes' order)."""
    height, width = int(request.images.shape[1]), int(request.images.shape[2])
    in_batch = f" of image {index + 1}" if len(request.boxes) > 1 else ""
    regions, clipped = [], []
    for number, box in enumerate(boxes, start=1):
        region, was_clipped = _region(box, f"box {number}{in_batch}", request.label, width, height)
        if was_clipped:
            clipped.append(str(number))
        regions.append(region)
    regions.sort(key=lambda region: region.score, reverse=True)
    note = ""
    if clipped:
        note = (
            f"box {', '.join(clipped)} reached outside the {width}x{height} image and was "
            "clipped to it (boxes of another image size?)"
        )
    return ImageRegions(width, height, tuple(regions), note)


def boxes_to_regions(request: BoxesRequest) -> RegionBatch:
    """Each image's boxes as its candidate regions.

    Returns:
        Per image, one region per box: its box clipped to the image, label the box's (or
        ``request.label``), confidence and score the box's score clamped to [0, 1] (1 without
        one), no mask, source ``"boxes"``; best score first. A clipped box is named in the
        image's ``note``; an image without boxes gets the "nothing found" policy.

    Raises:
        PinpointError: a malformed box, one without size or one wholly outside its image.
    """
    found = [_image_regions(boxes, index, request) for index, boxes in enumerate(request.boxes)]
    resolved = resolve_each(
        found,
        request.if_nothing_found,
        reason="no bounding box for this image (an empty list)",
        fix="lower the detector's threshold, or draw a box",
    )
    return RegionBatch(
        tuple(
            dataclasses.replace(done, note=done.note or item.note)
            for done, item in zip(resolved, found, strict=True)
        )
    )


def regions_to_boxes(regions: RegionBatch) -> list[list[dict[str, Any]]]:
    """Regions as ComfyUI's per-image box lists.

    Returns:
        One list per image, one dict per region in its order: ``x``, ``y``, ``width``,
        ``height`` (ints: the pixels the box touches, inside the image), ``label`` and
        ``score``.
    """
    return [[_box_dict(region, found) for region in found.regions] for found in regions]


def _box_dict(region: Region, found: ImageRegions) -> dict[str, Any]:
    """One region of ``found``'s image as a box dict with its label and score."""
    left, top, right, bottom = pixel_bounds(region.box, found.width, found.height)
    return {
        "x": left,
        "y": top,
        "width": right - left,
        "height": bottom - top,
        "label": region.label,
        "score": float(region.score),
    }


def first_box(regions: RegionBatch) -> tuple[dict[str, int], str]:
    """The first region of the first image as one box ``{x, y, width, height}`` (what a crop
    node takes), and a note: the whole image stands in when that image has no region."""
    found = regions[0]
    if not found.regions:
        whole = {"x": 0, "y": 0, "width": found.width, "height": found.height}
        return whole, "image 1 has no region: the single box is the whole image"
    box = _box_dict(found.regions[0], found)
    return {key: box[key] for key in BOX_KEYS}, ""
