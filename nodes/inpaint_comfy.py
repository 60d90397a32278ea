"""Inpaint Region · ComfyUI model: the crop → sample → stitch loop (``pinpoint.repaint``) with the
user's own MODEL, VAE and conditionings, sampled through ComfyUI's sampling functions."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.guidance import GuidanceRecipe
from ..pinpoint.loading.models import ClipMatcher
from ..pinpoint.repaint import single_edit
from ._common import description, repaint_on_node, repainted
from .comfy_reference import EditMode
from .comfy_sampler import COMFY_CFG, ComfySampler, Sampling
from .inputs import (
    candidate_inputs,
    crop_inputs,
    flux_guidance_input,
    guidance_input,
    harmonise_input,
    mode_input,
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
                    tooltip="A ComfyUI image MODEL of any family Pinpoint knows (SD, SDXL, SD3, "
                    "FLUX, FLUX.2, Qwen-Image, HiDream ...; LoRAs and patches applied); an "
                    "inpainting model (SD inpainting, FLUX Fill) also gets the masked image, as "
                    "with InpaintModelConditioning.",
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
                guidance_input("the guidance text"),
                flux_guidance_input(),
                mode_input(),
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
        candidates: int = 1,
        clip: ClipMatcher | None = None,
        text: str = "",
        guidance: GuidanceRecipe | None = None,
        flux_guidance: float = Sampling.flux_guidance,
        mode: str = EditMode.INPAINT.value,
        **settings,
    ) -> io.NodeOutput:
        sampling = Sampling(
            steps, cfg, sampler_name, scheduler, denoise, masked_start, flux_guidance
        )
        sampler = ComfySampler(model, vae, sampling, mode=mode)
        request = single_edit(
            sampler,
            image,
            mask,
            positive,
            negative,
            text,
            guidance,
            seed=seed,
            candidates=candidates,
            clip=clip,
            settle=sampler.settle,
            **settings,
        )
        return repainted(repaint_on_node(request), TITLE)
