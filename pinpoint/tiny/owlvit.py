"""Tiny random OWL-ViT and OWLv2 in the layouts of google/owlvit-base-patch32 and
google/owlv2-base-patch16-ensemble."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._build import build
from .text import TEXT_CONFIG, tiny_tokenizer, write_byte_vocab

IMAGE_SIZE = 32
PATCH_SIZE = 8
"""A 4x4 patch grid: OWL predicts one box per patch, so 16 candidate boxes per image."""

VISION_CONFIG: dict[str, Any] = dict(
    image_size=IMAGE_SIZE,
    patch_size=PATCH_SIZE,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
)


def build_tiny_owlvit(folder: Path) -> Path:
    """A random ``OwlViTForObjectDetection`` with an ``OwlViTProcessor`` (byte-level
    ``CLIPTokenizer``, images resized to 32x32) in ``folder``.

    The folder holds what a download of google/owlvit-base-patch32 holds: config.json,
    model.safetensors, preprocessor_config.json, vocab.json, merges.txt and tokenizer files.
    """
    return build(Path(folder), {"builder": "owlvit"}, lambda target: _write(target, "owlvit"))


def build_tiny_owlv2(folder: Path) -> Path:
    """A random ``Owlv2ForObjectDetection`` with an ``Owlv2Processor`` in ``folder``; its image
    processor pads every image to a square (bottom and right) before resizing to 32x32."""
    return build(Path(folder), {"builder": "owlv2"}, lambda target: _write(target, "owlv2"))


def _write(target: Path, family: str) -> None:
    from transformers import (
        Owlv2Config,
        Owlv2ForObjectDetection,
        Owlv2ImageProcessor,
        OwlViTConfig,
        OwlViTForObjectDetection,
        OwlViTImageProcessor,
    )

    square = {"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    # the class head compares projected text embeddings with vectors of the text width
    towers = dict(
        text_config=TEXT_CONFIG,
        vision_config=VISION_CONFIG,
        projection_dim=TEXT_CONFIG["hidden_size"],
    )
    if family == "owlvit":
        config = OwlViTConfig(**towers)
        model = OwlViTForObjectDetection(config)
        images = OwlViTImageProcessor(size=square, crop_size=square)
    else:
        config = Owlv2Config(**towers)
        model = Owlv2ForObjectDetection(config)
        images = Owlv2ImageProcessor(size=square)
    model.save_pretrained(target)
    # Saved apart, as the Hub folders have them: preprocessor_config.json + tokenizer files.
    images.save_pretrained(target)
    write_byte_vocab(target)
    tiny_tokenizer(target).save_pretrained(target)
