"""Inpaint Region · ComfyUI model: crop → encode → sample → decode → stitch with the user's own
MODEL, VAE and conditionings, through ComfyUI's sampling functions (no other node is called)."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pinpoint.crop import CropRequest, cut, plan_crops, stitch_crops
from ..pinpoint.errors import reported_as
from ..pinpoint.guidance import GuidanceRecipe
from ..pinpoint.harmonise import check_harmonise
from ..pinpoint.images import as_mask_batch, check_prompt
from ..pinpoint.loading.models import ClipMatcher
from ..pinpoint.pipeline import check_candidates
from ..pinpoint.seeds import image_seed
from . import sockets
from ._common import best_candidates, crop_resolution, description
from .inputs import (
    candidate_inputs,
    crop_inputs,
    harmonise_input,
    sampler_inputs,
    sampling_inputs,
)
from .sampling import COMFY_CFG, Sampling, SamplingProgress, sample_crops

TITLE = "Inpaint Region · ComfyUI model (Pinpoint)"


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
                *sampling_inputs(cfg=COMFY_CFG),
                *sampler_inputs(),
                *crop_inputs(resolution=0),
                harmonise_input(),
                *candidate_inputs(text=True),
                sockets.Guidance.Input(
                    "guidance",
                    optional=True,
                    tooltip="From 'CLIP Guidance' or 'Style Guidance (Pinpoint)': each crop is "
                    "sampled with CLIP steering its masked area towards the guidance text.",
                ),
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
        harmonise: float = 0.0,
        candidates: int = 1,
        clip: ClipMatcher | None = None,
        text: str = "",
        guidance: GuidanceRecipe | None = None,
    ) -> io.NodeOutput:
        count = check_candidates(candidates, clip=clip, ranked=True)
        harmonise = check_harmonise(harmonise)
        if count > 1:
            text = check_prompt(text, "text", "a blue pickup truck")
        sampling = Sampling(steps, cfg, sampler_name, scheduler, denoise, masked_start)
        masks = as_mask_batch(mask, image)
        request = CropRequest(
            image.repeat_interleave(count, dim=0),
            masks.repeat_interleave(count, dim=0),
            context=context,
            resolution=crop_resolution(resolution, model),
            feather_px=feather_px,
            split=split,
            multiple=int(vae.spacial_compression_encode()),
        )
        plan = plan_crops(request, same_size=False)
        progress = SamplingProgress(model, steps * len(plan.pieces))
        sampled = []
        for position, piece in enumerate(plan.pieces):
            crop, area = cut(plan, piece)
            decoded = sample_crops(
                model,
                vae,
                positive,
                negative,
                crop[None],
                area[None],
                [image_seed(seed, piece.image_index)],
                sampling,
                progress.for_pass(position * steps),
                guidance.for_crops(crop[None], area[None]) if guidance else None,
                guidance.decoder if guidance else None,
            )
            sampled.append(decoded[0])
        result = stitch_crops(plan, sampled, harmonise)
        return best_candidates(clip, image, masks, result, count, text, plan.notes, TITLE)
