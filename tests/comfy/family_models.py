"""Tiny models of the ComfyUI image families, made the way ComfyUI makes them.

- FLUX.1, FLUX.1 Fill and FLUX.2 diffusion models: state dicts of ComfyUI's own FLUX class at
  hidden size 128 (one head, one double and one single block), written as safetensors and
  loaded by ``comfy.sd.load_diffusion_model`` (UNETLoader's loader), which detects their
  family from the key shapes (``comfy/model_detection.py``; 0.3.64's detection fixes FLUX's
  full width, so there they are built in code, as below).
- SDXL, Qwen-Image, HiDream (and Wan 2.1, a video model, for the refusals): ComfyUI detects
  these only at their full widths, so they are built in code as its loaders build them: the
  family's ``comfy.supported_models`` class with a small unet config, ``.get_model()``, random
  weights, a ``ModelPatcher``.
- VAEs: a TAESD (4 channels for SDXL, 16 for FLUX.1 and HiDream; 128, FLUX.2's taef2, as the
  two files Load VAE reads), FLUX.2's 16x VAE (the SD architecture with the 2x2 batch-norm
  latent) and the Wan 2.1 VAE (Qwen-Image's, 5-D latents; 0.3.64 reads it only at full width),
  written as safetensors and read by ComfyUI's VAE class, which detects each from its keys.
  Their weights are *geometric*, not random: each layer passes its input's first channels
  through (stride-2 convolutions average 2x2 blocks, the convolutions after an upsample
  interpolate, residual branches and attention outputs are zero), so a picture comes back from
  encode → decode where it was, 8x smoothed; a random VAE's output has no place to compare.
- Conditionings are tensors of each family's shapes made by hand (from a seed per text): the
  stock text encoders (T5-XXL, Qwen2.5-VL 7B, Llama 3.1 8B) are gigabytes. :class:`StandInClip`
  serves them where a node encodes text itself (Edit by Text).

Import after ComfyUI (the ``comfyui`` fixture).
"""

from __future__ import annotations

import dataclasses
import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import comfy.model_management as mm
import comfy.model_patcher
import comfy.ops
import comfy.sd
import comfy.supported_models as supported
import comfy.utils
import torch
from safetensors.torch import save_file

Conditioning = list[list[Any]]
SEED = 0


