"""``python -m pinpoint``: the edit pipeline without ComfyUI.

python -m pinpoint edit --image in.png --find "the red car" --prompt "a blue truck" --out out.png
python -m pinpoint edit --image in.png --edit "the cat => a fox" --edit "..." --out out.png
python -m pinpoint edit --image in.png --edits edits.txt --out out.png  # one edit per line
python -m pinpoint edit ... --candidates 4  # 4 seeds in one pass, the best by CLIP kept
python -m pinpoint edit ... --guide clip --guide-scale 0.05  # CLIP steers the sampler (S2)
python -m pinpoint style --image in.png --style "a watercolor painting" --out out.png  # S3
python -m pinpoint edit --image "photos/*.jpg" --out edited/ ...  # many images, resumable
python -m pinpoint edit --tiny ...  # tiny random models: runs anywhere, the output is noise
python -m pinpoint eval --images val2017/ --coco instances_val2017.json --preset s1 --out report/
python -m pinpoint models           # what is installed where, and what to download
python -m pinpoint download detr-resnet-50 clip-vit-base-patch32 ...  # fetch suggested models

One module per job: :mod:`.options` (the parser, and what the options mean), :mod:`.edit`
(``edit`` and ``style``), :mod:`.eval` (``eval``) and :mod:`.models` (``models``,
``download``, and the models a run names).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ..errors import PinpointError
from .edit import run_edit
from .eval import run_eval
from .models import run_download, run_models
from .options import build_parser

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "edit": run_edit,
    "style": run_edit,
    "eval": run_eval,
    "models": run_models,
    "download": run_download,
}
"""Each command → what runs it (returns the exit code)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for a user error)."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PinpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
