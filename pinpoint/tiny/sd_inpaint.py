"""A tiny random Stable Diffusion inpainting pipeline in diffusers layout."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ._build import build
from .text import TEXT_CONFIG, tiny_tokenizer, write_byte_vocab


def build_tiny_inpaint(folder: Path) -> Path:
    """A random ``StableDiffusionInpaintPipeline`` (9-channel UNet) saved in diffusers layout.

    Native size 64 px (UNet sample size 32, VAE scale factor 2); no safety checker.
    """
    stamp = {"builder": "inpaint"}

    def write(target: Path) -> None:
        from diffusers import (
            AutoencoderKL,
            PNDMScheduler,
            StableDiffusionInpaintPipeline,
            UNet2DConditionModel,
        )
        from transformers import CLIPTextConfig, CLIPTextModel

        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            block_out_channels=(32, 64),
            latent_channels=4,
            norm_num_groups=32,
            sample_size=64,
        )
        unet = UNet2DConditionModel(
            sample_size=32,
            in_channels=9,
            out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(32, 64),
            layers_per_block=1,
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=32,
        )
        # The scheduler settings of stable-diffusion-inpainting's scheduler_config.json.
        scheduler = PNDMScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            skip_prk_steps=True,
            set_alpha_to_one=False,
            steps_offset=1,
        )
        with tempfile.TemporaryDirectory() as vocab_dir:
            write_byte_vocab(Path(vocab_dir))
            tokenizer = tiny_tokenizer(Path(vocab_dir))
        pipe = StableDiffusionInpaintPipeline(
            vae=vae,
            text_encoder=CLIPTextModel(CLIPTextConfig(**TEXT_CONFIG)),
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.save_pretrained(target)

    return build(Path(folder), stamp, write)
