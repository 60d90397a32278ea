"""Refine with SAM: pixel masks for regions from Segment Anything, with a preview."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.loading.models import SamModel
from ..pinpoint.masks import regions_to_mask
from ..pinpoint.memory import refine_bytes
from ..pinpoint.preview import draw_regions
from ..pinpoint.refine import POINTS_EXAMPLE, RefineRequest, refine_with_sam
from ..pinpoint.regions import RegionBatch
from . import sockets
from ._common import comfy_progress, description, on_device, with_preview

TITLE = "Refine with SAM (Pinpoint)"


class PinpointRefineSAM(io.ComfyNode):
    """Turns boxes into pixel masks with Segment Anything: one image embedding per image, every
    box of that image decoded against it. Optional clicks (points) sharpen the boxes that
    contain them; without regions, the points alone are segmented."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointRefineSAM",
            display_name=TITLE,
            category="pinpoint/refine",
            description=description(cls),
            inputs=[
                sockets.Sam.Input("sam", tooltip="From 'Load SAM (Pinpoint)'."),
                io.Image.Input(
                    "image", tooltip="The same IMAGE the regions were found on, [B,H,W,3]."
                ),
                sockets.Regions.Input(
                    "regions",
                    tooltip="Boxes to refine, e.g. from 'Detect Objects' or 'Match Text to "
                    "Regions'; each box is SAM's prompt (an existing mask is replaced).",
                ),
                io.Boolean.Input(
                    "multimask",
                    default=RefineRequest.multimask,
                    tooltip="On: SAM proposes three masks per box and the one it rates best "
                    "(highest predicted IoU) is kept. Off: one mask per box.",
                ),
                io.String.Input(
                    "points",
                    default=RefineRequest.points,
                    multiline=False,
                    placeholder="x,y; x,y,0",
                    tooltip="Optional clicks in pixels, separated by ';': 'x,y' on the object, "
                    f"'x,y,0' on background, e.g. '{POINTS_EXAMPLE}'. A point joins every box "
                    "that contains it, in every image of the batch.",
                ),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions",
                    tooltip="The regions with SAM masks, boxes tightened to the masks.",
                ),
                io.Mask.Output(
                    display_name="mask",
                    tooltip="[B,H,W] union of each image's SAM masks, 1 = object.",
                ),
                io.Image.Output(
                    display_name="preview",
                    tooltip="The image with the masks tinted, boxes and predicted IoU.",
                ),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(
        cls, sam: SamModel, image: torch.Tensor, regions: RegionBatch, **settings
    ) -> io.NodeOutput:
        request = RefineRequest(sam, image, regions, **settings)
        on_device(sam, refine_bytes(request))
        refined = refine_with_sam(request, comfy_progress())
        mask = regions_to_mask(refined).to(mm.intermediate_device())
        return with_preview(cls, draw_regions(image, refined), refined, mask)
