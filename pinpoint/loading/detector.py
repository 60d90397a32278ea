"""Load a transformers object detector from a local folder: a closed-set one (DETR, YOLOS,
RT-DETR, ...) or an open-vocabulary one that takes text queries (OWL-ViT, OWLv2, Grounding DINO)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError
from .cache import cached, model_key
from .checks import (
    WEIGHT_FILES,
    check_model_dir,
    describe_config,
    detection_model_types,
    load_failed,
    open_vocabulary_model_types,
    read_model_config,
    redownload_fix,
    require_any,
    require_tokenizer,
)
from .folders import DETECTOR
from .models import Detector

QUERY_LOGITS = ("owlvit", "owlv2")
"""Open-vocabulary families whose logits have one column per text query."""
TOKEN_LOGITS = ("grounding-dino", "mm-grounding-dino")
"""Open-vocabulary families whose logits score the tokens of the joined text ``"q1. q2."``."""
OPEN_VOCABULARY = QUERY_LOGITS + TOKEN_LOGITS

OPEN_VOCABULARY_EXAMPLE = "google/owlv2-base-patch16-ensemble"
KINDS_HINT = (
    "an object detector (DETR, YOLOS, RT-DETR, ...) or an open-vocabulary detector "
    f"(OWL-ViT, OWLv2, Grounding DINO, e.g. {OPEN_VOCABULARY_EXAMPLE})"
)


def _uses_timm(config: dict[str, Any]) -> bool:
    backbone = config.get("backbone_config")
    if isinstance(backbone, dict) and backbone.get("model_type") == "timm_backbone":
        return True
    return bool(config.get("use_timm_backbone")) and not backbone


def check_detector_dir(path: Path, where: str) -> dict[str, Any]:
    """Validate a detector folder without loading it; returns its parsed config.json.

    Open-vocabulary detectors also need their tokenizer files.

    Raises:
        PinpointError: missing folder or files, malformed config, or not an object detector.
    """
    config = read_model_config(
        path,
        DETECTOR,
        where,
        lambda kind: kind in detection_model_types() or kind in open_vocabulary_model_types(),
        pick=f"pick a folder with {KINDS_HINT}; ",
    )
    model_type = config.get("model_type")
    open_vocabulary = model_type in open_vocabulary_model_types()
    if open_vocabulary and model_type not in OPEN_VOCABULARY:
        target = path.parent / OPEN_VOCABULARY_EXAMPLE.split("/")[-1]
        raise PinpointError(
            where,
            f"'{path.name}' is {describe_config(config)}, an open-vocabulary detector that "
            f"Pinpoint cannot run yet ({path})",
            "use an OWL-ViT, OWLv2 or Grounding DINO folder, e.g. "
            f"`hf download {OPEN_VOCABULARY_EXAMPLE} --local-dir {target}`",
        )
    require_any(path, WEIGHT_FILES, "weights", DETECTOR, where)
    processor_files = ["preprocessor_config.json"]
    if open_vocabulary:
        processor_files.append("processor_config.json")
        require_tokenizer(path, DETECTOR, where, wordpiece=True)
    require_any(path, processor_files, "image processor config", DETECTOR, where)
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
    """Load an object detector and its processor from a Hugging Face folder.

    Closed-set detectors (``AutoModelForObjectDetection``) get an image processor;
    open-vocabulary ones (``AutoModelForZeroShotObjectDetection``: OWL-ViT, OWLv2, Grounding
    DINO) get an ``AutoProcessor`` (tokenizer + image processor) and ``open_vocabulary=True``.

    Arguments:
        path: the model folder (config.json, model.safetensors, preprocessor_config.json, and
            tokenizer files for open-vocabulary detectors).
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
    open_vocabulary = check_detector_dir(path, where).get("model_type") in OPEN_VOCABULARY
    key = model_key(DETECTOR.key, path, device, dtype)
    return cached(key, lambda: _load(path, device, dtype, open_vocabulary, where))


def _load(
    path: Path, device: torch.device | str, dtype: torch.dtype, open_vocabulary: bool, where: str
) -> Detector:
    from transformers import (
        AutoConfig,
        AutoImageProcessor,
        AutoModelForObjectDetection,
        AutoModelForZeroShotObjectDetection,
        AutoProcessor,
    )

    auto_model = (
        AutoModelForZeroShotObjectDetection if open_vocabulary else AutoModelForObjectDetection
    )
    auto_processor = AutoProcessor if open_vocabulary else AutoImageProcessor

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        # facebook/detr-resnet-50 says use_pretrained_backbone=true (a timm ImageNet backbone);
        # older transformers would download those weights although the checkpoint has them.
        for part in (config, getattr(config, "backbone_config", None)):
            if getattr(part, "use_pretrained_backbone", False):
                part.use_pretrained_backbone = False
        model = auto_model.from_pretrained(path, config=config, local_files_only=True)
        processor = auto_processor.from_pretrained(path, local_files_only=True)
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
    if open_vocabulary and not (
        hasattr(processor, "tokenizer") and hasattr(processor, "image_processor")
    ):
        raise PinpointError(
            where,
            f"'{path.name}' loads a {type(processor).__name__}, not a processor with a "
            f"tokenizer and an image processor ({path})",
            redownload_fix(DETECTOR, path),
        )
    model.eval().requires_grad_(False)
    model.to(device=torch.device(device), dtype=dtype)
    return Detector(
        model=model,
        processor=processor,
        name=path.name,
        path=path,
        open_vocabulary=open_vocabulary,
    )
