"""TAESD decoders (``taesd_decoder.safetensors`` from ComfyUI's ``models/vae_approx``) as a
diffusers ``AutoencoderTiny``: the cheap differentiable decoder of guided steps on the diffusers
route.

The file is a plain ``nn.Sequential`` state dict (a clamp, then the layers ``1.``, ``3.conv.0.``
...); diffusers' tiny decoder holds the same layers under ``layers.`` without the clamp (it
clamps in ``forward``), one index lower. The latent channels are read off the first layer.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import PinpointError
from .cache import cached, model_key
from .checkpoint import describe_keys, read_state_dict

TAESD_KEY = "TAESD"
TAESD_URL = "https://github.com/madebyollin/taesd/raw/main/taesd_decoder.safetensors"
FIX = (
    "give a TAESD decoder file as ComfyUI keeps it in models/vae_approx "
    f"(taesd_decoder.safetensors for SD 1.x/2.x: {TAESD_URL}; taesdxl_decoder.safetensors for "
    "SDXL)"
)


def load_taesd(
    path: Path, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.nn.Module:
    """An ``AutoencoderTiny`` whose decoder holds the TAESD decoder file ``path``'s weights, in
    eval mode with gradients off; ``decode(latent).sample`` maps a pipeline's latents to [-1, 1].
    Shared with earlier calls for the same unchanged file, device and dtype while alive.

    Raises:
        PinpointError: the path is missing or a folder, or the file is no TAESD decoder.
    """
    path = check_taesd_path(path)
    return cached(model_key(TAESD_KEY, path, device, dtype), lambda: _load(path, device, dtype))


def check_taesd_path(path: Path) -> Path:
    """``path`` resolved; a PinpointError when it is missing or a folder."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise PinpointError(f"the TAESD decoder '{path}' {what}", FIX)
    return path


def _load(path: Path, device: torch.device | str, dtype: torch.dtype) -> torch.nn.Module:
    from diffusers import AutoencoderTiny

    state = read_state_dict(path, FIX, "download it again; " + FIX)
    first = state.get("1.weight")
    if first is None or first.ndim != 4:
        raise PinpointError(f"'{path.name}' is no TAESD decoder ({describe_keys(state)})", FIX)
    renamed = {}
    for key, value in state.items():
        index, _, rest = key.partition(".")
        if not index.isdigit() or int(index) < 1:
            raise PinpointError(f"'{path.name}' is no TAESD decoder (it has '{key}')", FIX)
        renamed[f"layers.{int(index) - 1}.{rest}"] = value
    vae = AutoencoderTiny(latent_channels=int(first.shape[1]))
    try:
        vae.decoder.load_state_dict(renamed, strict=True)
    except RuntimeError as err:
        text = " ".join(str(err).split())[:300]
        raise PinpointError(f"'{path.name}' does not fit a TAESD decoder ({text})", FIX) from err
    vae = vae.eval().requires_grad_(False).to(torch.device(device))
    return vae if dtype == torch.float32 else vae.to(dtype=dtype)
