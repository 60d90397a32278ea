"""Tiny random inpainting pipelines of the families beyond SD 1.x/2.x, in diffusers layout.

Each is the family's real pipeline class with its real component classes, at a few hundred
thousand parameters: SDXL's two CLIP text towers, FLUX's and SD 3's CLIP + T5, the family's VAE
shape (16-channel latents at 1/8 for FLUX and SD 3), its flow-matching scheduler. Native sizes
are the pipelines' own (1024 px for FLUX: its ``default_sample_size`` is fixed), so the tests
ask for small crops.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ._build import build
from .diffusion_parts import (
    clip_text,
    flow_scheduler,
    inpaint_unet,
    kl_vae,
    qwen3_text,
    qwen_vl_text,
    t5_text,
)

FLUX_VAE = dict(blocks=4, latent_channels=16, scaling_factor=0.3611, shift_factor=0.1159)
"""FLUX.1's VAE settings (16 channels, 8x) on a tiny VAE (Chroma's and Z-Image's too)."""
SD3_VAE = dict(blocks=4, latent_channels=16, scaling_factor=1.5305, shift_factor=0.0609)
"""SD 3's VAE settings."""


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


def _flux(pipeline: str, in_channels: int) -> Callable[[Path], None]:
    """The writer of a random FLUX.1 pipeline ``pipeline`` whose transformer reads
    ``in_channels`` a token; CLIP + T5, FLUX's VAE and scheduler."""

    def write(target: Path) -> None:
        import diffusers

        vae = kl_vae(**FLUX_VAE)
        transformer = diffusers.FluxTransformer2DModel(
            in_channels=in_channels,
            out_channels=64,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            pooled_projection_dim=32,
            guidance_embeds=True,
            axes_dims_rope=(4, 6, 6),
        )
        text_encoder, tokenizer = clip_text()
        text_encoder_2, tokenizer_2 = t5_text()
        getattr(diffusers, pipeline)(
            scheduler=flow_scheduler(),
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            text_encoder_2=text_encoder_2,
            tokenizer_2=tokenizer_2,
            transformer=transformer,
        ).save_pretrained(target)

    return write


def build_tiny_flux_fill(folder: Path) -> Path:
    """A random ``FluxFillPipeline``: its transformer reads 384 channels a token, as FLUX.1
    Fill's (the packed latent, the packed masked picture and the 8x8 mask)."""
    return build(Path(folder), {"builder": "flux-fill"}, _flux("FluxFillPipeline", 64 + 64 + 256))


def build_tiny_flux_kontext(folder: Path) -> Path:
    """A random ``FluxKontextInpaintPipeline`` (FLUX.1 Kontext's 64-channel transformer, which
    reads the picture's tokens after the latent's)."""
    writer = _flux("FluxKontextInpaintPipeline", 64)
    return build(Path(folder), {"builder": "flux-kontext"}, writer)


def build_tiny_sd3_inpaint(folder: Path) -> Path:
    """A random ``StableDiffusion3InpaintPipeline`` (an SD 3 transformer of 2x2 patches at
    SD 3.5's native 1024 px, two CLIP towers with projections and a T5 as wide as both)."""

    def write(target: Path) -> None:
        from diffusers import SD3Transformer2DModel, StableDiffusion3InpaintPipeline

        vae = kl_vae(**SD3_VAE)
        transformer = SD3Transformer2DModel(
            sample_size=128,
            patch_size=2,
            in_channels=16,
            out_channels=16,
            num_layers=1,
            attention_head_dim=8,
            num_attention_heads=4,
            joint_attention_dim=64,
            caption_projection_dim=32,
            pooled_projection_dim=64,
            pos_embed_max_size=96,
        )
        text_encoder, tokenizer = clip_text(projection=True)
        text_encoder_2, tokenizer_2 = clip_text(projection=True)
        text_encoder_3, tokenizer_3 = t5_text(width=64)  # CLIP's 2 x 32 features are padded to it
        StableDiffusion3InpaintPipeline(
            transformer=transformer,
            scheduler=flow_scheduler(dynamic=False),
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            text_encoder_2=text_encoder_2,
            tokenizer_2=tokenizer_2,
            text_encoder_3=text_encoder_3,
            tokenizer_3=tokenizer_3,
        ).save_pretrained(target)

    return build(Path(folder), {"builder": "sd3-inpaint"}, write)


