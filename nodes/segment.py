"""Segment Image: every class a semantic-segmentation model sees becomes a masked region."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io, ui

from ..pinpoint.detect import check_labels, parse_labels
from ..pinpoint.errors import reported_as
from ..pinpoint.images import check_image
from ..pinpoint.loading.models import Segmenter
from ..pinpoint.preview import draw_regions
from ..pinpoint.regions import RegionBatch, check_if_nothing_found
from ..pinpoint.segments import CHUNK, segment_regions
from . import sockets
from ._common import MB, comfy_progress, description, if_nothing_found_input
from .managed import managed

TITLE = "Segment Image (Pinpoint)"

MB_PER_IMAGE = 512
"""Activation estimate per image of a forward chunk: Segformer-B5 at 640x640 concatenates four
768-channel maps at 160x160 in its decode head (about 320 MB in fp32); at most ``CHUNK`` images
run at once."""


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
                    default="",
                    multiline=False,
                    placeholder="car, person (empty = every class)",
                    tooltip="Comma-separated class names to keep (the segmenter's own names, "
                    "e.g. ADE20K's 'car', 'sky'); empty keeps every class.",
                ),
                io.Float.Input(
                    "min_area",
                    default=0.001,
                    min=0.0,
                    max=1.0,
                    step=0.001,
                    tooltip="Drop segments smaller than this fraction of the image "
                    "(0.001 = 0.1%); raise it to ignore specks.",
                ),
                io.Boolean.Input(
                    "split_instances",
                    default=False,
                    tooltip="On: one region per separate piece of a class (two cars apart "
                    "become two regions). Off: one region per class.",
                ),
                io.Int.Input(
                    "max_regions",
                    default=20,
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
    def execute(
        cls,
        segmenter: Segmenter,
        image: torch.Tensor,
        labels: str,
        min_area: float,
        split_instances: bool,
        max_regions: int,
        if_nothing_found: str,
    ) -> io.NodeOutput:
        check_image(image, TITLE)
        check_if_nothing_found(if_nothing_found, TITLE)  # before a model is moved to the GPU
        wanted = parse_labels(labels)
        check_labels(segmenter, wanted, TITLE, kind="segmenter")
        managed(segmenter).acquire(MB_PER_IMAGE * MB * min(int(image.shape[0]), CHUNK))
        with reported_as(TITLE):
            regions: RegionBatch = segment_regions(
                segmenter,
                image,
                labels=wanted,
                min_area=min_area,
                split_instances=split_instances,
                max_regions=max_regions,
                if_nothing_found=if_nothing_found,
                progress=comfy_progress(int(image.shape[0])),
                where=TITLE,
            )
        preview = draw_regions(image, regions).to(mm.intermediate_device())
        return io.NodeOutput(regions, preview, ui=ui.PreviewImage(preview, cls=cls))
