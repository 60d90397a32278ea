"""Working with other packs: any MASK becomes regions; regions become the Impact Pack's SEGS and
SEGS regions."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.interop import (
    MaskRegionsRequest,
    SegsRequest,
    mask_regions,
    regions_to_segs,
    segs_to_regions,
)
from ..pinpoint.preview import draw_regions
from ..pinpoint.regions import RegionBatch
from . import sockets
from ._common import description, with_preview
from .inputs import if_nothing_found_input

TITLE = "Mask to Regions (Pinpoint)"
TO_SEGS_TITLE = "Regions to SEGS (Pinpoint)"
FROM_SEGS_TITLE = "SEGS to Regions (Pinpoint)"

REGIONS_PREVIEW = "The image with every region tinted, its box and label."


class PinpointMaskToRegions(io.ComfyNode):
    """Turns any MASK (ComfyUI's SAM 3 node, another pack's segmenter, a painted mask) into
    candidate regions, one per separate piece, or one per mask when one image comes with
    several (instance masks), for Match, Select, SAM and the inpaint nodes."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointMaskToRegions",
            display_name=TITLE,
            category="pinpoint/detect",
            description=description(cls),
            inputs=[
                io.Image.Input("image", tooltip="The image the mask was made for, [B,H,W,3]."),
                io.Mask.Input(
                    "mask",
                    tooltip="[B,H,W], one per image (each separate piece becomes a region), or "
                    "[N,H,W] instance masks of one image (each mask becomes a region).",
                ),
                io.Float.Input(
                    "min_area",
                    default=MaskRegionsRequest.min_area,
                    min=0.0,
                    max=1.0,
                    step=0.001,
                    tooltip="Drop pieces smaller than this fraction of the image (0.001 = 0.1%).",
                ),
                io.Int.Input(
                    "max_regions",
                    default=MaskRegionsRequest.max_regions,
                    min=1,
                    max=300,
                    step=1,
                    tooltip="At most this many regions per image.",
                ),
                io.String.Input(
                    "label",
                    default=MaskRegionsRequest.label,
                    tooltip="The regions' label in tables and previews (what the mask shows).",
                ),
                if_nothing_found_input(),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions",
                    tooltip="One masked region per piece (or instance), for 'Match Text to "
                    "Regions' (crop 'masked'), 'Select Regions' or 'Refine with SAM'.",
                ),
                io.Image.Output(display_name="preview", tooltip=REGIONS_PREVIEW),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(cls, image: torch.Tensor, mask: torch.Tensor, **settings) -> io.NodeOutput:
        regions = mask_regions(MaskRegionsRequest(image, mask, **settings))
        return with_preview(cls, draw_regions(image, regions), regions)


class PinpointRegionsToSEGS(io.ComfyNode):
    """Hands regions of one image to the Impact Pack as SEGS (its Detailer, SEGS filters and
    pickers), each with its mask, box, label and score."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointRegionsToSEGS",
            display_name=TO_SEGS_TITLE,
            category="pinpoint/convert",
            description=description(cls),
            inputs=[
                sockets.Regions.Input(
                    "regions", tooltip="Regions of one image, e.g. from 'Match Text to Regions'."
                ),
                io.Float.Input(
                    "crop_factor",
                    default=SegsRequest.crop_factor,
                    min=1.0,
                    max=100.0,
                    step=0.1,
                    tooltip="Context around each box that a Detailer crops, as a multiple of "
                    "the box (the Impact Pack's detectors use 3).",
                ),
            ],
            outputs=[
                sockets.Segs.Output(
                    display_name="segs", tooltip="The regions as SEGS, for Impact Pack nodes."
                ),
            ],
        )

    @classmethod
    @reported_as(TO_SEGS_TITLE)
    def execute(cls, regions: RegionBatch, **settings) -> io.NodeOutput:
        return io.NodeOutput(regions_to_segs(SegsRequest(regions, **settings)))


class PinpointSEGSToRegions(io.ComfyNode):
    """Turns the Impact Pack's SEGS (its detectors, SAM and filters) into Pinpoint regions, so
    Match can choose among them by text."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointSEGSToRegions",
            display_name=FROM_SEGS_TITLE,
            category="pinpoint/convert",
            description=description(cls),
            inputs=[
                io.Image.Input("image", tooltip="The image the SEGS were made from (one)."),
                sockets.Segs.Input("segs", tooltip="SEGS from an Impact Pack node."),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions",
                    tooltip="One region per SEG (its mask, box, label, confidence), best first.",
                ),
                io.Image.Output(display_name="preview", tooltip=REGIONS_PREVIEW),
            ],
        )

    @classmethod
    @reported_as(FROM_SEGS_TITLE)
    def execute(cls, image: torch.Tensor, segs) -> io.NodeOutput:
        regions = segs_to_regions(segs, image)
        return with_preview(cls, draw_regions(image, regions), regions)
