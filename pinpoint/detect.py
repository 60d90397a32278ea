"""Detect: candidate objects from any transformers object detector (DETR, YOLOS, RT-DETR...)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .errors import PinpointError
from .images import check_image
from .loading.models import Detector, module_device, module_dtype
from .progress import Progress, no_progress
from .regions import (
    ImageRegions,
    Region,
    RegionBatch,
    check_if_nothing_found,
    resolve_nothing_found,
)

CHUNK = 4
"""Images per detector forward pass: bounds activation memory for large batches."""


def parse_labels(text: str) -> list[str]:
    """``"car, Person ,dog"`` → ``["car", "person", "dog"]`` (lower-case, empty items dropped)."""
    return [part.strip().lower() for part in (text or "").split(",") if part.strip()]


def _check_labels(detector: Detector, labels: Sequence[str], where: str) -> set[str]:
    labels = [label.strip().lower() for label in labels if label.strip()]
    known = {name.lower() for name in detector.labels.values()}
    unknown = [label for label in labels if label not in known]
    if unknown:
        listed = ", ".join(sorted(known)[:30]) + (", ..." if len(known) > 30 else "")
        raise PinpointError(
            where,
            f"'{detector.name}' has no class named {', '.join(repr(u) for u in unknown)}",
            f"use class names of this detector ({listed}) or leave the label filter empty",
        )
    return set(labels)


def _to_uint8_arrays(images: torch.Tensor) -> list[np.ndarray]:
    """``[B, H, W, 3]`` float in [0, 1] → list of ``[H, W, 3]`` uint8 arrays for HF processors."""
    pixels = (images.detach().to("cpu", torch.float32).clamp(0, 1) * 255.0).round().to(torch.uint8)
    return [item.numpy() for item in pixels]


def detect_objects(
    detector: Detector,
    images: torch.Tensor,
    threshold: float = 0.7,
    max_detections: int = 20,
    labels: Sequence[str] = (),
    if_nothing_found: str = "error",
    progress: Progress = no_progress,
    where: str = "Detect",
) -> RegionBatch:
    """Run the detector on every image and return its boxes as regions.

    Args:
        detector: from :func:`pinpoint.loading.load_detector`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1]; any size and aspect ratio.
        threshold: minimum detector confidence in [0, 1].
        max_detections: keep at most this many regions per image, the most confident.
        labels: keep only these class names (case-insensitive); empty keeps every class.
        if_nothing_found: ``"error"``, ``"empty mask"`` or ``"whole image"`` (see
            :func:`pinpoint.regions.resolve_nothing_found`).
        progress: called as ``progress(images_done, B)``.

    Returns:
        One :class:`ImageRegions` per image, boxes in that image's own pixels (``x0, y0, x1,
        y1``), sorted by confidence.
    """
    check_image(images, where)
    check_if_nothing_found(if_nothing_found, where)
    wanted = _check_labels(detector, labels, where)
    device, dtype = module_device(detector.model), module_dtype(detector.model)
    batch, height, width = int(images.shape[0]), int(images.shape[1]), int(images.shape[2])
    names = detector.labels
    found: list[ImageRegions] = []
    for start in range(0, batch, CHUNK):
        arrays = _to_uint8_arrays(images[start : start + CHUNK])
        inputs = detector.processor(images=arrays, return_tensors="pt")
        inputs = {
            key: value.to(device, dtype) if value.is_floating_point() else value.to(device)
            for key, value in inputs.items()
        }
        with torch.inference_mode():
            outputs = detector.model(**inputs)
        results = detector.processor.post_process_object_detection(
            outputs, threshold=threshold, target_sizes=[(height, width)] * len(arrays)
        )
        for result in results:
            regions = []
            for box, score, label_id in zip(
                result["boxes"].float().cpu().tolist(),
                result["scores"].float().cpu().tolist(),
                result["labels"].cpu().tolist(),
                strict=True,
            ):
                label = names.get(int(label_id), str(int(label_id)))
                if wanted and label.lower() not in wanted:
                    continue
                x0, y0, x1, y1 = box
                if x1 <= x0 or y1 <= y0:
                    continue
                regions.append(
                    Region(
                        box=(
                            max(0.0, x0),
                            max(0.0, y0),
                            min(float(width), x1),
                            min(float(height), y1),
                        ),
                        label=label,
                        confidence=float(score),
                        source=f"detector:{detector.name}",
                        score=float(score),
                    )
                )
            regions.sort(key=lambda region: region.score, reverse=True)
            found.append(ImageRegions(width, height, tuple(regions[:max_detections])))
        progress(min(start + CHUNK, batch), batch)
    classes = f" among {', '.join(sorted(wanted))}" if wanted else ""
    return RegionBatch(
        tuple(
            resolve_nothing_found(
                item,
                if_nothing_found,
                where,
                reason=f"nothing detected above threshold {threshold:.2f}{classes}",
                fix="lower the threshold" + (" or widen the label filter" if wanted else ""),
                index=index,
                batch_size=batch,
            )
            for index, item in enumerate(found)
        )
    )
