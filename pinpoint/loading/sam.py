"""Load an original Segment Anything (SAM v1) checkpoint file: vit_b, vit_l, vit_h or custom.

The file is read without unpickling code (safetensors, or ``torch.load(weights_only=True)``),
the encoder's size is read off the state dict's shapes, and the model is built with
segment_anything's own builder before the weights are loaded strictly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError
from .cache import cached, model_key
from .checkpoint import describe_keys, read_state_dict
from .folders import config_model_type
from .kinds import SAM, SAM_FOLDER
from .models import SamModel

PATCH_WEIGHT = "image_encoder.patch_embed.proj.weight"
WINDOW_SIZE = 14
"""Side of the windows of SAM's windowed-attention blocks, in patches."""
GRID_SIZE = 64
"""Side of SAM's patch grid: 1024-pixel input / 16-pixel patches; global blocks span it all."""
_BLOCK = re.compile(r"image_encoder\.blocks\.(\d+)\.")


@dataclass(frozen=True)
class SamArchitecture:
    """The image-encoder hyper-parameters of ``segment_anything.build_sam._build_sam``.

    Attributes:
        embed_dim: width of the ViT (768 for vit_b).
        depth: number of transformer blocks.
        num_heads: attention heads per block.
        global_attn_indexes: the blocks with global attention; the others use 14x14 windows.
    """

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]

    @property
    def variant(self) -> str:
        """``"vit_b"``, ``"vit_l"``, ``"vit_h"``, or ``"custom (dim 32, depth 2)"``."""
        for name, standard in STANDARD.items():
            if self == standard:
                return name
        return f"custom (dim {self.embed_dim}, depth {self.depth})"