def build_tiny_chroma_inpaint(folder: Path) -> Path:
    """A random ``ChromaInpaintPipeline`` (Chroma's FLUX-like transformer with its modulation
    approximator, T5 only, FLUX's VAE)."""

    def write(target: Path) -> None:
        from diffusers import ChromaInpaintPipeline, ChromaTransformer2DModel

        vae = kl_vae(**FLUX_VAE)
        transformer = ChromaTransformer2DModel(
            in_channels=64,
            out_channels=64,
            num_layers=1,
            num_single_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            axes_dims_rope=(4, 6, 6),
            approximator_num_channels=16,
            approximator_hidden_dim=32,
            approximator_layers=1,
        )
        text_encoder, tokenizer = t5_text()
        ChromaInpaintPipeline(
            scheduler=flow_scheduler(),
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            transformer=transformer,
        ).save_pretrained(target)

    return build(Path(folder), {"builder": "chroma-inpaint"}, write)


def build_tiny_z_image_inpaint(folder: Path) -> Path:
    """A random ``ZImageInpaintPipeline`` (Z-Image's single-stream transformer of 2x2 patches,
    a Qwen3 text encoder, FLUX's VAE, a fixed shift of 3)."""

    def write(target: Path) -> None:
        from diffusers import ZImageInpaintPipeline, ZImageTransformer2DModel

        vae = kl_vae(**FLUX_VAE)
        transformer = ZImageTransformer2DModel(
            in_channels=16,
            dim=32,
            n_layers=1,
            n_refiner_layers=1,
            n_heads=2,
            n_kv_heads=2,
            cap_feat_dim=32,
            axes_dims=[4, 6, 6],
            axes_lens=[256, 64, 64],
        )
        text_encoder, tokenizer = qwen3_text()
        ZImageInpaintPipeline(
            scheduler=flow_scheduler(dynamic=False),
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            transformer=transformer,
        ).save_pretrained(target)

    return build(Path(folder), {"builder": "z-image-inpaint"}, write)


def _qwen_parts() -> dict[str, object]:
    """Qwen-Image's transformer of 2x2 patches and its 3-D VAE (16 channels at 1/8, one frame),
    tiny."""
    from diffusers import AutoencoderKLQwenImage, QwenImageTransformer2DModel

    return dict(
        vae=AutoencoderKLQwenImage(base_dim=4, z_dim=16, num_res_blocks=1),
        transformer=QwenImageTransformer2DModel(
            in_channels=64,
            out_channels=16,
            num_layers=1,
            attention_head_dim=16,
            num_attention_heads=2,
            joint_attention_dim=32,
            axes_dims_rope=(4, 6, 6),
        ),
        scheduler=flow_scheduler(),
    )


def build_tiny_qwen_image(folder: Path) -> Path:
    """A random ``QwenImageInpaintPipeline`` (a Qwen2.5-VL reading the prompt alone)."""

    def write(target: Path) -> None:
        from diffusers import QwenImageInpaintPipeline

        parts = _qwen_parts()
        text_encoder, tokenizer = qwen_vl_text()
        QwenImageInpaintPipeline(
            text_encoder=text_encoder, tokenizer=tokenizer, **parts
        ).save_pretrained(target)

    return build(Path(folder), {"builder": "qwen-image-inpaint"}, write)


def build_tiny_qwen_image_edit(folder: Path) -> Path:
    """A random ``QwenImageEditInpaintPipeline`` (the Qwen2.5-VL reads the prompt with the
    picture through its processor; the picture's latent is a reference beside the latent)."""

    def write(target: Path) -> None:
        from diffusers import QwenImageEditInpaintPipeline

        parts = _qwen_parts()
        text_encoder, tokenizer, processor = qwen_vl_text(processor=True)
        QwenImageEditInpaintPipeline(
            text_encoder=text_encoder, tokenizer=tokenizer, processor=processor, **parts
        ).save_pretrained(target)

    return build(Path(folder), {"builder": "qwen-image-edit-inpaint"}, write)
