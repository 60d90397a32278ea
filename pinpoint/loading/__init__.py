"""Model loading from the folders a ComfyUI user has (Hugging Face / diffusers layouts, SAM files).

Importing this package is cheap: transformers, diffusers and segment_anything are imported inside
the loaders. Every load is offline (``local_files_only=True``) and validated first, so a wrong or
incomplete folder raises a :class:`~pinpoint.errors.PinpointError` that says what to download where.
"""

from __future__ import annotations

from .clip import load_clip
from .clipseg import load_clipseg
from .detector import load_detector
from .dino import load_dino
from .folders import (
    CLIP,
    CLIPSEG,
    DETECTOR,
    DINO,
    INPAINT,
    KINDS,
    SAM,
    SEGMENTER,
    ModelKind,
    default_search_dirs,
    find_model_dir,
    find_model_file,
    list_installed,
    list_model_dirs,
)
from .inpaint_pipe import load_inpaint_pipeline
from .models import (
    ClipMatcher,
    ClipSeg,
    Detector,
    Dino,
    InpaintPipe,
    SamModel,
    Segmenter,
    module_device,
    module_dtype,
)
from .sam import load_sam
from .segmenter import load_segmenter

__all__ = [
    "CLIP",
    "CLIPSEG",
    "DETECTOR",
    "DINO",
    "INPAINT",
    "KINDS",
    "SAM",
    "SEGMENTER",
    "ClipMatcher",
    "ClipSeg",
    "Detector",
    "Dino",
    "InpaintPipe",
    "ModelKind",
    "SamModel",
    "Segmenter",
    "default_search_dirs",
    "find_model_dir",
    "find_model_file",
    "list_installed",
    "list_model_dirs",
    "load_clip",
    "load_clipseg",
    "load_detector",
    "load_dino",
    "load_inpaint_pipeline",
    "load_sam",
    "load_segmenter",
    "module_device",
    "module_dtype",
]
