"""Sampling crops with the user's own MODEL and VAE through ComfyUI's sampling functions: the
shared core of 'Inpaint Region · ComfyUI model' and 'Edit by Text' (no other node is called)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import comfy.model_management as mm
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
import node_helpers
import torch

from ..pinpoint.choices import Choice, check_choice
from ..pinpoint.errors import PinpointError
from ..pinpoint.guidance import Guidance
from .guidance import ClipGuider

Conditioning = list[list[Any]]
"""ComfyUI's CONDITIONING: ``[[cross-attention tensor [B, L, D], {"pooled_output": ...}], ...]``."""


COMFY_CFG = 7.0
"""The default guidance of the nodes that sample with ComfyUI (KSampler's 8 is for txt2img)."""
DENOISE = 1.0


class MaskedStart(Choice):
    """What a regular (non-inpainting) checkpoint starts from inside the mask."""

    AUTO = "auto"
    GREY = "neutral grey"
    ORIGINAL = "original pixels"


@dataclass(frozen=True)
class Sampling:
    """Checked sampler settings of a node (what KSampler takes, plus ``start``)."""

    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    denoise: float
    start: MaskedStart

    def __post_init__(self) -> None:
        check_choice(self.sampler_name, comfy.samplers.SAMPLER_NAMES, "sampler_name")
        check_choice(self.scheduler, comfy.samplers.SCHEDULER_NAMES, "scheduler")
        object.__setattr__(self, "start", MaskedStart.check(self.start, "masked_start"))
        if self.denoise <= 0.0:
            raise PinpointError("denoise is 0, so nothing would change", "raise denoise")


def _inpainting_model(model: Any) -> bool:
    """True for models that take the masked image as an extra input (SD 1.5/SDXL inpainting)."""
    return len(getattr(model.model, "concat_keys", ())) > 0


def _prepare(
    model: Any,
    vae: Any,
    positive: Conditioning,
    negative: Conditioning,
    pixels: torch.Tensor,
    area: torch.Tensor,
    sampling: Sampling,
) -> tuple[Conditioning, Conditioning, torch.Tensor, torch.Tensor]:
    """Latents, noise mask and conditionings for crops ``pixels`` ``[N, h, w, 3]`` whose areas
    to regenerate are ``area`` ``[N, h, w]``.

    Inpainting models get the original latent and, in both conditionings, the crop with its
    masked area painted neutral grey plus the mask (what InpaintModelConditioning attaches).
    Other models start from the grey crop (denoise 1, like VAE Encode for Inpaint) or the
    original (partial denoise, like Set Latent Noise Mask), as ``sampling.start`` says.
    """
    keep = (1.0 - area.round())[..., None]
    grey = (pixels - 0.5) * keep + 0.5
    noise_mask = area.reshape(-1, 1, area.shape[-2], area.shape[-1])
    start = sampling.start
    if _inpainting_model(model):
        extra = {"concat_latent_image": vae.encode(grey), "concat_mask": noise_mask}
        positive = node_helpers.conditioning_set_values(positive, extra)
        negative = node_helpers.conditioning_set_values(negative, extra)
        start_pixels = pixels
    elif start == MaskedStart.GREY or (start == MaskedStart.AUTO and sampling.denoise >= 1.0):
        start_pixels = grey
    else:
        start_pixels = pixels
    latent = comfy.sample.fix_empty_latent_channels(model, vae.encode(start_pixels))
    return positive, negative, latent, noise_mask


