"""A random-weight RT-DETR v4 checkpoint that ComfyUI's own detection route loads (Load
Diffusion Model → Run Real-Time Detection (RT-DETR), ComfyUI 0.33 and newer).

ComfyUI builds RT-DETR v4 at one size (HGNetv2 backbone, ~51M parameters), recognised by the
key ``encoder.pan_blocks.1.cv4.conv.weight``. The module is ComfyUI's own ``RTv4`` built with
torch's layers and their default (seeded) random initialisation, its state dict saved in fp16
(about 100 MB, a few seconds), in a subprocess of the ComfyUI checkout on its CPU (ComfyUI picks
its device when imported). Random weights give random boxes, many of them partly outside the
image, which is what the box nodes are tested on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RTDETR_CHECKPOINT = "random-rtdetr-v4.safetensors"
"""The file name the tests give it under ``models/diffusion_models``."""
SEED = 0
WRITE = f"""
import os, sys, torch
sys.path.insert(0, os.getcwd())
from comfy.cli_args import args
args.cpu = True
from comfy.ldm.rt_detr.rtdetr_v4 import RTv4
from safetensors.torch import save_file
torch.manual_seed({SEED})
state = RTv4(operations=torch.nn).state_dict()
save_file(
    {{k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}},
    os.environ["PINPOINT_RTDETR_FILE"],
)
"""


def write_rtdetr_checkpoint(comfyui_root: Path, path: Path) -> Path:
    """Write the checkpoint to ``path`` (once) with the ComfyUI checkout at ``comfyui_root``."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        env = os.environ | {"PINPOINT_RTDETR_FILE": str(path)}
        python = os.environ.get("COMFYUI_PYTHON", sys.executable)  # as the server runs
        subprocess.run([python, "-c", WRITE], cwd=comfyui_root, env=env, check=True)
    return path
