"""A tiny random Segment Anything checkpoint in the layout of sam_vit_b_01ec64.pth.

Unlike the folder models, SAM is one file: ``_build.build_file`` writes it under a hidden
temporary name and renames it into place, then a hidden stamp sidecar
(``.<file name>.pinpoint_tiny.json``) marks the build complete.
"""

from __future__ import annotations

from pathlib import Path

from ._build import build_file, stamp_file

__all__ = ["ENCODER", "TINY_SAM_FILE", "build_tiny_sam", "stamp_file"]

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

    def state() -> dict:
        return _build_sam(**ENCODER, checkpoint=None).state_dict()

    return build_file(file, {"builder": "sam", **ENCODER}, state)
