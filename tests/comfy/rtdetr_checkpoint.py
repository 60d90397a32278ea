"""A random-weight RT-DETR v4 checkpoint that ComfyUI's own detection route loads (Load
Diffusion Model → Run Real-Time Detection (RT-DETR), ComfyUI 0.33 and newer).

ComfyUI builds RT-DETR v4 at one size (HGNetv2 backbone, ~51M parameters), recognised by the
key ``encoder.pan_blocks.1.cv4.conv.weight``. The module is ComfyUI's own ``RTv4`` built with
torch's layers and their default (seeded) random initialisation, its state dict saved in fp16
(about 100 MB, a few seconds); random weights give random boxes, many of them partly outside
the image, which is what the box nodes are tested on.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

RTDETR_CHECKPOINT = "random-rtdetr-v4.safetensors"
"""The file name the tests give it under ``models/diffusion_models``."""
SEED = 0


def write_rtdetr_checkpoint(comfyui_root: Path, path: Path) -> Path:
    """Write the checkpoint to ``path`` (once) from the ComfyUI checkout at ``comfyui_root``."""
    if path.is_file():
        return path
    if str(comfyui_root) not in sys.path:
        sys.path.insert(0, str(comfyui_root))
    from comfy.ldm.rt_detr.rtdetr_v4 import RTv4
    from safetensors.torch import save_file

    torch.manual_seed(SEED)
    state = RTv4(operations=torch.nn).state_dict()
    tensors = {
        name: (value.half() if value.is_floating_point() else value).contiguous()
        for name, value in state.items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path
