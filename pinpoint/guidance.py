"""CLIP guidance of a diffusion sampler (S2): at each guided step the model's prediction of the
clean image is decoded, scored by a weighted loss and moved down the loss's gradient before
the sampler uses it.

A sampler asks the model for its estimate of the clean image at every step (ComfyUI's
"denoised"; for an ε-model ``x̂0 = (x_t - sqrt(1 - ᾱ_t) ε) / sqrt(ᾱ_t)``). Guidance decodes
that latent to pixels differentiably (the full VAE, or a small TAESD decoder: far less memory
and time, a little less exact), computes

* **region**: ``1 - cos(E_I(cut-outs of x̂0 ⊙ m), E_T(text))``, CLIP's distance between the
  edit text and random cut-outs of the masked area (several cut-outs, so the gradient follows
  what CLIP sees rather than adversarial noise);
* **background**: ``λ2 · MSE`` and ``λ_LPIPS · LPIPS`` between ``x̂0 ⊙ (1 - m)`` and the source
  ``⊙ (1 - m)`` (S2's λ is 1000 each),

and returns ``x̂0 - scale · g / rms(g)`` with ``g = ∂loss/∂x̂0``: the sampler's next step heads
towards an image the loss likes (the gradient is taken at x̂0, not through the model: one
decoder pass backwards per guided step instead of one through the UNet). ``scale`` 0 returns
x̂0 untouched.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .boxes import mask_bounds
from .errors import PinpointError
from .images import as_mask_batch, check_image, check_prompt
from .loading.models import ClipMatcher, PerceptualNet, module_device, module_dtype
from .loading.perceptual import LPIPS, check_use, lpips_module
from .match import embed_text, neutral
from .request import Request

Decode = Callable[[torch.Tensor], torch.Tensor]
"""Latent ``[B, C, h, w]`` → pixels ``[B, 3, H, W]`` in [0, 1], differentiable."""


@dataclasses.dataclass(frozen=True)
class GuidanceSettings(Request):
    """How strongly, when and by what a sampler is guided.

    Attributes:
        scale: how far x̂0 moves down the loss gradient per guided step, as the root mean
            square of the change in latent units (SD latents spread about 1: 0.02 is gentle,
            0.1 strong; 0: no guidance). The losses' weights set the direction only.
        start, end: the guided part of the schedule, as fractions of the steps (0 = first,
            1 = last).
        every: guide every n-th step of that part (1: each).
        region_weight: weight of the region loss (CLIP, edit text ↔ masked cut-outs).
        mse_weight: weight of the background MSE (S2: 1000).
        lpips_weight: weight of the background LPIPS (S2: 1000; needs an LPIPS backbone).
        cutouts: random cut-outs of the masked area CLIP scores per guided step.
        seed: the cut-outs' random draw (the same run gives the same result).
    """

    scale: float = 0.0
    start: float = 0.0
    end: float = 0.7
    every: int = 1
    region_weight: float = 1.0
    mse_weight: float = 1000.0
    lpips_weight: float = 0.0
    cutouts: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("scale", "region_weight", "mse_weight", "lpips_weight"):
            if getattr(self, name) < 0:
                raise PinpointError(f"{name} is {getattr(self, name)}", "use 0 or more")
        if not 0.0 <= self.start <= self.end <= 1.0:
            raise PinpointError(
                f"the guided part runs from {self.start} to {self.end}",
                "give 0 <= start <= end <= 1 (fractions of the schedule)",
            )
        if self.every < 1:
            raise PinpointError(f"every is {self.every}", "guide every 1st step or rarer")
        if self.cutouts < 1:
            raise PinpointError(f"cutouts is {self.cutouts}", "use at least 1 cut-out")

    def active(self, step: int, steps: int) -> bool:
        """Whether step ``step`` (0-based) of ``steps`` is guided."""
        if self.scale == 0 or steps < 1:
            return False
        last = max(1, steps - 1)
        first = math.ceil(self.start * last)
        inside = self.start * last <= step <= self.end * last
        return inside and (step - first) % self.every == 0


@dataclasses.dataclass(frozen=True)
class GuidanceTarget(Request):
    """What the guided images are scored against.

    Attributes:
        clip: the CLIP model (the matcher's) for the region loss.
        text: what the masked area should become.
        source: IMAGE ``[B, H, W, 3]``: the crops' original pixels (for the background losses).
        mask: MASK ``[B, H, W]`` (or one ``[H, W]``), 1 = the area to edit.
        lpips_net: an LPIPS backbone; needed when the LPIPS weight is above 0.
    """

    clip: ClipMatcher
    text: str
    source: torch.Tensor
    mask: torch.Tensor
    lpips_net: PerceptualNet | None = None

    def __post_init__(self) -> None:
        check_image(self.source)
        masks = as_mask_batch(self.mask, self.source)
        if not bool((masks > 0.5).any(dim=(1, 2)).all()):
            raise PinpointError(
                "a mask is empty: there is nothing to guide",
                "connect the mask of the area being edited (Crop for Inpaint's mask)",
            )
        if self.lpips_net is not None:
            check_use(self.lpips_net, LPIPS, "the background LPIPS loss")
        self._normalise(
            text=check_prompt(self.text, "the text", "a blue pickup truck"),
            mask=masks,
            source=self.source.detach().to(torch.float32),
        )


class Guidance:
    """The losses of one target and one setting, ready to guide a sampling run."""

    def __init__(self, target: GuidanceTarget, settings: GuidanceSettings):
        if settings.lpips_weight > 0 and target.lpips_net is None:
            raise PinpointError(
                f"the background LPIPS weight is {settings.lpips_weight} but no LPIPS network is "
                "connected",
                "connect 'Load Perceptual Network (Pinpoint)' with alexnet-owt-7be5be79.pth "
                "(https://download.pytorch.org/models/alexnet-owt-7be5be79.pth, into "
                "models/pinpoint_perceptual), or set the LPIPS weight to 0",
            )
        self.target, self.settings = target, settings
        self._text = None
        if settings.region_weight > 0:  # a plain copy: inference-mode tensors take no gradient
            self._text = embed_text(target.clip, target.text).clone()
        self._generator = torch.Generator().manual_seed(settings.seed)

    def loss(self, pixels: torch.Tensor) -> torch.Tensor:
        """The weighted loss of decoded images ``[B, 3, H, W]`` in [0, 1] (differentiable)."""
        target, settings = self.target, self.settings
        height, width = int(pixels.shape[2]), int(pixels.shape[3])
        if (height, width) != tuple(target.source.shape[1:3]) or pixels.shape[0] != len(
            target.source
        ):
            raise PinpointError(
                f"the sampler's images are {pixels.shape[0]} of {width}x{height} but the source "
                f"is {target.source.shape[0]} of {target.source.shape[2]}x"
                f"{target.source.shape[1]}",
                "guide the crops the source and mask belong to (Crop for Inpaint's image and "
                "mask, encoded to the sampler's latent)",
            )
        device = pixels.device
        mask = target.mask.to(device)[:, None]
        source = target.source.to(device).permute(0, 3, 1, 2)
        total = pixels.new_zeros(())
        if settings.region_weight > 0:
            total = total + settings.region_weight * self._region(pixels, mask)
        keep = 1.0 - mask
        if settings.mse_weight > 0:
            squared = ((pixels - source) * keep).pow(2).sum() / (keep.sum() * 3).clamp_min(1)
            total = total + settings.mse_weight * squared
        if settings.lpips_weight > 0 and target.lpips_net is not None:
            lpips = lpips_module(target.lpips_net)
            dtype = module_dtype(target.lpips_net.model)
            net_device = module_device(target.lpips_net.model)
            distance = lpips(
                (pixels * keep).to(net_device, dtype),
                (source * keep).to(net_device, dtype),
                normalize=True,
            )
            total = total + settings.lpips_weight * distance.mean().to(device, total.dtype)
        return total

    def _region(self, pixels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean CLIP distance of random cut-outs of each image's masked area to the text."""
        clip = self.target.clip
        fill = torch.tensor(neutral(clip), device=pixels.device)[None, :, None, None]
        masked = pixels * mask + fill * (1.0 - mask)
        size = int(clip.model.config.vision_config.image_size)
        cuts = []
        for index in range(len(pixels)):
            bounds = mask_bounds(mask[index, 0] > 0.5)
            assert bounds is not None  # the target refuses empty masks
            x0, y0, x1, y1 = bounds
            for size_draw, x_draw, y_draw in torch.rand(
                self.settings.cutouts, 3, generator=self._generator
            ).tolist():
                side = max(1, int(max(x1 - x0, y1 - y0) * (0.5 + 0.5 * size_draw)))
                left = x0 + int(x_draw * max(0, x1 - x0 - side))
                top = y0 + int(y_draw * max(0, y1 - y0 - side))
                piece = masked[index : index + 1, :, top : top + side, left : left + side]
                cuts.append(F.interpolate(piece, size=(size, size), mode="bilinear"))
        embedded = embed_pixels(clip, torch.cat(cuts))
        text = self._text.to(embedded.device, embedded.dtype)
        return (1.0 - embedded @ text).mean()

    def step(self, latent: torch.Tensor, decode: Decode) -> torch.Tensor:
        """``latent`` (a prediction of the clean image) moved down the loss gradient: by
        ``scale`` in root-mean-square over the latent (the gradient's direction, not its size:
        a step means the same whatever the losses' weights and the image's size); the latent
        itself when the scale is 0 or nothing pulls."""
        if self.settings.scale == 0:
            return latent
        with torch.enable_grad():
            moving = latent.detach().to(torch.float32).requires_grad_(True)
            loss = self.loss(decode(moving))
            (gradient,) = torch.autograd.grad(loss, moving)
        spread = gradient.pow(2).mean().sqrt()
        if float(spread) == 0.0:
            return latent
        moved = moving - self.settings.scale * gradient / spread
        return moved.detach().to(latent.dtype)


def embed_pixels(clip: ClipMatcher, pixels: torch.Tensor) -> torch.Tensor:
    """``[N, D]`` L2-normalised CLIP image embeddings of ``[N, 3, S, S]`` images in [0, 1] at
    CLIP's input size, differentiable (CLIP's normalisation done here, not by its processor)."""
    model, processor = clip.model, clip.processor.image_processor
    device, dtype = module_device(model), module_dtype(model)
    mean = torch.tensor(processor.image_mean, device=device)[None, :, None, None]
    std = torch.tensor(processor.image_std, device=device)[None, :, None, None]
    values = ((pixels.to(device, torch.float32) - mean) / std).to(dtype)
    pooled = model.vision_model(pixel_values=values).pooler_output
    return F.normalize(model.visual_projection(pooled).float(), dim=-1)
