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
* **style** (S3, on the masked area over the source, the whole image when the mask is): the
  directional CLIP loss ``1 - cos(E_I(x̂0) - E_I(src), E_T(text) - E_T(source text))`` over the
  whole image (global) and over random perspective patches (patches already closer than the
  threshold τ are dropped, as CLIPstyler does), VGG16's content loss (conv4_2 and conv5_2
  features against the source's) and total variation,

and returns ``x̂0 - scale · g / rms(g)`` with ``g = ∂loss/∂x̂0``: the sampler's next step heads
towards an image the loss likes (the gradient is taken at x̂0, not through the model: one
decoder pass backwards per guided step instead of one through the UNet). ``scale`` 0 returns
x̂0 untouched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

from .autograd import differentiable, plain
from .boxes import mask_bounds
from .clip_embed import clip_notes, embed_pixels, embed_text, embed_texts, neutral
from .errors import PinpointError
from .guidance_settings import STYLE_WEIGHTS, GuidanceSettings
from .images import as_mask_batch, check_image, check_prompt
from .loading.models import ClipMatcher, PerceptualNet, module_device, module_dtype
from .loading.perceptual import LPIPS, NETWORKS, check_use, lpips_module
from .request import Request
from .style_losses import content_loss, directional_loss, perspective_patches, total_variation

Decode = Callable[[torch.Tensor], torch.Tensor]
"""Latent ``[B, C, h, w]`` → pixels ``[B, 3, H, W]`` in [0, 1], differentiable."""
ALEXNET, VGG16 = NETWORKS["alexnet"], NETWORKS["vgg16"]
"""The LPIPS backbone the errors suggest, and S3's content network."""


@dataclasses.dataclass(frozen=True)
class GuidanceTarget(Request):
    """What the guided images are scored against.

    Attributes:
        clip: the CLIP model (the matcher's) for the region loss.
        text: what the masked area should become.
        source: IMAGE ``[B, H, W, 3]``: the crops' original pixels (for the background losses).
        mask: MASK ``[B, H, W]`` (or one ``[H, W]``), 1 = the area to edit.
        lpips_net: an LPIPS backbone; needed when the LPIPS weight is above 0.
        source_text: what the area shows now ("a photo"): the other end of the directional
            losses' text direction; needed when their weights are above 0.
        vgg_net: VGG16's weights; needed when the content weight is above 0.
    """

    clip: ClipMatcher
    text: str
    source: torch.Tensor
    mask: torch.Tensor
    lpips_net: PerceptualNet | None = None
    source_text: str = ""
    vgg_net: PerceptualNet | None = None

    def __post_init__(self) -> None:
        check_image(self.source)
        masks = as_mask_batch(self.mask, self.source)
        if not bool((masks > 0.5).any(dim=(1, 2)).all()):
            raise PinpointError(
                "a mask is empty: there is nothing to guide",
                "give the mask of the area being edited (the crops' mask)",
            )
        check_networks(self.lpips_net, self.vgg_net)
        self._normalise(
            source_text=self.source_text.strip(),
            text=check_prompt(self.text, "text", "a blue pickup truck"),
            mask=masks,
            source=self.source.detach().to(torch.float32),
        )


def check_networks(lpips_net: PerceptualNet | None, vgg_net: PerceptualNet | None) -> None:
    """Raise if a connected network is not one its loss reads."""
    if lpips_net is not None:
        check_use(lpips_net, LPIPS, "the background LPIPS loss")
    if vgg_net is not None and vgg_net.network != VGG16.name:
        raise PinpointError(
            f"the content loss needs VGG16, but '{vgg_net.name}' is {vgg_net.network}",
            f"use {VGG16.file} ({VGG16.url})",
        )


def check_needs(
    settings: GuidanceSettings,
    lpips_net: PerceptualNet | None,
    vgg_net: PerceptualNet | None,
    source_text: str,
) -> None:
    """Raise if a loss with a weight lacks what it needs (a network, the source text)."""
    if settings.lpips_weight > 0 and lpips_net is None:
        raise PinpointError(
            f"the background LPIPS weight is {settings.lpips_weight} but no LPIPS network is "
            "connected",
            f"connect an LPIPS network ({ALEXNET.file} from {ALEXNET.url}, in "
            "models/pinpoint_perceptual), or set the LPIPS weight to 0",
        )
    if settings.content_weight > 0 and vgg_net is None:
        raise PinpointError(
            f"the content weight is {settings.content_weight} but no VGG16 is connected",
            f"connect VGG16 ({VGG16.file} from {VGG16.url}, in models/pinpoint_perceptual), "
            "or set the content weight to 0",
        )
    if (settings.global_weight > 0 or settings.patch_weight > 0) and not source_text.strip():
        raise PinpointError(
            "the directional losses need the source text (what the area shows now)",
            "give a source text such as 'a photo' or 'a cat', or set the global and patch "
            "weights to 0",
        )


