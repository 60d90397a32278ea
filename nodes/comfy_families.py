"""What Pinpoint knows of each ComfyUI model family: one table (:data:`FAMILIES`), keyed by the
name of ComfyUI's model config class (``comfy.supported_models``), and what is read from the
MODEL and VAE themselves (the latent step, the latent channels, the guidance embedding).

A family either repaints crops (its native size, how a mask reaches it, the FLUX guidance its
guidance-distilled models read, how its editing models take a reference image and at which
sizes) or is refused with the reason (video, audio, 3D models ...).
A config class that is not in the table (nor a subclass of one that is) is unknown: refused
too, never guessed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import node_helpers
import torch
from comfy.model_base import ModelType

from ..pinpoint.diffusers_families import area_sizes
from ..pinpoint.errors import PinpointError

Conditioning = list[list[Any]]
"""ComfyUI's CONDITIONING: ``[[cross-attention tensor [B, L, D], {"pooled_output": ...}], ...]``."""


class Inpaint(enum.Enum):
    """How a crop's mask reaches a family's models."""

    NOISE_MASK = "noise mask"
    """The crop's latent with a noise mask (VAE Encode + Set Latent Noise Mask). SD-style
    inpainting checkpoints (ComfyUI's ``concat_keys`` hold ``mask``) get mask channels."""
    MASK_CHANNELS = "mask channels"
    """The masked crop and the mask as extra input channels, as InpaintModelConditioning
    builds them (FLUX Fill)."""


class Reference(enum.Enum):
    """How a family's instruction editors take the crop as their reference image."""

    NONE = "none"
    """They take none: instruction editing is refused."""
    LATENT = "reference latent"
    """The crop's latent appended to the conditioning's ``reference_latents``, as ComfyUI's
    ReferenceLatent node does (FLUX.1 Kontext, FLUX.2, OmniGen2)."""
    INPUT_IMAGE = "input image"
    """The crop's latent as the model's input image (``concat_latent_image``), as ComfyUI's
    InstructPixToPixConditioning sets it: HiDream-E1 reads it beside the noise, at the size of
    the latent it samples."""
    QWEN_EDIT = "Qwen-Image-Edit text encoding"
    """The prompt re-encoded with the crop by ComfyUI's TextEncodeQwenImageEditPlus (its vision
    tower sees the crop; it adds the crop's latent as the reference) where the prompt is text
    and a CLIP is given; a ready conditioning gets the reference latent alone."""


Sizes = Callable[[int], tuple[tuple[int, int], ...]]
"""The ``(width, height)`` sizes a family's editors prefer, at a crop step."""


def kontext_sizes(step: int) -> tuple[tuple[int, int], ...]:
    """The resolutions FLUX.1 Kontext was trained at (ComfyUI's own list, as its
    FluxKontextImageScale node picks from; 0.3.64 spells its name PREFERED), at ``step``."""
    import comfy_extras.nodes_flux as flux

    listed = getattr(flux, "PREFERRED_KONTEXT_RESOLUTIONS", None)
    listed = listed or flux.PREFERED_KONTEXT_RESOLUTIONS
    return tuple((w, h) for w, h in listed if w % step == h % step == 0)


def megapixel_sizes(step: int) -> tuple[tuple[int, int], ...]:
    """About one megapixel at every aspect from 1:3 to 3:1, sides multiples of ``step``
    (Qwen-Image-Edit's reference size, TextEncodeQwenImageEditPlus's 1024x1024 area)."""
    return area_sizes(1024 * 1024, step, step)


def hidream_e1_sizes(step: int) -> tuple[tuple[int, int], ...]:
    """768x768, the one size HiDream-E1-Full was trained at (HiDream-E1.1 takes sizes up to about
    one megapixel: set resolution for it; ComfyUI cannot tell the two, nor HiDream-I1, apart)."""
    return ((768, 768),) if 768 % step == 0 else ()


