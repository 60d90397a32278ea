"""Loader nodes: a model folder (or SAM file) → a core model object on the offload device, managed
by ComfyUI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import comfy.model_management as mm
from comfy_api.latest import io

from ..pinpoint.errors import PinpointError, reported_as
from ..pinpoint.loading.cache import folder_fingerprint
from ..pinpoint.loading.clip import load_clip
from ..pinpoint.loading.clipseg import load_clipseg
from ..pinpoint.loading.detector import load_detector
from ..pinpoint.loading.dino import load_dino
from ..pinpoint.loading.folders import (
    CLIP,
    CLIPSEG,
    DETECTOR,
    DINO,
    INPAINT,
    SAM,
    SEGMENTER,
    ModelKind,
    find_model_dir,
    find_model_file,
    list_installed,
)
from ..pinpoint.loading.inpaint_pipe import load_inpaint_pipeline
from ..pinpoint.loading.sam import load_sam
from ..pinpoint.loading.segmenter import load_segmenter
from . import sockets
from ._common import PRECISIONS, description, model_dirs, precision_dtype
from .managed import managed

PRECISION_TOOLTIP = (
    "Weight precision. auto: fp32 on CPU, fp16 on a GPU that supports it. "
    "fp16/bf16 halve memory; use fp32 if results look broken."
)


def _schema(node: type[_ModelLoader], node_id: str, output: io.Output) -> io.Schema:
    """The schema every loader shares: a model combo and a precision combo."""
    kind = node.KIND
    folders = " or ".join(f"models/{name}" for name in (kind.folder, *kind.extra_folders))
    what = "a checkpoint file in" if kind.suffixes else "a Hugging Face folder inside"
    return io.Schema(
        node_id=node_id,
        display_name=node.TITLE,
        category="pinpoint/loaders",
        description=description(node),
        inputs=[
            io.Combo.Input(
                "model_name",
                options=list_installed(model_dirs(kind), kind),
                tooltip=f"Which {kind.title}: {what} {folders}, e.g. '{kind.example_dir}'.",
            ),
            io.Combo.Input(
                "precision", options=PRECISIONS, default="auto", tooltip=PRECISION_TOOLTIP
            ),
        ],
        outputs=[output],
    )


class _ModelLoader(io.ComfyNode):
    """What every loader shares; each subclass declares its schema (a literal node_id)."""

    KIND: ClassVar[ModelKind]
    TITLE: ClassVar[str]
    LOAD: ClassVar[Callable[..., Any]]

    @classmethod
    def _find(cls, model_name: str) -> Path:
        find = find_model_file if cls.KIND.suffixes else find_model_dir
        return find(model_name, model_dirs(cls.KIND), cls.KIND, cls.TITLE)

    @classmethod
    def execute(cls, model_name: str, precision: str) -> io.NodeOutput:
        with reported_as(cls.TITLE):
            path = cls._find(model_name)
            dtype = precision_dtype(precision, mm.get_torch_device(), cls.TITLE)
            model = cls.LOAD(path, device=mm.unet_offload_device(), dtype=dtype, where=cls.TITLE)
        managed(model)  # ComfyUI moves it to the GPU only while a node uses it
        return io.NodeOutput(model)

    @classmethod
    def fingerprint_inputs(cls, model_name: str, precision: str) -> Any:
        """Re-run when the model's files change (a re-download), not only when inputs do."""
        try:
            path = cls._find(model_name)
        except PinpointError:
            return (model_name, precision)  # execute reports the missing model
        if path.is_file():
            stat = path.stat()
            return (str(path), precision, stat.st_mtime_ns, stat.st_size)
        return (str(path), precision, folder_fingerprint(path, depth=2))


DETECTOR_TITLE = "Load Detector (Pinpoint)"


class PinpointLoadDetector(_ModelLoader):
    """Loads an object detector from models/pinpoint_detectors: closed-set (DETR, YOLOS, RT-DETR
    ...) or open-vocabulary (OWL-ViT, OWLv2, Grounding DINO)."""

    KIND, TITLE, LOAD = DETECTOR, DETECTOR_TITLE, staticmethod(load_detector)

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.Detector.Output(
            display_name="detector",
            tooltip="The detector, for 'Detect Objects (Pinpoint)' (closed-set) or 'Detect by "
            "Text (Pinpoint)' (open-vocabulary).",
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


DINO_TITLE = "Load DINO (Pinpoint)"


class PinpointLoadDINO(_ModelLoader):
    """Loads a self-supervised ViT (DINO, DINOv2) from models/pinpoint_dino, whose attention
    gives anchor points."""

    KIND, TITLE, LOAD = DINO, DINO_TITLE, staticmethod(load_dino)

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.Dino.Output(
            display_name="dino",
            tooltip="The DINO backbone, for 'Attention Anchors · DINO (Pinpoint)'.",
        )
        return _schema(cls, node_id="PinpointLoadDINO", output=output)


SEGMENTER_TITLE = "Load Segmenter (Pinpoint)"


class PinpointLoadSegmenter(_ModelLoader):
    """Loads a semantic-segmentation model (Segformer, BEiT, DPT, UperNet ...) from
    models/pinpoint_segmenters."""

    KIND, TITLE, LOAD = SEGMENTER, SEGMENTER_TITLE, staticmethod(load_segmenter)

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.Segmenter.Output(
            display_name="segmenter", tooltip="The segmenter, for 'Segment Image (Pinpoint)'."
        )
        return _schema(cls, node_id="PinpointLoadSegmenter", output=output)


CLIPSEG_TITLE = "Load CLIPSeg (Pinpoint)"


class PinpointLoadCLIPSeg(_ModelLoader):
    """Loads a CLIPSeg model (text → heatmap segmentation) from models/pinpoint_clipseg."""

    KIND, TITLE, LOAD = CLIPSEG, CLIPSEG_TITLE, staticmethod(load_clipseg)

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.ClipSeg.Output(
            display_name="clipseg",
            tooltip="The CLIPSeg model, for 'Text to Heatmap · CLIPSeg (Pinpoint)'.",
        )
        return _schema(cls, node_id="PinpointLoadCLIPSeg", output=output)


SAM_TITLE = "Load SAM (Pinpoint)"


class PinpointLoadSAM(_ModelLoader):
    """Loads an original Segment Anything checkpoint (sam_vit_b/l/h .pth) from models/sams, safely
    (tensors only, no pickled code)."""

    KIND, TITLE, LOAD = SAM, SAM_TITLE, staticmethod(load_sam)

    @classmethod
    def define_schema(cls) -> io.Schema:
        output = sockets.Sam.Output(
            display_name="sam", tooltip="The SAM model, for 'Refine with SAM (Pinpoint)'."
        )
        return _schema(cls, node_id="PinpointLoadSAM", output=output)
