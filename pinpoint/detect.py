"""Detect: candidate objects from a transformers object detector, either a closed-set one (DETR,
YOLOS, RT-DETR, ...: its own classes) or an open-vocabulary one (OWL-ViT, OWLv2, Grounding DINO:
whatever text queries describe)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from .errors import PinpointError
from .images import check_image
from .loading.detector import TOKEN_LOGITS
from .loading.models import Detector, Segmenter, module_device, module_dtype
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


def parse_queries(text: str) -> list[str]:
    """``"a red car, a dog"`` (or one query per line) → ``["a red car", "a dog"]``: every comma
    and line break ends a query; items are stripped, empty ones dropped, case kept."""
    parts = (text or "").replace("\n", ",").split(",")
    return [part.strip() for part in parts if part.strip()]


def check_labels(
    model: Detector | Segmenter, labels: Sequence[str], where: str, kind: str = "detector"
) -> set[str]:
    """``labels`` lower-cased, each one of ``model``'s class names; an unknown one is an error."""
    labels = [label.strip().lower() for label in labels if label.strip()]
    known = {name.lower() for name in model.labels.values()}
    unknown = [label for label in labels if label not in known]
    if unknown:
        listed = ", ".join(sorted(known)[:30]) + (", ..." if len(known) > 30 else "")
        raise PinpointError(
            where,
            f"'{model.name}' has no class named {', '.join(repr(u) for u in unknown)}",
            f"use class names of this {kind} ({listed}) or leave the label filter empty",
        )
    return set(labels)


def _to_uint8_arrays(images: torch.Tensor) -> list[np.ndarray]:
    """``[B, H, W, 3]`` float in [0, 1] → list of ``[H, W, 3]`` uint8 arrays for HF processors."""
    pixels = (images.detach().to("cpu", torch.float32).clamp(0, 1) * 255.0).round().to(torch.uint8)
    return [item.numpy() for item in pixels]


def check_detector_route(detector: Detector, open_vocabulary: bool, where: str) -> None:
    """Raise unless ``detector`` suits the route: closed-set detectors go to
    :func:`detect_objects`, open-vocabulary ones (``open_vocabulary=True``) to
    :func:`detect_by_text`."""
    if detector.open_vocabulary == open_vocabulary:
        return
    if detector.open_vocabulary:
        raise PinpointError(
            where,
            f"'{detector.name}' is an open-vocabulary detector: it finds what a text describes "
            "and has no class list of its own",
            "connect it to 'Detect by Text (Pinpoint)' and type what to find, or load a "
            "closed-set detector (DETR, YOLOS, RT-DETR) for this node",
        )
    raise PinpointError(
        where,
        f"'{detector.name}' is a closed-set detector: it only knows its own classes and cannot "
        "read text queries",
        "connect it to 'Detect Objects (Pinpoint)' (with its labels filter), or load an "
        "open-vocabulary detector (OWL-ViT, OWLv2, Grounding DINO) for this node",
    )


def _forward(detector: Detector, inputs: Mapping[str, torch.Tensor]) -> Any:
    """The detector's raw output for processor ``inputs``, moved to its device (floats to its
    dtype, ids and masks unchanged)."""
    device, dtype = module_device(detector.model), module_dtype(detector.model)
    moved = {
        key: value.to(device, dtype) if value.is_floating_point() else value.to(device)
        for key, value in inputs.items()
    }
    with torch.inference_mode():
        return detector.model(**moved)


