"""The loader of :data:`~pinpoint.loading.kinds.PERCEPTUAL`: a perceptual network's weights file,
recognised by its tensors (:func:`pinpoint.loading.perceptual.identify`) and assigned strictly
into the network built on the meta device."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import PinpointError
from .cache import cached, model_key
from .checkpoint import read_state_dict
from .kinds import PERCEPTUAL
from .models import PerceptualNet
from .perceptual import accepted_fix, identify


def check_file(path: Path) -> Path:
    """``path`` as a resolved existing file; a PinpointError for a missing path or a folder."""
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        raise PinpointError(
            f"'{path.name}' is a folder, but {PERCEPTUAL.title} come in a single file ({path})",
            accepted_fix(path),
        )
    if not path.is_file():
        raise PinpointError(
            f"{PERCEPTUAL.title} {str(path)!r} does not exist", accepted_fix(path.parent)
        )
    return path


def load_perceptual(
    path: Path,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> PerceptualNet:
    """Load a perceptual network's weights file (``alexnet-owt-7be5be79.pth`` ...).

    Arguments:
        path: the file (a ``.pth`` state dict or ``.safetensors``); a ``module.`` or ``model.``
            key prefix and a ``{"state_dict": ...}`` wrapper are accepted.
        device: where the weights go.
        dtype: the weights' floating dtype (float32 for the FID Inception, whatever is asked).

    Returns:
        a :class:`PerceptualNet` in eval mode with gradients off, its ``network`` read off the
        weights; shared with earlier calls for the same unchanged file, device and dtype while
        that object is alive.

    Raises:
        PinpointError: the file is missing, a folder, damaged, holds pickled objects, is none of
        :data:`NETWORKS`, or lacks (or has extra) weights of the network it resembles.
    """
    path = check_file(path)
    return cached(
        model_key(PERCEPTUAL.key, path, device, dtype), lambda: _load(path, device, dtype)
    )


def _load(path: Path, device: torch.device | str, dtype: torch.dtype) -> PerceptualNet:
    fix = accepted_fix(path.parent)
    state = read_state_dict(path, fix, "download it again; " + fix)
    network = identify(state, path)
    with torch.device("meta"):
        module = network.build()
    try:
        module.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        text = " ".join(str(err).split())[:400]
        raise PinpointError(
            f"'{path.name}' looks like {network.name} ({network.use}) but its weights do not fit "
            f"that network ({text})",
            fix,
        ) from err
    if network.part:
        module = getattr(module, network.part)
    module.eval().requires_grad_(False)
    module.to(device=torch.device(device), dtype=torch.float32 if network.float32 else dtype)
    return PerceptualNet(name=path.name, path=path, network=network.name, model=module)
