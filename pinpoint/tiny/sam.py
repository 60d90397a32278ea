"""A tiny random Segment Anything checkpoint in the layout of sam_vit_b_01ec64.pth.

Unlike the folder models, SAM is one file, so the build is adapted from ``_build.py``: the file
is written under a hidden temporary name and renamed into place, then a hidden stamp sidecar
(``.<file name>.pinpoint_tiny.json``) marks the build complete.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError
from ._build import BUILDER_VERSION, SEED, STAMP

TINY_SAM_FILE = "tiny-random-sam.pth"
ENCODER = {
    "encoder_embed_dim": 32,
    "encoder_depth": 2,
    "encoder_num_heads": 1,
    "encoder_global_attn_indexes": [1],
}
"""One windowed and one global block; a single head, since each head of the global block costs
a 4096 x 4096 attention map on the CPU. The prompt encoder and mask decoder have SAM's fixed
sizes (about 4 M parameters), so the file is about 19 MB."""


def stamp_file(file: Path) -> Path:
    """The hidden sidecar that marks ``file`` as a complete tiny build."""
    return file.with_name(f".{file.name}.{STAMP}")


def _write_atomically(file: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{file.name}.", dir=file.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a models folder is shared
        os.replace(temporary, file)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _read_stamp(file: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(stamp_file(file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {k: v for k, v in found.items() if k != "note"} if isinstance(found, dict) else None


def build_tiny_sam(file: Path) -> Path:
    """A random SAM (tiny image encoder, real-size prompt encoder and mask decoder) at ``file``.

    Saved as a plain state dict like the official ``.pth`` files, so
    :func:`pinpoint.loading.load_model` reads it with ``weights_only=True`` and detects
    ``custom (dim 32, depth 2)``. Deterministic (fixed
    seed, the caller's RNG untouched) and idempotent (a matching stamp leaves the file alone).

    Raises:
        PinpointError: ``file`` exists but is not a Pinpoint tiny build (no stamp).
    """
    from segment_anything.build_sam import _build_sam

    file = Path(file)
    stamp = {"builder": "sam", **ENCODER, "version": BUILDER_VERSION}
    if file.is_file() and _read_stamp(file) == stamp:
        return file
    if file.exists() and not stamp_file(file).is_file():
        raise PinpointError(
            f"{file} exists and is not a Pinpoint tiny-model build (no {stamp_file(file).name})",
            "remove that file or point PINPOINT_TINY_DIR somewhere else",
        )
    file.parent.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        state = _build_sam(**ENCODER, checkpoint=None).state_dict()
    buffer = io.BytesIO()  # not a file name: torch.save names the archive after it
    torch.save(state, buffer)
    _write_atomically(file, buffer.getvalue())
    note = "RANDOM WEIGHTS for plumbing checks: every output of this model is noise"
    text = json.dumps({**stamp, "note": note}, indent=2) + "\n"
    _write_atomically(stamp_file(file), text.encode("utf-8"))
    return file