def _find(
    images: torch.Tensor,
    run: Callable[[list[np.ndarray]], list[dict[str, Any]]],
    label_of: Callable[[int], str | None],
    source: str,
    max_detections: int,
    progress: Progress,
) -> list[ImageRegions]:
    """The regions of every image, ``CHUNK`` images per forward pass.

    Args:
        images: IMAGE ``[B, H, W, 3]``.
        run: uint8 arrays of a chunk → the processor's post-processed results, one dict per
            image with ``boxes`` (``[N, 4]`` x0, y0, x1, y1 in that image's pixels), ``scores``
            ``[N]`` and ``labels`` ``[N]`` (class or query ids).
        label_of: label id → region label, or None to drop the detection.
    """
    batch, height, width = int(images.shape[0]), int(images.shape[1]), int(images.shape[2])
    found: list[ImageRegions] = []
    for start in range(0, batch, CHUNK):
        for result in run(_to_uint8_arrays(images[start : start + CHUNK])):
            regions = []
            for box, score, label_id in zip(
                result["boxes"].float().cpu().tolist(),
                result["scores"].float().cpu().tolist(),
                result["labels"].cpu().tolist(),
                strict=True,
            ):
                label = label_of(int(label_id))
                # clipped first: OWLv2 boxes may lie in the padding below or right of the image
                x0, y0 = max(0.0, box[0]), max(0.0, box[1])
                x1, y1 = min(float(width), box[2]), min(float(height), box[3])
                if label is None or x1 <= x0 or y1 <= y0:
                    continue
                regions.append(
                    Region(
                        box=(x0, y0, x1, y1),
                        label=label,
                        confidence=float(score),
                        source=source,
                        score=float(score),
                    )
                )
            regions.sort(key=lambda region: region.score, reverse=True)
            found.append(ImageRegions(width, height, tuple(regions[:max_detections])))
        progress(min(start + CHUNK, batch), batch)
    return found


