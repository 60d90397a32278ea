"""Loader nodes: a model folder → a core model object on the offload device, managed by ComfyUI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import comfy.model_management as mm
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.loading import load_clip, load_detector, load_inpaint_pipeline
from ..pinpoint.loading.folders import (
    CLIP,
    DETECTOR,
    INPAINT,
    ModelKind,
    find_model_dir,
    list_model_dirs,
)
from . import sockets
from ._common import PRECISIONS, description, model_dirs, precision_dtype
from .managed import managed

PRECISION_TOOLTIP = (
    "Weight precision. auto: fp32 on CPU, fp16 on a GPU that supports it. "
    "fp16/bf16 halve memory; use fp32 if results look broken."
)


def _schema(
    node: type[io.ComfyNode], node_id: str, title: str, kind: ModelKind, output: io.Output
) -> io.Schema:
    """The schema every loader shares: a model folder combo and a precision combo."""
    folders = " or ".join(f"models/{name}" for name in (kind.folder, *kind.extra_folders))
    return io.Schema(
        node_id=node_id,
        display_name=title,
        category="pinpoint/loaders",
        description=description(node),
        inputs=[
            io.Combo.Input(
                "model_name",
                options=list_model_dirs(model_dirs(kind), kind),
                tooltip=f"Which {kind.title}: a Hugging Face folder inside {folders}, "
                f"e.g. '{kind.example_dir}'.",
            ),
            io.Combo.Input(
                "precision", options=PRECISIONS, default="auto", tooltip=PRECISION_TOOLTIP
            ),
        ],
        outputs=[output],
    )


def _load(
    kind: ModelKind, model_name: str, precision: str, load: Callable[..., Any], where: str
) -> io.NodeOutput:
    with reported_as(where):
        path = find_model_dir(model_name, model_dirs(kind), kind, where)
        dtype = precision_dtype(precision, mm.get_torch_device(), where)
        model = load(path, device=mm.unet_offload_device(), dtype=dtype, where=where)
    managed(model)  # ComfyUI moves it to the GPU only while a node uses it
    return io.NodeOutput(model)


DETECTOR_TITLE = "Load Detector (Pinpoint)"


class PinpointLoadDetector(io.ComfyNode):
    """Loads an object detector (DETR, YOLOS, RT-DETR ...) from models/pinpoint_detectors."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.Detector.Output(
            display_name="detector", tooltip="The detector, for 'Detect Objects (Pinpoint)'."
        )
        return _schema(
            cls, node_id="PinpointLoadDetector", title=DETECTOR_TITLE, kind=DETECTOR, output=output
        )

    @classmethod
    def execute(cls, model_name: str, precision: str) -> io.NodeOutput:
        return _load(DETECTOR, model_name, precision, load_detector, DETECTOR_TITLE)


CLIP_TITLE = "Load CLIP Matcher (Pinpoint)"


class PinpointLoadCLIP(io.ComfyNode):
    """Loads a CLIP model (text and image towers) from models/pinpoint_clip."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.ClipMatcher.Output(
            display_name="clip", tooltip="The CLIP matcher, for 'Match Text to Regions (Pinpoint)'."
        )
        return _schema(cls, node_id="PinpointLoadCLIP", title=CLIP_TITLE, kind=CLIP, output=output)

    @classmethod
    def execute(cls, model_name: str, precision: str) -> io.NodeOutput:
        return _load(CLIP, model_name, precision, load_clip, CLIP_TITLE)


INPAINT_TITLE = "Load Inpaint Pipeline (Pinpoint)"


class PinpointLoadInpaintPipeline(io.ComfyNode):
    """Loads a diffusers inpainting pipeline (SD 1.x/2.x/XL inpaint) from models/pinpoint_inpaint
    or models/diffusers."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.InpaintPipe.Output(
            display_name="pipe",
            tooltip="The pipeline, for 'Inpaint Region · diffusers (Pinpoint)'.",
        )
        return _schema(
            cls,
            node_id="PinpointLoadInpaintPipeline",
            title=INPAINT_TITLE,
            kind=INPAINT,
            output=output,
        )

    @classmethod
    def execute(cls, model_name: str, precision: str) -> io.NodeOutput:
        return _load(INPAINT, model_name, precision, load_inpaint_pipeline, INPAINT_TITLE)
