"""Model loading from the folders a ComfyUI user has (Hugging Face / diffusers layouts, SAM and
perceptual-network files).

Every kind is one entry of the table in :mod:`.kinds` (import the kinds from there, e.g.
``from pinpoint.loading.kinds import CLIP``); :func:`load_model` loads any of them.
Importing this package is cheap: transformers, diffusers and segment_anything are imported
inside the loaders. Every load is offline (``local_files_only=True``) and checked first, so a
wrong or incomplete folder raises a :class:`~pinpoint.errors.PinpointError` that says what to
download where.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .folders import default_search_dirs, find_model, list_installed
from .inpaint_pipe import load_inpaint_pipeline
from .model_kind import Format, ModelKind
from .models import (
    ClipMatcher,
    ClipSeg,
    Detector,
    Dino,
    InpaintPipe,
    PerceptualNet,
    SamFolder,
    SamModel,
    Segmenter,
    TextSegmenter,
    module_device,
    module_dtype,
)
from .perceptual_loader import load_perceptual
from .sam import load_sam
from .transformers_folder import load_transformers


def load_model(
    kind: ModelKind,
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Any:
    """Load the model of ``kind`` at ``path`` (a folder, or the file of a single-file kind).

    Args:
        device: where the weights go.
        dtype: the weights' floating dtype.

    Returns:
        a ``kind.result`` (:class:`Detector`, :class:`ClipMatcher`, ...) in eval mode with
        gradients off; the same object as an earlier call with the same unchanged files,
        device and dtype while that object is still alive.

    Raises:
        PinpointError: the model is missing, incomplete, of another kind, or fails to load.
    """
    if kind.format is Format.SAM_CHECKPOINT:
        return load_sam(path, device, dtype)
    if kind.format is Format.TORCH_WEIGHTS:
        return load_perceptual(path, device, dtype)
    if kind.format is Format.DIFFUSERS:
        return load_inpaint_pipeline(path, device, dtype)
    return load_transformers(kind, path, device, dtype)


__all__ = [
    "ClipMatcher",
    "ClipSeg",
    "Detector",
    "Dino",
    "InpaintPipe",
    "PerceptualNet",
    "SamFolder",
    "SamModel",
    "Segmenter",
    "TextSegmenter",
    "default_search_dirs",
    "find_model",
    "list_installed",
    "load_model",
    "module_device",
    "module_dtype",
]
