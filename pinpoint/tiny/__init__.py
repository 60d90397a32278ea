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
from pathlib import Path

from ..loading.folders import CLIP, DETECTOR, INPAINT
from ._build import BUILDER_VERSION, STAMP
from .clip import build_tiny_clip
from .detr import DEFAULT_LABELS, build_tiny_detector
from .sd_inpaint import build_tiny_inpaint
from .text import bytes_to_unicode

TINY_DIRS = {
    "detector": "tiny-random-detr",
    "clip": "tiny-random-clip",
    "inpaint": "tiny-random-sd-inpaint",
}

__all__ = [
    "BUILDER_VERSION",
    "DEFAULT_LABELS",
    "STAMP",
    "TINY_DIRS",
    "build_tiny_clip",
    "build_tiny_detector",
    "build_tiny_inpaint",
    "build_tiny_models",
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
    """Build (or reuse) the three tiny models where a ComfyUI user keeps real ones.

    Returns:
        ``{"detector": <root>/pinpoint_detectors/tiny-random-detr, "clip":
        <root>/pinpoint_clip/tiny-random-clip, "inpaint":
        <root>/pinpoint_inpaint/tiny-random-sd-inpaint}``.
    """
    root = Path(models_root)
    return {
        "detector": build_tiny_detector(root / DETECTOR.folder / TINY_DIRS["detector"]),
        "clip": build_tiny_clip(root / CLIP.folder / TINY_DIRS["clip"]),
        "inpaint": build_tiny_inpaint(root / INPAINT.folder / TINY_DIRS["inpaint"]),
    }
