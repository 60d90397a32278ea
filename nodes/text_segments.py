"""Segment by Text: what a text names becomes regions with SAM 3 (every instance, with masks)
or Florence-2 (a referring expression's outline, or a caption's phrases as boxes)."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.loading.models import TextSegmenter
from ..pinpoint.memory import text_segment_bytes
from ..pinpoint.preview import draw_regions
from ..pinpoint.text_segments import FlorenceTask, TextSegmentRequest, segment_by_text
from . import sockets
from ._common import comfy_progress, description, on_device, with_preview
from .inputs import if_nothing_found_input, threshold_input

TITLE = "Segment by Text (Pinpoint)"


class PinpointSegmentByText(io.ComfyNode):
    """Finds what the text names with SAM 3 (every instance, each with its mask and score) or
    Florence-2 (the outline of a referring expression, or boxes for a caption's phrases); each
    result becomes a candidate region."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointSegmentByText",
            display_name=TITLE,
            category="pinpoint/detect",
            description=description(cls),
            inputs=[
                sockets.TextSegmenter.Input(
                    "segmenter",
                    tooltip="SAM 3 or Florence-2 from 'Load SAM 3 / Florence-2 (Pinpoint)'.",
                ),
                io.Image.Input("image", tooltip="Image batch to search, [B,H,W,3]."),
                io.String.Input(
                    "text",
                    default="",
                    multiline=True,
                    placeholder="cat",
                    tooltip="What to find; a comma or a new line starts another query. SAM 3: "
                    "a short noun phrase ('cat', 'red car'), every instance is found. "
                    "Florence-2: a referring expression ('the man in the red shirt').",
                ),
                threshold_input(
                    TextSegmentRequest.threshold,
                    "SAM 3 only: keep instances scoring at least this (its confidence times "
                    "how sure it is the text is in the image); lower it if one is missed.",
                ),
                io.Int.Input(
                    "max_regions",
                    default=TextSegmentRequest.max_regions,
                    min=1,
                    max=300,
                    step=1,
                    tooltip="At most this many regions per image, highest scores first.",
                ),
                io.Combo.Input(
                    "florence_task",
                    options=FlorenceTask.values(),
                    default=TextSegmentRequest.florence_task.value,
                    tooltip="Florence-2 only. referring segmentation: the outline of what the "
                    "text describes (a mask). phrase grounding: a box for each phrase of the "
                    "text it finds (refine the boxes with SAM).",
                ),
                if_nothing_found_input(),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions",
                    tooltip="One region per instance (SAM 3) or answer (Florence-2), labelled "
                    "with its query, for 'Match Text to Regions' or 'Regions to Mask'.",
                ),
                io.Image.Output(
                    display_name="preview",
                    tooltip="The image with every region tinted, its box, query and score.",
                ),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(cls, segmenter: TextSegmenter, image: torch.Tensor, **settings) -> io.NodeOutput:
        request = TextSegmentRequest(segmenter, image, **settings)
        on_device(segmenter, text_segment_bytes(request))
        regions = segment_by_text(request, comfy_progress())
        return with_preview(cls, draw_regions(image, regions), regions)
