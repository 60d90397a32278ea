"""Inpaint Region · diffusers: regenerate the masked area with a diffusers inpainting pipeline."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.inpaint import InpaintRequest, inpaint_masked
from ..pinpoint.loading.models import InpaintPipe
from ..pinpoint.memory import inpaint_bytes
from . import sockets
from ._common import comfy_progress, description, on_device, report_notes
from .inputs import crop_inputs, sampling_inputs

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
                io.Mask.Input(
                    "mask",
                    tooltip="Area to regenerate, [B,H,W], 1 = edit (e.g. from 'Regions to Mask').",
                ),
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
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The edited images, [B,H,W,3]."),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(
        cls, pipe: InpaintPipe, image: torch.Tensor, mask: torch.Tensor, **settings
    ) -> io.NodeOutput:
        request = InpaintRequest(pipe, image, mask, **settings)
        on_device(pipe, inpaint_bytes(request))
        result = inpaint_masked(request, comfy_progress())
        shown = report_notes(result.notes, TITLE) or None
        return io.NodeOutput(result.images.to(mm.intermediate_device()), ui=shown)
