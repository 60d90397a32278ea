"""Loader nodes: a model folder → a core model object on the offload device, managed by ComfyUI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import comfy.model_management as mm
from comfy_api.latest import io

from ..pinpoint.errors import PinpointError, reported_as
from ..pinpoint.loading import load_clip, load_detector, load_inpaint_pipeline
from ..pinpoint.loading.cache import folder_fingerprint
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


def _schema(node: type[_ModelLoader], node_id: str, output: io.Output) -> io.Schema:
    """The schema every loader shares: a model folder combo and a precision combo."""
    kind = node.KIND
    folders = " or ".join(f"models/{name}" for name in (kind.folder, *kind.extra_folders))
    return io.Schema(
        node_id=node_id,
        display_name=node.TITLE,
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


class _ModelLoader(io.ComfyNode):
    """What the three loaders share; each subclass declares its schema (a literal node_id)."""

    KIND: ClassVar[ModelKind]
    TITLE: ClassVar[str]
    LOAD: ClassVar[Callable[..., Any]]

    @classmethod
    def execute(cls, model_name: str, precision: str) -> io.NodeOutput:
        with reported_as(cls.TITLE):
            path = find_model_dir(model_name, model_dirs(cls.KIND), cls.KIND, cls.TITLE)
            dtype = precision_dtype(precision, mm.get_torch_device(), cls.TITLE)
            model = cls.LOAD(path, device=mm.unet_offload_device(), dtype=dtype, where=cls.TITLE)
        managed(model)  # ComfyUI moves it to the GPU only while a node uses it
        return io.NodeOutput(model)

    @classmethod
    def fingerprint_inputs(cls, model_name: str, precision: str) -> Any:
        """Re-run when the folder's files change (a re-download), not only when inputs do."""
        try:
            path = find_model_dir(model_name, model_dirs(cls.KIND), cls.KIND, cls.TITLE)
        except PinpointError:
            return (model_name, precision)  # execute reports the missing folder
        return (str(path), precision, folder_fingerprint(path, depth=2))


DETECTOR_TITLE = "Load Detector (Pinpoint)"


class PinpointLoadDetector(_ModelLoader):
    """Loads an object detector (DETR, YOLOS, RT-DETR ...) from models/pinpoint_detectors."""

    KIND, TITLE, LOAD = DETECTOR, DETECTOR_TITLE, staticmethod(load_detector)

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.Detector.Output(
            display_name="detector", tooltip="The detector, for 'Detect Objects (Pinpoint)'."
        )
        return _schema(cls, node_id="PinpointLoadDetector", output=output)


CLIP_TITLE = "Load CLIP Matcher (Pinpoint)"


class PinpointLoadCLIP(_ModelLoader):
    """Loads a CLIP model (text and image towers) from models/pinpoint_clip."""

    KIND, TITLE, LOAD = CLIP, CLIP_TITLE, staticmethod(load_clip)

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.ClipMatcher.Output(
            display_name="clip", tooltip="The CLIP matcher, for 'Match Text to Regions (Pinpoint)'."
        )
        return _schema(cls, node_id="PinpointLoadCLIP", output=output)


INPAINT_TITLE = "Load Inpaint Pipeline (Pinpoint)"


class PinpointLoadInpaintPipeline(_ModelLoader):
    """Loads a diffusers inpainting pipeline (SD 1.x/2.x/XL inpaint) from models/pinpoint_inpaint
    or models/diffusers."""

    KIND, TITLE, LOAD = INPAINT, INPAINT_TITLE, staticmethod(load_inpaint_pipeline)

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.InpaintPipe.Output(
            display_name="pipe",
            tooltip="The pipeline, for 'Inpaint Region · diffusers (Pinpoint)'.",
        )
        return _schema(cls, node_id="PinpointLoadInpaintPipeline", output=output)