@dataclasses.dataclass(frozen=True)
class GuidanceRecipe(Request):
    """Guidance without its images: what an inpaint route is handed (by a ComfyUI guidance
    node or the CLI's options), which adds the crops it samples (:meth:`for_crops`).

    Attributes:
        clip: the CLIP model; text: what the area should become; settings: the losses and
        schedule; lpips_net, source_text, vgg_net: as :class:`GuidanceTarget`'s (needed when
        their losses' weights are above 0).
        decoder: what decodes the guided steps, as the caller knows it: ``None`` for the
            sampler's own VAE; on the diffusers route a diffusers VAE (``AutoencoderTiny`` for
            TAESD) or a :data:`Decode`; in ComfyUI a ComfyUI VAE (e.g. TAESD).
    """

    clip: ClipMatcher
    text: str
    settings: GuidanceSettings
    lpips_net: PerceptualNet | None = None
    decoder: Any = None
    source_text: str = ""
    vgg_net: PerceptualNet | None = None

    def __post_init__(self) -> None:
        check_networks(self.lpips_net, self.vgg_net)
        check_needs(self.settings, self.lpips_net, self.vgg_net, self.source_text)
        self._normalise(text=check_prompt(self.text, "text", "a blue pickup truck"))

    def for_crops(self, crops: torch.Tensor, areas: torch.Tensor) -> Guidance:
        """The guidance of crops ``[N, h, w, 3]`` and their areas ``[N, h, w]`` (1 = edit)."""
        target = GuidanceTarget(
            self.clip,
            self.text,
            crops,
            areas,
            lpips_net=self.lpips_net,
            source_text=self.source_text,
            vgg_net=self.vgg_net,
        )
        return Guidance(target, self.settings)


def guidance_notes(recipes: Iterable[GuidanceRecipe | None]) -> tuple[str, ...]:
    """How much of each guided text CLIP reads, for each it cuts (each note once; ``None``:
    an unguided edit)."""
    cut = (
        note for r in recipes if r is not None for note in clip_notes(r.clip, r.text, r.source_text)
    )
    return tuple(f"guidance: {note}" for note in dict.fromkeys(cut))


class Guidance:
    """The losses of one target and one setting, ready to guide a sampling run."""

    def __init__(self, target: GuidanceTarget, settings: GuidanceSettings):
        check_needs(settings, target.lpips_net, target.vgg_net, target.source_text)
        directional = settings.global_weight > 0 or settings.patch_weight > 0
        self.target, self.settings = target, settings
        # made in inference mode; step() takes plain copies where the gradient runs
        self._text = self._direction = None
        if settings.region_weight > 0:
            self._text = embed_text(target.clip, target.text)
        if directional:
            texts = embed_texts(target.clip, [target.text, target.source_text])
            self._direction = F.normalize(texts[0] - texts[1], dim=0)
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
                "guide the crops the source and mask belong to (the same crops, encoded to the "
                "sampler's latent)",
            )
        device = pixels.device
        mask = plain(target.mask).to(device)[:, None]
        source = plain(target.source).to(device).permute(0, 3, 1, 2)
        total = pixels.new_zeros(())
        if settings.region_weight > 0:
            total = total + settings.region_weight * self._region(pixels, mask)
        keep = 1.0 - mask
        if settings.mse_weight > 0:
            squared = ((pixels - source) * keep).pow(2).sum() / (keep.sum() * 3).clamp_min(1)
            total = total + settings.mse_weight * squared
        if settings.lpips_weight > 0 and target.lpips_net is not None:
            lpips = differentiable(lpips_module(target.lpips_net))
            dtype = module_dtype(target.lpips_net.model)
            net_device = module_device(target.lpips_net.model)
            distance = lpips(
                (pixels * keep).to(net_device, dtype),
                (source * keep).to(net_device, dtype),
                normalize=True,
            )
            total = total + settings.lpips_weight * distance.mean().to(device, total.dtype)
        if any(getattr(settings, name) > 0 for name in STYLE_WEIGHTS):
            total = total + self._style(pixels * mask + source * keep, source, mask)
        return total

    def _style(self, image: torch.Tensor, source: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """S3's losses of ``image`` (the guided area over the source) against ``source``."""
        settings, clip, direction = self.settings, self.target.clip, self._direction
        size = int(clip.model.config.vision_config.image_size)
        total = image.new_zeros(())
        if settings.global_weight > 0:
            pair = F.interpolate(torch.cat([image, source]), size=(size, size), mode="bilinear")
            total = total + settings.global_weight * directional_loss(clip, direction, pair).mean()
        if settings.patch_weight > 0:
            losses = []
            for i in range(len(image)):
                pairs = perspective_patches(
                    image[i], source[i], mask[i, 0], size, settings.cutouts, self._generator
                )
                losses.append(directional_loss(clip, direction, pairs))
            every = torch.cat(losses)
            kept = torch.where(every < settings.patch_threshold, 0.0, every)
            total = total + settings.patch_weight * kept.mean()
        if settings.content_weight > 0 and self.target.vgg_net is not None:
            content = content_loss(self.target.vgg_net, image, source)
            total = total + settings.content_weight * content
        if settings.tv_weight > 0:
            total = total + settings.tv_weight * total_variation(image)
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
        text = plain(self._text).to(embedded.device, embedded.dtype)
        return (1.0 - embedded @ text).mean()

    def step(self, latent: torch.Tensor, decode: Decode) -> torch.Tensor:
        """``latent`` (a prediction of the clean image) moved down the loss gradient: by
        ``scale`` in root-mean-square over the latent (the gradient's direction, not its size:
        a step means the same whatever the losses' weights and the image's size); the latent
        itself when the scale is 0 or nothing pulls."""
        if self.settings.scale == 0:
            return latent
        with torch.inference_mode(False), torch.enable_grad():  # ComfyUI runs in inference mode
            moving = plain(latent.detach()).to(torch.float32).requires_grad_(True)
            loss = self.loss(decode(moving))
            (gradient,) = torch.autograd.grad(loss, moving)
            spread = gradient.pow(2).mean().sqrt()
            if float(spread) == 0.0:
                return latent
            moved = moving - self.settings.scale * gradient / spread
        return moved.detach().to(latent.dtype)
