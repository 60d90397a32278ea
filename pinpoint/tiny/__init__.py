"""Tiny RANDOM-WEIGHT models, saved in the same on-disk layout as the real ones.

    !!! These models are untrained. Their boxes, scores, matches and painted pixels are NOISE. !!!

They exist for plumbing checks only: tests, CI and ``python -m pinpoint edit --tiny`` run the
whole pipeline offline in seconds on a CPU, through exactly the code path (folders, loaders,
processors, diffusers pipeline) that real models take. For real edits download real models
(``python -m pinpoint models`` says which and where).

Each builder is deterministic (a fixed seed inside :func:`torch.random.fork_rng`, so the
caller's RNG is untouched), takes well under two seconds on a CPU, and is idempotent: a folder
that already holds a complete build (its ``pinpoint_tiny.json`` stamp, written last, matches)
is left alone. Builds go to a hidden sibling folder first and are renamed into place, so an
interrupted build never looks complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..loading.kinds import (
    CLIP,
    CLIPSEG,
    DETECTOR,
    DINO,
    INPAINT,
    MATTE,
    PERCEPTUAL,
    SAM,
    SAM_FOLDER,
    SEGMENTER,
    TEXT_SEGMENTER,
    ModelKind,
)
from ._build import BUILDER_VERSION, STAMP
from .clip import build_tiny_clip
from .clipseg import build_tiny_clipseg
from .detr import DEFAULT_LABELS, build_tiny_detector
from .dino import build_tiny_dino
from .families import (
    build_tiny_chroma_inpaint,
    build_tiny_flux_fill,
    build_tiny_flux_kontext,
    build_tiny_qwen_image,
    build_tiny_qwen_image_edit,
    build_tiny_sd3_inpaint,
    build_tiny_sdxl_inpaint,
    build_tiny_z_image_inpaint,
)
from .florence import build_tiny_florence
from .owlvit import build_tiny_owlv2
from .perceptual import TINY_PERCEPTUAL_FILE, build_tiny_perceptual
from .sam import build_tiny_sam
from .sam3 import build_tiny_sam3
from .sam_folder import build_tiny_sam_folder
from .sd_inpaint import build_tiny_inpaint
from .segformer import build_tiny_segformer
from .text import bytes_to_unicode
from .vitmatte import build_tiny_vitmatte

TINY_MODELS: dict[str, tuple[ModelKind, str, Callable[[Path], Path]]] = {
    "detector": (DETECTOR, "tiny-random-detr", build_tiny_detector),
    "clip": (CLIP, "tiny-random-clip", build_tiny_clip),
    "inpaint": (INPAINT, "tiny-random-sd-inpaint", build_tiny_inpaint),
    "sdxl_inpaint": (INPAINT, "tiny-random-sdxl-inpaint", build_tiny_sdxl_inpaint),
    "sd3_inpaint": (INPAINT, "tiny-random-sd3-inpaint", build_tiny_sd3_inpaint),
    "flux_fill": (INPAINT, "tiny-random-flux-fill", build_tiny_flux_fill),
    "flux_kontext": (INPAINT, "tiny-random-flux-kontext", build_tiny_flux_kontext),
    "chroma_inpaint": (INPAINT, "tiny-random-chroma-inpaint", build_tiny_chroma_inpaint),
    "z_image_inpaint": (INPAINT, "tiny-random-z-image-inpaint", build_tiny_z_image_inpaint),
    "qwen_image": (INPAINT, "tiny-random-qwen-image-inpaint", build_tiny_qwen_image),
    "qwen_image_edit": (INPAINT, "tiny-random-qwen-image-edit", build_tiny_qwen_image_edit),
    "open_vocabulary": (DETECTOR, "tiny-random-owlv2", build_tiny_owlv2),
    "segmenter": (SEGMENTER, "tiny-random-segformer", build_tiny_segformer),
    "clipseg": (CLIPSEG, "tiny-random-clipseg", build_tiny_clipseg),
    "dino": (DINO, "tiny-random-dino", build_tiny_dino),
    "sam": (SAM, "tiny-random-sam.pth", build_tiny_sam),
    "sam_folder": (SAM_FOLDER, "tiny-random-sam2", build_tiny_sam_folder),
    "text_segmenter": (TEXT_SEGMENTER, "tiny-random-sam3", build_tiny_sam3),
    "florence": (TEXT_SEGMENTER, "tiny-random-florence2", build_tiny_florence),
    "matte": (MATTE, "tiny-random-vitmatte", build_tiny_vitmatte),
    "perceptual": (PERCEPTUAL, TINY_PERCEPTUAL_FILE, build_tiny_perceptual),
}
"""key → (kind, folder or file name under ``models/<kind.folder>``, builder)."""

TINY_DIRS = {key: name for key, (_kind, name, _build) in TINY_MODELS.items()}

__all__ = [
    "BUILDER_VERSION",
    "DEFAULT_LABELS",
    "STAMP",
    "TINY_DIRS",
    "TINY_MODELS",
    "build_tiny_clip",
    "build_tiny_detector",
    "build_tiny_inpaint",
    "build_tiny_models",
    "build_tiny_perceptual",
    "bytes_to_unicode",
    "default_tiny_root",
]


def default_tiny_root() -> Path:
    """``$PINPOINT_TINY_DIR``, else ``~/.cache/pinpoint/tiny-models`` (honouring XDG_CACHE_HOME)."""
    if os.environ.get("PINPOINT_TINY_DIR"):
        return Path(os.environ["PINPOINT_TINY_DIR"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "pinpoint" / "tiny-models"


def build_tiny_models(models_root: Path) -> dict[str, Path]:
    """Build (or reuse) every tiny model where a ComfyUI user keeps real ones.

    Returns:
        key of :data:`TINY_MODELS` → its folder (or file, for SAM and the perceptual network),
        e.g. ``"detector"`` → ``<root>/pinpoint_detectors/tiny-random-detr``, ``"sam"`` →
        ``<root>/sams/tiny-random-sam.pth``.
    """
    root = Path(models_root)
    return {
        key: build(root / kind.folder / name) for key, (kind, name, build) in TINY_MODELS.items()
    }
