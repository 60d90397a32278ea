"""IMAGE / MASK tensor checks and conversions.

Conventions (ComfyUI's): IMAGE is ``[B, H, W, 3]`` float32 in [0, 1]; MASK is ``[B, H, W]``
float32 in [0, 1] with 1 = the area to edit.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import PinpointError

_CHANNEL_NAMES = {1: "grayscale", 2: "grayscale+alpha", 4: "RGBA"}

IMAGES_PER_PASS = 4
"""Images per model forward pass in the stages that batch images: bounds activation memory for
large batches (the estimates in :mod:`pinpoint.memory` count this many images)."""


def check_image(image: torch.Tensor) -> None:
    """Raise a :class:`PinpointError` unless ``image`` is an RGB IMAGE batch ``[B, H, W, 3]``."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise PinpointError(
            f"expected an IMAGE batch shaped [B, H, W, 3] but got {shape}",
            "pass an RGB image batch shaped [B, H, W, 3]",
        )
    channels = int(image.shape[-1])
    if channels != 3:
        kind = _CHANNEL_NAMES.get(channels, f"{channels}-channel")
        raise PinpointError(
            f"the image is {kind} ({channels} channels) but RGB (3 channels) is required",
            "convert it to RGB first",
        )
    if image.shape[0] == 0 or image.shape[1] < 2 or image.shape[2] < 2:
        raise PinpointError(
            f"the image batch {tuple(image.shape)} is empty or smaller than 2x2 pixels",
            "pass at least one image of a usable size",
        )


def as_mask_batch(mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Return ``mask`` as ``[B, H, W]`` float32 matching ``image`` ``[B, H, W, 3]``.

    A single mask ``[H, W]`` or ``[1, H, W]`` is repeated over the image batch. A size mismatch is
    an error, never a silent resize (ComfyUI's 'Load Image' gives a 64x64 empty mask for images
    without alpha, which must not be mistaken for a real one).
    """
    mask = mask.reshape((-1, mask.shape[-2], mask.shape[-1])).to(image.device, torch.float32)
    batch, height, width = int(image.shape[0]), int(image.shape[1]), int(image.shape[2])
    if tuple(mask.shape[-2:]) != (height, width):
        raise PinpointError(
            f"the mask is {mask.shape[-1]}x{mask.shape[-2]} but the image is {width}x{height}",
            "use a mask made for this image, e.g. from regions found on it (a picture without "
            "an alpha channel has no mask of its own)",
        )
    if mask.shape[0] == 1 and batch > 1:
        mask = mask.expand(batch, -1, -1)
    if mask.shape[0] != batch:
        raise PinpointError(
            f"there are {mask.shape[0]} masks for {batch} images",
            "give one mask for the whole batch or exactly one mask per image",
        )
    return mask.clamp(0.0, 1.0)


def check_prompt(text: str, what: str, example: str) -> str:
    """Return ``text`` stripped, or raise when it is empty.

    Args:
        what: the input's name as the user sees it (``"prompt"``, ``"text"``).
        example: an example value for the remedy.
    """
    text = (text or "").strip()
    if not text:
        raise PinpointError(f"the {what} is empty", f"type what you mean, e.g. '{example}'")
    return text


def to_uint8_arrays(images: torch.Tensor) -> list[np.ndarray]:
    """``[B, H, W, 3]`` float in [0, 1] → ``[H, W, 3]`` uint8 arrays (HF processors, SAM)."""
    pixels = (images.detach().to("cpu", torch.float32).clamp(0, 1) * 255.0).round().to(torch.uint8)
    return [item.numpy() for item in pixels]


def to_pil(image: torch.Tensor) -> Image.Image:
    """``[H, W, 3]`` float in [0, 1] → RGB PIL image (rounded to uint8)."""
    array = (image.detach().to("cpu", torch.float32).clamp(0, 1).numpy() * 255.0).round()
    return Image.fromarray(array.astype(np.uint8), mode="RGB")


def from_pil(picture: Image.Image) -> torch.Tensor:
    """RGB PIL image → ``[H, W, 3]`` float32 in [0, 1]."""
    return torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)


def load_image(path: str | Path, convert_rgb: bool = False) -> torch.Tensor:
    """Read an image file as an IMAGE batch ``[1, H, W, 3]``.

    Grayscale and RGBA files are refused unless ``convert_rgb`` (alpha is then dropped), so an
    edit never silently changes what the user's picture is.
    """
    path = Path(path)
    if not path.is_file():
        raise PinpointError(f"image file '{path}' does not exist", "check the path")
    try:
        with Image.open(path) as opened:
            opened.load()
            picture = opened
    except OSError as err:
        raise PinpointError(
            f"'{path}' is not a readable image ({err})", "pass a PNG, JPEG or WebP file"
        ) from err
    if picture.mode != "RGB":
        if not convert_rgb:
            raise PinpointError(
                f"'{path.name}' is {picture.mode} but RGB is required",
                "convert it to RGB first or pass --convert-rgb",
            )
        picture = picture.convert("RGB")
    return from_pil(picture)[None]


def save_image(image: torch.Tensor, path: str | Path) -> Path:
    """Write ``[H, W, 3]`` (or ``[1, H, W, 3]``) to ``path``, whole or not at all: to a hidden
    temporary name beside it first, then renamed; parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        to_pil(image.reshape(image.shape[-3:])).save(staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path
