"""Edge matting: a hard mask's border turned into an alpha matte with ViTMatte.

The mask gives a trimap: pixels at least ``band_px`` inside its edge are surely the object,
pixels at least ``band_px`` outside surely not, and the band between is unknown. ViTMatte reads
the image and the trimap and answers an alpha per pixel; the matte takes that alpha inside the
band only and keeps the mask everywhere else, so a stitch through the matte still leaves every
pixel beyond the band's outer edge bit-identical.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from .boxes import mask_bounds
from .errors import PinpointError
from .images import as_mask_batch, check_image, to_uint8_arrays
from .loading.models import VitMatte, module_device, module_dtype
from .masks import FOREGROUND, grow_mask
from .progress import Progress, no_progress
from .request import Request

if TYPE_CHECKING:
    from .edit_list import EditOutcome

BACKGROUND, UNKNOWN, FOREGROUND_VALUE = 0, 128, 255
"""A trimap's values, as ViTMatte's processor reads them (uint8, rescaled by 1/255)."""

CONTEXT_PX = 32
"""Pixels of image around the band that ViTMatte sees: it reads a window around the band, not
the whole picture, so its cost follows the object's size."""


def trimap(mask: torch.Tensor, band_px: int) -> torch.Tensor:
    """The trimap of ``[B, H, W]`` masks (a pixel is the object when above 0.5).

    Returns:
        ``[B, H, W]`` uint8: :data:`FOREGROUND_VALUE` where the mask shrunk by ``band_px`` is
        set (surely the object), :data:`BACKGROUND` outside the mask grown by ``band_px``
        (surely not), :data:`UNKNOWN` in the band between, ``2 * band_px`` wide around the edge.
    """
    hard = (mask > FOREGROUND).to(torch.float32)
    inside = grow_mask(hard, -band_px) > FOREGROUND
    near = grow_mask(hard, band_px) > FOREGROUND
    out = torch.full(hard.shape, UNKNOWN, dtype=torch.uint8)
    out[inside] = FOREGROUND_VALUE
    out[~near] = BACKGROUND
    return out


def check_band(band_px: int, height: int, width: int) -> None:
    """Raise unless ``band_px`` is at least 1 and under half the shorter side of an image of
    ``height`` x ``width`` pixels (a wider band would leave no sure object or background)."""
    shorter = min(height, width)
    if band_px < 1 or 2 * band_px >= shorter:
        raise PinpointError(
            f"band_px is {band_px} but the band must be at least 1 px and under half the "
            f"image's shorter side ({shorter} px)",
            f"use a band_px from 1 to {max(1, (shorter - 1) // 2)} for this image",
        )


@dataclass(frozen=True)
class MatteRequest(Request):
    """A checked call of :func:`matte_edges`.

    Attributes:
        model: ViTMatte, from :func:`pinpoint.loading.load_model`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1].
        masks: MASK ``[B, H, W]`` (or one for the whole batch), 1 = the object; stored as
            ``[B, H, W]`` (:func:`pinpoint.images.as_mask_batch`).
        band_px: the unknown band reaches this many pixels inside and outside the mask's
            edge; at least 1 and under half the image's shorter side.
    """

    model: VitMatte
    images: torch.Tensor
    masks: torch.Tensor
    band_px: int = 8

    def __post_init__(self) -> None:
        check_image(self.images)
        masks = as_mask_batch(self.masks, self.images)
        check_band(self.band_px, int(self.images.shape[1]), int(self.images.shape[2]))
        self._normalise(masks=masks)


def _window(unknown: torch.Tensor) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)``: the band's bounds in ``[H, W]`` with :data:`CONTEXT_PX` around it,
    inside the image; None when the band is empty."""
    bounds = mask_bounds(unknown)
    if bounds is None:
        return None
    height, width = int(unknown.shape[0]), int(unknown.shape[1])
    x0, y0 = max(0, bounds[0] - CONTEXT_PX), max(0, bounds[1] - CONTEXT_PX)
    return x0, y0, min(width, bounds[2] + CONTEXT_PX), min(height, bounds[3] + CONTEXT_PX)


def alpha_of(model: VitMatte, image: np.ndarray, trimap_of: np.ndarray) -> torch.Tensor:
    """ViTMatte's alpha for one ``[h, w, 3]`` uint8 image and its ``[h, w]`` uint8 trimap.

    The processor pads both to multiples of 32; the answer is cut back to ``[h, w]``, float32
    in [0, 1] on the CPU.
    """
    inputs = model.processor(images=[image], trimaps=[trimap_of], return_tensors="pt")
    pixels = inputs["pixel_values"].to(module_device(model.model), module_dtype(model.model))
    alphas = model.model(pixel_values=pixels).alphas
    height, width = trimap_of.shape
    return alphas[0, 0, :height, :width].to("cpu", torch.float32).clamp(0.0, 1.0)


def matte_edges(request: MatteRequest, progress: Progress = no_progress) -> torch.Tensor:
    """The masks with ViTMatte's alpha in their trimap's unknown band.

    ViTMatte sees each image's band with :data:`CONTEXT_PX` of picture around it (an image
    whose mask has no edge is not run). Outside the band every mask value is kept as given, so
    a hard mask stays exactly 1 on the sure object and exactly 0 on the sure background.

    Args:
        request: the model, images, masks and band.
        progress: called as ``progress(images_done, images)``.

    Returns:
        ``[B, H, W]`` float32 in [0, 1] on the CPU.
    """
    masks = request.masks.to("cpu", torch.float32)
    trimaps = trimap(masks, request.band_px)
    out = masks.clone()
    pictures = to_uint8_arrays(request.images)
    with torch.inference_mode():
        for index, (picture, tri) in enumerate(zip(pictures, trimaps, strict=True)):
            unknown = tri == UNKNOWN
            window = _window(unknown)
            if window is not None:
                x0, y0, x1, y1 = window
                alpha = alpha_of(request.model, picture[y0:y1, x0:x1], tri[y0:y1, x0:x1].numpy())
                area = out[index, y0:y1, x0:x1]
                area.copy_(torch.where(unknown[y0:y1, x0:x1], alpha, area))
            progress(index + 1, len(pictures))
    return out


def matte_outcomes(
    model: VitMatte,
    images: torch.Tensor,
    outcomes: Sequence[EditOutcome],
    band_px: int,
    before: Callable[[MatteRequest], None] = lambda request: None,
) -> tuple[EditOutcome, ...]:
    """Each edit's outcome with its ``[B, H, W]`` mask matted (:func:`matte_edges`);
    ``before(request)`` runs before each matte (a node moves the model there)."""
    matted = []
    for outcome in outcomes:
        request = MatteRequest(model, images, outcome.mask, band_px)
        before(request)
        matted.append(dataclasses.replace(outcome, mask=matte_edges(request)))
    return tuple(matted)
