"""Loader nodes: a model folder (or SAM file) → a core model object on the offload device, managed
by ComfyUI. Each node is its kind's entry in ``pinpoint.loading.kinds`` plus a title."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import comfy.model_management as mm
from comfy_api.latest import io

from ..pinpoint.errors import PinpointError, reported_as
from ..pinpoint.loading import load_model
from ..pinpoint.loading.cache import folder_fingerprint
from ..pinpoint.loading.folders import find_model, list_installed
from ..pinpoint.loading.kinds import (
    CLIP,
    CLIPSEG,
    DETECTOR,
    DINO,
    INPAINT,
    MATTE,
    PERCEPTUAL,
    SAM,
    SAM_FOLDER,
    SEGMENTER,
    TEXT_SEGMENTER,
    ModelKind,
)
from ..pinpoint.loading.precision import Precision
from . import sockets
from ._common import description, model_dirs, precision_dtype
from .managed import managed

PRECISION_TOOLTIP = (
    "Weight precision. auto: fp32 on CPU, fp16 on a GPU that supports it. "
    "fp16/bf16 halve memory; use fp32 if results look broken."
)


class _ModelLoader(io.ComfyNode):
    """What every loader shares: a model combo and a precision combo, one output of the kind's
    socket. Each subclass names its kind, title and output, and declares a literal node id."""

    KIND: ClassVar[ModelKind]
    TITLE: ClassVar[str]
    OUTPUT: ClassVar[str]
    """The output's name."""
    OUTPUT_TOOLTIP: ClassVar[str]

    @classmethod
    def loader_schema(cls, node_id: str) -> io.Schema:
        kind = cls.KIND
        folders = " or ".join(f"models/{name}" for name in (kind.folder, *kind.extra_folders))
        what = "a checkpoint file in" if kind.suffixes else "a Hugging Face folder inside"
        return io.Schema(
            node_id=node_id,
            display_name=cls.TITLE,
            category="pinpoint/loaders",
            description=description(cls),
            inputs=[
                io.Combo.Input(
                    "model_name",
                    options=list_installed(model_dirs(kind), kind),
                    tooltip=f"Which {kind.title}: {what} {folders}, e.g. '{kind.example_dir}'.",
                ),
                io.Combo.Input(
                    "precision",
                    options=Precision.values(),
                    default=Precision.AUTO.value,
                    tooltip=PRECISION_TOOLTIP,
                ),
            ],
            outputs=[
                sockets.MODELS[kind.key].Output(display_name=cls.OUTPUT, tooltip=cls.OUTPUT_TOOLTIP)
            ],
        )

    @classmethod
    def execute(cls, model_name: str, precision: str) -> io.NodeOutput:
        with reported_as(cls.TITLE):
            path = find_model(model_name, model_dirs(cls.KIND), cls.KIND)
            dtype = precision_dtype(precision, mm.get_torch_device())
            model = load_model(cls.KIND, path, device=mm.unet_offload_device(), dtype=dtype)
        managed(model)  # ComfyUI moves it to the GPU only while a node uses it
        return io.NodeOutput(model)

    @classmethod
    def fingerprint_inputs(cls, model_name: str, precision: str) -> Any:
        """Re-run when the model's files change (a re-download), not only when inputs do."""
        try:
            path: Path = find_model(model_name, model_dirs(cls.KIND), cls.KIND)
        except PinpointError:
            return (model_name, precision)  # execute reports the missing model
        return (str(path), precision, folder_fingerprint(path, depth=2))


class PinpointLoadDetector(_ModelLoader):
    """Loads an object detector from models/pinpoint_detectors: closed-set (DETR, YOLOS, RT-DETR
    ...) or open-vocabulary (OWL-ViT, OWLv2, Grounding DINO)."""

    KIND, TITLE, OUTPUT = DETECTOR, "Load Detector (Pinpoint)", "detector"
    OUTPUT_TOOLTIP = (
        "The detector, for 'Detect Objects (Pinpoint)' (closed-set) or 'Detect by Text "
        "(Pinpoint)' (open-vocabulary)."
    )

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadDetector")


class PinpointLoadCLIP(_ModelLoader):
    """Loads a CLIP model (text and image towers) from models/pinpoint_clip."""

    KIND, TITLE, OUTPUT = CLIP, "Load CLIP Matcher (Pinpoint)", "clip"
    OUTPUT_TOOLTIP = "The CLIP matcher, for 'Match Text to Regions (Pinpoint)'."

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadCLIP")


