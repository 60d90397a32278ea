"""Inpaint Region · diffusers: the crop → sample → stitch loop (``pinpoint.repaint``) with a
diffusers inpainting pipeline."""

from __future__ import annotations

import dataclasses

import torch
from comfy_api.latest import io

from ..pinpoint.diffusers_families import SD_CFG
from ..pinpoint.diffusers_sampler import DiffusersSampler, Scheduler
from ..pinpoint.errors import reported_as
from ..pinpoint.guidance import GuidanceRecipe
from ..pinpoint.loading.models import ClipMatcher, InpaintPipe
from ..pinpoint.repaint import Layer, RepaintRequest, single_edit
from . import sockets
from ._common import description, on_device, repaint_on_node, repainted
from .guidance import comfy_decoder
from .inputs import (
    candidate_inputs,
    crop_inputs,
    guidance_input,
    harmonise_input,
    sampling_inputs,
)

TITLE = "Inpaint Region · diffusers (Pinpoint)"


class PinpointInpaintDiffusers(io.ComfyNode):
    """Regenerates only the masked area of each image from a prompt; pixels outside the
    (feathered) mask come back bit-identical."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointInpaintDiffusers",
            display_name=TITLE,
            category="pinpoint/inpaint",
            description=description(cls),
            inputs=[
                sockets.InpaintPipe.Input(
                    "pipe", tooltip="From 'Load Inpaint Pipeline (Pinpoint)'."
                ),
                io.Image.Input("image", tooltip="Image batch to edit, [B,H,W,3]."),
                io.String.Input(
                    "prompt",
                    default="",
                    multiline=True,
                    placeholder="a blue pickup truck",
                    tooltip="What the masked area should show.",
                ),
                io.String.Input(
                    "negative_prompt",
                    default=Layer.negative,
                    multiline=True,
                    placeholder="blurry, distorted",
                    tooltip="What to avoid; may be empty.",
                ),
                *sampling_inputs(cfg=SD_CFG),
                io.Float.Input(
                    "strength",
                    default=DiffusersSampler.strength,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="1 replaces the masked content; lower keeps more of the original.",
                ),
                *crop_inputs(resolution=RepaintRequest.resolution),
                io.Mask.Input(
                    "mask",
                    optional=True,
                    tooltip="Area to regenerate, [B,H,W], 1 = edit (e.g. from 'Regions to Mask'). "
                    "Not connected: the whole image (img2img: restyle it with Style Guidance and "
                    "a strength below 1).",
                ),
                io.Combo.Input(
                    "scheduler",
                    options=Scheduler.values(),
                    default=DiffusersSampler.scheduler.value,
                    optional=True,
                    tooltip="The sampler. The pipeline's own (SD 1.5 inpainting: PNDM) spends "
                    "one UNet call more than its steps; DDIM, Euler and DPM-Solver++ one per "
                    "step (DPM-Solver++ is good in 20 steps or fewer).",
                ),
                harmonise_input(),
                *candidate_inputs(),
                guidance_input(
                    "the guidance text",
                    " (not with a sampler guidance cannot read: choose DDIM, Euler or "
                    "DPM-Solver++)",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The edited images, [B,H,W,3]."),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(
        cls,
        pipe: InpaintPipe,
        image: torch.Tensor,
        prompt: str,
        negative_prompt: str,
        seed: int,
        steps: int,
        cfg: float,
        strength: float,
        mask: torch.Tensor | None = None,
        scheduler: str = DiffusersSampler.scheduler.value,
        candidates: int = 1,
        clip: ClipMatcher | None = None,
        guidance: GuidanceRecipe | None = None,
        **settings,
    ) -> io.NodeOutput:
        sampler = DiffusersSampler(pipe, steps, cfg, strength, scheduler)
        vae = guidance.decoder if guidance is not None else None
        if vae is not None:  # a ComfyUI VAE (TAESD): decodes the pipeline's scaled latents
            ratio = vae.downscale_ratio  # a video VAE's is a tuple or a function: not ours
            sampler.check_decoder(ratio if isinstance(ratio, int) else 0, vae.latent_channels)
            guidance = dataclasses.replace(guidance, decoder=comfy_decoder(vae, sampler.unscale))
        masks = torch.ones(image.shape[:3]) if mask is None else mask
        request = single_edit(
            sampler,
            image,
            masks,
            prompt,
            negative_prompt,
            guidance=guidance,
            seed=seed,
            candidates=candidates,
            clip=clip,
            **settings,
        )
        guiding = [guidance.clip, guidance.lpips_net, guidance.vgg_net, vae] if guidance else []
        on_device(pipe, sampler.activation_bytes(request), guiding if request.guided else [])
        return repainted(repaint_on_node(request), TITLE)
