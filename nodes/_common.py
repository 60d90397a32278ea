"""Glue shared by the node adapters: progress and Cancel, model folders and memory, precision,
node text and outputs, a MODEL's native size."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import comfy.model_management as mm
import comfy.utils
import folder_paths
import torch
from comfy.model_base import ModelType
from comfy_api.latest import io, ui

from ..pinpoint.errors import PinpointError
from ..pinpoint.loading.kinds import ModelKind
from ..pinpoint.loading.models import ClipMatcher
from ..pinpoint.loading.precision import Precision
from ..pinpoint.memory import metrics_bytes
from ..pinpoint.pipeline import keep_best
from ..pinpoint.progress import Progress
from .managed import managed

log = logging.getLogger("pinpoint")


def comfy_progress() -> Progress:
    """A core ``progress(done, total)`` callback that moves the node's bar and honours Cancel.

    Raising ComfyUI's interrupt exception from inside the callback stops the core loop (and a
    diffusers sampling loop) between two steps.
    """
    bar = comfy.utils.ProgressBar(1)

    def report(done: int, total: int) -> None:
        mm.throw_exception_if_processing_interrupted()
        bar.update_absolute(done, max(1, total))

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


NATIVE_SIZES = {
    "SD15": 512,
    "SD20": 768,
    "SDXLRefiner": 1024,
    "SDXL": 1024,
    "SD3": 1024,
    "AuraFlow": 1024,
    "PixArtAlpha": 1024,
    "HunyuanDiT": 1024,
    "Flux": 1024,
    "Lumina2": 1024,
    "HiDream": 1024,
    "Chroma": 1024,
    "QwenImage": 1328,
}
"""ComfyUI model config class → the resolution its family was trained at (SD 2.x: 768 for the
v-prediction models, 512 for the others)."""


def crop_resolution(resolution: int, model: Any) -> int:
    """``resolution``, or the native size of ``model`` (a ComfyUI MODEL) when it is 0."""
    if resolution > 0:
        return resolution
    if model is None:
        raise PinpointError(
            "resolution is 0 (the model's native size) but no model is connected",
            "connect the MODEL, or set resolution (512 for SD 1.5, 1024 for SDXL)",
        )
    base = model.model
    for config_class in type(base.model_config).__mro__:
        size = NATIVE_SIZES.get(config_class.__name__)
        if size == 768 and base.model_type != ModelType.V_PREDICTION:
            return 512
        if size is not None:
            return size
    raise PinpointError(
        f"the native size of {type(base.model_config).__name__} models is not known",
        "set resolution to the size the model was trained at (e.g. 1024)",
    )


def best_candidates(
    clip: ClipMatcher | None,
    images: torch.Tensor,
    masks: torch.Tensor,
    candidates: torch.Tensor,
    count: int,
    text: str,
    notes: Sequence[str],
    title: str,
) -> io.NodeOutput:
    """An inpaint node's output: each image's best of its ``count`` candidates (ranked by CLIP
    on ``text`` when there are several, see :func:`pinpoint.pipeline.keep_best`), with the
    notes and the ranking table shown on the node."""
    if count > 1:
        on_device(clip, metrics_bytes())
    best, table = keep_best(clip, images, masks, candidates, count, text)
    shown = report_notes([*notes, *([table] if table else [])], title) or None
    return io.NodeOutput(best.to(mm.intermediate_device()), ui=shown)
