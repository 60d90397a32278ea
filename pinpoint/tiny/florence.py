"""A tiny random Florence-2 in the transformers layout of florence-community/Florence-2-base."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._build import build
from .text import bytes_to_unicode

INPUT_SIZE = 32
"""The processor's square input side (768 for the real models)."""
IMAGE_TOKENS = (INPUT_SIZE // 4) ** 2 + 1
"""What the one-stage DaViT below makes of an input: an 8x8 patch grid plus one pooled token
(577 for the real four-stage model at 768 px)."""
WIDTH = 16

LOCATIONS = 1000
"""Florence-2 writes coordinates as ``<loc_0>`` ... ``<loc_999>``: 1000 bins per side."""
FLORENCE_TOKENS = (
    ["<od>", "</od>", "<ocr>", "</ocr>"]
    + [f"<loc_{index}>" for index in range(LOCATIONS)]
    + ["<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>", "</dcap>", "<grounding>"]
    + ["</grounding>", "<seg>", "</seg>", "<sep>", "<region_cap>", "</region_cap>"]
    + ["<region_to_desciption>", "</region_to_desciption>", "<proposal>", "</proposal>"]
    + ["<poly>", "</poly>", "<and>"]
)
"""The tokens Florence-2 adds to BART's vocabulary, in its order (the real spelling, typo
included)."""
IMAGE_TOKEN = "<image>"

POST_PROCESSOR: dict[str, Any] = {
    "ocr": {"area_threshold": 0.0},
    "phrase_grounding": {"banned_grounding_tokens": ["the image", "it", "a", "an", "the"]},
    "pure_text": {},
    "description_with_bboxes": {},
    "description_with_polygons": {},
    "polygons": {},
    "bboxes": {},
    "description_with_bboxes_or_polygons": {},
}
"""How the processor parses each task's output; every parse type a task uses must be listed."""


def _tokenizer() -> Any:
    """BART's specials, the 256 byte symbols and ``<mask>``, then Florence-2's tokens: a byte-level
    BPE without merges (every byte its own token)."""
    from transformers import BartTokenizer

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    tokens = [*specials, *bytes_to_unicode().values(), "<mask>", *FLORENCE_TOKENS, IMAGE_TOKEN]
    return BartTokenizer(
        vocab={token: index for index, token in enumerate(tokens)},
        merges=[],
        extra_special_tokens=[*FLORENCE_TOKENS, IMAGE_TOKEN],
        image_token=IMAGE_TOKEN,
    )


def build_tiny_florence(folder: Path) -> Path:
    """A random ``Florence2ForConditionalGeneration`` with its ``Florence2Processor``:
    config.json, generation_config.json, model.safetensors, processor_config.json and the
    tokenizer files, as transformers saves the real ones."""
    stamp = {"builder": "florence2", "input_size": INPUT_SIZE}

    def write(target: Path) -> None:
        from transformers import (
            CLIPImageProcessor,
            Florence2Config,
            Florence2ForConditionalGeneration,
            Florence2Processor,
        )

        tokenizer = _tokenizer()
        images = CLIPImageProcessor(
            size={"height": INPUT_SIZE, "width": INPUT_SIZE},
            crop_size={"height": INPUT_SIZE, "width": INPUT_SIZE},
            do_center_crop=False,
            image_mean=[0.485, 0.456, 0.406],
            image_std=[0.229, 0.224, 0.225],
            image_seq_length=IMAGE_TOKENS,
        )
        config = Florence2Config(
            vision_config=dict(
                depths=[1],
                patch_size=[7],
                patch_stride=[4],
                patch_padding=[3],
                patch_prenorm=[False],
                embed_dim=[WIDTH],
                num_heads=[1],
                num_groups=[1],
                window_size=4,
                drop_path_rate=0.0,
                projection_dim=WIDTH,  # image features go into the text embeddings
            ),
            text_config=dict(
                model_type="bart",
                vocab_size=len(tokenizer),
                d_model=WIDTH,
                encoder_layers=1,
                decoder_layers=1,
                encoder_attention_heads=2,
                decoder_attention_heads=2,
                encoder_ffn_dim=32,
                decoder_ffn_dim=32,
                max_position_embeddings=1024,
                bos_token_id=0,
                pad_token_id=1,
                eos_token_id=2,
                decoder_start_token_id=2,
            ),
            image_token_id=tokenizer.image_token_id,
        )
        Florence2ForConditionalGeneration(config).save_pretrained(target)
        processor = Florence2Processor(
            image_processor=images, tokenizer=tokenizer, post_processor_config=POST_PROCESSOR
        )
        processor.save_pretrained(target)

    return build(Path(folder), stamp, write)
