"""Attention anchors: where a self-supervised ViT (DINO) looks, as square box proposals.

The last layer's attention from the CLS token to the image patches highlights salient objects
(DINO, Caron et al. 2021). The most attended patches, kept apart by a minimum distance, become
anchors; around each anchor, square boxes of several sizes are proposed as regions for the CLIP
matcher (:mod:`pinpoint.match`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from PIL import ImageDraw

from .errors import PinpointError
from .images import IMAGES_PER_PASS, check_image, from_pil, to_pil
from .loading.models import Dino, module_device, module_dtype
from .preview import draw_regions
from .progress import Progress, no_progress
from .regions import Box, ImageRegions, Region, RegionBatch
from .request import Request

MAX_PATCHES = 1024
"""About the largest patch grid used: ``output_attentions`` keeps every layer's
``heads x tokens x tokens`` weights, ~0.6 GB per image for a ViT-B/8 at 1024 patches in fp32."""

HEAT_ALPHA = 0.5
"""How strongly the preview tints the image with the attention heat map."""


class Anchor(NamedTuple):
    """An anchor: a patch centre in image pixels and its normalised attention in [0, 1]."""

    x: float
    y: float
    value: float


@dataclass(frozen=True)
class AnchorSearch:
    """Everything one anchor search produced.

    Attributes:
        attention: ``[B, H, W]`` float32 on CPU in [0, 1]: the attention map at image size.
        anchors: per image, the anchors, most attended first.
        regions: per image, one square box per anchor and box size, most attended first.
    """

    attention: torch.Tensor
    anchors: tuple[tuple[Anchor, ...], ...]
    regions: RegionBatch


def _short_side(size: Any) -> int | None:
    """The shorter side of a processor ``size``/``crop_size`` (an int, dict or SizeDict)."""
    if size is None or isinstance(size, int):
        return size

    def field(name: str) -> Any:
        return size.get(name) if isinstance(size, dict) else getattr(size, name, None)

    if field("shortest_edge"):
        return int(field("shortest_edge"))
    if field("height") and field("width"):
        return int(min(field("height"), field("width")))
    return None


def _base_side(dino: Dino) -> int:
    """The shorter image side, in pixels, the model was trained to see (224 for DINO)."""
    processor = dino.processor
    cropped = bool(getattr(processor, "do_center_crop", False))
    sizes = [getattr(processor, "crop_size", None)] if cropped else []
    for size in [*sizes, getattr(processor, "size", None)]:
        side = _short_side(size)
        if side:
            return side
    image_size = dino.model.config.image_size
    return int(min(image_size) if isinstance(image_size, list | tuple) else image_size)


def _patch_size(dino: Dino) -> int:
    patch = dino.model.config.patch_size
    return int(patch[0] if isinstance(patch, list | tuple) else patch)


def register_tokens(dino: Dino) -> int:
    """Tokens between CLS and the patches (DINOv2 with registers)."""
    return int(getattr(dino.model.config, "num_register_tokens", 0) or 0)


def patch_grid(dino: Dino, height: int, width: int) -> tuple[int, int]:
    """The patch grid ``(rows, cols)`` an image of ``height x width`` pixels is seen at.

    The whole image is resized (never cropped) so that its shorter side becomes the side the
    processor would use (224 px for DINO) and both sides a multiple of the patch size; the
    aspect ratio is kept to within a patch. Grids larger than about :data:`MAX_PATCHES` patches
    are scaled down. Patch ``(row, col)`` then covers image pixels ``[col * width / cols,
    (col + 1) * width / cols)`` (and likewise for rows).
    """
    patch = _patch_size(dino)
    scale = _base_side(dino) / min(height, width)
    cells = (height * scale / patch) * (width * scale / patch)
    if cells > MAX_PATCHES:
        scale *= math.sqrt(MAX_PATCHES / cells)
    return max(1, round(height * scale / patch)), max(1, round(width * scale / patch))


def patch_attention(
    dino: Dino, images: torch.Tensor, progress: Progress = no_progress
) -> torch.Tensor:
    """The last layer's CLS → patch attention, averaged over heads, on the patch grid.

    Args:
        dino: from :func:`pinpoint.loading.load_model`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1]; any size and aspect ratio.
        progress: called as ``progress(images_done, B)``.

    Returns:
        ``[B, rows, cols]`` float32 on CPU (the grid of :func:`patch_grid`), min-max normalised
        per image to [0, 1] (all zeros where the attention is uniform). Register tokens of
        DINOv2-with-registers are left out.
    """
    batch, height, width = int(images.shape[0]), int(images.shape[1]), int(images.shape[2])
    rows, cols = patch_grid(dino, height, width)
    patch = _patch_size(dino)
    first = 1 + register_tokens(dino)
    device, dtype = module_device(dino.model), module_dtype(dino.model)
    forward = inspect.signature(dino.model.forward).parameters
    # ViT checks the input size against its position embeddings unless told to interpolate
    # them; DINOv2 always interpolates and takes no such argument.
    extra = {"interpolate_pos_encoding": True} if "interpolate_pos_encoding" in forward else {}
    grids: list[torch.Tensor] = []
    for start in range(0, batch, IMAGES_PER_PASS):
        chunk = images[start : start + IMAGES_PER_PASS].detach().to("cpu", torch.float32)
        chunk = chunk.permute(0, 3, 1, 2)
        resized = F.interpolate(
            chunk, size=(rows * patch, cols * patch), mode="bicubic", antialias=True
        ).clamp(0.0, 1.0)
        inputs = dino.processor(
            images=list(resized),
            do_resize=False,
            do_center_crop=False,
            do_rescale=False,
            return_tensors="pt",
        )
        with torch.inference_mode():
            outputs = dino.model(
                pixel_values=inputs["pixel_values"].to(device, dtype),
                output_attentions=True,
                **extra,
            )
        last = outputs.attentions[-1]  # [b, heads, tokens, tokens]
        if int(last.shape[-1]) != first + rows * cols:
            raise PinpointError(
                f"'{dino.name}' returned {int(last.shape[-1])} tokens for a {rows}x{cols} patch "
                f"grid (expected {first + rows * cols}); its token layout is not supported",
                "use a DINO or DINOv2 backbone such as facebook/dino-vits16 or "
                "facebook/dinov2-small",
            )
        cls_to_patches = last[:, :, 0, first:].to(torch.float32).mean(dim=1)
        grids.append(cls_to_patches.reshape(-1, rows, cols).cpu())
        progress(min(start + IMAGES_PER_PASS, batch), batch)
    grid = torch.cat(grids)
    low = grid.amin(dim=(1, 2), keepdim=True)
    high = grid.amax(dim=(1, 2), keepdim=True)
    return (grid - low) / (high - low).clamp_min(1e-12)


def _to_pixels(grid: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[B, rows, cols]`` patch grid → ``[B, height, width]``; patch centres keep their value."""
    resized = F.interpolate(grid[:, None], size=(height, width), mode="bilinear")
    return resized[:, 0].clamp(0.0, 1.0)


