"""Load a transformers CLIPSeg model (text → heatmap segmentation) and its processor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError
from .cache import cached, model_key
from .checks import (
    WEIGHT_FILES,
    check_model_dir,
    describe_config,
    load_failed,
    read_model_config,
    redownload_fix,
    require_any,
    require_tokenizer,
)
from .folders import CLIPSEG
from .models import ClipSeg

ARCHITECTURE = "CLIPSegForImageSegmentation"


def check_clipseg_dir(path: Path, where: str) -> dict[str, Any]:
    """Validate a CLIPSeg folder without loading it; returns its parsed config.json.

    Raises:
        PinpointError: missing folder or files, malformed config, not a CLIPSeg model (a plain
        CLIP model belongs to 'Load CLIP Matcher'), or a CLIPSeg checkpoint without the
        segmentation decoder (``CLIPSegModel``).
    """
    config = read_model_config(
        path,
        CLIPSEG,
        where,
        lambda kind: kind == "clipseg",
        requirement=" (config.json model_type must be 'clipseg')",
    )
    architectures = config.get("architectures") or [ARCHITECTURE]
    if ARCHITECTURE not in architectures:
        raise PinpointError(
            where,
            f"'{path.name}' is {describe_config(config)}, which has no segmentation decoder "
            f"(config.json architectures must include {ARCHITECTURE}) ({path})",
            CLIPSEG.download_hint(path.parent / CLIPSEG.example_dir),
        )
    require_any(path, WEIGHT_FILES, "weights", CLIPSEG, where)
    require_any(
        path,
        ["preprocessor_config.json", "processor_config.json"],
        "image processor config",
        CLIPSEG,
        where,
    )
    require_tokenizer(path, CLIPSEG, where)
    return config


def load_clipseg(
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    where: str = "Load CLIPSeg",
) -> ClipSeg:
    """Load a ``CLIPSegForImageSegmentation`` and its ``CLIPSegProcessor`` from a folder.

    Arguments:
        path: the model folder (config.json, weights, preprocessor_config.json, tokenizer files),
            e.g. a download of CIDAS/clipseg-rd64-refined.
        device: where the weights go.
        dtype: the weights' floating dtype.
        where: the node title / stage used in error messages.

    Returns:
        a :class:`ClipSeg` in eval mode with gradients off, shared with earlier calls for the
        same unchanged folder, device and dtype while that object is alive.

    Raises:
        PinpointError: the folder is missing, incomplete, not CLIPSeg, or fails to load.
    """
    path = check_model_dir(path, CLIPSEG, where)
    check_clipseg_dir(path, where)
    key = model_key(CLIPSEG.key, path, device, dtype)
    return cached(key, lambda: _load(path, device, dtype, where))


def _load(path: Path, device: torch.device | str, dtype: torch.dtype, where: str) -> ClipSeg:
    from transformers import AutoProcessor, CLIPSegForImageSegmentation

    try:
        model, info = CLIPSegForImageSegmentation.from_pretrained(
            path, local_files_only=True, output_loading_info=True
        )
        processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    except Exception as err:
        raise load_failed(CLIPSEG, path, err, where) from err
    missing = sorted(info.get("missing_keys") or ())
    if missing:  # transformers would fill them with random values: a silently broken heatmap
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        shown = ", ".join(missing[:3]) + more
        raise PinpointError(
            where,
            f"'{path.name}' lacks weights the model needs ({shown}) ({path})",
            redownload_fix(CLIPSEG, path),
        )
    if not (hasattr(processor, "tokenizer") and hasattr(processor, "image_processor")):
        raise PinpointError(
            where,
            f"'{path.name}' loads a {type(processor).__name__}, not a CLIPSeg processor with a "
            f"tokenizer and an image processor ({path})",
            redownload_fix(CLIPSEG, path),
        )
    if not _stretches_to_square(processor.image_processor):
        raise PinpointError(
            where,
            f"the image processor of '{path.name}' does not resize every image to one square "
            f"size without cropping, so heatmaps could not be mapped back onto the image "
            f"(preprocessor_config.json: do_resize true, size with equal height and width, "
            f"no center crop) ({path})",
            redownload_fix(CLIPSEG, path),
        )
    model.eval().requires_grad_(False)
    model.to(device=torch.device(device), dtype=dtype)
    return ClipSeg(model=model, processor=processor, name=path.name, path=path)


def _stretches_to_square(image_processor: Any) -> bool:
    """True when ``image_processor`` resizes any image to one fixed square and crops nothing.

    Text heatmaps rely on it: CLIPSeg's decoder needs a square input, and a stretch (unlike a
    crop or a padded resize) maps back onto the whole image by resizing alone.
    """
    size = getattr(image_processor, "size", None)
    sides = [
        size.get(key) if isinstance(size, dict) else getattr(size, key, None)
        for key in ("height", "width")
    ]
    return (
        bool(getattr(image_processor, "do_resize", False))
        and not getattr(image_processor, "do_center_crop", False)
        and not getattr(image_processor, "do_pad", False)
        and sides[0] is not None
        and sides[0] == sides[1]
    )
