"""What is particular to object detector folders: closed-set ones (DETR, YOLOS, RT-DETR, ...) and
open-vocabulary ones that take text queries (OWL-ViT, OWLv2, Grounding DINO). The shared loader
reads them through :data:`pinpoint.loading.kinds.DETECTOR`."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import PinpointError
from .checks import auto_model_types, describe_config
from .model_kind import ModelKind

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


def open_vocabulary_types() -> frozenset[str]:
    """transformers' zero-shot (text-query) object-detection ``model_type`` names."""
    return auto_model_types("MODEL_FOR_ZERO_SHOT_OBJECT_DETECTION_MAPPING_NAMES")


def model_types() -> frozenset[str]:
    """Every ``model_type`` a detector folder may have: closed-set and open-vocabulary."""
    return auto_model_types("MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES") | open_vocabulary_types()


def _uses_timm(config: Mapping[str, Any]) -> bool:
    backbone = config.get("backbone_config")
    if isinstance(backbone, dict) and backbone.get("model_type") == "timm_backbone":
        return True
    return bool(config.get("use_timm_backbone")) and not backbone


def check_config(kind: ModelKind, path: Path, config: Mapping[str, Any]) -> None:
    """Refuse open-vocabulary families Pinpoint cannot run, and a timm backbone without timm."""
    model_type = config.get("model_type")
    if model_type in open_vocabulary_types() and model_type not in OPEN_VOCABULARY:
        target = path.parent / OPEN_VOCABULARY_EXAMPLE.split("/")[-1]
        raise PinpointError(
            f"'{path.name}' is {describe_config(config)}, an open-vocabulary detector that "
            f"Pinpoint cannot run yet ({path})",
            "use an OWL-ViT, OWLv2 or Grounding DINO folder, e.g. "
            f"`hf download {OPEN_VOCABULARY_EXAMPLE} --local-dir {target}`",
        )
    if _uses_timm(config) and importlib.util.find_spec("timm") is None:
        raise PinpointError(
            f"'{path.name}' uses a timm backbone ({config.get('backbone') or 'timm'}) but the "
            "timm package is not installed",
            "run `pip install timm` in the Python environment that runs Pinpoint, then restart",
        )


def is_open_vocabulary(config: Mapping[str, Any]) -> bool:
    """Whether a detector folder's config is one of the open-vocabulary families Pinpoint runs."""
    return config.get("model_type") in OPEN_VOCABULARY


def no_backbone_download(config: Any) -> None:
    """Turn off ``use_pretrained_backbone`` in a loaded config and its backbone's.

    facebook/detr-resnet-50 says use_pretrained_backbone=true (a timm ImageNet backbone); older
    transformers would download those weights although the checkpoint has them.
    """
    for part in (config, getattr(config, "backbone_config", None)):
        if getattr(part, "use_pretrained_backbone", False):
            part.use_pretrained_backbone = False