def anchor_points(
    attention: torch.Tensor,
    k: int,
    min_distance: int,
    width: int,
    height: int,
) -> list[Anchor]:
    """The ``k`` most attended patches, at least ``min_distance`` patches apart (greedy NMS).

    Args:
        attention: ``[rows, cols]`` patch grid covering the whole image, higher = more salient.
        k: at most this many anchors, at least 1.
        min_distance: a patch is skipped when it lies fewer than this many rows *and* columns
            from an anchor already taken (Chebyshev distance, in patches); 0 or 1 keeps
            neighbours; not negative.
        width, height: the image's size in pixels.

    Returns:
        up to ``k`` anchors, highest value first (ties in row-major order), at patch centres:
        ``x = (col + 0.5) * width / cols``, ``y = (row + 0.5) * height / rows``.
    """
    rows, cols = attention.shape
    values = attention.detach().to("cpu", torch.float32).flatten()
    order = torch.sort(values, descending=True, stable=True).indices.tolist()
    taken: list[tuple[int, int]] = []
    anchors: list[Anchor] = []
    for index in order:
        row, col = divmod(index, cols)
        if any(max(abs(row - r), abs(col - c)) < min_distance for r, c in taken):
            continue
        taken.append((row, col))
        anchors.append(
            Anchor((col + 0.5) * width / cols, (row + 0.5) * height / rows, float(values[index]))
        )
        if len(anchors) == k:
            break
    return anchors


def square_box(x: float, y: float, side: int, width: int, height: int) -> Box:
    """A ``side x side`` pixel square centred on ``(x, y)`` (to the nearest pixel), shifted,
    not shrunk, to lie inside the ``width x height`` image (``side`` at most its shorter side)."""
    side = max(1, min(side, width, height))
    left = min(max(math.floor(x - side / 2 + 0.5), 0), width - side)
    top = min(max(math.floor(y - side / 2 + 0.5), 0), height - side)
    return (float(left), float(top), float(left + side), float(top + side))


def parse_box_sizes(sizes: str | Sequence[float]) -> tuple[float, ...]:
    """``"0.15, 0.3, 0.5"`` (or a sequence of numbers) → ``(0.15, 0.3, 0.5)``.

    Sizes are fractions of the image's shorter side, each in (0, 1]; repeats are dropped and
    the order kept.

    Raises:
        PinpointError: empty, not a number, or outside (0, 1].
    """
    items = [part.strip() for part in sizes.split(",")] if isinstance(sizes, str) else list(sizes)
    items = [item for item in items if item != ""]
    fix = (
        "give box sizes as fractions of the image's shorter side in (0, 1], separated by "
        "commas, e.g. '0.15, 0.3, 0.5'"
    )
    if not items:
        raise PinpointError("box_sizes is empty", fix)
    parsed: list[float] = []
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            raise PinpointError(f"box size {item!r} is not a number", fix) from None
        if not 0.0 < value <= 1.0:
            raise PinpointError(f"box size {item!r} is outside (0, 1]", fix)
        if value not in parsed:
            parsed.append(value)
    return tuple(parsed)