class PinpointLoadInpaintPipeline(_ModelLoader):
    """Loads a diffusers inpainting pipeline of any family the diffusers route runs (SD 1.x/2.x,
    SDXL, SD 3.x, FLUX.1 Fill and Kontext, Chroma, Qwen-Image(-Edit), Z-Image) from
    models/pinpoint_inpaint or models/diffusers."""

    KIND, TITLE, OUTPUT = INPAINT, "Load Inpaint Pipeline (Pinpoint)", "pipe"
    OUTPUT_TOOLTIP = "The pipeline, for 'Inpaint Region · diffusers (Pinpoint)'."

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadInpaintPipeline")


class PinpointLoadDINO(_ModelLoader):
    """Loads a self-supervised ViT (DINO, DINOv2) from models/pinpoint_dino, whose attention
    gives anchor points."""

    KIND, TITLE, OUTPUT = DINO, "Load DINO (Pinpoint)", "dino"
    OUTPUT_TOOLTIP = "The DINO backbone, for 'Attention Anchors · DINO (Pinpoint)'."

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadDINO")


class PinpointLoadSegmenter(_ModelLoader):
    """Loads a semantic-segmentation model (Segformer, BEiT, DPT, UperNet ...) from
    models/pinpoint_segmenters."""

    KIND, TITLE, OUTPUT = SEGMENTER, "Load Segmenter (Pinpoint)", "segmenter"
    OUTPUT_TOOLTIP = "The segmenter, for 'Segment Image (Pinpoint)'."

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadSegmenter")


class PinpointLoadCLIPSeg(_ModelLoader):
    """Loads a CLIPSeg model (text → heatmap segmentation) from models/pinpoint_clipseg."""

    KIND, TITLE, OUTPUT = CLIPSEG, "Load CLIPSeg (Pinpoint)", "clipseg"
    OUTPUT_TOOLTIP = "The CLIPSeg model, for 'Text to Heatmap · CLIPSeg (Pinpoint)'."

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadCLIPSeg")


class PinpointLoadMatte(_ModelLoader):
    """Loads an image matting model (ViTMatte) from models/pinpoint_matting, which turns a
    mask's border into a soft alpha matte."""

    KIND, TITLE, OUTPUT = MATTE, "Load ViTMatte (Pinpoint)", "matte"
    OUTPUT_TOOLTIP = "The matting model, for 'Matte Edges (Pinpoint)'."

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadMatte")


class PinpointLoadSAM(_ModelLoader):
    """Loads an original Segment Anything checkpoint (sam_vit_b/l/h .pth) from models/sams, safely
    (tensors only, no pickled code)."""

    KIND, TITLE, OUTPUT = SAM, "Load SAM (Pinpoint)", "sam"
    OUTPUT_TOOLTIP = "The SAM model, for 'Refine with SAM (Pinpoint)'."

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadSAM")


class PinpointLoadSAMFolder(_ModelLoader):
    """Loads SAM 2 / 2.1, SAM-HQ or SAM in the transformers layout (a Hugging Face folder) from
    models/pinpoint_sam: another engine for 'Refine with SAM'."""

    KIND, TITLE, OUTPUT = SAM_FOLDER, "Load SAM 2 / SAM-HQ (Pinpoint)", "sam"
    OUTPUT_TOOLTIP = "The SAM model, for 'Refine with SAM (Pinpoint)'."

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadSAMFolder")


class PinpointLoadTextSegmenter(_ModelLoader):
    """Loads SAM 3 or Florence-2 (the transformers layout, a Hugging Face folder) from
    models/pinpoint_text_segmenters: models that find what a text names."""

    KIND, TITLE, OUTPUT = TEXT_SEGMENTER, "Load SAM 3 / Florence-2 (Pinpoint)", "segmenter"
    OUTPUT_TOOLTIP = "The text segmenter, for 'Segment by Text (Pinpoint)'."

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadTextSegmenter")


class PinpointLoadPerceptual(_ModelLoader):
    """Loads a perceptual network's weights file from models/pinpoint_perceptual: an LPIPS
    backbone (AlexNet, VGG16, SqueezeNet 1.1) or FID's Inception, recognised by its weights."""

    KIND, TITLE, OUTPUT = PERCEPTUAL, "Load Perceptual Network (Pinpoint)", "net"
    OUTPUT_TOOLTIP = "The network, for the LPIPS loss of 'CLIP Guider (Pinpoint)'."

    @classmethod
    def define_schema(cls) -> io.Schema:
        return cls.loader_schema(node_id="PinpointLoadPerceptual")
