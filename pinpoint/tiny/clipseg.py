"""A tiny random CLIPSeg in the layout of CIDAS/clipseg-rd64-refined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._build import build
from .text import TEXT_CONFIG, tiny_tokenizer, write_byte_vocab

# Patch 16 with the "complex" (two-step) transposed convolution, as in clipseg-rd64-refined, so
# the decoder upsamples the patch grid back to the input size; the towers are 2 layers deep, so
# the decoder reads both (extract_layers are 0-based encoder layers).
VISION_CONFIG: dict[str, Any] = dict(
    image_size=32,
    patch_size=16,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
)

INPUT_SIZE = 64
"""The processor's square input side (352 for clipseg-rd64-refined); larger than the vision
config's ``image_size``, so the position embeddings are interpolated as with the real model."""


def build_tiny_clipseg(folder: Path) -> Path:
    """A random ``CLIPSegForImageSegmentation`` with a ``CLIPSegProcessor``.

    The folder holds what a download of CIDAS/clipseg-rd64-refined holds: config.json,
    model.safetensors, preprocessor_config.json (a ``ViTImageProcessor`` that resizes to a
    ``INPUT_SIZE`` square, ImageNet mean/std), vocab.json, merges.txt and tokenizer files.
    """
    stamp = {"builder": "clipseg", "input_size": INPUT_SIZE}

    def write(target: Path) -> None:
        from transformers import (
            CLIPSegConfig,
            CLIPSegForImageSegmentation,
            ViTImageProcessor,
        )

        config = CLIPSegConfig(
            text_config=TEXT_CONFIG,
            vision_config=VISION_CONFIG,
            projection_dim=32,
            extract_layers=[0, 1],
            reduce_dim=16,
            decoder_num_attention_heads=2,
            decoder_intermediate_size=32,
            use_complex_transposed_convolution=True,
        )
        CLIPSegForImageSegmentation(config).save_pretrained(target)
        write_byte_vocab(target)
        image_processor = ViTImageProcessor(
            size={"height": INPUT_SIZE, "width": INPUT_SIZE},
            resample=2,  # bilinear, as clipseg-rd64-refined
            image_mean=[0.485, 0.456, 0.406],
            image_std=[0.229, 0.224, 0.225],
        )
        # saved apart, as on the Hub: preprocessor_config.json + tokenizer files
        image_processor.save_pretrained(target)
        tiny_tokenizer(target).save_pretrained(target)

    return build(Path(folder), stamp, write)