@dataclass(frozen=True)
class Family:
    """One ComfyUI model family.

    Attributes:
        native_size: the resolution it was trained at, in pixels (0 when refused).
        eps_size: the native size of its ε-prediction checkpoints where it differs (SD 2.x).
        inpaint: how a crop's mask reaches it.
        guidance: the FLUX guidance its guidance-distilled checkpoints (a ``guidance_in``
            embedding) read from the conditioning by default (0: the family reads none).
        refused: why it cannot repaint part of a picture ("" when it can).
        reference: how its instruction editors take the crop as their reference image
            (``ComfySampler``'s instruct mode, ``comfy_reference.py``).
        reference_sizes: the crop sizes its editors prefer at a crop step (``None``: any
            aspect at the native size).
    """

    native_size: int = 0
    eps_size: int = 0
    inpaint: Inpaint = Inpaint.NOISE_MASK
    guidance: float = 0.0
    refused: str = ""
    reference: Reference = Reference.NONE
    reference_sizes: Sizes | None = None


def _refused(reason: str, *names: str) -> dict[str, Family]:
    return {name: Family(refused=reason) for name in names}


MEGAPIXEL = (
    *("SDXL", "SDXLRefiner", "SSD1B", "KOALA_700M", "KOALA_1B", "Segmind_Vega", "SD3"),
    *("AuraFlow", "PixArtAlpha", "PixArtSigma", "HunyuanDiT", "HunyuanDiT1", "FluxSchnell"),
    *("Chroma", "ChromaRadiance", "LongCatImage", "Lumina2", "ZImage"),
    *("ZImagePixelSpace", "PixelDiTT2I", "Boogu", "MageFlow", "JoyImage", "Krea2"),
    *("Ideogram4", "Anima", "ErnieImage", "Kandinsky5Image", "CosmosT2IPredict2"),
)
"""The image families trained at about one megapixel (1024x1024) that take a noise mask and
read no FLUX guidance (and no reference image)."""
LATENT = Reference.LATENT

FAMILIES: dict[str, Family] = {
    "SD15": Family(512),
    **dict.fromkeys(("SD20", "SD21UnclipL", "SD21UnclipH"), Family(768, eps_size=512)),
    **dict.fromkeys(MEGAPIXEL, Family(1024)),
    # FLUX.1 dev and Kontext (one config; FluxGuidance's default)
    "Flux": Family(1024, guidance=3.5, reference=LATENT, reference_sizes=kontext_sizes),
    "FluxInpaint": Family(1024, inpaint=Inpaint.MASK_CHANNELS, guidance=30.0),  # FLUX.1 Fill
    "Flux2": Family(1024, guidance=4.0, reference=LATENT),  # FLUX.2 dev's; Klein reads none
    "Omnigen2": Family(1024, reference=LATENT),
    "QwenImage": Family(1328, reference=Reference.QWEN_EDIT, reference_sizes=megapixel_sizes),
    # HiDream-I1 and -E1 (one config); E1 reads the crop as its input image
    "HiDream": Family(1024, reference=Reference.INPUT_IMAGE, reference_sizes=hidream_e1_sizes),
    "Lens": Family(1440),  # its schedule's shift is set for 1440x1440
    "HunyuanImage21": Family(2048),
    "HiDreamO1": Family(2048),  # ComfyUI's HiDream-O1 latent node's default
    **_refused(
        "a video model",
        *("SVD_img2vid", "SV3D_u", "SV3D_p", "GenmoMochi", "LTXV", "LTXAV", "MiniMaxH3"),
        *("HunyuanVideo", "HunyuanVideoI2V", "HunyuanVideoSkyreelsI2V", "HunyuanVideo15"),
        *("HunyuanVideo15_SR_Distilled", "CosmosT2V", "CosmosI2V", "CosmosI2VPredict2"),
        *("WAN21_T2V", "WAN21_I2V", "WAN21_CausalAR_T2V", "WAN21_FunControl2V", "WAN21_Vace"),
        *("WAN21_Camera", "WAN22_Camera", "WAN22_S2V", "WAN21_HuMo", "WAN22_Animate"),
        *("WAN_Animate2", "WAN21_FlowRVS", "WAN21_SCAIL", "WAN21_SCAIL2", "WAN22_WanDancer"),
        *("WAN22_T2V", "Kandinsky5", "CogVideoX_T2V", "CogVideoX_I2V", "CogVideoX_Inpaint"),
        "SeedVR2",
    ),
    **_refused(
        "an audio model", "StableAudio", "StableAudio3", "ACEStep", "ACEStep15", "MiniMaxMusic3"
    ),
    **_refused(
        "a 3D model (shapes, or views of an object)",
        *("Hunyuan3Dv2", "Hunyuan3Dv2mini", "Hunyuan3Dv2_1", "TripoSplat", "Trellis2"),
        "Stable_Zero123",
    ),
    **_refused(
        "not an image generator (it predicts boxes, masks or depth)",
        *("RT_DETR_v4", "SAM3", "SAM31", "DepthAnything3", "LotusD"),
    ),
    **_refused(
        "an upscaler or decoder of other models' outputs",
        *("SD_X4Upscaler", "PiD", "HunyuanImage21Refiner"),
    ),
    **_refused(
        "a stage of Stable Cascade, whose latents no VAE makes",
        *("Stable_Cascade_C", "Stable_Cascade_B"),
    ),
    **_refused(
        "an instruct-pix2pix model, which edits from the crop as a reference image (use "
        "InstructPixToPixConditioning between Crop for Inpaint and Stitch)",
        *("SD15_instructpix2pix", "SDXL_instructpix2pix"),
    ),
}
"""ComfyUI model config class → what Pinpoint knows of its family. Sizes are the families'
training resolutions (SD 1.5 512, SD 2.x 768-v, Qwen-Image 1328, HiDream-O1 and HunyuanImage
2.1 2048, :data:`MEGAPIXEL` 1024); ``tests/comfy/test_families.py`` checks that every family of
``comfy.supported_models.models`` has its line."""

