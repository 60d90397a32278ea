"""Tiny models of more ComfyUI image families, built in code as ComfyUI's loaders build them
(``family_models.build_in_code``: the family's ``comfy.supported_models`` class with a small
unet config; ComfyUI detects these only at their full widths), each with a TAESD of its
latents and a conditioning of its shapes made by hand (the stock text encoders are
gigabytes): OmniGen2, SD3, FLUX.1 schnell, Chroma, Lumina 2, Z-Image, AuraFlow and
LongCat-Image.

Import after ComfyUI (the ``comfyui`` fixture).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from family_models import (
    CONDITIONINGS,
    FLUX_BASE,
    Conditioning,
    TinyFamily,
    _tensor,
    build_in_code,
    flux_config,
    load_vae,
    write_taesd,
)

NEXT_DIT = dict(
    image_model="lumina2", patch_size=2, in_channels=16, dim=64, n_layers=1, n_refiner_layers=1,
    n_heads=2, n_kv_heads=2, multiple_of=16, qk_norm=True, cap_feat_dim=32,
    axes_dims=[8, 12, 12], axes_lens=[300, 512, 512],
)  # fmt: skip
"""Lumina 2's NextDiT, tiny (Z-Image's is the same class with its modulation)."""


def chroma_config() -> dict[str, Any]:
    """Chroma's tiny config: FLUX.1's with the modulation approximator in place of the
    guidance and vector inputs, as far as this ComfyUI's Chroma class takes it."""
    import comfy.ldm.chroma.model as chroma

    wanted = FLUX_BASE | dict(in_channels=64, out_channels=64, in_dim=64, out_dim=128)
    wanted |= dict(hidden_dim=32, n_layers=1)
    known = {field.name for field in dataclasses.fields(chroma.ChromaParams)}
    return {"image_model": "chroma"} | {k: v for k, v in wanted.items() if k in known}


def configs() -> dict[str, dict[str, Any]]:
    """Family (its config class) → its small unet config, for this ComfyUI."""
    return {
        "Omnigen2": dict(
            image_model="omnigen2", patch_size=2, in_channels=16, hidden_size=64, num_layers=1,
            num_refiner_layers=1, num_attention_heads=2, num_kv_heads=2, multiple_of=16,
            axes_dim_rope=[8, 12, 12], axes_lens=[300, 512, 512], text_feat_dim=32,
            timestep_scale=1000.0,
        ),
        "SD3": dict(
            in_channels=16, out_channels=16, patch_size=2, depth=1, adm_in_channels=32,
            context_embedder_config={
                "target": "torch.nn.Linear", "params": {"in_features": 32, "out_features": 64}
            },
            pos_embed_max_size=64, num_patches=64 * 64, pos_embed_scaling_factor=None,
        ),
        "FluxSchnell": {"image_model": "flux", **flux_config("Flux"), "guidance_embed": False},
        "LongCatImage": {
            "image_model": "flux", **flux_config("Flux"), "guidance_embed": False,
            "vec_in_dim": None, "txt_ids_dims": [1, 2],
        },
        "Chroma": chroma_config(),
        "AuraFlow": dict(
            in_channels=4, out_channels=4, patch_size=2, dim=64, n_layers=2, n_double_layers=1,
            n_heads=2, global_conddim=64, cond_seq_dim=32, max_seq=32 * 32,
        ),
        "Lumina2": NEXT_DIT,
        "ZImage": NEXT_DIT | dict(
            dim=256, axes_dims=[32, 48, 48], z_image_modulation=True, time_scale=1000.0,
            pad_tokens_multiple=32,
        ),  # its modulation reads 256 features: no narrower
    }  # fmt: skip


def _with_mask(text: str) -> Conditioning:
    """A language model's conditioning with its attention mask (OmniGen2's, Lumina 2's)."""
    return [[_tensor(text, 1, 8, 32), {"attention_mask": torch.ones(1, 8, dtype=torch.long)}]]


ENCODINGS = {
    "Omnigen2": _with_mask,
    "SD3": lambda t: [[_tensor(t, 1, 8, 32), {"pooled_output": _tensor(t, 1, 32)}]],
    "FluxSchnell": CONDITIONINGS["Flux"],
    "Chroma": CONDITIONINGS["Flux"],  # its T5 only; 0.3.64 reads a pooled output all the same
    "Lumina2": _with_mask,
    "ZImage": _with_mask,
    "AuraFlow": CONDITIONINGS["Flux2"],
    "LongCatImage": CONDITIONINGS["Flux2"],
}
"""Family → a conditioning of its shapes for a text."""
MORE = tuple(ENCODINGS)


def taesd_of(model: Any, folder: Path) -> Any:
    """A TAESD of ``model``'s latent format (its channels, scale and shift), as Load VAE
    reads one."""
    latent = model.model.latent_format
    name = f"taesd_{type(latent).__name__}.safetensors"
    shift = getattr(latent, "shift_factor", None) or 0.0
    return load_vae(write_taesd(folder / name, latent.latent_channels, latent.scale_factor, shift))


def make_more(name: str, folder: Path, step: int) -> TinyFamily:
    """``name``'s (one of :data:`MORE`) tiny MODEL with a TAESD of its latents, files under
    ``folder``; ``step``: its crop step."""
    model = build_in_code(name, configs()[name])
    return TinyFamily(name, model, taesd_of(model, folder), step, ENCODINGS[name])
