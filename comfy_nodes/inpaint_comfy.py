"""Inpaint Region · ComfyUI model: crop → encode → sample → decode → stitch with the user's own
MODEL, VAE and conditionings, through ComfyUI's sampling functions (no other node is called)."""

from __future__ import annotations

import comfy.model_management as mm
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
import node_helpers
import torch
from comfy_api.latest import io

from ..pinpoint.choices import Choice, check_choice
from ..pinpoint.crop import CropRequest, cut, plan_crops, stitch_crops
from ..pinpoint.errors import PinpointError, reported_as
from ..pinpoint.seeds import image_seed
from ._common import crop_resolution, description, report_notes
from .inputs import crop_inputs, sampling_inputs

TITLE = "Inpaint Region · ComfyUI model (Pinpoint)"

CFG = 7.0
"""The node's default guidance (ComfyUI's own sampling; no core request)."""
DENOISE = 1.0


class MaskedStart(Choice):
    """What a regular (non-inpainting) checkpoint starts from inside the mask."""

    AUTO = "auto"
    GREY = "neutral grey"
    ORIGINAL = "original pixels"


def _inpainting_model(model) -> bool:
    """True for models that take the masked image as an extra input (SD 1.5/SDXL inpainting)."""
    return len(getattr(model.model, "concat_keys", ())) > 0


def _prepare(model, vae, positive, negative, pixels, area, start, denoise):
    """Latent, noise mask and conditionings for one crop ``pixels`` ``[1, h, w, 3]`` whose area
    to regenerate is ``area`` ``[1, h, w]``.

    Inpainting models get the original latent and, in both conditionings, the crop with its
    masked area painted neutral grey plus the mask (what InpaintModelConditioning attaches).
    Other models start from the grey crop (denoise 1, like VAE Encode for Inpaint) or the
    original (partial denoise, like Set Latent Noise Mask), as ``start`` says.
    """
    keep = (1.0 - area.round())[..., None]
    grey = (pixels - 0.5) * keep + 0.5
    noise_mask = area.reshape(-1, 1, area.shape[-2], area.shape[-1])
    if _inpainting_model(model):
        extra = {"concat_latent_image": vae.encode(grey), "concat_mask": noise_mask}
        positive = node_helpers.conditioning_set_values(positive, extra)
        negative = node_helpers.conditioning_set_values(negative, extra)
        start_pixels = pixels
    elif start == MaskedStart.GREY or (start == MaskedStart.AUTO and denoise >= 1.0):
        start_pixels = grey
    else:
        start_pixels = pixels
    latent = comfy.sample.fix_empty_latent_channels(model, vae.encode(start_pixels))
    return positive, negative, latent, noise_mask


class _SamplingProgress:
    """One progress bar over every crop's steps, with the sampler's live preview and Cancel."""

    def __init__(self, model, total: int):
        self.total = max(1, total)
        self.bar = comfy.utils.ProgressBar(self.total)
        self.previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)

    def for_crop(self, done_before: int):
        def on_step(step: int, x0: torch.Tensor, x: torch.Tensor, total_steps: int) -> None:
            mm.throw_exception_if_processing_interrupted()
            preview = None
            if self.previewer is not None:
                preview = self.previewer.decode_latent_to_preview_image("JPEG", x0)
            self.bar.update_absolute(min(self.total, done_before + step + 1), self.total, preview)

        return on_step


