"""Detect: candidate boxes from an object detector (its own classes, or text queries), with a
preview."""

from __future__ import annotations

from collections.abc import Callable

import comfy.model_management as mm
import torch
from comfy_api.latest import io, ui

from ..pinpoint.detect import (
    CHUNK,
    check_detector_route,
    check_queries,
    detect_by_text,
    detect_objects,
    parse_labels,
    parse_queries,
)
from ..pinpoint.errors import reported_as
from ..pinpoint.images import check_image
from ..pinpoint.loading.models import Detector
from ..pinpoint.preview import draw_regions
from ..pinpoint.progress import Progress
from ..pinpoint.regions import RegionBatch, check_if_nothing_found
from . import sockets
from ._common import MB, comfy_progress, description, if_nothing_found_input
from .managed import managed

TITLE = "Detect Objects (Pinpoint)"
TEXT_TITLE = "Detect by Text (Pinpoint)"

MB_PER_IMAGE = 192
"""Activation estimate per image of a forward chunk: detectors resize to about 800x1333, where a
ResNet-50 DETR needs well under 200 MB in fp32; at most ``CHUNK`` images run at once."""

MB_PER_TEXT_IMAGE = 1024
"""The same for open-vocabulary detectors: OWLv2 runs a ViT-B/16 on 960x960 (3600 patches, every
query per image) and Grounding DINO a Swin-T at 800x1333 with a text tower, about 1 GB in fp32."""


def _detector_and_image(detector_tooltip: str) -> list[io.Input]:
    return [
        sockets.Detector.Input("detector", tooltip=detector_tooltip),
        io.Image.Input("image", tooltip="Image batch to search, [B,H,W,3]."),
    ]


def _threshold(default: float, tooltip: str) -> io.Float.Input:
    return io.Float.Input(
        "threshold", default=default, min=0.0, max=1.0, step=0.01, tooltip=tooltip
    )


def _max_detections() -> io.Int.Input:
    return io.Int.Input(
        "max_detections",
        default=20,
        min=1,
        max=300,
        step=1,
        tooltip="At most this many candidates per image, most confident first.",
    )


def _outputs(regions_tooltip: str) -> list[io.Output]:
    return [
        sockets.Regions.Output(display_name="regions", tooltip=regions_tooltip),
        io.Image.Output(
            display_name="preview",
            tooltip="The image with every candidate box, label and confidence.",
        ),
    ]


def _run(
    node: type[io.ComfyNode],
    title: str,
    detector: Detector,
    image: torch.Tensor,
    if_nothing_found: str,
    open_vocabulary: bool,
    find: Callable[[Progress], RegionBatch],
    check: Callable[[], object] = lambda: None,
) -> io.NodeOutput:
    """Check the inputs (``check``: the node's own checks), move the detector to the GPU, run
    ``find`` and draw the preview."""
    check_image(image, title)
    check_if_nothing_found(if_nothing_found, title)  # before a model is moved to the GPU
    check_detector_route(detector, open_vocabulary, title)
    check()
    per_image = MB_PER_TEXT_IMAGE if open_vocabulary else MB_PER_IMAGE
    managed(detector).acquire(per_image * MB * min(int(image.shape[0]), CHUNK))
    with reported_as(title):
        regions = find(comfy_progress(int(image.shape[0])))
    preview = draw_regions(image, regions).to(mm.intermediate_device())
    return io.NodeOutput(regions, preview, ui=ui.PreviewImage(preview, cls=node))


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
                _threshold(
                    0.7,
                    "Keep detections at least this confident; lower it if the object is missed.",
                ),
                _max_detections(),
                io.String.Input(
                    "labels",
                    default="",
                    multiline=False,
                    placeholder="car, person (empty = every class)",
                    tooltip="Comma-separated class names to keep (the detector's own names); "
                    "empty keeps every class.",
                ),
                if_nothing_found_input(),
            ],
            outputs=_outputs("Candidate boxes per image, for 'Match Text to Regions'."),
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
        def find(progress: Progress) -> RegionBatch:
            return detect_objects(
                detector,
                image,
                threshold=threshold,
                max_detections=max_detections,
                labels=parse_labels(labels),
                if_nothing_found=if_nothing_found,
                progress=progress,
                where=TITLE,
            )

        return _run(cls, TITLE, detector, image, if_nothing_found, False, find)


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
                _threshold(
                    0.1,
                    "Keep boxes whose best query scores at least this. Open-vocabulary scores "
                    "are low (a good OWLv2 match is often 0.2-0.5); lower it if the object is "
                    "missed.",
                ),
                _max_detections(),
                if_nothing_found_input(),
            ],
            outputs=_outputs(
                "Boxes per image labelled with their query, for 'Match Text to Regions' or a "
                "mask node."
            ),
        )

    @classmethod
    def execute(
        cls,
        detector: Detector,
        image: torch.Tensor,
        queries: str,
        threshold: float,
        max_detections: int,
        if_nothing_found: str,
    ) -> io.NodeOutput:
        texts = parse_queries(queries)

        def find(progress: Progress) -> RegionBatch:
            return detect_by_text(
                detector,
                image,
                texts,
                threshold=threshold,
                max_detections=max_detections,
                if_nothing_found=if_nothing_found,
                progress=progress,
                where=TEXT_TITLE,
            )

        def check() -> object:
            return check_queries(detector, texts, TEXT_TITLE)

        return _run(cls, TEXT_TITLE, detector, image, if_nothing_found, True, find, check)
