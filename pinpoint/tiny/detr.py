"""A tiny random DETR in the layout of facebook/detr-resnet-50."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import PinpointError
from ._build import build

DEFAULT_LABELS = ("car", "dog", "person", "cat", "bicycle")


def build_tiny_detector(
    folder: Path, labels: Sequence[str] = DEFAULT_LABELS, timm_backbone: bool = False
) -> Path:
    """A random DETR (``DetrForObjectDetection`` + ``DetrImageProcessor``) in ``folder``.

    Arguments:
        folder: the model folder to write (config.json, model.safetensors,
            preprocessor_config.json).
        labels: the class names, ids in order.
        timm_backbone: use a timm ResNet backbone and write config.json the way
            facebook/detr-resnet-50 has it (``use_timm_backbone``/``use_pretrained_backbone``
            true), to prove such a folder loads offline. Needs the timm package.
    """
    labels = [str(label) for label in labels]
    arch = _timm_resnet() if timm_backbone else None
    stamp = {"builder": "detector", "labels": labels, "timm_backbone": arch}

    def write(target: Path) -> None:
        from transformers import (
            DetrConfig,
            DetrForObjectDetection,
            DetrImageProcessor,
            ResNetConfig,
        )

        heads: dict[str, Any] = dict(
            d_model=16,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=16,
            decoder_ffn_dim=16,
            num_queries=10,
            id2label=dict(enumerate(labels)),
            label2id={label: index for index, label in enumerate(labels)},
        )
        if arch is None:
            backbone = ResNetConfig(
                embedding_size=8,
                hidden_sizes=[8, 8, 8, 8],
                depths=[1, 1, 1, 1],
                out_features=["stage4"],
            )
            config = DetrConfig(
                use_timm_backbone=False,
                backbone_config=backbone,
                use_pretrained_backbone=False,
                **heads,
            )
        else:
            config = DetrConfig(
                use_timm_backbone=True, backbone=arch, use_pretrained_backbone=False, **heads
            )
        DetrForObjectDetection(config).save_pretrained(target)
        DetrImageProcessor(size={"shortest_edge": 64, "longest_edge": 96}).save_pretrained(target)
        if arch is not None:
            _write_hub_style_timm_config(target / "config.json", arch)

    return build(Path(folder), stamp, write)


def _timm_resnet() -> str:
    """The smallest real timm ResNet available (``test_resnet`` since timm 1.0.10)."""
    try:
        import timm
    except ImportError as err:
        raise PinpointError(
            "a timm-backbone tiny detector needs the timm package, which is not installed",
            "run `pip install timm`",
        ) from err
    return "test_resnet" if timm.list_models("test_resnet") else "resnet10t"


def _write_hub_style_timm_config(config_file: Path, arch: str) -> None:
    """Rewrite config.json the way facebook/detr-resnet-50 stores it (transformers 4.x style).

    transformers 5 saves the backbone as a nested ``backbone_config``; the Hub file instead
    says ``use_timm_backbone: true, backbone: "resnet50", use_pretrained_backbone: true``. The
    last flag is what used to trigger an ImageNet download on load.
    """
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config.update(
        backbone=arch,
        backbone_config=None,
        use_timm_backbone=True,
        use_pretrained_backbone=True,
    )
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
