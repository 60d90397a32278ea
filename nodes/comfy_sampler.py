"""The ComfyUI sampler: crops repainted with the user's own MODEL and VAE through ComfyUI's
sampling functions (no other node is called), for the one crop → sample → stitch loop
(``pinpoint.repaint``) of 'Inpaint Region · ComfyUI model' and 'Edit by Text'.

Everything the pack knows of ComfyUI sampling is here: a MODEL's native size, the latent step
of its VAE, the conditioning of each crop (inpainting models' mask channels or a noise mask),
the guider of guided crops, previews and Cancel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import comfy.model_management as mm
import comfy.sample
import comfy.samplers
import latent_preview
import node_helpers
import torch
from comfy.model_base import ModelType

from ..pinpoint.choices import Choice, check_choice
from ..pinpoint.errors import PinpointError
from ..pinpoint.repaint import CROPS_PER_CALL, CropBatch, Layer, StepCallback
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


NATIVE_SIZES = {
    "SD15": 512,
    "SD20": 768,
    "SDXLRefiner": 1024,
    "SDXL": 1024,
    "SD3": 1024,
    "AuraFlow": 1024,
    "PixArtAlpha": 1024,
    "HunyuanDiT": 1024,
    "Flux": 1024,
    "Lumina2": 1024,
    "HiDream": 1024,
    "Chroma": 1024,
    "QwenImage": 1328,
}
"""ComfyUI model config class → the resolution its family was trained at (SD 2.x: 768 for the
v-prediction models, 512 for the others)."""


def crop_resolution(resolution: int, model: Any) -> int:
    """``resolution``, or the native size of ``model`` (a ComfyUI MODEL) when it is 0."""
    if resolution > 0:
        return resolution
    if model is None:
        raise PinpointError(
            "resolution is 0 (the model's native size) but no model is connected",
            "connect the MODEL, or set resolution (512 for SD 1.5, 1024 for SDXL)",
        )
    base = model.model
    for config_class in type(base.model_config).__mro__:
        size = NATIVE_SIZES.get(config_class.__name__)
        if size == 768 and base.model_type != ModelType.V_PREDICTION:
            return 512
        if size is not None:
            return size
    raise PinpointError(
        f"the native size of {type(base.model_config).__name__} models is not known",
        "set resolution to the size the model was trained at (e.g. 1024)",
    )


def check_clip(clip: Any) -> Any:
    """``clip``, a stock CLIP; raise when it is missing (a checkpoint without a text encoder)."""
    if clip is None:
        raise PinpointError(
            "the clip input is empty (the checkpoint has no text encoder)",
            "connect a CLIP from a checkpoint loader or a CLIP loader",
        )
    return clip


def encode(clip: Any, text: str) -> Conditioning:
    """``text`` through a stock CLIP, as CLIP Text Encode does."""
    clip = check_clip(clip)
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))


class ComfySampler:
    """A :class:`~pinpoint.repaint.CropSampler` over a ComfyUI MODEL and VAE.

    A layer's prompt and negative are CONDITIONINGs (CLIP Text Encode's), or text that
    ``clip`` encodes (once per text). Crops of one call are sampled in one latent batch when
    their conditionings join (:func:`batch_conditionings`), else one at a time; guided crops
    are sampled one at a time with the CLIP Guider's guider.
    """

    crops_per_call = CROPS_PER_CALL

    def __init__(self, model: Any, vae: Any, sampling: Sampling, clip: Any = None):
        self.model, self.vae, self.sampling, self.clip = model, vae, sampling, clip
        self._encoded: dict[str, Conditioning] = {}

    @property
    def native_size(self) -> int:
        """The size the MODEL's family was trained at."""
        return crop_resolution(0, self.model)

    @property
    def multiple(self) -> int:
        """The VAE's downscale: crop sides are multiples of it."""
        return int(self.vae.spacial_compression_encode())

    def crop_sizes(self) -> tuple[tuple[int, int], ...]:
        """Any aspect at the native size."""
        return ()

    def check(self, layer: Layer) -> Layer:
        """Text prompts need a CLIP to encode them."""
        if isinstance(layer.prompt, str) or isinstance(layer.negative, str):
            check_clip(self.clip)
        return layer

    def _conditioning(self, prompt: Conditioning | str) -> Conditioning:
        if not isinstance(prompt, str):
            return prompt
        text = prompt.strip()
        if text not in self._encoded:
            self._encoded[text] = encode(self.clip, text)
        return self._encoded[text]

    def sample(self, batch: CropBatch, on_step: StepCallback) -> Sequence[torch.Tensor]:
        """Encode, sample and decode ``batch``: ``[N, h', w', 3]`` decoded crops."""
        positives = [self._conditioning(layer.prompt) for layer in batch.layers]
        negatives = [self._conditioning(layer.negative) for layer in batch.layers]
        positive, negative = _joined(positives), _joined(negatives)
        if len(batch) == 1 or (positive and negative and not any(batch.guides)):
            return self._sample(batch, positive, negative, on_step)  # type: ignore[arg-type]
        count, decoded = len(batch), []
        for index in range(count):

            def crop_step(done: int, total: int, *preview: Any, before: int = index) -> None:
                on_step(before * total + done, count * total, *preview)

            one = batch.item(index)
            decoded.extend(self._sample(one, positives[index], negatives[index], crop_step))
        return decoded

    def _sample(
        self,
        batch: CropBatch,
        positive: Conditioning,
        negative: Conditioning,
        on_step: StepCallback,
    ) -> torch.Tensor:
        """One sampler call over ``batch`` with one conditioning each way (a tensor batch of 1
        applies to every crop, of N one per crop)."""
        model, vae, sampling, seeds = self.model, self.vae, self.sampling, batch.seeds
        pos, neg, latent, noise_mask = _prepare(
            model, vae, positive, negative, batch.crops, batch.areas, sampling
        )
        noise = torch.cat(
            [comfy.sample.prepare_noise(latent[i : i + 1], seed) for i, seed in enumerate(seeds)]
        )
        callback = self._callback(on_step, len(batch))
        guidance = batch.guides[0]
        try:
            if guidance is not None:
                decoder = batch.layers[0].guidance.decoder  # type: ignore[union-attr]
                guider = ClipGuider(model, guidance, decoder or vae)
                samples = _guided(model, noise, pos, neg, latent, noise_mask, sampling, callback,
                                  seeds[0], guider)  # fmt: skip
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
                    callback=callback,
                    disable_pbar=True,
                    seed=seeds[0],
                )
        except torch.OutOfMemoryError:
            raise
        except RuntimeError as err:
            raise PinpointError(
                f"sampling failed ({str(err).splitlines()[0]})",
                "check that the MODEL, the VAE and the CLIP that encoded the conditionings come "
                "from the same model family",
            ) from err
        decoded = vae.decode(samples)
        return decoded.reshape(-1, *decoded.shape[-3:])

    def _callback(self, on_step: StepCallback, crops: int) -> Any:
        """ComfyUI's sampler callback: Cancel, the live preview, and the step to ``on_step``."""

        model = self.model
        previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)

        def callback(step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None:
            mm.throw_exception_if_processing_interrupted()
            preview = None
            if previewer is not None:
                preview = previewer.decode_latent_to_preview_image("JPEG", x0)
            on_step(crops * min(step + 1, total_steps), crops * total_steps, preview)

        return callback


def _joined(conditionings: Sequence[Conditioning]) -> Conditioning | None:
    """One conditioning for a latent batch: the one they all are, or them joined
    (:func:`batch_conditionings`); ``None`` where they cannot be joined."""
    if all(item is conditionings[0] for item in conditionings):
        return conditionings[0]
    return batch_conditionings(conditionings)


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


def _guided(
    model: Any,
    noise: torch.Tensor,
    positive: Conditioning,
    negative: Conditioning,
    latent: torch.Tensor,
    noise_mask: torch.Tensor | None,
    sampling: Sampling,
    callback: Any,
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
        noise, latent, sampler, sigmas, noise_mask, callback, disable_pbar=True, seed=seed
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
