"""Tiny random parts the tiny diffusers pipelines share: VAEs, text encoders with tokenizers made
here (no download), flow-matching schedulers.

The text encoders are the real architectures (CLIP, T5, Qwen3, Qwen2.5-VL with its vision tower
and processor) at a few thousand parameters;
their tokenizers are hand-made: CLIP's byte-level vocabulary of :mod:`pinpoint.tiny.text`, a T5
Unigram vocabulary of single characters (with and without the word-start mark ``▁``), and a
byte-level Qwen vocabulary without merges whose chat template is a short stand-in of Qwen's
(the same turns, no system prompt).
"""

from __future__ import annotations

import string
import tempfile
from pathlib import Path
from typing import Any

from .text import TEXT_CONFIG, bytes_to_unicode, tiny_tokenizer, write_byte_vocab

T5_CONFIG: dict[str, Any] = dict(
    d_model=32,
    d_kv=8,
    d_ff=37,
    num_layers=2,
    num_heads=4,
    relative_attention_num_buckets=8,
    is_encoder_decoder=False,
    use_cache=False,
)
"""A tiny T5 encoder (its vocabulary size is set from the tokenizer)."""
T5_LENGTH = 32
"""The tiny T5's longest prompt in tokens (FLUX reads 512, SD 3 256 by default)."""
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Qwen's chat turns, without its system prompt."""


def kl_vae(
    blocks: int = 2,
    latent_channels: int = 4,
    scaling_factor: float = 0.18215,
    shift_factor: float | None = None,
) -> Any:
    """A random ``AutoencoderKL`` downscaling ``2 ** (blocks - 1)`` times. Two blocks: the SD
    tiny VAE (32 and 64 channels); more: 16 channels a block, without the quantisation
    convolutions, as FLUX's and SD 3's VAEs."""
    from diffusers import AutoencoderKL

    if blocks == 2:
        widths, groups, quant = (32, 64), 32, {}
    else:
        widths, groups = (16,) * blocks, 8
        quant = {"use_quant_conv": False, "use_post_quant_conv": False}
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=widths,
        latent_channels=latent_channels,
        norm_num_groups=groups,
        sample_size=64,
        scaling_factor=scaling_factor,
        shift_factor=shift_factor,
        **quant,
    )


def inpaint_unet(**settings: Any) -> Any:
    """A random 9-channel inpainting ``UNet2DConditionModel`` of two blocks (32 and 64
    channels, latent size 32), with ``settings`` (its text width, heads, SDXL's extra
    embeddings)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=32,
        in_channels=9,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(32, 64),
        layers_per_block=1,
        norm_num_groups=32,
        **settings,
    )


def clip_text(projection: bool = False) -> tuple[Any, Any]:
    """A tiny CLIP text tower (``CLIPTextModelWithProjection`` with ``projection``: SDXL's and
    SD 3's second encoder) and its byte-level tokenizer."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    with tempfile.TemporaryDirectory() as vocab_dir:
        write_byte_vocab(Path(vocab_dir))
        tokenizer = tiny_tokenizer(Path(vocab_dir))
    if projection:
        config = CLIPTextConfig(**TEXT_CONFIG, projection_dim=TEXT_CONFIG["hidden_size"])
        return CLIPTextModelWithProjection(config), tokenizer
    return CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG)), tokenizer


def t5_text(width: int = 32) -> tuple[Any, Any]:
    """A tiny ``T5EncoderModel`` of ``width`` features and its Unigram tokenizer (printable
    ASCII characters)."""
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    for character in string.ascii_letters + string.digits + string.punctuation:
        pieces += [(character, -4.0), ("\u2581" + character, -3.0)]
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=T5_LENGTH)
    config = T5Config(**T5_CONFIG | {"d_model": width}, vocab_size=len(tokenizer))
    return T5EncoderModel(config), tokenizer


def qwen_tokenizer(specials: tuple[str, ...] = ()) -> Any:
    """A byte-level ``Qwen2Tokenizer`` (256 byte tokens, no merges) with Qwen's chat tokens,
    ``specials`` after them, and :data:`CHAT_TEMPLATE`."""
    from transformers import Qwen2Tokenizer

    vocab = {character: index for index, character in enumerate(bytes_to_unicode().values())}
    chat = ("<|im_start|>", "<|im_end|>", *specials)
    for token in ("<|endoftext|>", *chat):
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], chat_template=CHAT_TEMPLATE)
    tokenizer.add_special_tokens({"additional_special_tokens": list(chat)})
    return tokenizer


QWEN_LANGUAGE: dict[str, Any] = dict(
    hidden_size=32,
    intermediate_size=37,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
)
"""The tiny Qwen language models' size (Qwen3's, Qwen2.5-VL's)."""


def qwen3_text() -> tuple[Any, Any]:
    """A tiny ``Qwen3Model`` (Z-Image's text encoder) and its tokenizer."""
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = qwen_tokenizer()
    config = Qwen3Config(vocab_size=len(tokenizer), **QWEN_LANGUAGE, head_dim=8)
    return Qwen3Model(config), tokenizer


VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")
"""Qwen2.5-VL's picture tokens."""


def qwen_vl_text(processor: bool = False) -> tuple[Any, ...]:
    """A tiny ``Qwen2_5_VLForConditionalGeneration`` (Qwen-Image's text encoder: a 2-layer
    language model and a 1-block vision tower of 14-pixel patches) with its tokenizer, and
    with ``processor`` its ``Qwen2VLProcessor`` (pictures of 56² to 112² pixels)."""
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    tokenizer = qwen_tokenizer(VISION_TOKENS)
    start, end, image, video = (tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS)
    language = dict(
        vocab_size=len(tokenizer),
        **QWEN_LANGUAGE,
        rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]},
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
    )
    vision = dict(
        depth=1,
        hidden_size=32,
        intermediate_size=37,
        num_heads=2,
        out_hidden_size=32,
        patch_size=14,
        spatial_merge_size=2,
        temporal_patch_size=2,
        window_size=56,
        fullatt_block_indexes=[0],
    )
    config = Qwen2_5_VLConfig(
        text_config=language,
        vision_config=vision,
        image_token_id=image,
        video_token_id=video,
        vision_start_token_id=start,
        vision_end_token_id=end,
    )
    model = Qwen2_5_VLForConditionalGeneration(config)
    if not processor:
        return model, tokenizer
    pictures = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112)
    both = Qwen2VLProcessor(
        image_processor=pictures, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor()
    )
    return model, tokenizer, both


def flow_scheduler(dynamic: bool = True) -> Any:
    """A ``FlowMatchEulerDiscreteScheduler`` with FLUX.1's settings (resolution-dependent
    shift), or SD 3's fixed shift of 3 when not ``dynamic``."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    if not dynamic:
        return FlowMatchEulerDiscreteScheduler(shift=3.0)
    return FlowMatchEulerDiscreteScheduler(
        shift=3.0,
        use_dynamic_shifting=True,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )
