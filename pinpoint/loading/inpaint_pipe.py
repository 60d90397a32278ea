"""Load a diffusers inpainting pipeline of a family of :mod:`pinpoint.diffusers_families` (SD
1.x/2.x, SDXL, SD 3.x, FLUX.1 Fill ...) from a local folder: the family is read off
model_index.json and the folder loaded as that family's pipeline class."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from ..diffusers_families import BY_FOLDER, Family, supported
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

_WEIGHTED_COMPONENTS = ("unet", "transformer", "vae", "text_encoder")
"""Components that hold weights (``text_encoder`` also covers ``text_encoder_2`` and ``_3``)."""
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


def check_inpaint_dir(path: Path) -> tuple[dict[str, Any], Family, str | None]:
    """Validate a diffusers pipeline folder without loading it.

    Returns:
        the parsed model_index.json, its family, and the weight variant to load (``"fp16"``
        when only ``*.fp16.safetensors`` files were downloaded, else None).

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
    if class_name not in BY_FOLDER:
        raise PinpointError(
            f"'{path.name}' is a {class_name}; Pinpoint drives {supported()} inpainting "
            f"pipelines ({path})",
            "pick an inpainting folder of one of those families; "
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
    for name in components:
        if not name.startswith(_WEIGHTED_COMPONENTS):
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
    return index, BY_FOLDER[class_name], variant


def load_inpaint_pipeline(
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> InpaintPipe:
    """Load an inpainting pipeline of a supported family from a diffusers folder.

    Arguments:
        path: the pipeline folder (model_index.json, unet/ or transformer/, vae/,
            text_encoder/, tokenizer/, scheduler/ ...). A text-to-image SD (XL) folder also
            loads (as an inpaint pipeline that blends latents), with a warning in the log.
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
    index, family, variant = check_inpaint_dir(path)
    key = model_key(INPAINT.key, path, device, dtype, depth=2)
    return cached(key, lambda: _load(path, index, family, variant, device, dtype))


def _dtype_argument() -> str:
    # diffusers renamed from_pretrained's torch_dtype to dtype (huggingface/diffusers#14205,
    # 2026); older releases only know torch_dtype.
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def _load(
    path: Path,
    index: dict[str, Any],
    family: Family,
    variant: str | None,
    device: torch.device | str,
    dtype: torch.dtype,
) -> InpaintPipe:
    import diffusers

    extra: dict[str, Any] = {_dtype_argument(): dtype, **family.load}
    # The safety checker only blacks out whole images and costs ~1 GB; the feature extractor
    # feeds it, the image encoder serves IP-Adapter. Pinpoint uses none of them.
    extra.update({name: None for name in _UNUSED_COMPONENTS if name in index})
    if "safety_checker" in index:
        extra["requires_safety_checker"] = False
    if variant is not None:
        extra["variant"] = variant
    pipeline = getattr(diffusers, family.pipeline)
    try:
        pipe = pipeline.from_pretrained(path, local_files_only=True, **extra)
    except Exception as err:
        raise load_failed(INPAINT, path, err) from err
    family.repair(pipe)
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
    channels = family.inpaint_channels
    if channels and pipe.unet.config.in_channels != channels:
        log.warning(
            "'%s' is not an inpainting checkpoint (UNet has %d input channels, not %d); the "
            "masked area is repainted by latent blending, which follows the surroundings less "
            "closely",
            path.name,
            pipe.unet.config.in_channels,
            channels,
        )
    scale = int(pipe.vae_scale_factor)
    return InpaintPipe(
        pipe=pipe,
        name=path.name,
        path=path,
        native_size=family.native_size or _sample_size(pipe) * scale,
        multiple=max(8, scale * family.patch),
        family=family.key,
    )


def _sample_size(pipe: Any) -> int:
    """The latent size the model was trained at: its UNet's ``sample_size``, else the
    pipeline's ``default_sample_size``."""
    unet = getattr(pipe, "unet", None)
    size = unet.config.sample_size if unet is not None else pipe.default_sample_size
    return int(max(size) if isinstance(size, (list, tuple)) else size)
