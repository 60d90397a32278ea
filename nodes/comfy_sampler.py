"""The ComfyUI sampler: crops repainted with the user's own MODEL and VAE through ComfyUI's
sampling functions (and its InpaintModelConditioning, the one node called, for models with
mask channels), for the one crop → sample → stitch loop (``pinpoint.repaint``) of 'Inpaint
Region · ComfyUI model' and 'Edit by Text'.

Everything the pack knows of ComfyUI sampling is here: the conditioning of each crop (the
mask channels InpaintModelConditioning gives inpainting models, or a noise mask; FLUX
guidance), the guider of guided crops, previews and Cancel; what it knows of each model family
(native size, latent step, how a mask reaches it) is in ``comfy_families.py``; how an
instruction editor takes each crop as its reference (instruct mode) in ``comfy_reference.py``.
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
import torch

import nodes  # ComfyUI's nodes.py (the pack's own nodes/ is this package)

from ..pinpoint.choices import Choice, check_choice
from ..pinpoint.errors import PinpointError
from ..pinpoint.repaint import CROPS_PER_CALL, CropBatch, Layer, StepCallback
from ..pinpoint.settle import EDITOR_SETTLE, SettleSettings
from .comfy_families import (
    Conditioning,
    Family,
    Inpaint,
    check_vae,
    crop_resolution,
    crop_step,
    encode_crops,
    family_of,
    guidance_notes,
    reads_guidance,
    repaint_family,
    with_guidance,
)
from .comfy_reference import (
    EditMode,
    check_editor,
    instruct_start,
    reference_notes,
)
from .guidance import ClipGuider

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
    """Checked sampler settings of a node (what KSampler takes, plus ``start`` and the FLUX
    guidance of guidance-distilled models: 0 = the family's default, FluxGuidance's value
    where the conditioning carries one)."""

    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    denoise: float
    start: MaskedStart
    flux_guidance: float = 0.0

    def __post_init__(self) -> None:
        check_choice(self.sampler_name, comfy.samplers.SAMPLER_NAMES, "sampler_name")
        check_choice(self.scheduler, comfy.samplers.SCHEDULER_NAMES, "scheduler")
        object.__setattr__(self, "start", MaskedStart.check(self.start, "masked_start"))
        if self.denoise <= 0.0:
            raise PinpointError("denoise is 0, so nothing would change", "raise denoise")
        if self.flux_guidance < 0.0:
            raise PinpointError(
                f"flux_guidance is {self.flux_guidance}", "use 0 (the model's default) or more"
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
    are sampled one at a time with the CLIP Guider's guider. A model that cannot repaint crops
    (a video model, an unknown family) or a VAE of another family is refused here, before any
    model runs; ``notes`` say what to change (cfg on a guidance-distilled model).

    ``mode`` instruct: each crop is the model's reference image (``comfy_reference.py``) and is
    sampled alone from its own latent, without a noise mask; the request settles the results
    (:attr:`settle`); a family without reference inputs is refused.
    """

    crops_per_call = CROPS_PER_CALL

    def __init__(
        self, model: Any, vae: Any, sampling: Sampling, clip: Any = None, mode: str = "inpaint"
    ):
        self.family: Family = repaint_family(model)
        self.mode = EditMode.check(mode, "mode")
        if self.mode == EditMode.INSTRUCT:
            check_editor(family_of(model)[0], self.family, model)
        check_vae(model, vae)
        self.model, self.vae, self.sampling, self.clip = model, vae, sampling, clip
        self.notes = guidance_notes(model, self.family, sampling.cfg, sampling.flux_guidance)
        self._encoded: dict[str, Conditioning] = {}

    @property
    def instruct(self) -> bool:
        """Whether each crop is handed to the model as its reference image."""
        return self.mode == EditMode.INSTRUCT

    @property
    def settle(self) -> SettleSettings:
        """How the request settles this sampler's crops (instruct mode: the editor's motion
        undone, the blend following the edit; otherwise not at all)."""
        return EDITOR_SETTLE if self.instruct else SettleSettings()

    @property
    def native_size(self) -> int:
        """The size the MODEL's family was trained at."""
        return crop_resolution(0, self.model)

    @property
    def multiple(self) -> int:
        """The family's latent step: crop sides are multiples of it."""
        return crop_step(self.model, self.vae)

    def crop_sizes(self) -> tuple[tuple[int, int], ...]:
        """Instruct mode: the sizes the family's editors prefer (Kontext's resolutions, about
        one megapixel for Qwen-Image-Edit); otherwise any aspect at the native size."""
        if self.instruct and self.family.reference_sizes is not None:
            return self.family.reference_sizes(self.multiple)
        return ()

    def check(self, layer: Layer) -> Layer:
        """Text prompts need a CLIP to encode them; a guidance decoder must decode this
        family's latents."""
        if isinstance(layer.prompt, str) or isinstance(layer.negative, str):
            check_clip(self.clip)
        if self.instruct:
            self.notes = tuple(
                dict.fromkeys((*self.notes, *reference_notes(self.family, layer.prompt)))
            )
        if layer.guided and layer.guidance.decoder is not None:  # type: ignore[union-attr]
            check_vae(self.model, layer.guidance.decoder, decoder=True)  # type: ignore[union-attr]
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
        joins = positive and negative and not any(batch.guides) and not self.instruct
        if len(batch) == 1 or joins:
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
        if reads_guidance(model, self.family):
            default = self.family.guidance
            positive = with_guidance(positive, sampling.flux_guidance, default)
            negative = with_guidance(negative, sampling.flux_guidance, default)
        if self.instruct:
            pos, neg, latent, noise_mask = instruct_start(self, batch, positive, negative)
        else:
            pos, neg, latent, noise_mask = _prepare(
                self.family, model, vae, positive, negative, batch.crops, batch.areas, sampling
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


def _mask_channels(family: Family, model: Any) -> bool:
    """True for models that take the masked crop and the mask as extra input channels: FLUX
    Fill, and SD-style inpainting checkpoints (ComfyUI's ``concat_keys`` hold ``mask``)."""
    return family.inpaint == Inpaint.MASK_CHANNELS or "mask" in model.model.concat_keys


def _prepare(
    family: Family,
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

    Models with mask channels get what ComfyUI's InpaintModelConditioning gives them (called
    here): the original latent and, in both conditionings, the crop with its masked area
    painted neutral grey plus the mask. Other models start from the grey crop (denoise 1, like
    VAE Encode for Inpaint) or the original (partial denoise, like Set Latent Noise Mask), as
    ``sampling.start`` says. The noise mask is ``[N, 1, h, w]`` (``[N, 1, 1, h, w]`` for 5-D
    latents).
    """
    if _mask_channels(family, model):
        stock = nodes.InpaintModelConditioning()
        positive, negative, latent = stock.encode(positive, negative, pixels, vae, area, True)
        samples, noise_mask = latent["samples"], latent["noise_mask"]
    else:
        start, keep = sampling.start, (1.0 - area.round())[..., None]
        if start == MaskedStart.GREY or (start == MaskedStart.AUTO and sampling.denoise >= 1.0):
            pixels = (pixels - 0.5) * keep + 0.5
        samples = encode_crops(vae, pixels)
        noise_mask = area.reshape(-1, 1, area.shape[-2], area.shape[-1])
    latent = comfy.sample.fix_empty_latent_channels(model, samples)
    if latent.dim() == 5:
        noise_mask = noise_mask.unsqueeze(2)
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
