"""Crop context windows around the masks at the model's size (:mod:`pinpoint.stitch` pastes the
sampled crops back).

One plan serves every inpainting route: crops cut for any sampler and stitched back (all crops
of a batch share one size, as a latent batch must), and the crop → sample → stitch loop of
:mod:`pinpoint.repaint` (edit lists share one size; a single edit's crops each keep their own
shape). A crop that must take the batch's shared shape is first widened or heightened
towards it (more context); where the image is too small for that it is padded with its edge
pixels, and the padding is never pasted back.

The round trip only changes pixels where a crop's feathered blend mask is above 0: everything
else in the stitched images is the input tensor's own values, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .boxes import mask_bounds
from .choices import Choice
from .errors import PinpointError
from .images import as_mask_batch, check_image
from .masks import feather_mask, label_components
from .request import Request


class Split(Choice):
    """How many crops an image's mask gets: one around all of it, or one per separate part."""

    ONE_PER_IMAGE = "one per image"
    ONE_PER_AREA = "one per masked area"


TOUCHED = 0.01
"""A crop pixel belongs to the area to regenerate when the resized blend support exceeds this."""


@dataclass(frozen=True)
class CropPiece:
    """One crop and where its pixels come from and go back to.

    Attributes:
        image_index: which image of the batch it was cut from.
        x0, y0, x1, y1: the window in source pixels (right/bottom exclusive), inside the image.
        width, height: the crop's size, multiples of the plan's ``multiple``.
        left, top, content_width, content_height: where the window's pixels sit inside the crop
            (the rest is edge padding; the whole crop unless the window could not take the
            crop's shape).
        blend: ``[y1 - y0, x1 - x0]`` feathered mask inside the window: 1 takes the sampled
            pixel, 0 keeps the original.
        layer: which mask layer of :func:`plan_layers` it belongs to (0 for one mask).
    """

    image_index: int
    x0: int
    y0: int
    x1: int
    y1: int
    width: int
    height: int
    left: int
    top: int
    content_width: int
    content_height: int
    blend: torch.Tensor
    layer: int = 0

    @property
    def window(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` in source pixels."""
        return self.x0, self.y0, self.x1, self.y1


@dataclass(frozen=True)
class StitchPlan:
    """What Stitch needs: the untouched images and every crop's place in them.

    Attributes:
        images: ``[B, H, W, 3]`` the images the crops were cut from.
        pieces: one per crop, in the order of the crop batch.
        notes: remarks for the user, e.g. images whose mask was empty.
    """

    images: torch.Tensor
    pieces: tuple[CropPiece, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Crops:
    """The output of :func:`crop_for_inpaint`.

    Attributes:
        images: ``[N, h, w, 3]`` one crop per piece, all the same size.
        masks: ``[N, h, w]`` binary: 1 wherever the blend takes sampled pixels, i.e. the area the
            sampler must regenerate; 0 in padding.
        plan: for :func:`pinpoint.stitch.stitch_crops`.
    """

    images: torch.Tensor
    masks: torch.Tensor
    plan: StitchPlan


def resize_image(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize ``[H, W, C]`` (values in [0, 1]) with antialiased bicubic; identity if same size."""
    if tuple(image.shape[:2]) == (height, width):
        return image.clone()
    work = image.movedim(-1, 0)[None].to(torch.float32)
    work = F.interpolate(
        work, size=(height, width), mode="bicubic", antialias=True, align_corners=False
    )
    return work[0].movedim(0, -1).clamp(0.0, 1.0)


def _parts(blend: torch.Tensor, split: Split) -> list[torch.Tensor]:
    """``[H, W]`` blend → the non-empty parts that each get their own crop."""
    if split == Split.ONE_PER_IMAGE:
        return [blend] if bool((blend > 0).any()) else []
    labels = label_components(blend[None] > 0)[0]
    return [torch.where(labels == label, blend, 0.0) for label in labels.unique() if label > 0]


def _window(part: torch.Tensor, context: float) -> tuple[int, int, int, int]:
    """The non-zero pixels of ``[H, W]`` plus ``context`` times their larger side, in the image."""
    left, top, right, bottom = mask_bounds(part)
    pad = int(math.ceil(context * max(right - left, bottom - top)))
    height, width = part.shape
    return max(0, left - pad), max(0, top - pad), min(width, right + pad), min(height, bottom + pad)


def _size(aspect: float, resolution: int, multiple: int) -> tuple[int, int]:
    """``(width, height)``: multiples of ``multiple``, the longer side ``resolution``."""
    long_side = max(multiple, resolution // multiple * multiple)
    short = max(multiple, int(round(long_side / max(aspect, 1 / aspect) / multiple)) * multiple)
    return (long_side, short) if aspect >= 1 else (short, long_side)


def _widen(
    window: tuple[int, int, int, int], aspect: float, width: int, height: int
) -> tuple[int, int, int, int]:
    """Grow the window's shorter dimension towards ``aspect`` (w/h), kept inside the image."""
    x0, y0, x1, y1 = window
    wide, high = x1 - x0, y1 - y0
    if wide / high < aspect:
        wanted = min(width, max(wide, int(round(high * aspect))))
        x0 = min(max(0, x0 - (wanted - wide) // 2), width - wanted)
        return x0, y0, x0 + wanted, y1
    wanted = min(height, max(high, int(round(wide / aspect))))
    y0 = min(max(0, y0 - (wanted - high) // 2), height - wanted)
    return x0, y0, x1, y0 + wanted


def _piece(
    index: int,
    window: tuple[int, int, int, int],
    blend: torch.Tensor,
    size: tuple[int, int],
    multiple: int,
    layer: int = 0,
) -> CropPiece:
    """Place the window's pixels in a crop of ``size``, aspect kept; a shape within one
    ``multiple`` of the crop's is stretched to fill it rather than padded."""
    x0, y0, x1, y1 = window
    width, height = size
    scale = min(width / (x1 - x0), height / (y1 - y0))
    content_w = min(width, max(1, int(round((x1 - x0) * scale))))
    content_h = min(height, max(1, int(round((y1 - y0) * scale))))
    if width - content_w < multiple and height - content_h < multiple:
        content_w, content_h = width, height
    left, top = (width - content_w) // 2, (height - content_h) // 2
    local = blend[y0:y1, x0:x1].clone()
    return CropPiece(
        index, x0, y0, x1, y1, width, height, left, top, content_w, content_h, local, layer
    )


@dataclass(frozen=True)
class CropRequest(Request):
    """Checked settings of :func:`plan_crops` and :func:`crop_for_inpaint`.

    Attributes:
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        masks: MASK ``[B, H, W]`` (or one ``[H, W]`` for the whole batch), 1 = regenerate;
            stored as ``[B, H, W]`` (see :func:`pinpoint.images.as_mask_batch`).
        context: padding around each masked area that the model sees, as a fraction of the
            area's larger side, clipped to the image.
        resolution: the crops' longer side in pixels (512 for SD 1.5, 1024 for SDXL); small
            objects are upscaled to it, large ones downscaled.
        feather_px: width of the soft blend edge outside the mask; beyond it pixels stay
            bit-identical.
        split: ``ONE_PER_IMAGE``, or ``ONE_PER_AREA``: each 4-connected part of the feathered
            mask gets its own crop, so two small objects far apart are not cut out together
            with everything between them.
        multiple: crop sizes are multiples of this (the model's, 8 for SD's VAE).
        sizes: the ``(width, height)`` sizes the model prefers (FLUX Kontext's resolutions),
            multiples of ``multiple``: each crop takes the one closest to its window's aspect,
            the window widened (more context) to that aspect, so nothing is stretched; empty:
            any size, the longer side ``resolution``.
    """

    images: torch.Tensor
    masks: torch.Tensor
    context: float = 0.5
    resolution: int = 512
    feather_px: int = 8
    split: Split = Split.ONE_PER_IMAGE
    multiple: int = 8
    sizes: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        check_image(self.images)
        odd = [size for size in self.sizes if size[0] % self.multiple or size[1] % self.multiple]
        if odd:
            raise PinpointError(
                f"the preferred crop size {odd[0][0]}x{odd[0][1]} is not a multiple of "
                f"{self.multiple}",
                f"give sizes whose sides are multiples of {self.multiple} (the latent step)",
            )
        if self.resolution < self.multiple:
            raise PinpointError(
                f"resolution is {self.resolution}",
                f"use at least {self.multiple} (512 for SD 1.5, 1024 for SDXL)",
            )
        self._normalise(
            masks=as_mask_batch(self.masks, self.images),
            split=Split.check(self.split, "split"),
        )


def plan_crops(request: CropRequest, same_size: bool = True) -> StitchPlan:
    """Choose a window around each image's mask (or each separate masked area of it).

    Args:
        request: the images, masks and crop settings.
        same_size: every crop takes one shared size (the longer side ``resolution``, the aspect
            the geometric mean of the windows'), as a sampler's latent batch needs; otherwise
            each keeps its window's aspect (a route that samples crop by crop).

    Returns:
        The plan; images with an empty mask get no crop (a note says so).
    """
    return plan_layers((request,), same_size)


def plan_layers(layers: Sequence[CropRequest], same_size: bool = True) -> StitchPlan:
    """:func:`plan_crops` for several masks of the same images, each to be sampled differently
    (an edit list: one mask and one prompt per edit).

    Args:
        layers: one request per mask layer, all of the same ``images`` with the same
            ``resolution`` and ``multiple``; each layer keeps its own context, feather and split.
        same_size: as in :func:`plan_crops`, over the crops of every layer.

    Returns:
        The plan with the pieces layer by layer (each tagged with its ``layer``), so
        :func:`pinpoint.stitch.stitch_crops` pastes a later layer over an earlier one where they
        overlap; an
        image whose masks are all empty gets no crop (a note says so).
    """
    first = layers[0]
    images, resolution, multiple = first.images, first.resolution, first.multiple
    if any(
        layer.images.shape != images.shape
        or (layer.resolution, layer.multiple, layer.sizes) != (resolution, multiple, first.sizes)
        for layer in layers
    ):
        raise PinpointError(
            "the mask layers were planned for different images or crop sizes",
            "plan every layer on the same image batch with one resolution",
        )
    height, width = int(images.shape[1]), int(images.shape[2])
    found: list[tuple[int, int, torch.Tensor, tuple[int, int, int, int]]] = []
    for number, layer in enumerate(layers):
        for index, mask in enumerate(layer.masks):
            parts = _parts(feather_mask(mask[None].cpu(), layer.feather_px)[0], layer.split)
            found.extend((number, index, part, _window(part, layer.context)) for part in parts)
    cropped = {index for _, index, _, _ in found}
    notes = tuple(
        f"image {index + 1}: empty mask, left unchanged"
        for index in range(int(images.shape[0]))
        if index not in cropped
    )
    if not found:
        return StitchPlan(images, (), notes)

    def aspect(window: tuple[int, int, int, int]) -> float:
        return (window[2] - window[0]) / (window[3] - window[1])

    def size_for(wanted: float) -> tuple[int, int]:
        if not first.sizes:
            return _size(wanted, resolution, multiple)
        return min(first.sizes, key=lambda size: abs(math.log(size[0] / size[1] / wanted)))

    pieces = []
    if same_size:
        mean = math.exp(sum(math.log(aspect(w)) for *_, w in found) / len(found))
        size = size_for(mean)
        for number, index, part, window in found:
            if len(found) > 1 or first.sizes:
                window = _widen(window, size[0] / size[1], width, height)
            pieces.append(_piece(index, window, part, size, multiple, number))
    else:
        for number, index, part, window in found:
            size = size_for(aspect(window))
            if first.sizes:
                window = _widen(window, size[0] / size[1], width, height)
            pieces.append(_piece(index, window, part, size, multiple, number))
    return StitchPlan(images, tuple(pieces), notes)


def cut(plan: StitchPlan, piece: CropPiece) -> tuple[torch.Tensor, torch.Tensor]:
    """The crop's pixels ``[height, width, 3]`` and its area to regenerate ``[height, width]``.

    The area is 1 wherever the blend will take the model's output (binary, so a sampler
    regenerates every pixel that is pasted back) and 0 in padding.
    """
    pixels = plan.images[piece.image_index, piece.y0 : piece.y1, piece.x0 : piece.x1]
    inner = resize_image(pixels.to(torch.float32), piece.content_height, piece.content_width)
    touched = (piece.blend > 0).to(torch.float32)[..., None]
    support = resize_image(touched, piece.content_height, piece.content_width)[..., 0] > TOUCHED
    right = piece.width - piece.left - piece.content_width
    bottom = piece.height - piece.top - piece.content_height
    padding = (piece.left, right, piece.top, bottom)
    padded = F.pad(inner.movedim(-1, 0)[None], padding, mode="replicate")
    crop = padded[0].movedim(0, -1).contiguous()  # [h, w, 3] laid out as a ComfyUI IMAGE
    area = F.pad(support.to(torch.float32), padding, value=0.0)
    return crop, area


def crop_for_inpaint(request: CropRequest) -> Crops:
    """Cut one crop per image (or per separate masked area) at one shared size.

    When every mask is empty the batch holds one crop of the whole first image with an empty
    mask (a sampler needs a non-empty batch), stitching returns the images unchanged, and the
    plan's notes say so.
    """
    images, resolution, multiple = request.images, request.resolution, request.multiple
    plan = plan_crops(request)
    if not plan.pieces:
        height, width = int(images.shape[1]), int(images.shape[2])
        size = _size(width / height, resolution, multiple)
        whole = _piece(0, (0, 0, width, height), torch.zeros(height, width), size, multiple)
        note = "every mask is empty: the crop is the whole first image, stitching leaves all as is"
        plan = StitchPlan(plan.images, (whole,), (*plan.notes, note))
    pairs = [cut(plan, piece) for piece in plan.pieces]
    crops = torch.stack([crop for crop, _ in pairs])
    areas = torch.stack([area for _, area in pairs])
    return Crops(crops, areas, plan)