def _meta(build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    with torch.device("meta"):
        return build()


def random_weights(module: torch.nn.Module, seed: int = SEED) -> dict[str, torch.Tensor]:
    """Seeded weights for every tensor of ``module``: matrices and kernels ~ N(0, 1/fan_in),
    norm weights 1, biases 0."""
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for key, value in module.state_dict().items():
        shape = tuple(value.shape)
        if len(shape) > 1:
            weights[key] = torch.randn(shape, generator=generator) * math.prod(shape[1:]) ** -0.5
        elif key.endswith(("weight", "scale")):
            weights[key] = torch.ones(shape)
        else:
            weights[key] = torch.zeros(shape)
    return weights


# --- diffusion models ------------------------------------------------------------------------

FLUX_CONFIGS = {
    "Flux": dict(in_channels=16),
    "FluxInpaint": dict(in_channels=96),  # 16 latent + 16 masked image + 64 packed mask
    "Flux2": dict(
        in_channels=128, out_channels=128, vec_in_dim=None, mlp_ratio=3.0,
        axes_dim=[32, 32, 32, 32], theta=2000, patch_size=1, qkv_bias=False,
        txt_ids_dims=[3], global_modulation=True, mlp_silu_act=True, ops_bias=False,
    ),
}  # fmt: skip
"""What differs from FLUX.1 dev in each FLUX model's config (``comfy/model_detection.py``)."""
FLUX_BASE = dict(
    out_channels=16, vec_in_dim=32, context_in_dim=32, hidden_size=128, mlp_ratio=4.0,
    num_heads=1, depth=1, depth_single_blocks=1, axes_dim=[16, 56, 56], theta=10000,
    patch_size=2, qkv_bias=True, guidance_embed=True, txt_ids_dims=[],
)  # fmt: skip


def flux_config(family: str) -> dict[str, Any]:
    """The tiny config of a FLUX model (``family``: its config class), as far as this
    ComfyUI's FLUX class takes it (0.3.64's takes fewer fields)."""
    import comfy.ldm.flux.model as flux

    known = {field.name for field in dataclasses.fields(flux.FluxParams)}
    return {key: value for key, value in (FLUX_BASE | FLUX_CONFIGS[family]).items() if key in known}


def write_flux(path: Path, family: str, **widths: int) -> Path | None:
    """A tiny FLUX.1 / FLUX.1 Fill / FLUX.2 diffusion model (``family``: its config class;
    ``widths``: other text widths, ``context_in_dim`` and ``vec_in_dim``) written at ``path``
    as UNETLoader reads one; None where this ComfyUI's detection fixes FLUX's full width
    (0.3.64), so no tiny file of it loads."""
    import comfy.ldm.flux.model as flux
    import comfy.model_detection

    config = flux_config(family) | widths
    module = _meta(lambda: flux.Flux(**config, operations=comfy.ops.disable_weight_init))
    weights = random_weights(module)
    detected = comfy.model_detection.detect_unet_config(weights, "")
    if detected.get("hidden_size") != config["hidden_size"]:
        return None
    return _save(path, weights)


def load_flux(folder: Path, family: str) -> Any:
    """A tiny FLUX.1 / FLUX.1 Fill / FLUX.2 MODEL (``family``: its config class) written as a
    diffusion_models file and loaded by ``comfy.sd.load_diffusion_model``; where ComfyUI's
    detection fixes FLUX's full width (0.3.64), built in code instead."""
    path = write_flux(folder / f"{family}.safetensors", family)
    if path is None:
        return build_in_code(family, {"image_model": "flux", **flux_config(family)})
    return comfy.sd.load_diffusion_model(str(path))


IN_CODE = {
    "SDXL": dict(
        image_size=32, in_channels=4, out_channels=4, model_channels=32, num_res_blocks=[1, 1],
        channel_mult=[1, 2], transformer_depth=[0, 1], transformer_depth_output=[0, 0, 1, 1],
        transformer_depth_middle=1, num_head_channels=32, context_dim=2048, adm_in_channels=2816,
        use_spatial_transformer=True, use_linear_in_transformer=True, legacy=False,
        num_classes="sequential", use_temporal_attention=False, use_temporal_resblock=False,
    ),
    "QwenImage": dict(
        image_model="qwen_image", patch_size=2, in_channels=64, out_channels=16, num_layers=1,
        attention_head_dim=128, num_attention_heads=1, joint_attention_dim=64,
        axes_dims_rope=(16, 56, 56),
    ),
    "HiDream": dict(
        image_model="hidream", patch_size=2, in_channels=16, out_channels=16, num_layers=1,
        num_single_layers=1, attention_head_dim=128, num_attention_heads=1,
        axes_dims_rope=[64, 32, 32], caption_channels=[32, 32], text_emb_dim=32,
        num_routed_experts=2, num_activated_experts=1, max_resolution=[128, 128],
        llama_layers=[0, 1],
    ),
    "WAN21_T2V": dict(
        image_model="wan2.1", model_type="t2v", in_dim=16, out_dim=16, dim=128, ffn_dim=128,
        num_heads=1, num_layers=1, text_dim=32,
    ),
}  # fmt: skip
"""Small unet configs of the families built in code (real widths elsewhere); Wan 2.1, a video
model, for the refusals."""


def build_in_code(family: str | type, unet_config: dict[str, Any] | None = None) -> Any:
    """A MODEL of ``family`` (a config class, or its name in ``comfy.supported_models``; the
    configs of :data:`IN_CODE` by default) built as ComfyUI's loaders build one: the config
    class, ``get_model``, weights, a ModelPatcher."""
    cls = getattr(supported, family) if isinstance(family, str) else family
    config = cls(dict(unet_config or IN_CODE[cls.__name__]))
    config.set_inference_dtype(torch.float32, None)
    base = config.get_model({})
    base.diffusion_model.load_state_dict(random_weights(base.diffusion_model))
    return comfy.model_patcher.ModelPatcher(
        base, load_device=mm.get_torch_device(), offload_device=mm.unet_offload_device()
    )


# --- VAEs with geometric weights ---------------------------------------------------------------

PASS, ZERO, SMOOTH = "pass", "zero", "smooth"
Rules = list[tuple[str, Any]]
"""(key pattern, what its weight is): ``PASS`` (channel c to c at the centre tap; the current
frame of a causal 3-D conv), ``ZERO``, ``SMOOTH`` (after a 2x nearest upsample: linear
interpolation) or ``("average", first tap)`` (a stride-2 conv averaging 2x2 blocks)."""
TAESD_RULES: Rules = [
    (r"taesd_decoder\.(7|12|17)\.weight$", SMOOTH),
    (r"\.conv\.4\.weight$", ZERO),
    (r"taesd_encoder\.(2|6|10)\.weight$", ("average", 1)),
]
KL_RULES: Rules = [
    (r"upsample\.conv\.weight$", SMOOTH),
    (r"\.conv2\.weight$", ZERO),
    (r"proj_out\.weight$", ZERO),
    (r"downsample\.conv\.weight$", ("average", 0)),
]
WAN_RULES: Rules = [
    (r"decoder\.upsamples\.\d+\.resample\.1\.weight$", SMOOTH),
    (r"residual\.6\.weight$", ZERO),
    (r"\.proj\.weight$", ZERO),
    (r"encoder\.downsamples\.\d+\.resample\.1\.weight$", ("average", 0)),
    (r"time_conv", ZERO),
]


def _kernel(shape: tuple[int, ...], rule: Any) -> torch.Tensor:
    weight = torch.zeros(shape)
    if rule == ZERO:
        return weight
    taps = shape[2:]
    smooth = torch.tensor([0.25, 0.5, 0.25])
    for c in range(min(shape[0], shape[1])):
        if rule == SMOOTH:
            weight[c, c] = smooth[:, None] * smooth[None, :]
        elif isinstance(rule, tuple):
            weight[(c, c, *[slice(rule[1], rule[1] + 2)] * len(taps))] = 0.25
        elif len(taps) == 3:
            weight[c, c, -1, taps[1] // 2, taps[2] // 2] = 1.0
        else:
            weight[(c, c, *[size // 2 for size in taps])] = 1.0
    return weight


def geometric_weights(module: torch.nn.Module, rules: Rules) -> dict[str, torch.Tensor]:
    """Weights that carry a picture through ``module`` in place (see the module docstring)."""
    weights = {}
    for key, value in module.state_dict().items():
        shape = tuple(value.shape)
        if "running_var" in key or key.endswith("gamma"):
            weights[key] = torch.ones(shape)
        elif len(shape) > 1:
            rule = next((rule for pattern, rule in rules if re.search(pattern, key)), PASS)
            weights[key] = _kernel(shape, rule)
        elif key.endswith("weight"):
            weights[key] = torch.ones(shape)
        else:
            weights[key] = torch.zeros(shape)
    return weights


def _taesd_weights(channels: int) -> dict[str, torch.Tensor]:
    """Geometric weights of ComfyUI's TAESD with ``channels`` latent channels (128: FLUX.2's)."""
    import comfy.taesd.taesd as taesd

    return geometric_weights(_meta(lambda: taesd.TAESD(latent_channels=channels)), TAESD_RULES)


def write_taesd(path: Path, channels: int, scale: float, shift: float = 0.0) -> Path:
    """A TAESD of ``channels`` latent channels and latent ``scale``/``shift`` as one VAE file."""
    weights = _taesd_weights(channels)
    weights["vae_scale"], weights["vae_shift"] = torch.tensor(scale), torch.tensor(shift)
    return _save(path, weights)


def write_taef1(path: Path) -> Path:
    """FLUX.1's TAESD (16 channels, FLUX's latent scale and shift) as one VAE file."""
    return write_taesd(path, 16, 0.3611, 0.1159)


def write_tae_files(folder: Path, name: str, channels: int) -> Path:
    """A TAESD of ``channels`` latent channels as the two files Load VAE reads by ``name``
    (``taef2_encoder.safetensors``, ``taef2_decoder.safetensors``) in a vae_approx ``folder``."""
    weights = _taesd_weights(channels)
    for part in ("encoder", "decoder"):
        prefix = f"taesd_{part}."
        own = {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
        _save(folder / f"{name}_{part}.safetensors", own)
    return folder


def write_flux2_vae(path: Path) -> Path:
    """FLUX.2's VAE: ComfyUI reads the SD VAE layout with a batch-norm latent as 32 channels at
    8x, patched 2x2 into 128 at 16x (its encoder is full width, ComfyUI fixes it; the decoder
    is small). The norms before the last convolutions are shifted into SiLU's linear part."""
    from comfy.ldm.models.autoencoder import AutoencoderKL

    encoder = dict(
        double_z=True, z_channels=32, resolution=256, in_channels=3, out_ch=3, ch=128,
        ch_mult=[1, 2, 4, 4], num_res_blocks=2, attn_resolutions=[], dropout=0.0,
        batch_norm_latent=True,
    )  # fmt: skip
    module = _meta(
        lambda: AutoencoderKL(ddconfig=encoder, embed_dim=32, decoder_ddconfig=encoder | {"ch": 32})
    )
    weights = geometric_weights(module, KL_RULES)
    for part in ("encoder", "decoder"):
        weights[f"{part}.norm_out.weight"].fill_(0.3)
        weights[f"{part}.norm_out.bias"].fill_(3.0)
        weights[f"{part}.conv_out.bias"][:3] = -3.0
    return _save(path, {key: value.half() for key, value in weights.items()})


def write_wan_vae(path: Path) -> Path:
    """The Wan 2.1 VAE (Qwen-Image's) at width 16; a constant channel keeps the brightness
    through its channel-wise RMS norms."""
    from comfy.ldm.wan.vae import WanVAE

    module = _meta(lambda: WanVAE(dim=16, z_dim=16, temperal_downsample=[False, True, True]))
    weights = geometric_weights(module, WAN_RULES)
    weights["encoder.conv1.bias"][3] = 1.0
    return _save(path, weights)


def _save(path: Path, weights: dict[str, torch.Tensor]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(path))
    return path


def load_vae(path: Path) -> Any:
    """A VAE file read as Load VAE reads one."""
    weights, metadata = comfy.utils.load_torch_file(str(path), return_metadata=True)
    vae = comfy.sd.VAE(sd=weights, metadata=metadata)
    vae.throw_exception_if_invalid()
    return vae


# --- conditionings -----------------------------------------------------------------------------


def _tensor(text: str, *shape: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(zlib.crc32(text.encode()))
    return torch.randn(shape, generator=generator)


CONDITIONINGS: dict[str, Callable[[str], Conditioning]] = {
    "SDXL": lambda t: [[_tensor(t, 1, 77, 2048), {"pooled_output": _tensor(t, 1, 1280)}]],
    "Flux": lambda t: [[_tensor(t, 1, 8, 32), {"pooled_output": _tensor(t, 1, 32)}]],
    "Flux2": lambda t: [[_tensor(t, 1, 8, 32), {}]],
    "QwenImage": lambda t: [[_tensor(t, 1, 8, 64), {}]],
    "HiDream": lambda t: [
        [
            _tensor(t, 1, 8, 32),
            {"pooled_output": _tensor(t, 1, 32), "conditioning_llama3": _tensor(t, 1, 2, 8, 32)},
        ]
    ],
}
"""Family → a conditioning of its shapes for a text (FLUX Fill's is FLUX.1's)."""


class StandInClip:
    """A CLIP that encodes text as :data:`CONDITIONINGS` does (in place of the stock text
    encoders, gigabytes each): what Edit by Text calls, ``tokenize`` then
    ``encode_from_tokens_scheduled``. The images a vision-language encoder would see
    (TextEncodeQwenImageEditPlus hands them to ``tokenize``) are kept in ``images``."""

    def __init__(self, encode: Callable[[str], Conditioning]):
        self._encode = encode
        self.images: list[torch.Tensor] = []

    def tokenize(self, text: str, images: list[torch.Tensor] = (), **template: Any) -> str:
        self.images.extend(images)
        return text

    def encode_from_tokens_scheduled(self, tokens: str) -> Conditioning:
        return self._encode(tokens)


# --- the families --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TinyFamily:
    """One family's tiny MODEL and VAE, and its conditioning.

    Attributes:
        name: ComfyUI's config class of the MODEL (what ``comfy_families.FAMILIES`` keys on).
        model, vae: the MODEL and VAE.
        step: the crop step it needs (latent downscale x patch).
        encode: text → its conditioning.
    """

    name: str
    model: Any
    vae: Any
    step: int
    encode: Callable[[str], Conditioning]

    @property
    def clip(self) -> StandInClip:
        """A fresh stand-in CLIP of the family's conditionings."""
        return StandInClip(self.encode)


def make_family(name: str, folder: Path) -> TinyFamily:
    """``name``'s tiny MODEL and VAE, files written under ``folder``."""
    if name in FLUX_CONFIGS:
        model = load_flux(folder, name)
    else:
        model = build_in_code(name)
    if name == "SDXL":
        vae_file = write_taesd(folder / "taesdxl.safetensors", 4, 0.13025)
    elif name == "Flux2":
        vae_file = write_flux2_vae(folder / "flux2_vae.safetensors")
    elif name == "QwenImage":
        vae_file = write_wan_vae(folder / "wan_2.1_vae.safetensors")
    else:
        vae_file = write_taef1(folder / "taef1.safetensors")
    step = {"SDXL": 8, "Flux2": 16}.get(name, 16)
    encode = CONDITIONINGS["Flux" if name == "FluxInpaint" else name]
    return TinyFamily(name, model, load_vae(vae_file), step, encode)
