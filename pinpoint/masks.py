"""Masks from regions, and the grow / shrink / feather / fill / island / combine operations.

Every function keeps the mask shape and the [0, 1] range, and leaves pixels far from the mask at
exactly 0, so "outside the mask" stays a hard, testable set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .boxes import mask_bounds, mask_box, pixel_bounds
from .choices import Choice
from .errors import PinpointError
from .regions import ImageRegions, Region, RegionBatch
from .request import Request


def box_mask(region: Region, height: int, width: int) -> torch.Tensor:
    """``[H, W]`` float32 mask of one region: its own mask if it has one, else its box."""
    if region.mask is not None:
        return region.mask.to(torch.float32).reshape(height, width)
    mask = torch.zeros(height, width, dtype=torch.float32)
    x0, y0, x1, y1 = pixel_bounds(region.box, width, height)
    mask[y0:y1, x0:x1] = 1.0
    return mask


def image_regions_mask(found: ImageRegions) -> torch.Tensor:
    """Union (pixel-wise max) of every region of one image: ``[H, W]`` float32."""
    mask = torch.zeros(found.height, found.width, dtype=torch.float32)
    for region in found.regions:
        mask = torch.maximum(mask, box_mask(region, found.height, found.width))
    return mask


def regions_to_mask(regions: RegionBatch, grow_px: int = 0, feather_px: int = 0) -> torch.Tensor:
    """One mask per image from its regions, then grown/shrunk and feathered.

    Args:
        regions: a batch whose images all share one size (as an IMAGE batch does).
        grow_px: pixels to grow (> 0) or shrink (< 0) the union of the regions.
        feather_px: width of the soft outward edge, see :func:`feather_mask`.

    Returns:
        ``[B, H, W]`` float32 in [0, 1]; an image without regions gets an all-zero mask.
    """
    mask = torch.stack([image_regions_mask(found) for found in regions])
    return feather_mask(grow_mask(mask, grow_px), feather_px)


def _dilate_once(mask: torch.Tensor, square: bool) -> torch.Tensor:
    """One 3x3 grey-level dilation of ``[B, 1, H, W]`` with a square or a cross element."""
    if square:
        return F.max_pool2d(mask, kernel_size=3, stride=1, padding=1)
    rows = F.max_pool2d(mask, kernel_size=(3, 1), stride=1, padding=(1, 0))
    cols = F.max_pool2d(mask, kernel_size=(1, 3), stride=1, padding=(0, 1))
    return torch.maximum(rows, cols)


def _near_mask(
    mask: torch.Tensor, margin: int, operation: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """Apply ``operation`` to the part of ``[B, H, W]`` within ``margin`` px of any set pixel.

    Every operation here changes nothing farther than its reach from the mask, so running it on
    that window (with its own zero/edge padding) gives exactly the full-image result, at a cost
    that follows the mask's size instead of the image's.
    """
    bounds = mask_bounds(mask.amax(dim=0))
    if bounds is None:
        return operation(mask)
    height, width = int(mask.shape[-2]), int(mask.shape[-1])
    x0, y0 = max(0, bounds[0] - margin), max(0, bounds[1] - margin)
    x1, y1 = min(width, bounds[2] + margin), min(height, bounds[3] + margin)
    out = torch.zeros_like(mask, dtype=torch.float32)
    out[:, y0:y1, x0:x1] = operation(mask[:, y0:y1, x0:x1])
    return out


def grow_mask(mask: torch.Tensor, px: int) -> torch.Tensor:
    """Grow (``px > 0``) or shrink (``px < 0``) ``[B, H, W]`` by ``|px|`` pixels.

    Alternating square and cross steps give an octagon, close to a round brush, so corners do
    not balloon as with a square kernel. Shrinking is growing the complement.
    """
    if px == 0:
        return mask.clone()

    def grow(part: torch.Tensor) -> torch.Tensor:
        work = (part if px > 0 else 1.0 - part)[:, None].to(torch.float32)
        for step in range(abs(px)):
            work = _dilate_once(work, square=step % 2 == 1)
        return work[:, 0] if px > 0 else 1.0 - work[:, 0]

    return _near_mask(mask, abs(px), grow)


def _gaussian_kernel(radius: int) -> torch.Tensor:
    """1-D Gaussian of support ``2 * radius + 1`` (sigma = radius / 2), summing to 1."""
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (offsets / (radius / 2.0)) ** 2)
    return kernel / kernel.sum()


def blur_mask(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Separable Gaussian blur of ``[B, H, W]`` with a kernel of finite ``radius``.

    The finite support keeps pixels farther than ``radius`` from the mask at exactly 0.
    """
    if radius <= 0:
        return mask.clone()
    kernel = _gaussian_kernel(radius)
    work = mask[:, None].to(torch.float32)
    work = F.conv2d(F.pad(work, (radius, radius, 0, 0)), kernel.reshape(1, 1, 1, -1))
    work = F.conv2d(F.pad(work, (0, 0, radius, radius)), kernel.reshape(1, 1, -1, 1))
    return work[:, 0].clamp(0.0, 1.0)


