"""Refine: pixel masks for regions with Segment Anything: the original SAM checkpoints, or SAM 2,
SAM-HQ and SAM in the transformers layout (the engines).

Each image is embedded once (the expensive image-encoder pass); every box of that image is then
decoded against that embedding in batched mask-decoder calls, and of SAM's three candidate masks
the one with the highest predicted IoU is kept. Optional point prompts (clicks) join the boxes
that contain them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .boxes import mask_box
from .errors import PinpointError
from .images import check_image, to_uint8_arrays
from .loading.models import SamFolder, SamModel, module_device, module_dtype
from .progress import Progress, no_progress
from .regions import Box, ImageRegions, Region, RegionBatch
from .request import Request

PROMPTS_PER_CALL = 16
"""Prompts per mask-decoder call. The decoder repeats the image embedding for every prompt, so
a call's memory stays bounded however many boxes an image has (see :mod:`pinpoint.memory`)."""

Point = tuple[float, float, int]
"""``(x, y, label)`` in source-image pixels; label 1 = on the object, 0 = background."""

POINTS_EXAMPLE = "120,80; 40,60,0"


def parse_points(points: str | Sequence[Sequence[float]]) -> tuple[Point, ...]:
    """``"120,80; 40,60,0"`` (or ``[(120, 80), (40, 60, 0)]``) → ``((120.0, 80.0, 1), (40.0,
    60.0, 0))``.

    Points are separated by ``;``, each ``x,y`` (an object point) or ``x,y,label`` with label
    1 (object) or 0 (background); blank items are skipped, so ``""`` gives no points.

    Raises:
        PinpointError: an item is not two or three numbers, or the label is not 0 or 1.
    """
    items = (points or "").split(";") if isinstance(points, str) else points
    parsed = []
    for number, item in enumerate(items, start=1):
        if isinstance(item, str) and not item.strip():
            continue
        try:
            parts = item.split(",") if isinstance(item, str) else item
            values = [float(part) for part in parts]
        except (TypeError, ValueError):
            values = []
        valid = len(values) in (2, 3) and all(math.isfinite(value) for value in values)
        if not valid or (len(values) == 3 and values[2] not in (0.0, 1.0)):
            shown = item.strip() if isinstance(item, str) else item
            raise PinpointError(
                f"item {number} of points, {shown!r}, is not 'x,y' or 'x,y,label' with "
                "label 1 (object) or 0 (background)",
                f"write pixel points separated by ';', e.g. '{POINTS_EXAMPLE}', or leave points "
                "empty",
            )
        parsed.append((values[0], values[1], int(values[2]) if len(values) == 3 else 1))
    return tuple(parsed)


def check_points(points: Sequence[Point], width: int, height: int) -> None:
    """Raise unless every point (from :func:`parse_points`) lies in a ``width`` x ``height``
    image."""
    for x, y, _label in points:
        if not (0 <= x < width and 0 <= y < height):
            raise PinpointError(
                f"point ({x:g}, {y:g}) lies outside the {width}x{height} image",
                f"use pixel coordinates with 0 <= x < {width} and 0 <= y < {height} (x from the "
                "left, y from the top)",
            )


def _inside(point: Point, box: Box) -> bool:
    x, y, _ = point
    return box[0] <= x < box[2] and box[1] <= y < box[3]


@dataclass(frozen=True)
class _Prompt:
    """What SAM is asked for one output region: a region's box and the points inside it, or
    (``region`` None) only points."""

    region: Region | None
    points: tuple[Point, ...]


def _prompts(found: ImageRegions, points: Sequence[Point]) -> tuple[list[_Prompt], list[Point]]:
    """One prompt per region (with the points inside its box), or a single point-only prompt
    for an image without regions; and the points that lie in no region."""
    if not found.regions:
        return ([_Prompt(None, tuple(points))] if points else []), []
    prompts = [
        _Prompt(region, tuple(point for point in points if _inside(point, region.box)))
        for region in found.regions
    ]
    unused = [p for p in points if not any(_inside(p, r.box) for r in found.regions)]
    return prompts, unused


