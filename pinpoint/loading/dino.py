"""Load a self-supervised ViT (DINO, DINOv2) and its image processor from a local folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .cache import cached, model_key
from .checks import (
    DINO_MODEL_TYPES,
    WEIGHT_FILES,
    check_model_dir,
    load_failed,
    read_model_config,
    require_any,
)
from .folders import DINO
from .models import Dino


def check_dino_dir(path: Path, where: str) -> dict[str, Any]:
    """Validate a DINO folder without loading it; returns its parsed config.json.

    Raises:
        PinpointError: missing folder or files, malformed config, or not a ViT/DINOv2 backbone
        (a detector or CLIP folder is told where it belongs).
    """
    allowed = ", ".join(repr(name) for name in DINO_MODEL_TYPES)
    config = read_model_config(
        path,
        DINO,
        where,
        lambda kind: kind in DINO_MODEL_TYPES,
        requirement=f" (config.json model_type must be one of {allowed})",
        pick="pick a folder with a DINO or DINOv2 backbone (e.g. facebook/dino-vits16, "
        "facebook/dinov2-small); ",
    )
    require_any(path, WEIGHT_FILES, "weights", DINO, where)
    require_any(path, ["preprocessor_config.json"], "image processor config", DINO, where)
    return config


def load_dino(
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    where: str = "Load DINO",
) -> Dino:
    """Load a ViT-family backbone (``AutoModel``) and its ``AutoImageProcessor``.

    The model runs with the eager attention implementation, so ``output_attentions=True``
    returns every layer's attention weights ``[B, heads, tokens, tokens]`` (SDPA and flash
    attention do not compute them).

    Arguments:
        path: the model folder (config.json, weights, preprocessor_config.json).
        device: where the weights go.
        dtype: the weights' floating dtype.
        where: the node title / stage used in error messages.

    Returns:
        a :class:`Dino` in eval mode with gradients off, shared with earlier calls for the same
        unchanged folder, device and dtype while that object is alive.

    Raises:
        PinpointError: the folder is missing, incomplete, not a DINO backbone, or fails to load.
    """
    path = check_model_dir(path, DINO, where)
    config = check_dino_dir(path, where)
    key = model_key(DINO.key, path, device, dtype)
    return cached(key, lambda: _load(path, config["model_type"], device, dtype, where))


def _load(
    path: Path, model_type: str, device: torch.device | str, dtype: torch.dtype, where: str
) -> Dino:
    from transformers import AutoImageProcessor, AutoModel

    # DINO checkpoints were converted without ViT's pooler; building one would only add
    # randomly initialised weights (and a warning about them).
    extra: dict[str, Any] = {"add_pooling_layer": False} if model_type == "vit" else {}
    try:
        model = AutoModel.from_pretrained(
            path, local_files_only=True, attn_implementation="eager", **extra
        )
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    except Exception as err:
        raise load_failed(DINO, path, err, where) from err
    model.eval().requires_grad_(False)
    model.to(device=torch.device(device), dtype=dtype)
    return Dino(model=model, processor=processor, name=path.name, path=path)