def feather_mask(mask: torch.Tensor, px: int) -> torch.Tensor:
    """Soften the edge of ``[B, H, W]`` outwards over about ``px`` pixels.

    The mask is grown by ``ceil(px / 2)`` and blurred with the same radius, so every pixel that
    was 1 stays exactly 1 (the object is fully replaced) and the ramp to 0 lies outside it;
    pixels farther than ``2 * ceil(px / 2)`` from the mask stay exactly 0.
    """
    if px <= 0:
        return mask.clone()
    radius = math.ceil(px / 2)

    def feather(part: torch.Tensor) -> torch.Tensor:
        return torch.maximum(blur_mask(grow_mask(part, radius), radius), part.to(torch.float32))

    return _near_mask(mask, 2 * radius, feather)


FOREGROUND = 0.5
"""A pixel belongs to the mask's shape (for holes and islands) when its value is above this."""


class MaskOperation(Choice):
    """How a mask is combined with another, pixel by pixel."""

    NONE = "none"
    UNION = "union"
    INTERSECT = "intersect"
    SUBTRACT = "subtract"


def _spread_along_rows(labels: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Give every run of ``inside`` pixels along the last axis of ``[N, L]`` its smallest label."""
    before = F.pad(inside[:, :-1], (1, 0), value=False)
    starts = inside & ~before
    run = torch.cumsum(starts.reshape(-1), dim=0) - 1
    flat_inside = inside.reshape(-1)
    run_ids, run_labels = run[flat_inside], labels.reshape(-1)[flat_inside]
    count = int(starts.sum())
    smallest = torch.full(
        (count,), torch.iinfo(labels.dtype).max, dtype=labels.dtype, device=labels.device
    )
    smallest = smallest.scatter_reduce(0, run_ids, run_labels, reduce="amin")
    out = labels.reshape(-1).clone()
    out[flat_inside] = smallest[run_ids]
    return out.reshape(labels.shape)


def label_components(inside: torch.Tensor) -> torch.Tensor:
    """4-connected components of a boolean ``[B, H, W]``.

    Labels spread along whole row runs, then whole column runs, until nothing changes, so the
    number of sweeps follows the number of turns in a component, not its length in pixels.

    Returns:
        ``[B, H, W]`` int64: 0 outside, and inside the smallest ``1 + flat index`` of the pixel's
        component, so two pixels share a label exactly when they are connected (never across
        images of the batch).
    """
    inside = inside.to(torch.bool)
    batch, height, width = inside.shape
    index = torch.arange(1, inside.numel() + 1, device=inside.device).reshape(inside.shape)
    labels = torch.where(inside, index, torch.zeros_like(index))
    if not bool(inside.any()):
        return labels
    columns_inside = inside.transpose(1, 2).reshape(batch * width, height)
    rows_inside = inside.reshape(batch * height, width)
    while True:
        before = labels
        labels = _spread_along_rows(labels.reshape(batch * height, width), rows_inside)
        labels = labels.reshape(batch, height, width).transpose(1, 2)
        labels = _spread_along_rows(labels.reshape(batch * width, height), columns_inside)
        labels = labels.reshape(batch, width, height).transpose(1, 2).contiguous()
        if torch.equal(labels, before):
            return labels


def area_pixels(fraction: float, height: int, width: int) -> int:
    """``fraction`` of a ``height x width`` image as a whole number of pixels, at least 1."""
    return max(1, math.ceil(fraction * height * width))


def mask_pieces(
    values: torch.Tensor,
    threshold: float,
    min_pixels: int,
    max_regions: int,
    source: str,
    label: str,
) -> list[ImageRegions]:
    """One region per 4-connected piece of ``[B, H, W]`` values at or above ``threshold``.

    Args:
        values: a heatmap or a mask, ``[B, H, W]`` in [0, 1].
        min_pixels: smaller pieces are ignored.
        max_regions: at most this many regions per image, the highest mean value first (ties
            in reading order).
        source, label: carried by every region.

    Returns:
        Per image, regions with ``mask`` = the piece (``[H, W]`` float32 in {0, 1}, CPU),
        ``box`` = its bounds, ``confidence`` = ``score`` = the mean value inside it.
    """
    values = values.detach().to("cpu", torch.float32)
    height, width = int(values.shape[-2]), int(values.shape[-1])
    found = []
    for item in values:
        labels = label_components((item >= threshold)[None])[0]
        ids, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        sums = torch.zeros(len(ids), dtype=torch.float64)
        sums.index_add_(0, inverse.reshape(-1), item.reshape(-1).to(torch.float64))
        means = (sums / counts).tolist()
        kept = [k for k in range(len(ids)) if int(ids[k]) > 0 and int(counts[k]) >= min_pixels]
        kept.sort(key=lambda k: means[k], reverse=True)  # stable: ties keep reading order
        regions = []
        for k in kept[:max_regions]:
            piece = (inverse == k).to(torch.float32)
            box = mask_box(piece)
            assert box is not None, "a connected component has at least one pixel"
            regions.append(Region(box, label, means[k], source, mask=piece, score=means[k]))
        found.append(ImageRegions(width, height, tuple(regions)))
    return found


def fill_holes(mask: torch.Tensor) -> torch.Tensor:
    """Set to 1 every background region of ``[B, H, W]`` enclosed by the mask.

    Background is every pixel at or below :data:`FOREGROUND`; a 4-connected background region is
    a hole when it touches no image border. Holes become exactly 1, every other pixel keeps its
    value (soft edges stay soft), so the result is a superset of the input and filling twice
    changes nothing.

    Returns:
        ``[B, H, W]`` float32 in [0, 1].
    """

    def fill(part: torch.Tensor) -> torch.Tensor:
        part = part.to(torch.float32)
        labels = label_components(part <= FOREGROUND)
        edges = [labels[:, 0], labels[:, -1], labels[:, :, 0], labels[:, :, -1]]
        holes = (labels > 0) & ~torch.isin(labels, torch.cat(edges, dim=1).unique())
        return torch.where(holes, torch.ones_like(part), part)

    # Outside the mask's box all is background joined to the image border, so a region touching
    # the box's edge touches the border too: the box alone gives the exact result.
    return _near_mask(mask, 0, fill)


def drop_islands(mask: torch.Tensor, min_area_px: int) -> torch.Tensor:
    """Remove the small pieces of ``[B, H, W]``: foreground components under ``min_area_px``.

    Foreground is every pixel above :data:`FOREGROUND`, grouped 4-connected; the pixels of a
    component with fewer than ``min_area_px`` pixels become 0, all others keep their value (a
    soft rim at or below the threshold is not part of any component and is kept).

    Returns:
        ``[B, H, W]`` float32 in [0, 1], a subset of the input; unchanged when ``min_area_px <= 1``.
    """
    if min_area_px <= 1:
        return mask.to(torch.float32).clone()

    def drop(part: torch.Tensor) -> torch.Tensor:
        part = part.to(torch.float32)
        labels = label_components(part > FOREGROUND)
        _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
        small = (counts[inverse] < min_area_px) & (labels > 0)
        return torch.where(small, torch.zeros_like(part), part)

    return _near_mask(mask, 0, drop)


def check_mask_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    """Raise unless ``[B, H, W]`` masks ``a`` and ``b`` can be combined: one size, and one batch
    size or a batch of 1 (used for every image of the other)."""
    if a.shape[-2:] != b.shape[-2:]:
        raise PinpointError(
            f"the masks differ in size ({a.shape[-1]}x{a.shape[-2]} and "
            f"{b.shape[-1]}x{b.shape[-2]}, width x height)",
            "make both masks from images of the same size, or resize one first",
        )
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise PinpointError(
            f"the mask batches hold {a.shape[0]} and {b.shape[0]} masks",
            "give both the same batch size, or a single mask to apply to every image",
        )


def combine_masks(a: torch.Tensor, b: torch.Tensor, operation: MaskOperation) -> torch.Tensor:
    """Pixel-wise ``UNION`` (max), ``INTERSECT`` (min) or ``SUBTRACT`` (``clamp(a - b, 0, 1)``).

    Args:
        a, b: ``[B, H, W]`` masks that fit each other (:func:`check_mask_pair`).
        operation: not ``NONE``.

    Returns:
        ``[max(Ba, Bb), H, W]`` float32 in [0, 1].
    """
    a, b = a.to(torch.float32), b.to(device=a.device, dtype=torch.float32)
    if operation == MaskOperation.UNION:
        return torch.maximum(a, b)
    if operation == MaskOperation.INTERSECT:
        return torch.minimum(a, b)
    return (a - b).clamp(0.0, 1.0)


def invert_mask(mask: torch.Tensor) -> torch.Tensor:
    """``1 - mask`` for ``[B, H, W]`` in [0, 1]: the edit area becomes the kept area."""
    return 1.0 - mask.to(torch.float32)


@dataclass(frozen=True)
class MaskOpsRequest(Request):
    """A checked call of :func:`apply_mask_ops`.

    Attributes:
        mask: ``[B, H, W]`` (or ``[H, W]``) in [0, 1], 1 = edit; stored as ``[B, H, W]``.
        grow_px: pixels to grow (> 0) or shrink (< 0), after holes and islands.
        feather_px: width of the soft outward edge, last (see :func:`feather_mask`).
        fill_holes: set enclosed gaps to 1 first (see :func:`fill_holes`).
        min_island_px: drop pieces smaller than this many pixels (see :func:`drop_islands`).
        invert: swap edit and keep, after combining.
        operation: how ``other`` is combined (``NONE`` ignores it).
        other: the second mask for ``operation``, fitting ``mask`` (:func:`check_mask_pair`).
    """

    mask: torch.Tensor
    grow_px: int = 0
    feather_px: int = 0
    fill_holes: bool = False
    min_island_px: int = 0
    invert: bool = False
    operation: MaskOperation = MaskOperation.NONE
    other: torch.Tensor | None = None

    def __post_init__(self) -> None:
        operation = MaskOperation.check(self.operation, "operation")
        mask = self.mask.reshape(-1, *self.mask.shape[-2:])
        other = self.other
        if operation != MaskOperation.NONE:
            if other is None:
                raise PinpointError(
                    f"operation {operation.value!r} needs the other mask",
                    "give the other mask, or set operation to 'none'",
                )
            other = other.reshape(-1, *other.shape[-2:])
            check_mask_pair(mask, other)
        self._normalise(operation=operation, mask=mask, other=other)


def apply_mask_ops(request: MaskOpsRequest) -> torch.Tensor:
    """Clean up a mask and combine it with another, in one fixed order.

    Fill holes → drop islands → grow/shrink → combine with ``other`` (``operation`` ``NONE``
    skips it) → invert → feather. Cleaning first keeps growing from bridging a speck into the
    shape; feathering last keeps the soft edge the final edge.

    Returns:
        ``[B, H, W]`` float32 in [0, 1].
    """
    out = request.mask.to(torch.float32)
    if request.fill_holes:
        out = fill_holes(out)
    out = grow_mask(drop_islands(out, request.min_island_px), request.grow_px)
    if request.other is not None and request.operation != MaskOperation.NONE:
        out = combine_masks(out, request.other, request.operation)
    if request.invert:
        out = invert_mask(out)
    return feather_mask(out, request.feather_px)