def _resolve(
    found: list[ImageRegions], if_nothing_found: str, where: str, reason: str, fix: str
) -> RegionBatch:
    """The user's "nothing found" policy applied to every image."""
    return RegionBatch(
        tuple(
            resolve_nothing_found(
                item,
                if_nothing_found,
                where,
                reason=reason,
                fix=fix,
                index=index,
                batch_size=len(found),
            )
            for index, item in enumerate(found)
        )
    )


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
    """Run a closed-set detector on every image and return its boxes as regions.

    Args:
        detector: from :func:`pinpoint.loading.load_detector`; not an open-vocabulary one
            (those go to :func:`detect_by_text`).
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
    check_detector_route(detector, open_vocabulary=False, where=where)
    wanted = check_labels(detector, labels, where)
    size = (int(images.shape[1]), int(images.shape[2]))
    names = detector.labels

    def run(arrays: list[np.ndarray]) -> list[dict[str, Any]]:
        outputs = _forward(detector, detector.processor(images=arrays, return_tensors="pt"))
        results: list[dict[str, Any]] = detector.processor.post_process_object_detection(
            outputs, threshold=threshold, target_sizes=[size] * len(arrays)
        )
        return results

    def label_of(label_id: int) -> str | None:
        label = names.get(label_id, str(label_id))
        return label if not wanted or label.lower() in wanted else None

    source = f"detector:{detector.name}"
    found = _find(images, run, label_of, source, max_detections, progress)
    classes = f" among {', '.join(sorted(wanted))}" if wanted else ""
    return _resolve(
        found,
        if_nothing_found,
        where,
        reason=f"nothing detected above threshold {threshold:.2f}{classes}",
        fix="lower the threshold" + (" or widen the label filter" if wanted else ""),
    )


def check_queries(detector: Detector, queries: Sequence[str], where: str) -> list[str]:
    """``queries`` stripped, without empty items or repeats (ignoring case); an empty list, or a
    '.' inside a Grounding DINO query, is an error."""
    unique: dict[str, str] = {}
    for query in queries:
        if query.strip():
            unique.setdefault(query.strip().lower(), query.strip())
    kept = list(unique.values())
    if not kept:
        raise PinpointError(
            where, "the queries are empty", "type what to find, e.g. 'a red car, a dog'"
        )
    if detector.model.config.model_type in TOKEN_LOGITS:
        dotted = [query for query in kept if "." in query]
        if dotted:
            raise PinpointError(
                where,
                f"{', '.join(repr(query) for query in dotted)} contains a '.', which "
                f"'{detector.name}' (Grounding DINO) reads as the end of a query",
                "remove the '.' from the queries",
            )
    return kept


def _query_logits(
    detector: Detector, token_logits: torch.Tensor, input_ids: torch.Tensor, count: int, where: str
) -> torch.Tensor:
    """Grounding DINO scores tokens of ``"q1. q2."``; a query's logit is its best token's.

    Args:
        token_logits: ``[B, N, max_text_len]`` (``-inf`` past the text).
        input_ids: ``[B, T]`` the tokenized text, the same for every image.
        count: the number of queries.

    Returns:
        ``[B, N, count]`` logits, one column per query.
    """
    tokenizer = detector.processor.tokenizer
    special = set(tokenizer.all_special_ids) | {tokenizer.convert_tokens_to_ids(".")}
    spans: list[list[int]] = [[]]
    for position, token in enumerate(input_ids[0, : token_logits.shape[-1]].tolist()):
        if token not in special:
            spans[-1].append(position)
        elif spans[-1]:
            spans.append([])
    spans = [span for span in spans if span]
    if len(spans) != count:
        raise PinpointError(
            where,
            f"'{detector.name}' reads at most {token_logits.shape[-1]} tokens and the "
            f"{count} queries do not fit",
            "use fewer or shorter queries",
        )
    return torch.stack([token_logits[..., span].amax(dim=-1) for span in spans], dim=-1)


def detect_by_text(
    detector: Detector,
    images: torch.Tensor,
    queries: Sequence[str],
    threshold: float = 0.1,
    max_detections: int = 20,
    if_nothing_found: str = "error",
    progress: Progress = no_progress,
    where: str = "Detect by Text",
) -> RegionBatch:
    """Find what each text query describes with an open-vocabulary detector.

    Args:
        detector: an open-vocabulary detector (OWL-ViT, OWLv2, Grounding DINO) from
            :func:`pinpoint.loading.load_detector`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1]; any size and aspect ratio.
        queries: what to find, e.g. ``["a red car", "a dog"]``; every image is searched for
            every query. Empty items and repeats are dropped.
        threshold: minimum score in [0, 1] (the sigmoid of the best query's logit); open-
            vocabulary scores run lower than closed-set confidences.
        max_detections: keep at most this many regions per image, the highest scores.
        if_nothing_found: ``"error"``, ``"empty mask"`` or ``"whole image"``.
        progress: called as ``progress(images_done, B)``.

    Returns:
        One :class:`ImageRegions` per image: boxes in that image's own pixels, each labelled
        with the query it matches best, ``confidence`` = ``score`` = that match's score,
        source ``"open-vocabulary:<name>"``, sorted by score.
    """
    check_image(images, where)
    check_if_nothing_found(if_nothing_found, where)
    check_detector_route(detector, open_vocabulary=True, where=where)
    queries = check_queries(detector, queries, where)
    size = (int(images.shape[1]), int(images.shape[2]))
    config = detector.model.config
    grounding = config.model_type in TOKEN_LOGITS
    if grounding:  # one text for all queries, read up to max_text_len tokens
        text: list[Any] = [". ".join(queries) + "."]
        limits: dict[str, Any] = dict(truncation=True, max_length=config.max_text_len)
    else:  # OWL: every query on its own, padded to the tokenizer's length
        text, limits = [list(queries)], dict(truncation=True)
    # the image processor's, fed with one logit per query: labels are query indices
    post_process = detector.processor.image_processor.post_process_object_detection

    def run(arrays: list[np.ndarray]) -> list[dict[str, Any]]:
        inputs = detector.processor(
            images=arrays, text=text * len(arrays), return_tensors="pt", **limits
        )
        outputs = _forward(detector, inputs)
        logits = outputs.logits
        if grounding:
            logits = _query_logits(detector, logits, inputs["input_ids"], len(queries), where)
        scored = SimpleNamespace(logits=logits, pred_boxes=outputs.pred_boxes)
        results: list[dict[str, Any]] = post_process(
            scored, threshold=threshold, target_sizes=[size] * len(arrays)
        )
        return results

    source = f"open-vocabulary:{detector.name}"
    found = _find(images, run, queries.__getitem__, source, max_detections, progress)
    return _resolve(
        found,
        if_nothing_found,
        where,
        reason=f"nothing matching {', '.join(repr(q) for q in queries)} scored above "
        f"threshold {threshold:.2f}",
        fix="lower the threshold or describe the object differently",
    )