KNOWN = "SD 1.5, SDXL, SD3, FLUX.1, FLUX.2, Qwen-Image, HiDream ..."
EDITORS = "FLUX.1 Kontext, FLUX.2, Qwen-Image-Edit, HiDream-E1 or OmniGen2"
"""The instruction editors ComfyUI hands a reference (or input) image to, for the remedies."""


def family_of(model: Any) -> tuple[str, Family | None]:
    """The name of ``model``'s (a MODEL's) config class and its family (a subclass another
    pack defines is its base's); ``None`` when unknown."""
    config = type(model.model.model_config)
    for cls in config.__mro__:
        if cls.__name__ in FAMILIES:
            return config.__name__, FAMILIES[cls.__name__]
    return config.__name__, None


def repaint_family(model: Any) -> Family:
    """``model``'s family; raise unless it can repaint crops."""
    name, family = family_of(model)
    if family is None:
        raise PinpointError(
            f"the MODEL is a {name} model, a family Pinpoint does not know (its size, how it "
            "takes a mask)",
            f"use a model of a family it knows ({KNOWN}), or sample it yourself between Crop "
            "for Inpaint (resolution set) and Stitch",
        )
    if family.refused:
        raise PinpointError(
            f"the MODEL is {name}, {family.refused}: it cannot repaint part of a picture",
            f"connect an image model ({KNOWN})",
        )
    return family


def crop_resolution(resolution: int, model: Any) -> int:
    """``resolution``, or the native size of ``model`` (a MODEL) when it is 0."""
    if resolution > 0:
        return resolution
    if model is None:
        raise PinpointError(
            "resolution is 0 (the model's native size) but no model is connected",
            "connect the MODEL, or set resolution (512 for SD 1.5, 1024 for SDXL)",
        )
    name, family = family_of(model)
    if family is None:
        raise PinpointError(
            f"resolution is 0 but the native size of {name} models is not known",
            "set resolution to the size the model was trained at (e.g. 1024)",
        )
    family = repaint_family(model)
    if family.eps_size and model.model.model_type != ModelType.V_PREDICTION:
        return family.eps_size
    return family.native_size


def crop_step(model: Any = None, vae: Any = None) -> int:
    """What a crop side must be a multiple of: the latent downscale (the MODEL's latent
    format's, else the VAE's; 8 without either) times the MODEL's patch (2 for FLUX.1, SD3,
    Qwen-Image ...), so no crop is trimmed by the VAE or padded by the model.

    The latent format is read first: ComfyUI's VAE for FLUX.2's TAESD (taef2) reports 8 while
    its latents are 16x. ComfyUI 0.3.64's latent formats lack the downscale: there the VAE's.
    """
    downscale = None
    if model is not None:
        downscale = getattr(model.model.latent_format, "spacial_downscale_ratio", None)
    if downscale is None and vae is not None:
        downscale = vae.spacial_compression_encode()
    patch = 1
    if model is not None:
        patch = getattr(model.model.diffusion_model, "patch_size", 1)
        patch = patch[-1] if isinstance(patch, (tuple, list)) else patch
    return int(downscale or 8) * int(patch)


