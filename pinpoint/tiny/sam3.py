"""A tiny random SAM 3 in the transformers layout of facebook/sam3 (text → instance masks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._build import build
from .text import TEXT_CONFIG, write_byte_vocab

INPUT_SIZE = 112
"""The square side the processor resizes to (1008 for the real model): an 8x8 patch grid and
32x32 mask logits."""
WIDTH = 32
TEXT_POSITIONS = 32
"""SAM 3's processor pads every text to 32 tokens."""
QUERIES = 8
"""Object queries of the DETR decoder (200 for the real model): at most this many instances."""

_LAYERS: dict[str, Any] = dict(hidden_size=WIDTH, num_attention_heads=2, intermediate_size=64)


def _config(transformers: Any) -> Any:
    text = {key: TEXT_CONFIG[key] for key in ("vocab_size", "bos_token_id", "eos_token_id")} | dict(
        _LAYERS, pad_token_id=TEXT_CONFIG["eos_token_id"], projection_dim=WIDTH
    )
    return transformers.Sam3Config(
        vision_config=dict(
            backbone_config=dict(
                _LAYERS,
                model_type="sam3_vit_model",
                num_hidden_layers=2,
                image_size=INPUT_SIZE,  # the global layers' RoPE grid is built for this size
                pretrain_image_size=INPUT_SIZE,
                window_size=4,
                global_attn_indexes=[1],
            ),
            fpn_hidden_size=WIDTH,
        ),
        text_config=dict(text, num_hidden_layers=2, max_position_embeddings=TEXT_POSITIONS),
        geometry_encoder_config=dict(_LAYERS, num_layers=1),
        detr_encoder_config=dict(_LAYERS, num_layers=1),
        detr_decoder_config=dict(_LAYERS, num_layers=1, num_queries=QUERIES),
        mask_decoder_config=dict(hidden_size=WIDTH, num_attention_heads=2),
    )


def build_tiny_sam3(folder: Path) -> Path:
    """A random ``Sam3Model`` with its ``Sam3Processor`` (the byte-level CLIP tokenizer of the
    other tiny models): config.json, model.safetensors, processor_config.json and the
    tokenizer files."""
    stamp = {"builder": "sam3", "input_size": INPUT_SIZE}

    def write(target: Path) -> None:
        import transformers

        transformers.Sam3Model(_config(transformers)).save_pretrained(target)
        write_byte_vocab(target)
        tokenizer = transformers.CLIPTokenizer.from_pretrained(
            target, model_max_length=TEXT_POSITIONS, local_files_only=True
        )
        images = transformers.Sam3ImageProcessor(
            size={"height": INPUT_SIZE, "width": INPUT_SIZE},
            mask_size={"height": INPUT_SIZE // 4, "width": INPUT_SIZE // 4},
        )
        transformers.Sam3Processor(image_processor=images, tokenizer=tokenizer).save_pretrained(
            target
        )

    return build(Path(folder), stamp, write)