def _image_regions(
    grid: torch.Tensor,
    width: int,
    height: int,
    k: int,
    sizes: Sequence[float],
    min_distance: int,
    source: str,
) -> tuple[tuple[Anchor, ...], ImageRegions]:
    anchors = anchor_points(grid, k, min_distance, width, height)
    shorter = min(width, height)
    regions = tuple(
        Region(
            box=square_box(anchor.x, anchor.y, round(size * shorter), width, height),
            label=f"anchor {rank} · {size * 100:g}%",
            confidence=anchor.value,
            source=source,
            score=anchor.value,
        )
        for rank, anchor in enumerate(anchors, start=1)
        for size in sizes
    )
    return tuple(anchors), ImageRegions(width, height, regions)


@dataclass(frozen=True)
class AnchorRequest(Request):
    """A checked call of :func:`find_anchors`.

    Attributes:
        dino: from :func:`pinpoint.loading.load_model`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        anchors: anchors per image, at least 1 (see :func:`anchor_points`).
        box_sizes: box sides as fractions of the image's shorter side, in (0, 1], as a string
            such as ``"0.15, 0.3, 0.5"`` or a sequence; stored parsed (:func:`parse_box_sizes`).
        min_distance: minimum distance between anchors, in patches, not negative.
    """

    dino: Dino
    images: torch.Tensor
    anchors: int = 5
    box_sizes: str | Sequence[float] = "0.15, 0.3, 0.5"
    min_distance: int = 2

    def __post_init__(self) -> None:
        check_image(self.images)
        check_anchors(self.anchors, self.min_distance)
        self._normalise(box_sizes=parse_box_sizes(self.box_sizes))


def check_anchors(anchors: int, min_distance: int) -> None:
    """Raise unless ``anchors`` is at least 1 and ``min_distance`` not negative."""
    if anchors < 1:
        raise PinpointError(f"anchors is {anchors}", "ask for at least 1 anchor per image")
    if min_distance < 0:
        raise PinpointError(
            f"min_distance is {min_distance}",
            "use 0 (anchors may touch) or more patches between anchors",
        )


def find_anchors(request: AnchorRequest, progress: Progress = no_progress) -> AnchorSearch:
    """Attention map, anchors and square box proposals for every image.

    Args:
        request: the DINO model, images and settings.
        progress: called as ``progress(images_done, B)``.

    Returns:
        an :class:`AnchorSearch`; each image gets ``anchors x len(box_sizes)`` square boxes of
        side ``round(size * min(H, W))`` centred on their anchor (shifted inside the image at
        the border), labelled ``"anchor 1 · 30%"``, with confidence = score = the anchor's
        attention and source ``"dino:<model name>"``. Never empty: there is always an anchor.
    """
    images = request.images
    grids = patch_attention(request.dino, images, progress)
    height, width = int(images.shape[1]), int(images.shape[2])
    source = f"dino:{request.dino.name}"
    found = [
        _image_regions(
            grid, width, height, request.anchors, request.box_sizes, request.min_distance, source
        )
        for grid in grids
    ]
    return AnchorSearch(
        attention=_to_pixels(grids, height, width),
        anchors=tuple(points for points, _ in found),
        regions=RegionBatch(tuple(regions for _, regions in found)),
    )


def draw_anchors(images: torch.Tensor, search: AnchorSearch) -> torch.Tensor:
    """Preview: the attention as a heat map over the image, the boxes, and a dot per anchor.

    Args:
        images: IMAGE ``[B, H, W, 3]`` the search ran on.
        search: from :func:`find_anchors`.

    Returns:
        ``[B, H, W, 3]`` float32 on CPU.
    """
    heat = search.attention[..., None]
    hot = torch.cat([heat * 3, heat * 3 - 1, heat * 3 - 2], dim=-1).clamp(0.0, 1.0)
    tinted = images.detach().to("cpu", torch.float32) * (1 - HEAT_ALPHA) + hot * HEAT_ALPHA
    boxed = draw_regions(tinted, search.regions)
    height, width = int(images.shape[1]), int(images.shape[2])
    radius = max(2, min(height, width) // 80)
    previews = []
    for picture_tensor, anchors in zip(boxed, search.anchors, strict=True):
        picture = to_pil(picture_tensor)
        draw = ImageDraw.Draw(picture)
        for anchor in anchors:
            dot = [anchor.x - radius, anchor.y - radius, anchor.x + radius, anchor.y + radius]
            draw.ellipse(dot, fill=(255, 255, 255), outline=(0, 0, 0))
        previews.append(from_pil(picture))
    return torch.stack(previews)
