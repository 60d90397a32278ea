"""A tiny random Stable Diffusion inpainting pipeline in diffusers layout."""

from __future__ import annotations

from pathlib import Path

from ._build import build
from .diffusion_parts import clip_text, inpaint_unet, kl_vae


def build_tiny_inpaint(folder: Path) -> Path:
    """A random ``StableDiffusionInpaintPipeline`` (9-channel UNet) saved in diffusers layout.

    Native size 64 px (UNet sample size 32, VAE scale factor 2); no safety checker.
    """
    stamp = {"builder": "inpaint"}

    def write(target: Path) -> None:
        from diffusers import PNDMScheduler, StableDiffusionInpaintPipeline

        vae = kl_vae()
        unet = inpaint_unet(cross_attention_dim=32, attention_head_dim=8)
        # The scheduler settings of stable-diffusion-inpainting's scheduler_config.json.
        scheduler = PNDMScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            skip_prk_steps=True,
            set_alpha_to_one=False,
            steps_offset=1,
        )
        text_encoder, tokenizer = clip_text()
        pipe = StableDiffusionInpaintPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.save_pretrained(target)

    return build(Path(folder), stamp, write)