def _precision(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager[Any]:
    """Autocast for a half-precision SAM: segment_anything makes its point encodings float32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


Decoder = Callable[[Sequence[_Prompt], bool], Iterator[tuple[torch.Tensor, float]]]
"""Masks for prompts of one shape (all with or all without a box, same point count) against the
current image: ``([H, W] float32 CPU mask in {0, 1}, predicted IoU)`` per prompt, in order."""


@contextlib.contextmanager
def _original_image(sam: SamModel, pixels: np.ndarray) -> Iterator[Decoder]:
    """Embed ``pixels`` ``[H, W, 3]`` uint8 with an original SAM checkpoint; yield its decoder.

    Like ``SamPredictor.predict_torch``, but the best of the three candidate masks is chosen
    at low resolution, so only one mask per prompt is upscaled to the image size.
    """
    from segment_anything import SamPredictor

    predictor = SamPredictor(sam.model)
    model, device = sam.model, predictor.device

    def decode(prompts: Sequence[_Prompt], multimask: bool) -> Iterator[tuple[torch.Tensor, float]]:
        size = predictor.original_size
        boxes = None
        if prompts[0].region is not None:
            corners = torch.tensor([prompt.region.box for prompt in prompts], dtype=torch.float32)
            boxes = predictor.transform.apply_boxes_torch(corners, size).to(device)
        points = None
        if prompts[0].points:
            coords = torch.tensor([[p[:2] for p in prompt.points] for prompt in prompts])
            labels = torch.tensor([[p[2] for p in prompt.points] for prompt in prompts])
            coords = predictor.transform.apply_coords_torch(coords, size).to(device)
            points = (coords, labels.to(device, torch.int))
        sparse, dense = model.prompt_encoder(points=points, boxes=boxes, masks=None)
        low_res, iou = model.mask_decoder(
            image_embeddings=predictor.features,
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
        )
        best = iou.argmax(dim=1)
        rows = torch.arange(len(prompts), device=best.device)
        for logits, score in zip(
            low_res[rows, best], iou[rows, best].float().tolist(), strict=True
        ):
            upscaled = model.postprocess_masks(logits[None, None], predictor.input_size, size)[0, 0]
            yield (upscaled > model.mask_threshold).to("cpu", torch.float32), score

    with _precision(device, module_dtype(model)), torch.inference_mode():
        predictor.set_image(pixels)
        try:
            yield decode
        finally:
            predictor.reset_image()


@contextlib.contextmanager
def _folder_image(sam: SamFolder, pixels: np.ndarray) -> Iterator[Decoder]:
    """Embed ``pixels`` ``[H, W, 3]`` uint8 with a transformers SAM 2 / SAM-HQ / SAM; yield its
    decoder. The processor maps the prompts' pixel coordinates to the model's input and the
    chosen low-resolution masks back to the image."""
    model, processor = sam.model, sam.processor
    device, dtype = module_device(model), module_dtype(model)
    with torch.inference_mode():
        encoded = processor(images=[pixels], return_tensors="pt")
        embedded = model.get_image_embeddings(encoded["pixel_values"].to(device, dtype))
    extra = {}
    if isinstance(embedded, tuple):  # SAM-HQ: the encoder's early features feed its HQ head
        embedded, extra["intermediate_embeddings"] = embedded
    sizes = [encoded[key] for key in ("original_sizes", "reshaped_input_sizes") if key in encoded]

    def decode(prompts: Sequence[_Prompt], multimask: bool) -> Iterator[tuple[torch.Tensor, float]]:
        given: dict[str, Any] = {}
        if prompts[0].region is not None:
            given["input_boxes"] = [[list(prompt.region.box) for prompt in prompts]]
        if prompts[0].points:
            given["input_points"] = [[[list(p[:2]) for p in prompt.points] for prompt in prompts]]
            given["input_labels"] = [[[p[2] for p in prompt.points] for prompt in prompts]]
        with torch.inference_mode():
            scaled = processor(images=[pixels], return_tensors="pt", **given)
            inputs = {
                key: scaled[key].to(device, dtype if scaled[key].is_floating_point() else None)
                for key in given
            }
            out = model(image_embeddings=embedded, multimask_output=multimask, **inputs, **extra)
        iou = out.iou_scores[0].float()  # [P, K]
        best = iou.argmax(dim=1)
        rows = torch.arange(len(prompts), device=best.device)
        chosen = out.pred_masks[0][rows, best][None, :, None].float().cpu()  # [1, P, 1, h, w]
        masks = processor.post_process_masks(chosen, *sizes)[0][:, 0]
        for mask, score in zip(masks, iou[rows, best].tolist(), strict=True):
            yield mask.to(torch.float32), score

    yield decode


def _points_box(points: Sequence[Point], width: int, height: int) -> Box:
    """The pixels the points fall on, as a box at least 1x1."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return (min(xs), min(ys), min(max(xs) + 1.0, float(width)), min(max(ys) + 1.0, float(height)))


def _refined(
    prompt: _Prompt,
    mask: torch.Tensor,
    iou: float,
    sam: SamModel | SamFolder,
    found: ImageRegions,
) -> Region:
    """The output region: the prompt's region with the mask, its box tightened to the mask."""
    tight = mask_box(mask)
    if prompt.region is not None:
        box = tight or prompt.region.box
        return dataclasses.replace(prompt.region, box=box, mask=mask, mask_iou=iou)
    return Region(
        box=tight or _points_box(prompt.points, found.width, found.height),
        label="points",
        confidence=1.0,
        source=f"sam:{sam.name}",
        mask=mask,
        score=1.0,
        mask_iou=iou,
    )


def _note(found: ImageRegions, empty: int, total: int, unused: Sequence[Point]) -> str:
    """The image's note plus what refining left out: empty masks and points in no region."""
    notes = [found.note] if found.note else []
    if empty and found.regions:
        notes.append(f"SAM found no mask for {empty} of {total} region(s): boxes kept")
    elif empty:
        notes.append("SAM found no mask at the points")
    if unused:
        listed = ", ".join(f"({x:g}, {y:g})" for x, y, _ in unused)
        notes.append(f"point(s) {listed} lie in no region and were ignored")
    return "; ".join(notes)


@dataclass(frozen=True)
class RefineRequest(Request):
    """A checked call of :func:`refine_with_sam`.

    Attributes:
        sam: an original SAM checkpoint or a transformers SAM 2 / SAM-HQ / SAM folder, from
            :func:`pinpoint.loading.load_model`; runs on its own device and dtype.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1], the images the regions were found on.
        regions: boxes per image; a region's existing mask is ignored (refined from its box).
        multimask: let SAM propose three masks per prompt and keep the one with the highest
            predicted IoU; False asks for a single mask.
        points: pixel points as text or ``(x, y[, label])`` items (see :func:`parse_points`); the
            same for every image, each inside it. A point joins the prompt of every box that
            contains it; in an image without regions all points together make one point-only
            prompt (region label "points"). Stored as the checked tuple.
    """

    sam: SamModel | SamFolder
    images: torch.Tensor
    regions: RegionBatch
    multimask: bool = True
    points: str | Sequence[Sequence[float]] = ""

    def __post_init__(self) -> None:
        check_image(self.images)
        self.regions.check_matches(self.images)
        points = parse_points(self.points)
        check_points(points, int(self.images.shape[2]), int(self.images.shape[1]))
        self._normalise(points=points)


def refine_with_sam(request: RefineRequest, progress: Progress = no_progress) -> RegionBatch:
    """Give every region a pixel mask from Segment Anything, its box as the prompt.

    Args:
        request: the SAM model (either engine), images, regions and settings.
        progress: called as ``progress(images_done, B)``; raising from it cancels.

    Returns:
        The regions in their order, each with ``mask`` (``[H, W]`` float32 in {0, 1}, CPU),
        ``mask_iou`` (SAM's predicted IoU) and ``box`` tightened to the mask; a region whose
        mask is empty keeps its box, and the image's note says so.
    """
    sam, images, regions, points = request.sam, request.images, request.regions, request.points
    embed = _folder_image if isinstance(sam, SamFolder) else _original_image
    batch = int(images.shape[0])
    out = []
    for index, found in enumerate(regions):
        prompts, unused = _prompts(found, points)
        # Prompts of one shape share a decoder call. Padding point lists with SAM's "not a
        # point" label instead would let a click in one box change the masks of the others.
        groups: dict[tuple[bool, int], list[int]] = {}
        for number, prompt in enumerate(prompts):
            groups.setdefault((prompt.region is None, len(prompt.points)), []).append(number)
        results: list[Any] = [None] * len(prompts)  # (mask, iou) per prompt
        if prompts:
            with embed(sam, to_uint8_arrays(images[index : index + 1])[0]) as decode:
                for members in groups.values():
                    for start in range(0, len(members), PROMPTS_PER_CALL):
                        chunk = members[start : start + PROMPTS_PER_CALL]
                        decoded = decode([prompts[n] for n in chunk], request.multimask)
                        for number, result in zip(chunk, decoded, strict=True):
                            results[number] = result
        empty = sum(1 for mask, _ in results if not bool(mask.any()))
        refined = tuple(
            _refined(prompt, mask, iou, sam, found)
            for prompt, (mask, iou) in zip(prompts, results, strict=True)
        )
        note = _note(found, empty, len(refined), unused)
        out.append(dataclasses.replace(found, regions=refined, note=note))
        progress(index + 1, batch)
    return RegionBatch(tuple(out))
