"""Glue shared by the node adapters: progress and Cancel, model folders, precision, node text."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import comfy.model_management as mm
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io

from ..pinpoint.errors import PinpointError
from ..pinpoint.loading.folders import ModelKind
from ..pinpoint.progress import Progress
from ..pinpoint.regions import IF_NOTHING_FOUND_CHOICES
from ..pinpoint.select import BEST, PICK_CHOICES, PICK_TOOLTIP

log = logging.getLogger("pinpoint")

PRECISIONS = ["auto", "fp32", "fp16", "bf16"]
_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
MB = 1024 * 1024


def comfy_progress(total: int = 1) -> Progress:
    """A core ``progress(done, total)`` callback that moves the node's bar and honours Cancel.

    Raising ComfyUI's interrupt exception from inside the callback stops the core loop (and a
    diffusers sampling loop) between two steps.
    """
    bar = comfy.utils.ProgressBar(max(1, total))

    def report(done: int, total: int) -> None:
        mm.throw_exception_if_processing_interrupted()
        bar.update_absolute(done, max(1, total))

    return report


def model_dirs(kind: ModelKind) -> list[Path]:
    """Every directory ComfyUI knows for ``kind``: its folder, then shared ones (``diffusers``)."""
    dirs: list[Path] = []
    for name in (kind.folder, *kind.extra_folders):
        if name in folder_paths.folder_names_and_paths:
            dirs.extend(Path(path) for path in folder_paths.get_folder_paths(name))
    return dirs


def check_choice(value: str, choices: Sequence[str], name: str, where: str) -> str:
    """V3 combos are not membership-checked by ComfyUI 0.3.64, so nodes check their own."""
    if value not in choices:
        raise PinpointError(
            where,
            f"{name} is {value!r}",
            f"pick one of {', '.join(repr(choice) for choice in choices)}",
        )
    return value


def precision_dtype(choice: str, device: torch.device, where: str = "Pinpoint") -> torch.dtype:
    """``auto`` → fp32 on CPU, fp16 on an accelerator where ComfyUI would use it, else fp32."""
    check_choice(choice, PRECISIONS, "precision", where)
    if choice != "auto":
        return _DTYPES[choice]
    if mm.is_device_cpu(device) or not mm.should_use_fp16(device):
        return torch.float32
    return torch.float16


def show_on_node(text: str) -> None:
    """Print ``text`` on the running node (the frontend's progress text); no-op outside a run."""
    try:
        from comfy_execution.utils import get_executing_context
        from server import PromptServer
    except ImportError:
        return
    context = get_executing_context()
    server = getattr(PromptServer, "instance", None)
    if context is not None and server is not None and text:
        server.send_progress_text(text, context.node_id)


def report_notes(notes: Sequence[str], where: str) -> dict:
    """Log ``notes`` and show them on the running node; the ui ``text`` for them ({} if none)."""
    for note in notes:
        log.info("%s: %s", where, note)
    show_on_node("\n".join(notes))
    return {"text": list(notes)} if notes else {}


def description(node: type) -> str:
    """A node's docstring as one line, for the schema's ``description`` (the node tooltip)."""
    return " ".join((node.__doc__ or "").split())


def pick_inputs() -> list[io.Input]:
    """The ``pick`` combo and ``top_k`` that Match and Select share."""
    return [
        io.Combo.Input("pick", options=PICK_CHOICES, default=BEST, tooltip=PICK_TOOLTIP),
        io.Int.Input(
            "top_k",
            default=1,
            min=1,
            max=64,
            step=1,
            tooltip="How many regions to keep per image (ignored by 'all matches').",
        ),
    ]


def if_nothing_found_input(empty: str = "edit nothing in that image") -> io.Combo.Input:
    """The ``if_nothing_found`` combo every node that can come up empty shares."""
    return io.Combo.Input(
        "if_nothing_found",
        options=IF_NOTHING_FOUND_CHOICES,
        default="error",
        tooltip=f"error: stop with a message; empty mask: {empty}; whole image: use the whole "
        "image as the only region.",
    )
