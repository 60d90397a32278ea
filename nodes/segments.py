"""Segment Image: every class a semantic-segmentation model sees becomes a masked region."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.loading.models import Segmenter
from ..pinpoint.memory import segment_bytes
from ..pinpoint.preview import draw_regions
from ..pinpoint.segments import SegmentRequest, segment_regions
from . import sockets
from ._common import comfy_progress, description, on_device, with_preview
from .inputs import if_nothing_found_input

TITLE = "Segment Image (Pinpoint)"


class PinpointSegment(io.ComfyNode):
    """Splits every image into the classes a segmentation model (Segformer ...) sees; each
    segment becomes a candidate region with its own mask, for 'Match Text to Regions'."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointSegment",
            display_name=TITLE,
            category="pinpoint/detect",
            description=description(cls),
            inputs=[
                sockets.Segmenter.Input("segmenter", tooltip="From 'Load Segmenter (Pinpoint)'."),
                io.Image.Input("image", tooltip="Image batch to segment, [B,H,W,3]."),
                io.String.Input(
                    "labels",
                    default=SegmentRequest.labels,
                    multiline=False,
                    placeholder="car, person (empty = every class)",
                    tooltip="Comma-separated class names to keep (the segmenter's own names, "
                    "e.g. ADE20K's 'car', 'sky'); empty keeps every class.",
                ),
                io.Float.Input(
                    "min_area",
                    default=SegmentRequest.min_area,
                    min=0.0,
                    max=1.0,
                    step=0.001,
                    tooltip="Drop segments smaller than this fraction of the image "
                    "(0.001 = 0.1%); raise it to ignore specks.",
                ),
                io.Boolean.Input(
                    "split_instances",
                    default=SegmentRequest.split_instances,
                    tooltip="On: one region per separate piece of a class (two cars apart "
                    "become two regions). Off: one region per class.",
                ),
                io.Int.Input(
                    "max_regions",
                    default=SegmentRequest.max_regions,
                    min=1,
                    max=300,
                    step=1,
                    tooltip="At most this many regions per image, most confident first.",
                ),
                if_nothing_found_input(),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions",
                    tooltip="One masked region per segment, for 'Match Text to Regions' (set its "
                    "crop to 'masked').",
                ),
                io.Image.Output(
                    display_name="preview",
                    tooltip="The image with every segment tinted, its box, class and confidence.",
                ),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(cls, segmenter: Segmenter, image: torch.Tensor, **settings) -> io.NodeOutput:
        request = SegmentRequest(segmenter, image, **settings)
        on_device(segmenter, segment_bytes(request))
        regions = segment_regions(request, comfy_progress())
        return with_preview(cls, draw_regions(image, regions), regions)
