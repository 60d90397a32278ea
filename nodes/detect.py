"""Detect: candidate boxes from an object detector (its own classes, or text queries), with a
preview."""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..pinpoint.detect import DetectRequest, TextDetectRequest, detect_by_text, detect_objects
from ..pinpoint.errors import reported_as
from ..pinpoint.loading.models import Detector
from ..pinpoint.memory import detect_bytes
from ..pinpoint.preview import draw_regions
from . import sockets
from ._common import comfy_progress, description, on_device, with_preview
from .inputs import (
    if_nothing_found_input,
    labels_input,
    max_detections_input,
    threshold_input,
)

TITLE = "Detect Objects (Pinpoint)"
TEXT_TITLE = "Detect by Text (Pinpoint)"


def _detector_and_image(detector_tooltip: str) -> list[io.Input]:
    return [
        sockets.Detector.Input("detector", tooltip=detector_tooltip),
        io.Image.Input("image", tooltip="Image batch to search, [B,H,W,3]."),
    ]


def _outputs(regions_tooltip: str) -> list[io.Output]:
    return [
        sockets.Regions.Output(display_name="regions", tooltip=regions_tooltip),
        io.Image.Output(
            display_name="preview",
            tooltip="The image with every candidate box, label and confidence.",
        ),
    ]


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
                *_detector_and_image(
                    "A closed-set detector (DETR, YOLOS, RT-DETR ...) from 'Load Detector "
                    "(Pinpoint)'."
                ),
                threshold_input(
                    DetectRequest.threshold,
                    "Keep detections at least this confident; lower it if the object is missed.",
                ),
                max_detections_input(),
                labels_input(),
                if_nothing_found_input(),
            ],
            outputs=_outputs("Candidate boxes per image, for 'Match Text to Regions'."),
        )

    @classmethod
    @reported_as(TITLE)
    def execute(cls, detector: Detector, image: torch.Tensor, **settings) -> io.NodeOutput:
        request = DetectRequest(detector, image, **settings)
        on_device(detector, detect_bytes(request))
        regions = detect_objects(request, comfy_progress())
        return with_preview(cls, draw_regions(image, regions), regions)


class PinpointDetectByText(io.ComfyNode):
    """Finds what the text queries describe (boxes labelled with their query) with an
    open-vocabulary detector such as OWLv2, OWL-ViT or Grounding DINO."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointDetectByText",
            display_name=TEXT_TITLE,
            category="pinpoint/detect",
            description=description(cls),
            inputs=[
                *_detector_and_image(
                    "An open-vocabulary detector (OWL-ViT, OWLv2, Grounding DINO) from "
                    "'Load Detector (Pinpoint)'."
                ),
                io.String.Input(
                    "queries",
                    default="",
                    multiline=True,
                    placeholder="a red car, a dog",
                    tooltip="What to find. A comma or a new line ends a query: 'a red car, a "
                    "dog' is two queries. Each box is labelled with the query it matches best. "
                    "Grounding DINO: no '.' inside a query.",
                ),
                threshold_input(
                    TextDetectRequest.threshold,
                    "Keep boxes whose best query scores at least this. Open-vocabulary scores "
                    "are low (a good OWLv2 match is often 0.2-0.5); lower it if the object is "
                    "missed.",
                ),
                max_detections_input(),
                if_nothing_found_input(),
            ],
            outputs=_outputs(
                "Boxes per image labelled with their query, for 'Match Text to Regions' or a "
                "mask node."
            ),
        )

    @classmethod
    @reported_as(TEXT_TITLE)
    def execute(cls, detector: Detector, image: torch.Tensor, **settings) -> io.NodeOutput:
        request = TextDetectRequest(detector, image, **settings)
        on_device(detector, detect_bytes(request))
        regions = detect_by_text(request, comfy_progress())
        return with_preview(cls, draw_regions(image, regions), regions)
