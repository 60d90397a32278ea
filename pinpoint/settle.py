"""Settle each edit into its window before the stitch: undo the model's shift and zoom
(:mod:`pinpoint.align`), and let the blend follow the edit where it really went.

Instruction editors change a little more than the object (a longer tail, a hat) and sometimes
move the whole picture. A masked paste then cuts the edit off mid-stroke, or pastes a moved
object next to an unmoved context. Here the sampled crop is first aligned back to the original
on the context around the object, then the blend mask grows to take the pixels the edit really
changed next to the object, within a bounded ring of ``follow_px`` pixels: everything farther
from the object than that ring stays bit-identical.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .align import measure_motion, undo_motion
from .crop import CropPiece, StitchPlan, cut, resize_image
from .errors import PinpointError
from .masks import feather_mask, grow_mask, label_components
from .request import Request

SPILL_FEATHER_PX = 2
"""The soft edge given to the pixels the blend takes past the mask."""


@dataclass(frozen=True)
class SettleSettings(Request):
    """How an edit is settled into its window before the stitch.

    Attributes:
        align: measure the shift and zoom the model gave the picture on the context around the
            object and undo it.
        follow_px: the blend also takes the pixels the edit changed within this many pixels of
            the (feathered) mask, where they connect to it (0: the mask alone).
        threshold: a pixel changed when a channel moved by more than this (0 to 1).
    """

    align: bool = False
    follow_px: int = 0
    threshold: float = 0.08

    def __post_init__(self) -> None:
        if self.follow_px < 0:
            raise PinpointError(f"follow_px is {self.follow_px}", "use 0 (off) or more pixels")
        if not 0.0 < self.threshold < 1.0:
            raise PinpointError(f"threshold is {self.threshold}", "use a value between 0 and 1")

    @property
    def active(self) -> bool:
        """Whether settling changes anything."""
        return self.align or self.follow_px > 0


EDITOR_SETTLE = SettleSettings(align=True, follow_px=16)
"""How an instruction editor's edit settles into its window (the ComfyUI route's instruct
mode, the CLI's ``--settle``): its global shift and zoom are measured on the context and undone,
and the blend takes the pixels the edit changed next to the object up to 16 px past the
feathered mask (nothing farther away moves)."""


def _content(piece: CropPiece) -> torch.Tensor:
    """``[h, w]`` bool: the crop's pixels that come from the window (not edge padding)."""
    inside = torch.zeros(piece.height, piece.width, dtype=torch.bool)
    rows = slice(piece.top, piece.top + piece.content_height)
    inside[rows, piece.left : piece.left + piece.content_width] = True
    return inside


def follow_edit(
    piece: CropPiece,
    source: torch.Tensor,
    edited: torch.Tensor,
    area: torch.Tensor,
    settings: SettleSettings,
) -> torch.Tensor:
    """``piece``'s blend ``[y1 - y0, x1 - x0]`` grown to where the edit changed pixels next to
    the area, within ``settings.follow_px`` of the blend's support (zero beyond).

    Args:
        source, edited: ``[h, w, 3]`` the crop before and after (the crop's size).
        area: ``[h, w]`` the area the sampler regenerated (1), as :func:`pinpoint.crop.cut`
            gives it.
    """
    window_h, window_w = int(piece.blend.shape[0]), int(piece.blend.shape[1])
    per_pixel = piece.content_width / window_w  # crop pixels per window pixel
    reach = max(1, round(settings.follow_px * per_pixel))
    core = area > 0
    changed = (edited.to(torch.float32) - source.to(torch.float32)).abs().amax(dim=-1)
    near = grow_mask(core[None].to(torch.float32), reach)[0] > 0.5
    joined = ((changed > settings.threshold) & near & _content(piece)) | core
    labels = label_components(joined[None])[0]
    touching = labels[core].unique()
    spill = torch.isin(labels, touching) & ~core
    rows = slice(piece.top, piece.top + piece.content_height)
    inner = spill[rows, piece.left : piece.left + piece.content_width].to(torch.float32)
    spill_window = resize_image(inner[..., None], window_h, window_w)[..., 0] > 0.5
    limit = grow_mask((piece.blend > 0).to(torch.float32)[None], settings.follow_px)[0]
    extra = feather_mask(spill_window.to(torch.float32)[None], SPILL_FEATHER_PX)[0] * limit
    return torch.maximum(piece.blend, extra)


def settle_crops(
    plan: StitchPlan, sampled: Sequence[torch.Tensor], settings: SettleSettings
) -> tuple[StitchPlan, list[torch.Tensor], tuple[str, ...]]:
    """Every sampled crop aligned back and every blend grown to its edit (as ``settings``
    say), for :func:`pinpoint.stitch.stitch_crops`.

    Args:
        plan: the crops' plan; sampled: one ``[h', w', 3]`` image per piece, in order.

    Returns:
        The plan with the grown blends, the settled crops at their crop's size, and notes
        naming every motion that was undone.
    """
    pieces, settled, notes = [], [], []
    for piece, out in zip(plan.pieces, sampled, strict=True):
        source, area = cut(plan, piece)
        edited = resize_image(out.to(torch.float32), piece.height, piece.width)
        if settings.align:
            context = (area == 0) & _content(piece)
            motion = measure_motion(source, edited, context.to(torch.float32))
            if not motion.still:
                edited = undo_motion(edited, motion)
                notes.append(f"image {piece.image_index + 1}: the model {motion}; undone")
        if settings.follow_px > 0:
            blend = follow_edit(piece, source, edited, area, settings)
            piece = dataclasses.replace(piece, blend=blend)
        pieces.append(piece)
        settled.append(edited)
    return dataclasses.replace(plan, pieces=tuple(pieces)), settled, tuple(notes)
