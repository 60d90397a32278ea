"""A tiny random CLIPModel in the layout of openai/clip-vit-base-patch32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._build import build
from .text import TEXT_CONFIG, tiny_tokenizer, write_byte_vocab

VISION_CONFIG: dict[str, Any] = dict(
    image_size=32,
    patch_size=8,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
)


def build_tiny_clip(folder: Path) -> Path:
    """A random ``CLIPModel`` with a ``CLIPImageProcessor`` and a byte-level ``CLIPTokenizer``.

    The folder holds what a download of openai/clip-vit-base-patch32 holds: config.json,
    model.safetensors, preprocessor_config.json, vocab.json, merges.txt and tokenizer files.
    """
    stamp = {"builder": "clip"}

    def write(target: Path) -> None:
        from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

        config = CLIPConfig(text_config=TEXT_CONFIG, vision_config=VISION_CONFIG, projection_dim=32)
        CLIPModel(config).save_pretrained(target)
        CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ).save_pretrained(target)
        write_byte_vocab(target)
        tiny_tokenizer(target).save_pretrained(target)

    return build(Path(folder), stamp, write)
