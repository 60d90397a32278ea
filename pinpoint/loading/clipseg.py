"""What is particular to CLIPSeg folders (text → heatmap segmentation); the shared loader reads
them through :data:`pinpoint.loading.kinds.CLIPSEG`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import PinpointError
from .checks import describe_config, redownload_fix
from .model_kind import ModelKind

ARCHITECTURE = "CLIPSegForImageSegmentation"


def check_config(kind: ModelKind, path: Path, config: Mapping[str, Any]) -> None:
    """Refuse a CLIPSeg checkpoint without the segmentation decoder (``CLIPSegModel``)."""
    architectures = config.get("architectures") or [ARCHITECTURE]
    if ARCHITECTURE not in architectures:
        raise PinpointError(
            f"'{path.name}' is {describe_config(config)}, which has no segmentation decoder "
            f"(config.json architectures must include {ARCHITECTURE}) ({path})",
            kind.download_hint(path.parent / kind.example_dir),
        )


def check_processor(kind: ModelKind, path: Path, processor: Any) -> None:
    """Refuse an image processor that does not stretch every image to one square size.

    Text heatmaps rely on it: CLIPSeg's decoder needs a square input, and a stretch (unlike a
    crop or a padded resize) maps back onto the whole image by resizing alone.
    """
    image_processor = processor.image_processor
    size = getattr(image_processor, "size", None)
    sides = [
        size.get(key) if isinstance(size, dict) else getattr(size, key, None)
        for key in ("height", "width")
    ]
    square = (
        bool(getattr(image_processor, "do_resize", False))
        and not getattr(image_processor, "do_center_crop", False)
        and not getattr(image_processor, "do_pad", False)
        and sides[0] is not None
        and sides[0] == sides[1]
    )
    if not square:
        raise PinpointError(
            f"the image processor of '{path.name}' does not resize every image to one square "
            f"size without cropping, so heatmaps could not be mapped back onto the image "
            f"(preprocessor_config.json: do_resize true, size with equal height and width, "
            f"no center crop) ({path})",
            redownload_fix(kind, path),
        )
