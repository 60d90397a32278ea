"""The diffusers inpainting families Pinpoint drives, one :class:`Family` entry each.

An entry says everything that differs between families: the pipeline class to load (by name:
``AutoPipelineForInpainting`` maps neither FLUX Fill nor Kontext), the ``model_index.json``
classes it is recognised by, the call's arguments (a negative prompt or not, which argument
takes the classifier-free scale, a distilled guidance and its usual value, anything else the
pipeline needs to keep the crop's size), the crop step (the VAE's downscale, times 2 where the
transformer reads 2x2 patches) and the latents' layout (2x2-packed tokens, a frame axis).
How latents are scaled is read from the VAE's own config (``scaling_factor``, ``shift_factor``,
``latents_mean``/``latents_std``). Adding a family is one entry here and its tiny builder in
:mod:`pinpoint.tiny`; the loader (:mod:`pinpoint.loading.inpaint_pipe`) and the sampler
(:mod:`pinpoint.diffusers_sampler`) read it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch


def _no_extras(height: int, width: int) -> dict[str, Any]:
    return {}


def _as_loaded(pipe: Any) -> None:
    return None


def _any_size(step: int) -> tuple[tuple[int, int], ...]:
    return ()


def _kontext_sizes(step: int) -> tuple[tuple[int, int], ...]:
    """The resolutions FLUX Kontext was trained at (diffusers' own list), at the crop step."""
    from diffusers.pipelines.flux.pipeline_flux_kontext_inpaint import (
        PREFERRED_KONTEXT_RESOLUTIONS,
    )

    return tuple((w, h) for w, h in PREFERRED_KONTEXT_RESOLUTIONS if w % step == h % step == 0)


def area_sizes(area: int, rounding: int, step: int) -> tuple[tuple[int, int], ...]:
    """The sizes a pipeline that samples about ``area`` pixels whatever its picture's size
    samples at (Qwen-Image-Edit: width ``sqrt(area * aspect)`` and height ``width / aspect``,
    each rounded to ``rounding`` pixels, then down to ``step``): the sizes it keeps as they
    are, from 1:3 to 3:1, so a crop planned at one is sampled at its own size."""

    def sampled(width: int, height: int) -> tuple[int, int]:
        aspect = width / height
        w = round(math.sqrt(area * aspect) / rounding) * rounding
        h = round(math.sqrt(area * aspect) / aspect / rounding) * rounding
        return w // step * step, h // step * step

    aspects = (3 ** (k / 64) for k in range(-64, 65))
    tried = {sampled(round(math.sqrt(area * a)), round(math.sqrt(area / a))) for a in aspects}
    return tuple(sorted(size for size in tried if sampled(*size) == size))


def _qwen_edit_sizes(step: int) -> tuple[tuple[int, int], ...]:
    return area_sizes(1024 * 1024, 32, step)


SD_CFG = 7.5
"""Stable Diffusion's usual classifier-free guidance scale (its pipelines' default), the
default of families that set none and of the diffusers node's ``cfg``."""


@dataclass(frozen=True)
class Family:
    """One family of diffusers inpainting pipelines.

    Attributes:
        key: its short name (what :class:`~pinpoint.loading.models.InpaintPipe` records).
        title: what users read, e.g. ``"FLUX.1 Fill"``.
        pipeline: the diffusers class it is loaded as.
        folders: the ``model_index.json`` ``_class_name`` values it is recognised by.
        taesd: the family's TAESD decoder (ComfyUI's ``models/vae_approx`` name; "" where none).
        negative: whether the pipeline takes a negative prompt.
        cfg_argument: the argument taking the sampler's ``cfg`` (classifier-free guidance:
            ``guidance_scale``, or ``true_cfg_scale``, which runs only with a negative prompt:
            1, off, without one); "" for none (FLUX Fill: ``cfg`` is not used).
        cfg: the usual classifier-free guidance scale (the pipeline's own default): the
            sampler's ``cfg`` when none is given (unused where ``cfg_argument`` is "").
        distilled: the usual distilled guidance, passed as ``guidance_scale`` when the sampler's
            ``distilled`` is 0; 0 where the family has none.
        flow: the pipeline samples with a flow-matching scheduler (only its own).
        packed: the scheduler's latents are 2x2 patches packed into tokens ``[B, h/2 * w/2,
            4C]`` (FLUX, Qwen-Image, Chroma).
        patch: a crop side is a multiple of the VAE's downscale times this (2 where the
            transformer reads 2x2 patches).
        frames: the VAE's latents have a frame axis ``[B, C, 1, h, w]`` (Qwen-Image's).
        inpaint_channels: the denoiser input channels of an inpainting checkpoint (SD's 9);
            another count is loaded with a warning (latents are blended instead). 0: no check.
        native_size: the training resolution in pixels where the pipeline does not tell it
            (0: its ``default_sample_size``, or its UNet's ``sample_size``, times the VAE's
            downscale).
        load: extra ``from_pretrained`` arguments.
        extras: extra call arguments for a crop of ``(height, width)`` pixels.
        pictures: the pipeline reads the crops as PIL pictures (8 bits), not tensors.
        repair: mends a loaded pipeline where its diffusers release needs it.
        sizes: the ``(width, height)`` sizes its crops take at a crop ``step`` (the sizes it
            was trained at, or the only sizes it samples at); empty: any aspect at the
            native size.
    """

    key: str
    title: str
    pipeline: str
    folders: tuple[str, ...]
    taesd: str = ""
    negative: bool = True
    cfg_argument: str = "guidance_scale"
    cfg: float = SD_CFG
    distilled: float = 0.0
    flow: bool = True
    packed: bool = False
    patch: int = 2
    frames: bool = False
    inpaint_channels: int = 0
    native_size: int = 0
    load: Mapping[str, Any] = field(default_factory=dict)
    extras: Callable[[int, int], dict[str, Any]] = _no_extras
    pictures: bool = False
    repair: Callable[[Any], None] = _as_loaded
    sizes: Callable[[int], tuple[tuple[int, int], ...]] = _any_size

    def arguments(
        self, cfg: float, distilled: float, negatives: list[str], height: int, width: int
    ) -> dict[str, Any]:
        """The family's own call arguments: negative prompts (``None`` when all are empty),
        the guidance scales, its extras."""
        arguments = self.extras(height, width)
        if self.negative:
            arguments["negative_prompt"] = negatives if any(negatives) else None
        if self.cfg_argument == "true_cfg_scale" and not any(negatives):
            arguments[self.cfg_argument] = 1.0  # true CFG needs a negative prompt: off
        elif self.cfg_argument:
            arguments[self.cfg_argument] = cfg
        if self.distilled:
            arguments["guidance_scale"] = distilled or self.distilled
        return arguments


def _chroma_repair(pipe: Any) -> None:
    # diffusers 0.42's ChromaInpaintPipeline asks its transformer's config for guidance_embeds,
    # which ChromaTransformer2DModel never has: Chroma has no distilled guidance.
    if "guidance_embeds" not in pipe.transformer.config:
        pipe.transformer.register_to_config(guidance_embeds=False)


def _kontext_extras(height: int, width: int) -> dict[str, Any]:
    # Kontext resizes its image to the nearest "preferred" resolution unless told not to, and
    # rescales the generation to max_area: the crop's own size keeps the crop as it is.
    return {"_auto_resize": False, "max_area": height * width}


SD = Family(
    key="sd",
    title="Stable Diffusion 1.x/2.x",
    pipeline="StableDiffusionInpaintPipeline",
    folders=(
        "StableDiffusionPipeline",
        "StableDiffusionInpaintPipeline",
        "StableDiffusionImg2ImgPipeline",
    ),
    taesd="taesd_decoder",
    flow=False,
    patch=1,
    inpaint_channels=9,
)
FAMILIES: tuple[Family, ...] = (
    SD,
    Family(
        key="sdxl",
        title="SDXL",
        pipeline="StableDiffusionXLInpaintPipeline",
        folders=(
            "StableDiffusionXLPipeline",
            "StableDiffusionXLInpaintPipeline",
            "StableDiffusionXLImg2ImgPipeline",
        ),
        taesd="taesdxl_decoder",
        flow=False,
        patch=1,
        inpaint_channels=9,
        load={"add_watermarker": False},  # an invisible watermark would change the pixels
    ),
    Family(
        key="sd3",
        title="SD 3.x",
        cfg=7.0,
        pipeline="StableDiffusion3InpaintPipeline",
        folders=(
            "StableDiffusion3Pipeline",
            "StableDiffusion3InpaintPipeline",
            "StableDiffusion3Img2ImgPipeline",
        ),
        taesd="taesd3_decoder",
    ),
    Family(
        key="flux-fill",
        title="FLUX.1 Fill",
        pipeline="FluxFillPipeline",
        folders=("FluxFillPipeline",),
        taesd="taef1_decoder",
        negative=False,
        cfg_argument="",
        distilled=30.0,
        packed=True,
    ),
    Family(
        key="flux-kontext",
        title="FLUX.1 Kontext",
        cfg=1.0,  # true CFG off: the distilled guidance steers it
        pipeline="FluxKontextInpaintPipeline",
        folders=("FluxKontextPipeline", "FluxKontextInpaintPipeline"),
        taesd="taef1_decoder",
        cfg_argument="true_cfg_scale",
        distilled=2.5,
        packed=True,
        extras=_kontext_extras,
        sizes=_kontext_sizes,
    ),
    Family(
        key="chroma",
        title="Chroma",
        cfg=7.0,
        pipeline="ChromaInpaintPipeline",
        folders=("ChromaPipeline", "ChromaInpaintPipeline", "ChromaImg2ImgPipeline"),
        taesd="taef1_decoder",
        packed=True,
        repair=_chroma_repair,
    ),
    Family(
        key="qwen-image",
        title="Qwen-Image",
        cfg=4.0,
        pipeline="QwenImageInpaintPipeline",
        folders=("QwenImagePipeline", "QwenImageInpaintPipeline", "QwenImageImg2ImgPipeline"),
        cfg_argument="true_cfg_scale",
        packed=True,
        frames=True,
    ),
    Family(
        key="qwen-image-edit",
        title="Qwen-Image-Edit",
        cfg=4.0,
        pipeline="QwenImageEditInpaintPipeline",
        folders=("QwenImageEditPipeline", "QwenImageEditInpaintPipeline"),
        cfg_argument="true_cfg_scale",
        packed=True,
        frames=True,
        pictures=True,  # it reads the picture's size as PIL's (and samples at about 1 MP)
        sizes=_qwen_edit_sizes,
    ),
    Family(
        key="z-image",
        title="Z-Image",
        cfg=5.0,  # Z-Image-Turbo wants 0 to 1
        pipeline="ZImageInpaintPipeline",
        folders=("ZImagePipeline", "ZImageInpaintPipeline", "ZImageImg2ImgPipeline"),
        taesd="taef1_decoder",
        native_size=1024,  # the pipeline's documented default; it keeps no sample size
    ),
)
"""Every family, in the order errors list them."""

BY_FOLDER = {folder: family for family in FAMILIES for folder in family.folders}
BY_KEY = {family.key: family for family in FAMILIES}


def supported() -> str:
    """The families' titles, for messages."""
    return ", ".join(family.title for family in FAMILIES)


def decoders_hint() -> str:
    """Each family's TAESD, for the remedy of a decoder of another family."""
    named: dict[str, list[str]] = {}
    for family in FAMILIES:
        if family.taesd:
            named.setdefault(family.taesd, []).append(family.title)
    return ", ".join(f"{taesd} for {' and '.join(titles)}" for taesd, titles in named.items())


def pack(latent: torch.Tensor) -> torch.Tensor:
    """``[B, C, h, w]`` → ``[B, h/2 * w/2, 4C]``: each 2x2 patch a token (row by row), its
    channels ordered by latent channel, then patch row, then patch column."""
    batch, channels, height, width = latent.shape
    patches = latent.reshape(batch, channels, height // 2, 2, width // 2, 2)
    tokens = patches.permute(0, 2, 4, 1, 3, 5)
    return tokens.reshape(batch, (height // 2) * (width // 2), channels * 4)


def unpack(tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """:func:`pack` undone: tokens ``[B, h/2 * w/2, 4C]`` → ``[B, C, h, w]``."""
    batch, _, depth = tokens.shape
    patches = tokens.reshape(batch, height // 2, width // 2, depth // 4, 2, 2)
    return patches.permute(0, 3, 1, 4, 2, 5).reshape(batch, depth // 4, height, width)


def grid(tokens: torch.Tensor, aspect: float) -> tuple[int, int]:
    """The latent ``(rows, columns)`` packed ``tokens`` ``[B, n, 4C]`` cover: of the ways to lay
    ``n`` 2x2 patches in a rectangle, the one nearest the crop's ``aspect`` (width / height;
    exact where the pipeline samples the crop's own size, the nearest where it resizes)."""
    count = int(tokens.shape[1])
    shapes = [(rows, count // rows) for rows in range(1, count + 1) if count % rows == 0]
    rows, columns = min(shapes, key=lambda shape: abs(math.log(shape[1] / shape[0] / aspect)))
    return 2 * rows, 2 * columns


def latent_channels(vae: Any) -> int:
    """The channels of ``vae``'s latents (``z_dim`` for Qwen-Image's)."""
    config = vae.config
    return int(config.get("latent_channels") or config["z_dim"])


def to_vae(family: Family, vae: Any, latent: torch.Tensor) -> torch.Tensor:
    """A pipeline's (scaled) latent ``[B, C, h, w]`` as ``vae``'s own latent (with a frame
    axis where the family's VAE has one), read off the VAE's config as the pipeline reads it:
    ``latent * std / scaling + mean`` where it has ``latents_mean``/``latents_std``, else
    ``latent / scaling + shift``."""
    config = vae.config
    scaling = float(config.get("scaling_factor") or 1.0)
    mean, std = config.get("latents_mean"), config.get("latents_std")
    if mean is not None and std is not None:
        shape = (1, len(mean), 1, 1)
        mean = torch.tensor(mean, dtype=latent.dtype, device=latent.device).view(shape)
        std = torch.tensor(std, dtype=latent.dtype, device=latent.device).view(shape)
        unscaled = latent * std / scaling + mean
    else:
        unscaled = latent / scaling
        if config.get("shift_factor"):
            unscaled = unscaled + float(config["shift_factor"])
    return unscaled[:, :, None] if family.frames else unscaled
