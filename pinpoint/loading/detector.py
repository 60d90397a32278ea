"""Load a transformers object detector (DETR, YOLOS, RT-DETR, ...) from a local folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError
from .cache import cached, model_key
from .checks import (
    WEIGHT_FILES,
    belongs_elsewhere,
    check_model_dir,
    describe_config,
    detection_model_types,
    load_failed,
    read_json,
    require_any,
)
from .folders import DETECTOR
from .models import Detector


def _uses_timm(config: dict[str, Any]) -> bool:
    backbone = config.get("backbone_config")
    if isinstance(backbone, dict) and backbone.get("model_type") == "timm_backbone":
        return True
    return bool(config.get("use_timm_backbone")) and not backbone


def check_detector_dir(path: Path, where: str) -> dict[str, Any]:
    """Validate a detector folder without loading it; returns its parsed config.json.

    Raises:
        PinpointError: missing folder or files, malformed config, or not an object detector.
    """
    if (path / "model_index.json").is_file() and not (path / "config.json").is_file():
        raise PinpointError(
            where,
            f"'{path.name}' is a diffusers pipeline, not an {DETECTOR.title} ({path})",
            f"pick a detector folder holding {DETECTOR.expected_files}; "
            + DETECTOR.download_hint(path.parent / DETECTOR.example_dir)
            + belongs_elsewhere(path, None),
        )
    config = read_json(path, "config.json", DETECTOR, where)
    model_type = config.get("model_type")
    if model_type not in detection_model_types():
        raise PinpointError(
            where,
            f"'{path.name}' is {describe_config(config)}, not an {DETECTOR.title} ({path})",
            "pick a folder with an object-detection model (DETR, YOLOS, RT-DETR, ...); "
            + DETECTOR.download_hint(path.parent / DETECTOR.example_dir)
            + belongs_elsewhere(path, model_type),
        )
    require_any(path, WEIGHT_FILES, "weights", DETECTOR, where)
    require_any(path, ["preprocessor_config.json"], "image processor config", DETECTOR, where)
    if _uses_timm(config) and importlib.util.find_spec("timm") is None:
        raise PinpointError(
            where,
            f"'{path.name}' uses a timm backbone ({config.get('backbone') or 'timm'}) but the "
            "timm package is not installed",
            "run `pip install timm` in the Python environment that runs Pinpoint, then restart",
        )
    return config


def load_detector(
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    where: str = "Load Detector",
) -> Detector:
    """Load an object detector and its image processor from a Hugging Face folder.

    Arguments:
        path: the model folder (config.json, model.safetensors, preprocessor_config.json).
        device: where the weights go.
        dtype: the weights' floating dtype.
        where: the node title / stage used in error messages.

    Returns:
        a :class:`Detector` in eval mode with gradients off; the same object as an earlier call
        with the same unchanged folder, device and dtype while that object is still alive.

    Raises:
        PinpointError: the folder is missing, incomplete, not a detector, or fails to load.
    """
    path = check_model_dir(path, DETECTOR, where)
    check_detector_dir(path, where)
    key = model_key(DETECTOR.key, path, device, dtype)
    return cached(key, lambda: _load(path, device, dtype, where))


def _load(path: Path, device: torch.device | str, dtype: torch.dtype, where: str) -> Detector:
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForObjectDetection

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        # facebook/detr-resnet-50 says use_pretrained_backbone=true (a timm ImageNet backbone);
        # older transformers would download those weights although the checkpoint has them.
        for part in (config, getattr(config, "backbone_config", None)):
            if getattr(part, "use_pretrained_backbone", False):
                part.use_pretrained_backbone = False
        model = AutoModelForObjectDetection.from_pretrained(
            path, config=config, local_files_only=True
        )
        processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    except ImportError as err:
        if "timm" in str(err):
            raise PinpointError(
                where,
                f"'{path.name}' needs the timm package, which is not installed ({path})",
                "run `pip install timm` in the Python environment that runs Pinpoint, then restart",
            ) from err
        raise load_failed(DETECTOR, path, err, where) from err
    except Exception as err:
        raise load_failed(DETECTOR, path, err, where) from err
    model.eval().requires_grad_(False)
    model.to(device=torch.device(device), dtype=dtype)
    return Detector(model=model, processor=processor, name=path.name, path=path)