def decoder_name(model: Any) -> str:
    """The TAESD of ``model``'s family as Load VAE lists it (taesd, taesdxl, taef1, taef2,
    lighttaew2_1 ...), or the checkpoint's VAE where ComfyUI has none."""
    name = model.model.latent_format.taesd_decoder_name
    if not name:
        return "the checkpoint's own VAE"
    return f"{name.removesuffix('_decoder')} (Load VAE, files in models/vae_approx)"


def check_vae(model: Any, vae: Any, decoder: bool = False) -> None:
    """Raise unless ``vae`` makes the latents of ``model``'s family: their channels, their
    dimensions (video-style VAEs' are 5-D), their downscale, and for a TAESD its latent scale
    (SD 1.x's and SDXL's TAESDs have the same shapes). ``decoder``: ``vae`` decodes guided
    steps (the fix names the family's TAESD)."""
    latent_format = model.model.latent_format
    name = type(model.model.model_config).__name__
    ours = (int(vae.latent_channels), int(vae.latent_dim) + 2)
    theirs = (int(latent_format.latent_channels), int(latent_format.latent_dimensions) + 2)
    problem = ""
    if ours != theirs:
        problem = f"makes {ours[0]}-channel {ours[1]}-D latents but {name} models take " + (
            f"{theirs[0]}-channel {theirs[1]}-D ones"
        )
    elif _is_taesd(vae):
        scale = float(vae.first_stage_model.vae_scale.detach())
        shift = float(vae.first_stage_model.vae_shift.detach())
        wanted = (latent_format.scale_factor, getattr(latent_format, "shift_factor", 0.0))
        if abs(scale - wanted[0]) > 1e-3 or abs(shift - wanted[1]) > 1e-3:
            problem = f"is a TAESD of latents scaled {scale:.4g} but {name} latents are scaled " + (
                f"{wanted[0]:.4g}"
            )
    else:
        step = getattr(latent_format, "spacial_downscale_ratio", None)
        if step is not None and int(vae.spacial_compression_encode()) != int(step):
            problem = f"is {vae.spacial_compression_encode()}x but {name} latents are {step}x"
    if problem:
        what = "the guidance decoder" if decoder else "the VAE"
        raise PinpointError(
            f"{what} {problem}: it belongs to another model family",
            f"connect {decoder_name(model)} or the checkpoint's VAE"
            if decoder
            else "connect the VAE of the MODEL's family (its checkpoint's, or its VAE file)",
        )


def encode_crops(vae: Any, pixels: torch.Tensor) -> torch.Tensor:
    """Crops ``[N, h, w, 3]`` → latents ``[N, C, h', w']``, or ``[N, C, 1, h', w']`` from a
    video-style VAE (encoded one by one: it reads a batch as the frames of one video)."""
    if vae.latent_dim == 3:
        return torch.cat([vae.encode(pixels[i : i + 1]) for i in range(len(pixels))])
    return vae.encode(pixels)


def _is_taesd(vae: Any) -> bool:
    return hasattr(vae.first_stage_model, "taesd_decoder")


def reads_guidance(model: Any, family: Family) -> bool:
    """Whether ``model`` is guidance-distilled: it reads a FLUX guidance value (and wants cfg 1)."""
    embedded = model.model.model_config.unet_config.get("guidance_embed", False)
    return family.guidance > 0 and bool(embedded)


def with_guidance(conditioning: Conditioning, value: float, default: float) -> Conditioning:
    """``conditioning`` with FLUX guidance ``value`` on every entry (as FluxGuidance sets it);
    ``value`` 0: ``default`` on the entries that carry none (an upstream FluxGuidance stays)."""
    if value > 0:
        return node_helpers.conditioning_set_values(conditioning, {"guidance": value})
    return [[tensor, {"guidance": default} | extra] for tensor, extra in conditioning]


def guidance_notes(model: Any, family: Family, cfg: float, value: float) -> tuple[str, ...]:
    """What to tell the user about cfg and ``flux_guidance`` on ``model``."""
    if reads_guidance(model, family):
        if cfg > 1:
            return (
                f"cfg is {cfg:g} on a guidance-distilled model: it wants cfg 1 (flux_guidance "
                f"steers it; 0 = {family.guidance:g}), above 1 each step runs twice and the "
                "picture overcooks",
            )
        return ()
    if value > 0:
        return (f"flux_guidance is {value:g} but this model reads no guidance value: unused",)
    return ()
