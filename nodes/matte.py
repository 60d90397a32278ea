"""Matte Edges: a hard MASK's border turned into a soft alpha matte with ViTMatte."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.loading.models import VitMatte
from ..pinpoint.matte import MatteRequest, matte_edges
from ..pinpoint.memory import matte_bytes
from ..pinpoint.preview import overlay_mask
from . import sockets
from ._common import comfy_progress, description, on_device, with_preview
from .inputs import band_input

TITLE = "Matte Edges (Pinpoint)"


class PinpointMatteEdges(io.ComfyNode):
    """Turns a hard mask's border into an alpha matte with ViTMatte (hair, fur, soft edges):
    pixels band_px inside the edge stay 1, pixels band_px outside stay 0, and the band between
    takes ViTMatte's alpha. Wire the matte into 'Crop for Inpaint' with feather_px 0 to blend
    through it exactly."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointMatteEdges",
            display_name=TITLE,
            category="pinpoint/mask",
            description=description(cls),
            inputs=[
                sockets.Matte.Input("matte", tooltip="From 'Load ViTMatte (Pinpoint)'."),
                io.Image.Input("image", tooltip="The image(s) the mask was made on."),
                io.Mask.Input("mask", tooltip="The mask to soften (1 = the object), same size."),
                band_input(),
            ],
            outputs=[
                io.Mask.Output(
                    display_name="mask",
                    tooltip="[B,H,W] 0..1: the mask with ViTMatte's alpha in the band around "
                    "its edge, unchanged elsewhere.",
                ),
                io.Image.Output(
                    display_name="preview", tooltip="The matte tinted red over the image."
                ),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(
        cls, matte: VitMatte, image: torch.Tensor, mask: torch.Tensor, band_px: int
    ) -> io.NodeOutput:
        request = MatteRequest(matte, image, mask, band_px)
        on_device(matte, matte_bytes(request))
        out = matte_edges(request, comfy_progress())
        return with_preview(cls, overlay_mask(image.cpu(), out), out.to(mm.intermediate_device()))
