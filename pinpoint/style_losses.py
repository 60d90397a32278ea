"""S3's style losses (CLIPstyler's), each of a guided image against its source: the directional
CLIP loss ``1 - cos(E_I(x̂0) - E_I(src), E_T(text) - E_T(source text))`` (over the whole image
and over random perspective patches), VGG16's content loss and total variation.
:class:`pinpoint.guidance.Guidance` weights and sums them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .autograd import differentiable, plain
from .boxes import mask_bounds
from .clip_embed import embed_pixels
from .loading.models import ClipMatcher, PerceptualNet, module_device, module_dtype

CONTENT_LAYERS = (19, 26)
"""conv4_2 and conv5_2 in torchvision's VGG16 ``features``: S3's content features."""
PATCH_SIDE = 0.25
"""The patch loss's patches, as a fraction of the area's longer side (CLIPstyler: 128 of 512)."""
DISTORTION = 0.5
"""How far a patch's corners may move in its perspective augmentation (CLIPstyler's 0.5)."""
VGG_MEAN, VGG_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
"""ImageNet's normalisation, which VGG16's weights expect."""


def directional_loss(
    clip: ClipMatcher, direction: torch.Tensor, pairs: torch.Tensor
) -> torch.Tensor:
    """``1 - cos(ΔI, ΔT)`` per pair of ``pairs`` ``[2N, 3, S, S]`` (N images, then the N
    matching source images) with ``direction`` ``[D]``, the normalised text change ΔT: ``[N]``."""
    embedded = embed_pixels(clip, pairs)
    count = len(pairs) // 2
    change = F.normalize(embedded[:count] - embedded[count:].detach(), dim=-1)
    toward = plain(direction).to(change.device, change.dtype)
    return 1.0 - change @ toward


def perspective_patches(
    image: torch.Tensor,
    source: torch.Tensor,
    mask: torch.Tensor,
    size: int,
    count: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """``count`` random patches of the masked area of ``image`` ``[3, H, W]`` (``mask``
    ``[H, W]``, not empty) with a random perspective each, drawn from ``generator``, then the
    same patches of ``source``: ``[2 * count, 3, size, size]``."""
    from torchvision.transforms.v2.functional import perspective

    bounds = mask_bounds(mask > 0.5)
    assert bounds is not None  # the target refuses empty masks
    x0, y0, x1, y1 = bounds
    side = max(1, int(max(x1 - x0, y1 - y0) * PATCH_SIDE))
    ours, theirs = [], []
    corners = [[0, 0], [side - 1, 0], [side - 1, side - 1], [0, side - 1]]
    shift = DISTORTION * side / 2
    for x_draw, y_draw, *wobble in torch.rand(count, 10, generator=generator).tolist():
        left = x0 + int(x_draw * max(0, x1 - x0 - side))
        top = y0 + int(y_draw * max(0, y1 - y0 - side))
        moved = [
            [x + (2 * dx - 1) * shift, y + (2 * dy - 1) * shift]
            for (x, y), dx, dy in zip(corners, wobble[0::2], wobble[1::2], strict=True)
        ]
        for picture, out in ((image, ours), (source, theirs)):
            patch = picture[:, top : top + side, left : left + side]
            warped = perspective(patch, corners, moved)
            out.append(F.interpolate(warped[None], size=(size, size), mode="bilinear"))
    return torch.cat(ours + theirs)


def content_loss(net: PerceptualNet, image: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of VGG16's conv4_2 and conv5_2 features (``net.model`` is its
    ``features``) between ``image`` and ``source`` ``[B, 3, H, W]`` in [0, 1]."""
    device, dtype = module_device(net.model), module_dtype(net.model)
    mean = torch.tensor(VGG_MEAN, device=device)[None, :, None, None]
    std = torch.tensor(VGG_STD, device=device)[None, :, None, None]
    both = ((torch.cat([image, source]).to(device, torch.float32) - mean) / std).to(dtype)
    total = both.new_zeros((), dtype=torch.float32)
    for index, layer in enumerate(differentiable(net.model)[: max(CONTENT_LAYERS) + 1]):
        both = layer(both)
        if index in CONTENT_LAYERS:
            ours, theirs = both.float().chunk(2)
            total = total + (ours - theirs.detach()).pow(2).mean()
    return (total / len(CONTENT_LAYERS)).to(image.device)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels of ``image`` ``[B, 3, H, W]``,
    across plus down (a scalar): speckle costs, smooth areas do not."""
    across = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    down = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    return across + down
