"""Tiny random Segment Anything folders in the transformers layout: SAM 2 (as
facebook/sam2.1-hiera-small), SAM-HQ (as syscv-community/sam-hq-vit-base) and SAM (as
facebook/sam-vit-base)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._build import build

INPUT_SIZE = 128
"""The square side the processors resize to (1024 for the real models); the image embedding
is 8x8 (SAM, SAM-HQ) or the 32/16/8 pyramid (SAM 2)."""
MODEL_TYPES = ("sam2", "sam_hq", "sam")

_PROMPT_ENCODER = dict(image_size=INPUT_SIZE, patch_size=16, hidden_size=32, mask_input_channels=8)
_MASK_DECODER = dict(
    hidden_size=32, mlp_dim=64, num_hidden_layers=2, num_attention_heads=4, iou_head_hidden_dim=32
)
_VIT = dict(
    hidden_size=32,
    output_channels=32,
    num_hidden_layers=2,
    num_attention_heads=1,
    image_size=INPUT_SIZE,
    patch_size=16,
    global_attn_indexes=[1],
    window_size=4,
    mlp_dim=64,
    num_pos_feats=16,
)
"""SAM and SAM-HQ's ViT: one windowed and one global block; ``num_pos_feats`` x 2 is the
prompt encoder's width."""


def _sam2(transformers: Any) -> tuple[Any, Any]:
    backbone = transformers.Sam2HieraDetConfig(
        hidden_size=12,
        image_size=INPUT_SIZE,
        patch_stride=4,
        patch_kernel_size=7,
        patch_padding=3,
        blocks_per_stage=[1, 1, 1, 1],
        embed_dim_per_stage=[12, 24, 48, 96],
        num_attention_heads_per_stage=[1, 1, 1, 1],
    )
    vision = transformers.Sam2VisionConfig(
        backbone_config=backbone,
        backbone_channel_list=[96, 48, 24, 12],
        backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]],
        fpn_hidden_size=32,
    )
    config = transformers.Sam2Config(
        vision_config=vision,
        prompt_encoder_config=_PROMPT_ENCODER,
        mask_decoder_config=_MASK_DECODER,
    )
    images = transformers.Sam2ImageProcessor(
        size={"height": INPUT_SIZE, "width": INPUT_SIZE}, mask_size={"height": 32, "width": 32}
    )
    return transformers.Sam2Model(config), images


def _vit_sam(transformers: Any, prefix: str) -> tuple[Any, Any]:
    decoder = dict(_MASK_DECODER, **({"vit_dim": _VIT["hidden_size"]} if prefix == "SamHQ" else {}))
    config = getattr(transformers, f"{prefix}Config")(
        vision_config=_VIT, prompt_encoder_config=_PROMPT_ENCODER, mask_decoder_config=decoder
    )
    images = transformers.SamImageProcessor(
        size={"longest_edge": INPUT_SIZE},
        pad_size={"height": INPUT_SIZE, "width": INPUT_SIZE},
        mask_size={"longest_edge": INPUT_SIZE // 4},
        mask_pad_size={"height": INPUT_SIZE // 4, "width": INPUT_SIZE // 4},
    )
    return getattr(transformers, f"{prefix}Model")(config), images


def build_tiny_sam_folder(folder: Path, model_type: str = "sam2") -> Path:
    """A random SAM 2, SAM-HQ or SAM model (``model_type`` ``sam2``, ``sam_hq`` or ``sam``)
    with its image processor: config.json, model.safetensors, preprocessor_config.json."""
    stamp = {"builder": "sam_folder", "model_type": model_type, "input_size": INPUT_SIZE}

    def write(target: Path) -> None:
        import transformers

        if model_type == "sam2":
            model, images = _sam2(transformers)
        else:
            model, images = _vit_sam(transformers, "SamHQ" if model_type == "sam_hq" else "Sam")
        model.save_pretrained(target)
        images.save_pretrained(target)

    return build(Path(folder), stamp, write)
