"""Model loading from the folders a ComfyUI user has (Hugging Face / diffusers layouts).

Importing this package is cheap: transformers and diffusers are imported inside the loaders.
Every load is offline (``local_files_only=True``) and validated first, so a wrong or incomplete
folder raises a :class:`~pinpoint.errors.PinpointError` that says what to download where.
"""

from __future__ import annotations

from .clip import load_clip
from .detector import load_detector
from .folders import (
    CLIP,
    DETECTOR,
    INPAINT,
    KINDS,
    ModelKind,
    default_search_dirs,
    find_model_dir,
    list_model_dirs,
)
from .inpaint_pipe import load_inpaint_pipeline
from .models import ClipMatcher, Detector, InpaintPipe, module_device, module_dtype

__all__ = [
    "CLIP",
    "DETECTOR",
    "INPAINT",
    "KINDS",
    "ClipMatcher",
    "Detector",
    "InpaintPipe",
    "ModelKind",
    "default_search_dirs",
    "find_model_dir",
    "list_model_dirs",
    "load_clip",
    "load_detector",
    "load_inpaint_pipeline",
    "module_device",
    "module_dtype",
]
