"""One item of ``python -m pinpoint eval`` edited and measured (its row), and the FID of a
set of edits against their sources."""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .benchmark_metrics import BenchmarkRequest, mask_iou, measure_benchmark
from .boxes import box_iou, mask_box
from .edit_list import EditLine, EditSettings
from .errors import PinpointError
from .eval_benchmarks import BENCHMARK_MASK
from .eval_items import BenchmarkTruth, EvalItem
from .eval_runner import FAILED, MASKS, NOTHING_FOUND, OK, make_row, output_path, row_route
from .eval_settings import EvalSetting
from .guidance import GuidanceRecipe
from .images import load_image, save_image
from .loading.models import (
    ClipMatcher,
    Dino,
    InpaintPipe,
    PerceptualNet,
    SamFolder,
    SamModel,
    VitMatte,
    module_device,
)
from .masks import feather_mask
from .metrics import MASK_THRESHOLD, MetricsRequest, frechet_distance, measure_edits
from .ranking import Kept
from .repaint import repaint, with_masks
from .route_settings import RouteSettings


@dataclass(frozen=True)
class EvalModels:
    """The models of a run (loaded once).

    Attributes:
        finder, clip, pipe: the edit's models: the route's finder, the CLIP (which also
            measures) and the inpainting pipeline.
        lpips: an LPIPS backbone for ``lpips_outside``; None leaves it out.
        fid: the FID Inception for the summary's FID; None leaves it out.
        route: how each edit's area is found.
        sam: the refiner of ``route``, if it refines.
        matte: ViTMatte, when the route mattes each mask's edge.
        guidance: the guidance each edit is steered by (towards its own prompt); None unguided.
        dino: a DINO model for DINO-I against a benchmark's edited image; None leaves it out.
    """

    finder: Any
    clip: ClipMatcher
    pipe: InpaintPipe
    lpips: PerceptualNet | None = None
    fid: PerceptualNet | None = None
    route: RouteSettings = RouteSettings()
    sam: SamModel | SamFolder | None = None
    matte: VitMatte | None = None
    guidance: GuidanceRecipe | None = None
    dino: Dino | None = None


def _peak_mb(device: torch.device) -> float:
    """The memory peak since the last reset (CUDA), or the process's resident peak so far."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def edit_and_measure(
    models: EvalModels,
    item: EvalItem,
    settings: EditSettings,
    out: Path,
    convert_rgb: bool = False,
    setting: EvalSetting = EvalSetting(),
) -> dict[str, str]:
    """Edit one item (with ``setting``'s guidance, ``models.guidance``, and candidates), write
    its image and mask, and measure it; the row says how it went and how it was made (a
    :class:`PinpointError` of the item is its ``failed`` row, not a stop)."""
    from .pipeline import edit

    device = module_device(models.clip.model)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    began = time.perf_counter()
    try:
        image = load_image(item.image.path, convert_rgb=convert_rgb)
        case = item.image.case
        truth = case.truth(*image.shape[1:3]) if case else None
        line = EditLine(item.edit.find, item.edit.prompt)
        if item.route == BENCHMARK_MASK:
            assert truth is not None  # the CLI refuses --mask benchmark without a benchmark
            edited, mask, kept = _edit_in(models, image, truth, line, settings, setting)
        else:
            result = edit(
                models.finder,
                models.clip,
                models.pipe,
                image,
                [line],
                settings,
                candidates=setting.candidates,
                ranking=setting.ranking,
                guidance=models.guidance,
                route=models.route,
                sam=models.sam,
                matte=models.matte,
            )
            edited, mask, kept = result.images, result.edits[0].mask, result.kept
    except PinpointError as err:
        return make_row(item, FAILED, note=f"{err.problem}. Fix: {err.fix}", made=setting.row())
    ms = (time.perf_counter() - began) * 1000
    if not bool((mask >= MASK_THRESHOLD).any()):
        return make_row(item, NOTHING_FOUND, ms=ms, peak_mb=_peak_mb(device), made=setting.row())
    blend = feather_mask(mask, settings.feather_px)  # what the stitch may change: all of it
    save_image(edited[0], output_path(out, item))
    save_image(blend[0, ..., None].expand(-1, -1, 3), output_path(out, item, MASKS))
    measured = measure_edits(
        MetricsRequest(
            models.clip,
            image,
            edited,
            blend,
            item.edit.prompt,
            item.edit.source_text,
            lpips=models.lpips,
        )
    )[0]
    inside = mask[0] >= MASK_THRESHOLD
    bench = given = None
    if truth is not None:  # a benchmark's image: its protocols' measures, its mask's IoU
        bench = measure_benchmark(
            BenchmarkRequest(
                models.clip,
                image,
                edited,
                item.edit.prompt,
                truth.edit_area,
                truth.unedited,
                truth.target,
                models.lpips,
                models.dino,
            )
        )
        given = mask_iou(inside, truth.edit_area)
    box = mask_box(inside)
    iou = box_iou(box, item.image.box) if box is not None and item.image.box else None
    target = item.image.target_mask(*inside.shape)
    overlap = mask_iou(inside, target) if target is not None else None
    made = setting.row(kept)
    peak = _peak_mb(device)
    return make_row(item, OK, "", ms, peak, measured, iou, overlap, made, bench, given)


def _edit_in(
    models: EvalModels,
    image: torch.Tensor,
    truth: BenchmarkTruth,
    line: EditLine,
    settings: EditSettings,
    setting: EvalSetting,
) -> tuple[torch.Tensor, torch.Tensor, tuple[Kept, ...]]:
    """``image`` ``[1, H, W, 3]`` repainted inside the benchmark's own mask (editing alone, no
    finding) with ``setting``'s guidance and candidates: the edited image, the mask
    ``[1, H, W]`` and the kept candidate (empty with one)."""
    from .pipeline import plan_edit

    mask = truth.edit_area[None].to(torch.float32)
    planned = plan_edit(
        models.pipe,
        image,
        [line],
        settings,
        setting.candidates,
        setting.ranking,
        models.guidance,
        models.clip,
    )
    result = repaint(with_masks(planned, [mask]))
    return result.images, mask, result.kept


def set_fid(
    net: PerceptualNet, out: Path, items: Sequence[EvalItem], rows: Sequence[dict[str, str]]
) -> float | None:
    """FID of the ``ok`` edits among ``items`` against their sources, read from disk as they
    are needed; None below 2 edits."""
    done = {(row["image"], row["type"], row_route(row)) for row in rows if row["status"] == OK}
    chosen = [item for item in items if item.key in done]
    if len(chosen) < 2:
        return None
    return frechet_distance(
        net,
        (load_image(item.image.path, convert_rgb=True) for item in chosen),
        (load_image(output_path(out, item), convert_rgb=True) for item in chosen),
    )