class SamplingProgress:
    """One progress bar over every pass's steps, with the sampler's live preview and Cancel."""

    def __init__(self, model: Any, total: int):
        self.total = max(1, total)
        self.bar = comfy.utils.ProgressBar(self.total)
        self.previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)

    def for_pass(self, done_before: int) -> Callable[..., None]:
        """The sampler callback of a pass that starts after ``done_before`` steps."""

        def on_step(step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None:
            mm.throw_exception_if_processing_interrupted()
            preview = None
            if self.previewer is not None:
                preview = self.previewer.decode_latent_to_preview_image("JPEG", x0)
            self.bar.update_absolute(min(self.total, done_before + step + 1), self.total, preview)

        return on_step


def sample_crops(
    model: Any,
    vae: Any,
    positive: Conditioning,
    negative: Conditioning,
    crops: torch.Tensor,
    areas: torch.Tensor,
    seeds: Sequence[int],
    sampling: Sampling,
    on_step: Callable[..., None],
    guidance: Guidance | None = None,
    decoder: Any = None,
) -> torch.Tensor:
    """Encode, sample and decode a batch of same-size crops in one sampler call.

    Args:
        positive, negative: conditionings for the whole batch (a tensor batch of 1 applies to
            every crop, of N one per crop; see :func:`batch_conditionings`).
        crops: ``[N, h, w, 3]`` float in [0, 1]; ``areas``: ``[N, h, w]`` 1 = regenerate.
        seeds: one per crop: crop ``i``'s noise is ComfyUI's noise for ``seeds[i]``, as if it
            were sampled alone.
        guidance: CLIP guidance of these crops: sampled through the CLIP Guider's guider (the
            stock guider and schedule otherwise), its guided steps decoded by ``decoder`` (the
            VAE when None).

    Returns:
        ``[N, h', w', 3]`` the decoded crops.
    """
    pos, neg, latent, noise_mask = _prepare(model, vae, positive, negative, crops, areas, sampling)
    noise = torch.cat(
        [comfy.sample.prepare_noise(latent[i : i + 1], seed) for i, seed in enumerate(seeds)]
    )
    try:
        if guidance is not None:
            samples = _guided(
                model, noise, pos, neg, latent, noise_mask, sampling, on_step, seeds[0],
                ClipGuider(model, guidance, decoder or vae),
            )  # fmt: skip
        else:
            samples = comfy.sample.sample(
                model,
                noise,
                sampling.steps,
                sampling.cfg,
                sampling.sampler_name,
                sampling.scheduler,
                pos,
                neg,
                latent,
                denoise=sampling.denoise,
                noise_mask=noise_mask,
                callback=on_step,
                disable_pbar=True,
                seed=seeds[0],
            )
    except torch.OutOfMemoryError:
        raise
    except RuntimeError as err:
        raise PinpointError(
            f"sampling failed ({str(err).splitlines()[0]})",
            "check that the MODEL, the VAE and the CLIP that encoded the conditionings come from "
            "the same model family",
        ) from err
    decoded = vae.decode(samples)
    return decoded.reshape(-1, *decoded.shape[-3:])


def _guided(
    model: Any,
    noise: torch.Tensor,
    positive: Conditioning,
    negative: Conditioning,
    latent: torch.Tensor,
    noise_mask: torch.Tensor | None,
    sampling: Sampling,
    on_step: Callable[..., None],
    seed: int,
    guider: ClipGuider,
) -> torch.Tensor:
    """What ``comfy.sample.sample`` does (KSampler's schedule and sampler), with ``guider``
    in place of the stock CFG guider."""
    sigmas = comfy.samplers.KSampler(
        model,
        steps=sampling.steps,
        device=model.load_device,
        sampler=sampling.sampler_name,
        scheduler=sampling.scheduler,
        denoise=sampling.denoise,
        model_options=model.model_options,
    ).sigmas
    guider.set_conds(positive, negative)
    guider.set_cfg(sampling.cfg)
    sampler = comfy.samplers.sampler_object(sampling.sampler_name)
    samples = guider.sample(
        noise, latent, sampler, sigmas, noise_mask, on_step, disable_pbar=True, seed=seed
    )
    return samples.to(mm.intermediate_device())


def batch_conditionings(conditionings: Sequence[Conditioning]) -> Conditioning | None:
    """One conditioning whose item ``i`` is ``conditionings[i]``, for a latent batch of as many
    crops; ``None`` where they cannot be joined (then sample them apart).

    Each must be one plain entry (what CLIP Text Encode makes) with the same extra keys; its
    tensors are joined along the batch, cross-attention of other lengths repeated up to a
    common length as ComfyUI does when it batches two prompts (repeating the tokens does not
    change attention's result), other values must be equal.
    """
    if any(len(item) != 1 for item in conditionings):
        return None
    tensors = [item[0][0] for item in conditionings]
    extras = [item[0][1] for item in conditionings]
    if any(t.shape[0] != 1 or t.shape[2] != tensors[0].shape[2] for t in tensors) or any(
        extra.keys() != extras[0].keys() for extra in extras
    ):
        return None
    length = math.lcm(*(int(t.shape[1]) for t in tensors))
    if length > 4 * min(int(t.shape[1]) for t in tensors):
        return None
    joined = torch.cat([t.repeat(1, length // int(t.shape[1]), 1) for t in tensors])
    values: dict[str, Any] = {}
    for key, first in extras[0].items():
        others = [extra[key] for extra in extras]
        if isinstance(first, torch.Tensor):
            if any(not isinstance(o, torch.Tensor) or o.shape != first.shape for o in others):
                return None
            if first.dim() > 0 and first.shape[0] == 1:
                values[key] = torch.cat(others)
            elif all(torch.equal(o, first) for o in others):
                values[key] = first
            else:
                return None
        elif all(o is first or o == first for o in others):
            values[key] = first
        else:
            return None
    return [[joined, values]]
