"""A tiny random ViTMatte in the layout of hustvl/vitmatte-small-composition-1k."""

from __future__ import annotations

from pathlib import Path

import torch

from ._build import build


def build_tiny_vitmatte(folder: Path) -> Path:
    """A random ``VitMatteForImageMatting`` (a two-block ViTDet backbone reading RGB + trimap,
    one windowed and one global block as the real ones mix them) and a
    ``VitMatteImageProcessor`` (pads to multiples of 32).

    The folder holds what a download of hustvl/vitmatte-small-composition-1k holds:
    config.json (model_type ``vitmatte``), model.safetensors and preprocessor_config.json.
    Every weight is drawn from N(0, 0.2): transformers' own initialisation zeroes the matting
    head, whose alpha would then be 0.5 everywhere and hide a wrong crop or band.
    """
    stamp = {"builder": "vitmatte"}

    def write(target: Path) -> None:
        from transformers import (
            VitDetConfig,
            VitMatteConfig,
            VitMatteForImageMatting,
            VitMatteImageProcessor,
        )

        backbone = VitDetConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            mlp_ratio=2,
            image_size=64,
            pretrain_image_size=64,
            patch_size=16,
            num_channels=4,
            out_features=["stage2"],
            window_block_indices=[0],
            window_size=2,
            use_relative_position_embeddings=True,
        )
        config = VitMatteConfig(
            backbone_config=backbone,
            hidden_size=32,
            convstream_hidden_sizes=[8, 8, 8],
            fusion_hidden_sizes=[16, 8, 8, 8],
        )
        model = VitMatteForImageMatting(config)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.normal_(0.0, 0.2)
        model.save_pretrained(target)
        VitMatteImageProcessor().save_pretrained(target)

    return build(Path(folder), stamp, write)
