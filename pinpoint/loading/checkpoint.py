"""Read a single-file checkpoint (``.pth`` / ``.safetensors``) as a flat state dict, safely.

Shared by the single-file kinds (the SAM checkpoint, the perceptual networks): the file is read
without unpickling code, a ``{"model": ...}`` / ``{"state_dict": ...}`` wrapper and a
``module.`` / ``model.`` key prefix are taken off, and every failure is a
:class:`~pinpoint.errors.PinpointError` with the caller's fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import PinpointError

PREFIXES = ("module.", "model.")
"""Key prefixes of wrapped models (``DataParallel``, training scripts) taken off every key."""


def describe_keys(state: Mapping[str, Any], limit: int = 6) -> str:
    """'found 12 keys: a, b, c, ...' (or 'found no tensors') for error messages."""
    if not state:
        return "found no tensors"
    names = sorted(state)
    more = ", ..." if len(names) > limit else ""
    return f"found {len(names)} keys: {', '.join(names[:limit])}{more}"


def unwrap(loaded: Any, path: Path, fix: str) -> dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint as a plain flat dict without a wrapper or prefixes.

    The result is a new ``dict``: a ``torch.save``\\ d state dict's version metadata is left
    behind, so modules load it as they load any hand-made dict.

    Raises:
        PinpointError: ``loaded`` is not a mapping (with ``fix``).
    """
    if isinstance(loaded, Mapping):
        for key in ("model", "state_dict"):
            if isinstance(loaded.get(key), Mapping):
                loaded = loaded[key]
                break
    if not isinstance(loaded, Mapping):
        raise PinpointError(
            f"'{path.name}' holds a {type(loaded).__name__}, not a state dict of tensors", fix
        )
    state = {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    for prefix in PREFIXES:
        if state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix) :]: value for key, value in state.items()}
    return state


def read_state_dict(path: Path, fix: str, damaged_fix: str) -> dict[str, torch.Tensor]:
    """The tensors of ``path`` on the CPU, read without running any code from the file.

    ``.safetensors`` files go through ``safetensors.torch.load_file``; anything else through
    ``torch.load(..., weights_only=True)``, which refuses pickled Python objects.

    Args:
        fix: the remedy for a file that holds something else (pickled objects, no state dict).
        damaged_fix: the remedy for a file that cannot be read at all.

    Raises:
        PinpointError: the file is damaged, holds Python objects (never unpickled here), or no
        state dict.
    """
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            loaded: Any = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # every reader reports damage with its own exception types
        text = " ".join(str(err).split())
        blocked = re.search(r"GLOBAL (\S+)", text)  # what weights_only refused to import
        if blocked:
            raise PinpointError(
                f"'{path.name}' holds pickled Python objects ({blocked.group(1)}), not just "
                "tensors; Pinpoint never unpickles code from model files",
                fix,
            ) from err
        raise PinpointError(
            f"'{path.name}' could not be read ({text[:300] or type(err).__name__}); the file "
            f"may be damaged or incomplete ({path})",
            damaged_fix,
        ) from err
    return unwrap(loaded, path, fix)
