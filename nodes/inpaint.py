"""Inpaint Region · diffusers: regenerate the masked area with a diffusers inpainting pipeline."""

from __future__ import annotations

import dataclasses

import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.guidance import GuidanceRecipe
from ..pinpoint.guided_scheduler import check_decoder
from ..pinpoint.images import as_mask_batch
from ..pinpoint.inpaint import InpaintRequest, Scheduler, inpaint_masked
from ..pinpoint.loading.models import ClipMatcher, InpaintPipe
from ..pinpoint.memory import inpaint_bytes
from ..pinpoint.pipeline import check_candidates
from . import sockets
from ._common import best_candidates, comfy_progress, description, on_device
from .guidance import comfy_decoder
from .inputs import candidate_inputs, crop_inputs, harmonise_input, sampling_inputs

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
                    default=InpaintRequest.negative_prompt,
                    multiline=True,
                    placeholder="blurry, distorted",
                    tooltip="What to avoid; may be empty.",
                ),
                *sampling_inputs(cfg=InpaintRequest.cfg),
                io.Float.Input(
                    "strength",
                    default=InpaintRequest.strength,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="1 replaces the masked content; lower keeps more of the original.",
                ),
                *crop_inputs(resolution=InpaintRequest.resolution),
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
                    default=InpaintRequest.scheduler.value,
                    optional=True,
                    tooltip="The sampler. The pipeline's own (SD 1.5 inpainting: PNDM) spends "
                    "one UNet call more than its steps; DDIM, Euler and DPM-Solver++ one per "
                    "step (DPM-Solver++ is good in 20 steps or fewer).",
                ),
                harmonise_input(),
                *candidate_inputs(),
                sockets.Guidance.Input(
                    "guidance",
                    optional=True,
                    tooltip="From 'CLIP Guidance' or 'Style Guidance (Pinpoint)': each crop is "
                    "sampled with CLIP steering its masked area towards the guidance text (not "
                    "with a sampler guidance cannot read: choose DDIM, Euler or DPM-Solver++).",
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
        mask: torch.Tensor | None = None,
        candidates: int = 1,
        clip: ClipMatcher | None = None,
        guidance: GuidanceRecipe | None = None,
        **settings,
    ) -> io.NodeOutput:
        count = check_candidates(candidates, clip=clip, ranked=True)
        masks = torch.ones(image.shape[:3]) if mask is None else as_mask_batch(mask, image)
        vae = guidance.decoder if guidance is not None else None
        if vae is not None:  # a ComfyUI VAE (TAESD): decodes the pipeline's scaled latents
            ratio = vae.downscale_ratio  # a video VAE's is a tuple or a function: not ours
            check_decoder(ratio if isinstance(ratio, int) else 0, vae.latent_channels, pipe.pipe)
            factor = float(pipe.pipe.vae.config.scaling_factor)
            decode = comfy_decoder(vae, lambda latent: latent / factor)
            guidance = dataclasses.replace(guidance, decoder=decode)
        request = InpaintRequest(
            pipe,
            image.repeat_interleave(count, dim=0),
            masks.repeat_interleave(count, dim=0),
            guidance=guidance,
            **settings,
        )
        guiding = [guidance.clip, guidance.lpips_net, guidance.vgg_net, vae] if guidance else []
        on_device(pipe, inpaint_bytes(request), guiding if request.guided else [])
        result = inpaint_masked(request, comfy_progress())
        return best_candidates(
            clip, image, masks, result.images, count, request.prompt, result.notes, TITLE
        )
