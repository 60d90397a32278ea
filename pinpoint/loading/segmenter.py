"""Load a transformers semantic-segmentation model (Segformer, BEiT, DPT, UperNet, ...) from a
local folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .cache import cached, model_key
from .checks import (
    WEIGHT_FILES,
    check_model_dir,
    load_failed,
    read_model_config,
    require_any,
    segmentation_model_types,
)
from .folders import SEGMENTER
from .models import Segmenter


def check_segmenter_dir(path: Path, where: str) -> dict[str, Any]:
    """Validate a segmentation-model folder without loading it; returns its parsed config.json.

    Raises:
        PinpointError: missing folder or files, malformed config, or not a semantic-segmentation
        model (an object detector or CLIP model is named with the folder it belongs in).
    """
    config = read_model_config(
        path,
        SEGMENTER,
        where,
        lambda kind: kind in segmentation_model_types(),
        pick="pick a folder with a semantic-segmentation model (Segformer, BEiT, DPT, UperNet, "
        "...); ",
    )
    require_any(path, WEIGHT_FILES, "weights", SEGMENTER, where)
    require_any(path, ["preprocessor_config.json"], "image processor config", SEGMENTER, where)
    return config


def load_segmenter(
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    where: str = "Load Segmenter",
) -> Segmenter:
    """Load a semantic-segmentation model and its image processor from a Hugging Face folder.

    Arguments:
        path: the model folder (config.json, model.safetensors, preprocessor_config.json), e.g.
            a download of nvidia/segformer-b0-finetuned-ade-512-512.
        device: where the weights go.
        dtype: the weights' floating dtype.
        where: the node title / stage used in error messages.

    Returns:
        a :class:`Segmenter` in eval mode with gradients off; the same object as an earlier call
        with the same unchanged folder, device and dtype while that object is still alive.

    Raises:
        PinpointError: the folder is missing, incomplete, not a segmentation model, or fails to
        load.
    """
    path = check_model_dir(path, SEGMENTER, where)
    check_segmenter_dir(path, where)
    key = model_key(SEGMENTER.key, path, device, dtype)
    return cached(key, lambda: _load(path, device, dtype, where))


def _load(path: Path, device: torch.device | str, dtype: torch.dtype, where: str) -> Segmenter:
    from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

    try:
        model = AutoModelForSemanticSegmentation.from_pretrained(path, local_files_only=True)
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    except Exception as err:
        raise load_failed(SEGMENTER, path, err, where) from err
    model.eval().requires_grad_(False)
    model.to(device=torch.device(device), dtype=dtype)
    return Segmenter(model=model, processor=processor, name=path.name, path=path)
