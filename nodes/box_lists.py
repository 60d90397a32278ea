"""ComfyUI's own bounding boxes (RT-DETR, SAM 3 Detect, the box canvas) as regions, and regions
as boxes (for SAM 3 Detect, Crop Image, the compositing nodes). Listed only where ComfyUI has the
``BOUNDING_BOX`` type (``nodes/__init__.py``)."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pinpoint.box_lists import BoxesRequest, boxes_to_regions, first_box, regions_to_boxes
from ..pinpoint.errors import reported_as
from ..pinpoint.preview import draw_regions
from ..pinpoint.regions import RegionBatch
from . import sockets
from ._common import description, report_notes, with_preview
from .inputs import if_nothing_found_input
from .interop import REGIONS_PREVIEW

FROM_BOXES_TITLE = "Boxes to Regions (Pinpoint)"
TO_BOXES_TITLE = "Regions to Boxes (Pinpoint)"


class PinpointBoxesToRegions(io.ComfyNode):
    """Turns ComfyUI's bounding boxes (RT-DETR, SAM 3 Detect, the box canvas) into candidate
    regions with their labels and scores, so Match can choose one by text."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointBoxesToRegions",
            display_name=FROM_BOXES_TITLE,
            category="pinpoint/convert",
            description=description(cls),
            inputs=[
                io.Image.Input("image", tooltip="The image the boxes were found on, [B,H,W,3]."),
                io.BoundingBox.Input(
                    "bboxes",
                    force_input=True,
                    tooltip="Boxes from RT-DETR, SAM 3 Detect or the box canvas: a list per "
                    "image (one list, one box or a flat list: the same for every image).",
                ),
                io.String.Input(
                    "label",
                    default=BoxesRequest.label,
                    tooltip="The label of boxes that come without one (the canvas', SAM 3's).",
                ),
                if_nothing_found_input(),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions",
                    tooltip="One region per box (clipped to the image), best score first, for "
                    "'Match Text to Regions', 'Select Regions' or 'Refine with SAM'.",
                ),
                io.Image.Output(display_name="preview", tooltip=REGIONS_PREVIEW),
            ],
        )

    @classmethod
    @reported_as(FROM_BOXES_TITLE)
    def execute(cls, image: torch.Tensor, bboxes, **settings) -> io.NodeOutput:
        regions = boxes_to_regions(BoxesRequest(image, bboxes, **settings))
        return with_preview(cls, draw_regions(image, regions), regions)


class PinpointRegionsToBoxes(io.ComfyNode):
    """Hands regions (e.g. the candidate Match chose) to ComfyUI's box nodes: SAM 3 Detect
    segments inside them, Crop Image and the compositing nodes place by them."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointRegionsToBoxes",
            display_name=TO_BOXES_TITLE,
            category="pinpoint/convert",
            description=description(cls),
            inputs=[
                sockets.Regions.Input(
                    "regions", tooltip="Regions, e.g. the chosen ones of 'Match Text to Regions'."
                ),
            ],
            outputs=[
                io.BoundingBox.Output(
                    display_name="bboxes",
                    tooltip="Every region's box with its label and score, a list per image "
                    "(SAM 3 Detect's bboxes, Draw BBoxes, Layers From Bounding Boxes).",
                ),
                io.BoundingBox.Output(
                    display_name="box",
                    tooltip="The first region of the first image as one box, for Crop Image "
                    "(the whole image when it has no region).",
                ),
            ],
        )

    @classmethod
    @reported_as(TO_BOXES_TITLE)
    def execute(cls, regions: RegionBatch) -> io.NodeOutput:
        box, note = first_box(regions)
        shown = report_notes([note] if note else [], TO_BOXES_TITLE)
        return io.NodeOutput(regions_to_boxes(regions), box, ui=shown or None)
