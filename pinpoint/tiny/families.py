"""Tiny random inpainting pipelines of the families beyond SD 1.x/2.x, in diffusers layout.

Each is the family's real pipeline class with its real component classes, at a few hundred
thousand parameters: SDXL's two CLIP text towers, FLUX's and SD 3's CLIP + T5, the family's VAE
shape (16-channel latents at 1/8 for FLUX and SD 3), its flow-matching scheduler. Native sizes
are the pipelines' own (1024 px for FLUX: its ``default_sample_size`` is fixed), so the tests
ask for small crops.
"""

from __future__ import annotations

from pathlib import Path

from ._build import build
from .diffusion_parts import clip_text, flow_scheduler, inpaint_unet, kl_vae, t5_text

FLUX_VAE = dict(blocks=4, latent_channels=16, scaling_factor=0.3611, shift_factor=0.1159)
"""FLUX.1's VAE settings (16 channels, 8x) on a tiny VAE."""


def build_tiny_sdxl_inpaint(folder: Path) -> Path:
    """A random ``StableDiffusionXLInpaintPipeline`` (9-channel UNet with SDXL's size and crop
    conditioning, two CLIP text towers) with an Euler scheduler; native size 64 px."""

    def write(target: Path) -> None:
        from diffusers import EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline

        vae = kl_vae()
        time_embedding = 8  # six numbers (sizes and crop corner) of 8 channels, + CLIP's 32
        unet = inpaint_unet(
            cross_attention_dim=64,  # both text towers' features side by side
            attention_head_dim=(2, 4),
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=time_embedding,
            projection_class_embeddings_input_dim=6 * time_embedding + 32,
        )
        # diffusers/stable-diffusion-xl-1.0-inpainting-0.1's scheduler settings
        scheduler = EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            timestep_spacing="leading",
        )
        text_encoder, tokenizer = clip_text()
        text_encoder_2, tokenizer_2 = clip_text(projection=True)
        StableDiffusionXLInpaintPipeline(
            vae=vae,
            text_encoder=text_encoder,
            text_encoder_2=text_encoder_2,
            tokenizer=tokenizer,
            tokenizer_2=tokenizer_2,
            unet=unet,
            scheduler=scheduler,
            requires_aesthetics_score=False,
            add_watermarker=False,
        ).save_pretrained(target)

    return build(Path(folder), {"builder": "sdxl-inpaint"}, write)


def _flux_transformer(in_channels: int, guidance: bool = True) -> object:
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel(
        in_channels=in_channels,
        out_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=guidance,
        axes_dims_rope=(4, 6, 6),
    )


def build_tiny_flux_fill(folder: Path) -> Path:
    """A random ``FluxFillPipeline``: its transformer reads 384 channels a token, as FLUX.1
    Fill's (the packed latent, the packed masked picture and the 8x8 mask); CLIP + T5."""

    def write(target: Path) -> None:
        from diffusers import FluxFillPipeline

        vae = kl_vae(**FLUX_VAE)
        transformer = _flux_transformer(64 + 64 + 4 * 8 * 8)
        text_encoder, tokenizer = clip_text()
        text_encoder_2, tokenizer_2 = t5_text()
        FluxFillPipeline(
            scheduler=flow_scheduler(),
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            text_encoder_2=text_encoder_2,
            tokenizer_2=tokenizer_2,
            transformer=transformer,
        ).save_pretrained(target)

    return build(Path(folder), {"builder": "flux-fill"}, write)
