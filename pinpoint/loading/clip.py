"""Load a transformers CLIP model (text and image towers) and its processor from a local folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError
from .cache import cached, model_key
from .checks import (
    WEIGHT_FILES,
    check_model_dir,
    load_failed,
    read_model_config,
    redownload_fix,
    require_any,
    require_tokenizer,
)
from .folders import CLIP
from .models import ClipMatcher


def check_clip_dir(path: Path, where: str) -> dict[str, Any]:
    """Validate a CLIP folder without loading it; returns its parsed config.json.

    Raises:
        PinpointError: missing folder or files, malformed config, or not a full CLIP model
        (``clip_vision_model`` checkpoints from ComfyUI's clip_vision folder lack the text tower).
    """
    config = read_model_config(
        path,
        CLIP,
        where,
        lambda kind: kind == "clip",
        requirement=" (config.json model_type must be 'clip')",
        pick="pick a folder with a full CLIP model (text and image towers); ",
    )
    require_any(path, WEIGHT_FILES, "weights", CLIP, where)
    require_any(
        path,
        ["preprocessor_config.json", "processor_config.json"],
        "image processor config",
        CLIP,
        where,
    )
    require_tokenizer(path, CLIP, where)
    return config


def load_clip(
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    where: str = "Load CLIP",
) -> ClipMatcher:
    """Load a ``CLIPModel`` and its ``CLIPProcessor`` from a Hugging Face folder.

    Arguments:
        path: the model folder (config.json, weights, preprocessor_config.json, tokenizer files).
        device: where the weights go.
        dtype: the weights' floating dtype.
        where: the node title / stage used in error messages.

    Returns:
        a :class:`ClipMatcher` in eval mode with gradients off, shared with earlier calls for the
        same unchanged folder, device and dtype while that object is alive.

    Raises:
        PinpointError: the folder is missing, incomplete, not CLIP, or fails to load.
    """
    path = check_model_dir(path, CLIP, where)
    check_clip_dir(path, where)
    key = model_key(CLIP.key, path, device, dtype)
    return cached(key, lambda: _load(path, device, dtype, where))


def _load(path: Path, device: torch.device | str, dtype: torch.dtype, where: str) -> ClipMatcher:
    from transformers import AutoProcessor, CLIPModel

    try:
        model = CLIPModel.from_pretrained(path, local_files_only=True)
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    except Exception as err:
        raise load_failed(CLIP, path, err, where) from err
    if not (hasattr(processor, "tokenizer") and hasattr(processor, "image_processor")):
        raise PinpointError(
            where,
            f"'{path.name}' loads a {type(processor).__name__}, not a CLIP processor with a "
            f"tokenizer and an image processor ({path})",
            redownload_fix(CLIP, path),
        )
    model.eval().requires_grad_(False)
    model.to(device=torch.device(device), dtype=dtype)
    return ClipMatcher(model=model, processor=processor, name=path.name, path=path)
