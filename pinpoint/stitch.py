"""Stitch: paste sampled crops back into their images through the feathered blend masks of
their plan (:mod:`pinpoint.crop`). Pixels where a blend is 0 keep the input tensor's own
values, bit for bit."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .crop import CropPiece, StitchPlan, resize_image
from .errors import PinpointError
from .harmonise import check_harmonise, harmonise_seam
from .images import check_image


def paste(
    original: torch.Tensor, piece: CropPiece, sampled: torch.Tensor, harmonise: float = 0.0
) -> torch.Tensor:
    """``original`` ``[H, W, C]`` with one sampled crop ``[h, w, C]`` blended into its window.

    ``sampled`` may have any size with the crop's aspect; it is resized to the crop's size, the
    padding is dropped, and the content is resized back to the window. ``harmonise`` (0 to 1)
    first corrects the colour shift the sampler gave the crop's context
    (:func:`pinpoint.harmonise.harmonise_seam`).
    """
    canvas = resize_image(sampled.to(torch.float32), piece.height, piece.width)
    content = canvas[
        piece.top : piece.top + piece.content_height,
        piece.left : piece.left + piece.content_width,
    ]
    back = resize_image(content, piece.y1 - piece.y0, piece.x1 - piece.x0)
    back = back.to(original.device, original.dtype)
    out = original.clone()
    area = original[piece.y0 : piece.y1, piece.x0 : piece.x1]
    back = harmonise_seam(area, back, piece.blend.to(original.device), harmonise)
    weight = piece.blend[..., None].to(original.device, original.dtype)
    mixed = area * (1.0 - weight) + back * weight
    out[piece.y0 : piece.y1, piece.x0 : piece.x1] = torch.where(weight > 0, mixed, area)
    return out


def stitch_crops(
    plan: StitchPlan, sampled: torch.Tensor | Sequence[torch.Tensor], harmonise: float = 0.0
) -> torch.Tensor:
    """Paste the sampled crops back into the images through their feathered blend masks.

    Args:
        plan: from :func:`plan_crops` or :func:`crop_for_inpaint`.
        sampled: IMAGE ``[N, h, w, 3]`` (or N tensors ``[h, w, 3]``): the crops after sampling,
            in the plan's order, each any size with its crop's aspect.
        harmonise: 0 (off) to 1: correct each crop's colour shift before pasting (see
            :func:`paste`).

    Returns:
        ``[B, H, W, 3]`` float32: ``original * (1 - m) + sampled * m`` where a blend ``m`` is
        above 0, and exactly the original pixels everywhere else.
    """
    if isinstance(sampled, torch.Tensor):
        check_image(sampled)
    count = len(plan.pieces)
    if len(sampled) != count:
        raise PinpointError(
            f"got {len(sampled)} sampled image(s) for {count} crop(s)",
            "stitch the decoded crops of this same crop plan, one per crop (keep the sampler's "
            "latent batch as the crop made it)",
        )
    outputs = [image.to(torch.float32) for image in plan.images]
    for piece, generated in zip(plan.pieces, sampled, strict=True):
        got_h, got_w = int(generated.shape[0]), int(generated.shape[1])
        if abs(got_w * piece.height - piece.width * got_h) > 0.02 * piece.width * got_h:
            raise PinpointError(
                f"a sampled crop is {got_w}x{got_h} but the crop was {piece.width}x{piece.height}",
                "stitch the decoded crops of this same crop plan (resizing them is fine, "
                "changing their shape is not)",
            )
        outputs[piece.image_index] = paste(
            outputs[piece.image_index], piece, generated, check_harmonise(harmonise)
        )
    return torch.stack(outputs)
