"""A tiny random Segformer in the layout of nvidia/segformer-b0-finetuned-ade-512-512."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ._build import build

DEFAULT_SEGMENT_LABELS = ("sky", "road", "car", "person", "tree")


def build_tiny_segformer(folder: Path, labels: Sequence[str] = DEFAULT_SEGMENT_LABELS) -> Path:
    """A random ``SegformerForSemanticSegmentation`` with a ``SegformerImageProcessor``.

    The processor resizes every image to 64x64, so the logits are 16x16 (Segformer predicts at
    a quarter of its input size).

    Arguments:
        folder: the model folder to write (config.json, model.safetensors,
            preprocessor_config.json).
        labels: the class names, ids in order.
    """
    labels = [str(label) for label in labels]
    stamp = {"builder": "segformer", "labels": labels}

    def write(target: Path) -> None:
        from transformers import (
            SegformerConfig,
            SegformerForSemanticSegmentation,
            SegformerImageProcessor,
        )

        config = SegformerConfig(
            depths=[1, 1, 1, 1],
            hidden_sizes=[8, 16, 16, 32],
            num_attention_heads=[1, 1, 2, 2],
            mlp_ratios=[2, 2, 2, 2],
            decoder_hidden_size=16,
            id2label=dict(enumerate(labels)),
            label2id={label: index for index, label in enumerate(labels)},
        )
        SegformerForSemanticSegmentation(config).save_pretrained(target)
        SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(target)

    return build(Path(folder), stamp, write)
