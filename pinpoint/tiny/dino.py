"""A tiny random DINO ViT in the layout of facebook/dino-vits16."""

from __future__ import annotations

from pathlib import Path

from ._build import build

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def build_tiny_dino(folder: Path) -> Path:
    """A random ``ViTModel`` without pooler, as the DINO checkpoints have, and a
    ``ViTImageProcessor`` with DINO's ImageNet normalisation.

    The folder holds what a download of facebook/dino-vits16 holds: config.json (model_type
    ``vit``), model.safetensors and preprocessor_config.json. Patch 8 at 64x64 pixels gives an
    8x8 patch grid on a square image.
    """
    stamp = {"builder": "dino"}

    def write(target: Path) -> None:
        from transformers import ViTConfig, ViTImageProcessor, ViTModel

        config = ViTConfig(
            image_size=64,
            patch_size=8,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=37,
        )
        ViTModel(config, add_pooling_layer=False).save_pretrained(target)
        ViTImageProcessor(
            size={"height": 64, "width": 64}, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD
        ).save_pretrained(target)

    return build(Path(folder), stamp, write)
