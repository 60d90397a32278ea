"""Load a diffusers inpainting pipeline (SD 1.x/2.x or SDXL inpaint) from a local folder."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError
from .cache import cached, model_key
from .checks import (
    check_model_dir,
    folder_listing,
    load_failed,
    read_json,
    redownload_fix,
)
from .kinds import INPAINT
from .models import InpaintPipe, module_device, module_dtype, pipeline_modules

log = logging.getLogger("pinpoint")

# model_index.json classes that AutoPipelineForInpainting turns into the two pipelines we drive.
SUPPORTED_CLASSES = {
    "StableDiffusionPipeline",
    "StableDiffusionInpaintPipeline",
    "StableDiffusionImg2ImgPipeline",
    "StableDiffusionXLPipeline",
    "StableDiffusionXLInpaintPipeline",
    "StableDiffusionXLImg2ImgPipeline",
}
_WEIGHTED_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")
# Optional components Pinpoint never uses: they are passed as None, so they need not be there.
_UNUSED_COMPONENTS = ("safety_checker", "feature_extractor", "image_encoder")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".safetensors.index.json", ".bin.index.json")


def _listed(index: dict[str, Any]) -> dict[str, list[Any]]:
    """model_index.json components that are present (``["diffusers", "UNet2DConditionModel"]``)."""
    return {
        name: value
        for name, value in index.items()
        if not name.startswith("_")
        and isinstance(value, list)
        and len(value) == 2
        and value[0] is not None
    }


def _weight_names(folder: Path) -> list[str]:
    return [
        entry.name
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.endswith(_WEIGHT_SUFFIXES)
    ]


def check_inpaint_dir(path: Path) -> tuple[dict[str, Any], str | None]:
    """Validate a diffusers pipeline folder without loading it.

    Returns:
        the parsed model_index.json and the weight variant to load (``"fp16"`` when only
        ``*.fp16.safetensors`` files were downloaded, else None).

    Raises:
        PinpointError: missing folder/files, a transformers model folder instead of a pipeline,
        an unsupported pipeline class, or component folders without weights.
    """
    if not (path / INPAINT.marker).is_file() and (path / "config.json").is_file():
        config = read_json(path, "config.json", INPAINT)
        if "_class_name" in config and (path.parent / INPAINT.marker).is_file():
            raise PinpointError(
                f"'{path.name}' is the {config['_class_name']} part of a diffusers pipeline, "
                f"not the whole pipeline ({path})",
                f"pick the pipeline folder {path.parent}, which holds {INPAINT.expected_files}",
            )
        model_type = config.get("model_type") or config.get("_class_name") or "unknown"
        raise PinpointError(
            f"'{path.name}' is a transformers {model_type} model, not a diffusers pipeline "
            f"(it has config.json but no model_index.json) ({path})",
            "pick a diffusers inpainting pipeline folder; "
            + INPAINT.download_hint(path.parent / INPAINT.example_dir),
        )
    if not (path / INPAINT.marker).is_file():
        singles = sorted(entry.name for entry in path.glob("*.safetensors"))
        single = (
            f"; a single-file checkpoint ({singles[0]}) is not enough, Pinpoint needs the "
            "diffusers folder layout"
            if singles
            else ""
        )
        raise PinpointError(
            f"'{path.name}' has no model_index.json ({folder_listing(path)}){single}; a "
            f"diffusers pipeline folder holds {INPAINT.expected_files} ({path})",
            INPAINT.download_hint(path.parent / INPAINT.example_dir),
        )
    index = read_json(path, INPAINT.marker, INPAINT)
    class_name = str(index.get("_class_name", "unknown"))
    if class_name not in SUPPORTED_CLASSES:
        raise PinpointError(
            f"'{path.name}' is a {class_name}; Pinpoint drives Stable Diffusion 1.x/2.x and SDXL "
            f"inpainting pipelines ({path})",
            "pick a Stable Diffusion (XL) inpainting folder; "
            + INPAINT.download_hint(path.parent / INPAINT.example_dir),
        )
    components = _listed(index)
    missing = [
        name + "/"
        for name in components
        if name not in _UNUSED_COMPONENTS and not (path / name).is_dir()
    ]
    if missing:
        raise PinpointError(
            f"'{path.name}' lacks the folder(s) {', '.join(missing)} that model_index.json lists "
            f"({folder_listing(path)}) ({path})",
            redownload_fix(INPAINT, path),
        )
    variant = None
    for name in _WEIGHTED_COMPONENTS:
        if name not in components:
            continue
        weights = _weight_names(path / name)
        if not weights:
            raise PinpointError(
                f"'{path.name}/{name}' has no weights (*.safetensors or *.bin; "
                f"{folder_listing(path / name)}) ({path})",
                redownload_fix(INPAINT, path),
            )
        if all(".fp16." in weight for weight in weights):
            variant = "fp16"  # only the fp16 files were downloaded
    return index, variant


def load_inpaint_pipeline(
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> InpaintPipe:
    """Load a Stable Diffusion (XL) inpainting pipeline from a diffusers folder.

    Arguments:
        path: the pipeline folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/,
            scheduler/ ...). A text-to-image SD folder also loads (as an inpaint pipeline that
            blends latents), with a warning in the log.
        device: where every component goes.
        dtype: the components' floating dtype.

    Returns:
        an :class:`InpaintPipe` with the safety checker off and the progress bar disabled,
        shared with earlier calls for the same unchanged folder, device and dtype.

    Raises:
        PinpointError: the folder is missing, incomplete, not a supported pipeline, or fails
        to load.
    """
    path = check_model_dir(path, INPAINT)
    index, variant = check_inpaint_dir(path)
    key = model_key(INPAINT.key, path, device, dtype, depth=2)
    return cached(key, lambda: _load(path, index, variant, device, dtype))


def _dtype_argument() -> str:
    # diffusers renamed from_pretrained's torch_dtype to dtype (huggingface/diffusers#14205,
    # 2026); older releases only know torch_dtype.
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def _load(
    path: Path,
    index: dict[str, Any],
    variant: str | None,
    device: torch.device | str,
    dtype: torch.dtype,
) -> InpaintPipe:
    from diffusers import (
        AutoPipelineForInpainting,
        StableDiffusionInpaintPipeline,
        StableDiffusionXLInpaintPipeline,
    )

    extra: dict[str, Any] = {_dtype_argument(): dtype}
    # The safety checker only blacks out whole images and costs ~1 GB; the feature extractor
    # feeds it, the image encoder serves IP-Adapter. Pinpoint uses none of them.
    extra.update({name: None for name in _UNUSED_COMPONENTS if name in index})
    if "safety_checker" in index:
        extra["requires_safety_checker"] = False
    if variant is not None:
        extra["variant"] = variant
    try:
        pipe = AutoPipelineForInpainting.from_pretrained(path, local_files_only=True, **extra)
    except Exception as err:
        raise load_failed(INPAINT, path, err) from err
    if not isinstance(pipe, (StableDiffusionInpaintPipeline, StableDiffusionXLInpaintPipeline)):
        raise PinpointError(
            f"'{path.name}' loads as a {type(pipe).__name__}; Pinpoint drives "
            f"StableDiffusionInpaintPipeline and StableDiffusionXLInpaintPipeline ({path})",
            "pick a Stable Diffusion (XL) inpainting folder; "
            + INPAINT.download_hint(path.parent / INPAINT.example_dir),
        )
    pipe.set_progress_bar_config(disable=True)
    target = torch.device(device)
    # diffusers loads onto the CPU; skipping a no-op move avoids its "fp16 cannot run on cpu"
    # warning when ComfyUI asks for fp16 weights on the offload device.
    if any(module_device(module) != target for module in pipeline_modules(pipe)):
        pipe.to(target)
    if any(module_dtype(module) != dtype for module in pipeline_modules(pipe)):
        pipe.to(dtype=dtype)  # a diffusers release that ignored the dtype argument
    for module in pipeline_modules(pipe):
        module.eval().requires_grad_(False)
    if pipe.unet.config.in_channels != 9:
        log.warning(
            "'%s' is not an inpainting checkpoint (UNet has %d input channels, not 9); the masked "
            "area is repainted by latent blending, which follows the surroundings less closely",
            path.name,
            pipe.unet.config.in_channels,
        )
    sample_size = pipe.unet.config.sample_size
    if isinstance(sample_size, (list, tuple)):
        sample_size = max(sample_size)
    scale = int(pipe.vae_scale_factor)
    return InpaintPipe(
        pipe=pipe,
        name=path.name,
        path=path,
        native_size=int(sample_size) * scale,
        multiple=max(8, scale),
    )
