"""Crop for Inpaint → any sampler → Stitch: the masked areas at the model's size, pasted back."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io, ui

from ..pinpoint.crop import CropRequest, StitchPlan, crop_for_inpaint
from ..pinpoint.errors import reported_as
from ..pinpoint.preview import draw_crops
from ..pinpoint.stitch import stitch_crops
from . import sockets
from ._common import description, report_notes
from .comfy_families import check_vae, crop_resolution, crop_step
from .inputs import crop_inputs, harmonise_input

TITLE = "Crop for Inpaint (Pinpoint)"
STITCH_TITLE = "Stitch (Pinpoint)"


class PinpointCropForInpaint(io.ComfyNode):
    """Cuts a context window around each masked area at the sampler's size (aspect kept, sides
    multiples of the model's latent step: 8, 16 for FLUX and FLUX.2) for stock inpainting
    nodes; 'Stitch' pastes the result back so pixels outside the feathered mask stay
    bit-identical."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointCropForInpaint",
            display_name=TITLE,
            category="pinpoint/inpaint",
            description=description(cls),
            inputs=[
                io.Image.Input("image", tooltip="Image batch to edit, [B,H,W,3]."),
                io.Mask.Input(
                    "mask",
                    tooltip="Area to regenerate, [B,H,W], 1 = edit (e.g. from 'Refine with SAM' "
                    "or 'Match Text to Regions').",
                ),
                *crop_inputs(resolution=CropRequest.resolution),
                io.Model.Input(
                    "model",
                    optional=True,
                    tooltip="Optional: read for its native size (when resolution is 0) and its "
                    "latent step (crop sides are multiples of it); not connected: multiples of 8.",
                ),
                io.Vae.Input(
                    "vae",
                    optional=True,
                    tooltip="Optional: the VAE the crops go through, read for its latent step "
                    "when no MODEL is connected (checked against the MODEL's family when both "
                    "are).",
                ),
            ],
            outputs=[
                io.Image.Output(
                    display_name="image",
                    tooltip="The crops, [N,h,w,3], one per image (or masked area): feed VAE "
                    "Encode / InpaintModelConditioning.",
                ),
                io.Mask.Output(
                    display_name="mask",
                    tooltip="The area to regenerate in each crop, [N,h,w]: feed VAE Encode for "
                    "Inpaint / InpaintModelConditioning / Set Latent Noise Mask.",
                ),
                sockets.Stitch.Output(
                    display_name="stitch",
                    tooltip="Where each crop goes back: connect to 'Stitch (Pinpoint)'.",
                ),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(
        cls,
        image: torch.Tensor,
        mask: torch.Tensor,
        resolution: int,
        model=None,
        vae=None,
        **settings,
    ) -> io.NodeOutput:
        size = crop_resolution(resolution, model)
        if model is not None and vae is not None:
            check_vae(model, vae)
        step = crop_step(model, vae)
        request = CropRequest(image, mask, resolution=size, multiple=step, **settings)
        crops = crop_for_inpaint(request)
        device = mm.intermediate_device()
        shown = ui.PreviewImage(draw_crops(crops.plan).to(device), cls=cls).as_dict()
        return io.NodeOutput(
            crops.images.to(device),
            crops.masks.to(device),
            crops.plan,
            ui=shown | report_notes(crops.plan.notes, TITLE),
        )


class PinpointStitch(io.ComfyNode):
    """Pastes the sampled crops from 'Crop for Inpaint' back into the original images through
    the feathered mask; everything outside it stays bit-identical."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointStitch",
            display_name=STITCH_TITLE,
            category="pinpoint/inpaint",
            description=description(cls),
            inputs=[
                sockets.Stitch.Input("stitch", tooltip="From 'Crop for Inpaint (Pinpoint)'."),
                io.Image.Input(
                    "image",
                    tooltip="The sampled crops (VAE Decode after KSampler), [N,h,w,3], in the "
                    "order they came from the crop; any size with the crops' aspect.",
                ),
                harmonise_input(),
            ],
            outputs=[
                io.Image.Output(
                    display_name="image",
                    tooltip="The original images with the crops pasted back (with harmonise, "
                    "the node shows each image before | after).",
                )
            ],
        )

    @classmethod
    @reported_as(STITCH_TITLE)
    def execute(
        cls, stitch: StitchPlan, image: torch.Tensor, harmonise: float = 0.0
    ) -> io.NodeOutput:
        result = stitch_crops(stitch, image, harmonise)
        shown = report_notes(stitch.notes, STITCH_TITLE)
        if harmonise > 0:  # before | after, side by side
            before = stitch_crops(stitch, image)
            pairs = torch.cat([before, result], dim=2).to(mm.intermediate_device())
            shown |= ui.PreviewImage(pairs, cls=cls).as_dict()
        return io.NodeOutput(result.to(mm.intermediate_device()), ui=shown or None)
