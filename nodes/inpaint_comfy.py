"""Inpaint Region · ComfyUI model: the crop → sample → stitch loop (``pinpoint.repaint``) with the
user's own MODEL, VAE and conditionings, sampled through ComfyUI's sampling functions."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.guidance import GuidanceRecipe
from ..pinpoint.loading.models import ClipMatcher
from ..pinpoint.memory import metrics_bytes
from ..pinpoint.repaint import repaint, single_edit
from . import sockets
from ._common import comfy_progress, description, on_device, repainted
from .comfy_sampler import COMFY_CFG, ComfySampler, Sampling
from .inputs import (
    candidate_inputs,
    crop_inputs,
    harmonise_input,
    sampler_inputs,
    sampling_inputs,
)

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
        sampler = ComfySampler(
            model, vae, Sampling(steps, cfg, sampler_name, scheduler, denoise, masked_start)
        )
        request = single_edit(
            sampler,
            image,
            mask,
            positive,
            negative,
            text,
            guidance,
            seed=seed,
            context=context,
            resolution=resolution,
            feather_px=feather_px,
            split=split,
            harmonise=harmonise,
            candidates=candidates,
            clip=clip,
        )
        ranking = lambda: on_device(clip, metrics_bytes())  # noqa: E731
        return repainted(repaint(request, comfy_progress(), ranking), TITLE)
