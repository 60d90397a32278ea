"""Detect Objects: candidate boxes from an object detector, with a preview."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io, ui

from ..pinpoint.detect import CHUNK, detect_objects, parse_labels
from ..pinpoint.errors import reported_as
from ..pinpoint.images import check_image
from ..pinpoint.loading.models import Detector
from ..pinpoint.preview import draw_regions
from ..pinpoint.regions import IF_NOTHING_FOUND_CHOICES, RegionBatch, check_if_nothing_found
from . import sockets
from ._common import MB, comfy_progress, description
from .managed import managed

TITLE = "Detect Objects (Pinpoint)"

MB_PER_IMAGE = 192
"""Activation estimate per image of a forward chunk: detectors resize to about 800x1333, where a
ResNet-50 DETR needs well under 200 MB in fp32; at most ``CHUNK`` images run at once."""


class PinpointDetect(io.ComfyNode):
    """Finds candidate objects (boxes, labels, confidences) in every image of the batch."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointDetect",
            display_name=TITLE,
            category="pinpoint/detect",
            description=description(cls),
            inputs=[
                sockets.Detector.Input("detector", tooltip="From 'Load Detector (Pinpoint)'."),
                io.Image.Input("image", tooltip="Image batch to search, [B,H,W,3]."),
                io.Float.Input(
                    "threshold",
                    default=0.7,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Keep detections at least this confident; lower it if the object "
                    "is missed.",
                ),
                io.Int.Input(
                    "max_detections",
                    default=20,
                    min=1,
                    max=300,
                    step=1,
                    tooltip="At most this many candidates per image, most confident first.",
                ),
                io.String.Input(
                    "labels",
                    default="",
                    multiline=False,
                    placeholder="car, person (empty = every class)",
                    tooltip="Comma-separated class names to keep (the detector's own names); "
                    "empty keeps every class.",
                ),
                io.Combo.Input(
                    "if_nothing_found",
                    options=IF_NOTHING_FOUND_CHOICES,
                    default="error",
                    tooltip="error: stop with a message; empty mask: edit nothing in that image; "
                    "whole image: use the whole image as the only candidate.",
                ),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions",
                    tooltip="Candidate boxes per image, for 'Match Text to Regions'.",
                ),
                io.Image.Output(
                    display_name="preview",
                    tooltip="The image with every candidate box, label and confidence.",
                ),
            ],
        )

    @classmethod
    def execute(
        cls,
        detector: Detector,
        image: torch.Tensor,
        threshold: float,
        max_detections: int,
        labels: str,
        if_nothing_found: str,
    ) -> io.NodeOutput:
        check_image(image, TITLE)
        check_if_nothing_found(if_nothing_found, TITLE)  # before a model is moved to the GPU
        managed(detector).acquire(MB_PER_IMAGE * MB * min(int(image.shape[0]), CHUNK))
        with reported_as(TITLE):
            regions: RegionBatch = detect_objects(
                detector,
                image,
                threshold=threshold,
                max_detections=max_detections,
                labels=parse_labels(labels),
                if_nothing_found=if_nothing_found,
                progress=comfy_progress(int(image.shape[0])),
                where=TITLE,
            )
        preview = draw_regions(image, regions).to(mm.intermediate_device())
        return io.NodeOutput(regions, preview, ui=ui.PreviewImage(preview, cls=cls))
