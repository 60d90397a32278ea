"""Glue shared by the node adapters: progress and Cancel, model folders and memory, precision,
node text and outputs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import comfy.model_management as mm
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io, ui

from ..pinpoint.loading.kinds import ModelKind
from ..pinpoint.loading.precision import Precision
from ..pinpoint.memory import metrics_bytes
from ..pinpoint.progress import Progress
from ..pinpoint.repaint import RepaintRequest, RepaintResult, repaint
from .managed import managed

log = logging.getLogger("pinpoint")


def comfy_progress() -> Progress:
    """A core ``progress(done, total)`` callback that moves the node's bar and honours Cancel
    (``progress(done, total, preview)``: with the sampler's live preview).

    Raising ComfyUI's interrupt exception from inside the callback stops the core loop (and a
    diffusers sampling loop) between two steps.
    """
    bar = comfy.utils.ProgressBar(1)

    def report(done: int, total: int, preview: Any = None) -> None:
        mm.throw_exception_if_processing_interrupted()
        total = max(1, total)
        bar.update_absolute(min(done, total), total, preview)

    return report


def on_device(model: Any, activation_bytes: int, also: Sequence[Any] = ()) -> None:
    """Move a loaded core model to ComfyUI's device with room for ``activation_bytes`` (its
    request's estimate in :mod:`pinpoint.memory`): call it after the request is built, so bad
    settings never move a model. ``also``: models needed beside it (core models or ComfyUI
    ones with a ``patcher``; ``None`` skipped), loaded in the same call so none pushes another
    off the device."""
    others = [getattr(m, "patcher", None) or managed(m).patcher for m in also if m is not None]
    managed(model).acquire(activation_bytes, others)


def model_dirs(kind: ModelKind) -> list[Path]:
    """Every directory ComfyUI knows for ``kind``: its folder, then shared ones (``diffusers``)."""
    dirs: list[Path] = []
    for name in (kind.folder, *kind.extra_folders):
        if name in folder_paths.folder_names_and_paths:
            dirs.extend(Path(path) for path in folder_paths.get_folder_paths(name))
    return dirs


def precision_dtype(choice: str, device: torch.device) -> torch.dtype:
    """``auto`` → fp32 on CPU, fp16 on an accelerator where ComfyUI would use it, else fp32."""
    half = not mm.is_device_cpu(device) and mm.should_use_fp16(device)
    return Precision.check(choice, "precision").dtype(half)


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


def report_notes(notes: Sequence[str], title: str) -> dict:
    """Log ``notes`` under the node's ``title`` and show them on the running node; the ui
    ``text`` for them ({} if none)."""
    for note in notes:
        log.info("%s: %s", title, note)
    show_on_node("\n".join(notes))
    return {"text": list(notes)} if notes else {}


def description(node: type) -> str:
    """A node's docstring as one line, for the schema's ``description`` (the node tooltip)."""
    return " ".join((node.__doc__ or "").split())


def with_preview(node: type[io.ComfyNode], preview: torch.Tensor, *outputs: Any) -> io.NodeOutput:
    """The node's ``outputs`` then its ``preview`` IMAGE, also shown on the node."""
    preview = preview.to(mm.intermediate_device())
    return io.NodeOutput(*outputs, preview, ui=ui.PreviewImage(preview, cls=node))


def repaint_on_node(request: RepaintRequest) -> RepaintResult:
    """The crop → sample → stitch loop with the node's progress bar and Cancel, the ranking
    CLIP moved to the device before it ranks candidates."""
    return repaint(request, comfy_progress(), lambda: on_device(request.clip, metrics_bytes()))


def repainted(result: RepaintResult, title: str) -> io.NodeOutput:
    """An inpaint node's output: the edited images, with the result's notes and the
    candidates' ranking table shown on the node."""
    ranking = [result.ranking] if result.ranking else []
    shown = report_notes([*result.notes, *ranking], title)
    return io.NodeOutput(result.images.to(mm.intermediate_device()), ui=shown or None)