STANDARD = {
    "vit_b": SamArchitecture(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamArchitecture(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamArchitecture(1280, 32, 16, (7, 15, 23, 31)),
}
"""The three encoders of the official checkpoints (segment_anything/build_sam.py)."""


def _file_fix(path: Path) -> str:
    return f"use {SAM.expected_files}; " + SAM.download_hint(path.parent / SAM.example_dir)


FOLDER_HINT = (
    f"SAM 2, SAM-HQ and SAM folders in the transformers layout go in models/{SAM_FOLDER.folder}, "
    "which has its own loader"
)


def _not_a_sam_fix(path: Path) -> str:
    return (
        "this loader reads the original Segment Anything checkpoints (SAM-HQ, MobileSAM and "
        f"SAM 2 .pt files are different models; {FOLDER_HINT}); " + _file_fix(path)
    )


def detect_architecture(state_dict: Mapping[str, Any], path: Path) -> SamArchitecture:
    """Read the encoder's hyper-parameters off a SAM state dict's tensor shapes.

    ``state_dict`` must have passed :func:`check_sam_state_dict`. Only ``.shape`` is used, so
    meta or empty tensors work: width from
    ``image_encoder.patch_embed.proj.weight`` ``[dim, 3, 16, 16]``, depth from the block count,
    head width from ``blocks.<i>.attn.rel_pos_h`` ``[2 * size - 1, dim / heads]``, and global
    blocks from that length (``2 * 64 - 1``; windowed blocks have ``2 * 14 - 1``).

    Raises:
        PinpointError: a block has no relative position table, or one of an unknown size.
    """
    embed_dim = int(state_dict[PATCH_WEIGHT].shape[0])
    depth = 1 + max((int(m.group(1)) for m in map(_BLOCK.match, state_dict) if m), default=-1)
    head_dims, global_blocks = set(), []
    for index in range(depth):
        table = state_dict.get(f"image_encoder.blocks.{index}.attn.rel_pos_h")
        if table is None or table.ndim != 2:
            raise PinpointError(
                f"'{path.name}' has no relative position table for encoder block {index} "
                f"(image_encoder.blocks.{index}.attn.rel_pos_h), so it is not a SAM v1 encoder",
                _not_a_sam_fix(path),
            )
        length, head_dim = int(table.shape[0]), int(table.shape[1])
        if length not in (2 * GRID_SIZE - 1, 2 * WINDOW_SIZE - 1):
            raise PinpointError(
                f"'{path.name}' encoder block {index} has a {length}-long position table; SAM "
                f"uses {2 * GRID_SIZE - 1} (global) or {2 * WINDOW_SIZE - 1} (windowed)",
                _not_a_sam_fix(path),
            )
        head_dims.add(head_dim)
        if length == 2 * GRID_SIZE - 1:
            global_blocks.append(index)
    if depth == 0 or len(head_dims) != 1 or embed_dim % min(head_dims):
        raise PinpointError(
            f"'{path.name}' has an image encoder of width {embed_dim} with {depth} blocks and "
            f"head widths {sorted(head_dims)}, which no SAM encoder has",
            _not_a_sam_fix(path),
        )
    return SamArchitecture(embed_dim, depth, embed_dim // head_dims.pop(), tuple(global_blocks))


def check_sam_state_dict(state: Mapping[str, Any], path: Path) -> None:
    """Raise unless ``state`` has the three parts of an original SAM checkpoint.

    A transformers ``SamModel`` (facebook/sam-vit-base, ``vision_encoder.*`` keys) and other
    files get a message saying which file is needed instead.
    """
    if any(key.startswith("vision_encoder.") for key in state):
        raise PinpointError(
            f"'{path.name}' holds the Hugging Face transformers SAM layout (vision_encoder.* "
            "keys, as in facebook/sam-vit-base), but this loader reads the original Segment "
            "Anything checkpoint",
            f"use the whole transformers folder ({FOLDER_HINT}), or " + _file_fix(path),
        )
    parts = ("image_encoder.", "prompt_encoder.", "mask_decoder.")
    missing = [part[:-1] for part in parts if not any(key.startswith(part) for key in state)]
    if missing or PATCH_WEIGHT not in state:
        lacking = ", ".join(missing) if missing else PATCH_WEIGHT
        raise PinpointError(
            f"'{path.name}' is not a Segment Anything checkpoint (no {lacking}; "
            f"{describe_keys(state)})",
            _not_a_sam_fix(path),
        )


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of ``path`` on the CPU, read without running any code from the file
    (:func:`~pinpoint.loading.checkpoint.read_state_dict`).

    Raises:
        PinpointError: the file is damaged, or holds Python objects (never unpickled here).
    """
    damaged_fix = "download it again; " + SAM.download_hint(path.parent / SAM.example_dir)
    return read_state_dict(path, _file_fix(path), damaged_fix)


def check_sam_file(path: Path) -> Path:
    """``path`` as a resolved existing file; a PinpointError for a missing path or a folder.

    A folder in the transformers layout (a SAM 2, SAM-HQ or SAM ``config.json``) is named as
    such, with where it goes instead.
    """
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        model_type = config_model_type(path)
        if model_type in SAM_FOLDER.model_types():
            raise PinpointError(
                f"'{path.name}' is a Segment Anything folder in the transformers layout "
                f"(model_type '{model_type}'), but this loader reads a single original .pth "
                f"checkpoint ({path})",
                f"put the folder in models/{SAM_FOLDER.folder} and load it as a "
                f"{SAM_FOLDER.title}, or " + _file_fix(path),
            )
        raise PinpointError(
            f"'{path.name}' is a folder, but this loader reads the original Segment Anything "
            f"checkpoint, a single .pth file ({path})",
            _file_fix(path),
        )
    if not path.is_file():
        raise PinpointError(
            f"{SAM.title} {str(path)!r} does not exist",
            SAM.download_hint(path.parent / SAM.example_dir),
        )
    return path


def load_sam(
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> SamModel:
    """Load an original Segment Anything checkpoint (``sam_vit_b_01ec64.pth`` ...).

    Arguments:
        path: the checkpoint file (``.pth`` state dict or ``.safetensors``); a ``model.`` or
            ``module.`` key prefix and a ``{"model": state_dict}`` wrapper are accepted.
        device: where the weights go.
        dtype: the weights' floating dtype.

    Returns:
        a :class:`SamModel` in eval mode with gradients off, whose ``variant`` is ``vit_b``,
        ``vit_l``, ``vit_h`` or ``custom (dim D, depth N)``; shared with earlier calls for the
        same unchanged file, device and dtype while that object is alive.

    Raises:
        PinpointError: the file is missing, a folder, damaged, holds pickled objects, or is not
        a SAM v1 checkpoint.
    """
    path = check_sam_file(path)
    return cached(model_key(SAM.key, path, device, dtype), lambda: _load(path, device, dtype))


def _load(path: Path, device: torch.device | str, dtype: torch.dtype) -> SamModel:
    from segment_anything.build_sam import _build_sam

    state = read_checkpoint(path)
    check_sam_state_dict(state, path)
    arch = detect_architecture(state, path)
    model = _build_sam(
        encoder_embed_dim=arch.embed_dim,
        encoder_depth=arch.depth,
        encoder_num_heads=arch.num_heads,
        encoder_global_attn_indexes=list(arch.global_attn_indexes),
        checkpoint=None,
    )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        text = " ".join(str(err).split())[:400]
        raise PinpointError(
            f"'{path.name}' looks like SAM {arch.variant} but its weights do not fit that "
            f"model ({text})",
            _not_a_sam_fix(path),
        ) from err
    model.eval().requires_grad_(False)
    model.to(device=torch.device(device), dtype=dtype)
    return SamModel(model=model, name=path.name, path=path, variant=arch.variant)