class PinpointInpaintComfy(io.ComfyNode):
    """Regenerates only the masked area with your own checkpoint, conditionings and sampler:
    each masked area is cropped at the model's size, encoded, sampled, decoded and stitched
    back; pixels outside the feathered mask stay bit-identical."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointInpaintComfy",
            display_name=TITLE,
            category="pinpoint/inpaint",
            description=description(cls),
            inputs=[
                io.Model.Input(
                    "model",
                    tooltip="Any ComfyUI MODEL (LoRAs and patches applied); an inpainting "
                    "checkpoint also gets the masked image, as with InpaintModelConditioning.",
                ),
                io.Vae.Input("vae", tooltip="The VAE of the same model family."),
                io.Conditioning.Input(
                    "positive", tooltip="What the masked area should show (CLIP Text Encode)."
                ),
                io.Conditioning.Input("negative", tooltip="What to avoid (CLIP Text Encode)."),
                io.Image.Input("image", tooltip="Image batch to edit, [B,H,W,3]."),
                io.Mask.Input("mask", tooltip="Area to regenerate, [B,H,W], 1 = edit."),
                *sampling_inputs(cfg=CFG),
                io.Combo.Input(
                    "sampler_name",
                    options=comfy.samplers.SAMPLER_NAMES,
                    tooltip="The sampling algorithm, as in KSampler.",
                ),
                io.Combo.Input(
                    "scheduler",
                    options=comfy.samplers.SCHEDULER_NAMES,
                    tooltip="The noise schedule, as in KSampler.",
                ),
                io.Float.Input(
                    "denoise",
                    default=DENOISE,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="1 replaces the masked content; lower keeps more of the original.",
                ),
                io.Combo.Input(
                    "masked_start",
                    options=MaskedStart.values(),
                    default=MaskedStart.AUTO.value,
                    tooltip="What a regular checkpoint starts from inside the mask. auto: neutral "
                    "grey at denoise 1 (like VAE Encode for Inpaint), the original pixels below "
                    "1 (like Set Latent Noise Mask). Inpainting checkpoints always start from "
                    "the original and see the grey-masked crop (like InpaintModelConditioning).",
                ),
                *crop_inputs(resolution=0),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The edited images, [B,H,W,3].")
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(
        cls,
        model,
        vae,
        positive,
        negative,
        image: torch.Tensor,
        mask: torch.Tensor,
        seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        denoise: float,
        masked_start: str,
        context: float,
        resolution: int,
        feather_px: int,
        split: str,
    ) -> io.NodeOutput:
        check_choice(sampler_name, comfy.samplers.SAMPLER_NAMES, "sampler_name")
        check_choice(scheduler, comfy.samplers.SCHEDULER_NAMES, "scheduler")
        start = MaskedStart.check(masked_start, "masked_start")
        if denoise <= 0.0:
            raise PinpointError("denoise is 0, so nothing would change", "raise denoise")
        request = CropRequest(
            image,
            mask,
            context=context,
            resolution=crop_resolution(resolution, model),
            feather_px=feather_px,
            split=split,
            multiple=int(vae.spacial_compression_encode()),
        )
        plan = plan_crops(request, same_size=False)
        progress = _SamplingProgress(model, steps * len(plan.pieces))
        sampled = []
        for position, piece in enumerate(plan.pieces):
            crop, area = cut(plan, piece)
            pos, neg, latent, noise_mask = _prepare(
                model, vae, positive, negative, crop[None], area[None], start, denoise
            )
            piece_seed = image_seed(seed, piece.image_index)
            try:
                samples = comfy.sample.sample(
                    model,
                    comfy.sample.prepare_noise(latent, piece_seed),
                    steps,
                    cfg,
                    sampler_name,
                    scheduler,
                    pos,
                    neg,
                    latent,
                    denoise=denoise,
                    noise_mask=noise_mask,
                    callback=progress.for_crop(position * steps),
                    disable_pbar=True,
                    seed=piece_seed,
                )
            except torch.OutOfMemoryError:
                raise
            except RuntimeError as err:
                raise PinpointError(
                    f"sampling failed ({str(err).splitlines()[0]})",
                    "check that the MODEL, the VAE and the CLIP that encoded the conditionings "
                    "come from the same model family",
                ) from err
            decoded = vae.decode(samples)
            sampled.append(decoded.reshape(-1, *decoded.shape[-3:])[0])
        result = stitch_crops(plan, sampled)
        shown = report_notes(plan.notes, TITLE) or None
        return io.NodeOutput(result.to(mm.intermediate_device()), ui=shown)
