"""Detect: candidate objects from a transformers object detector, either a closed-set one (DETR,
YOLOS, RT-DETR, ...: its own classes) or an open-vocabulary one (OWL-ViT, OWLv2, Grounding DINO:
whatever text queries describe)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from .errors import PinpointError
from .images import IMAGES_PER_PASS, check_image, to_uint8_arrays
from .labels import check_labels, split_queries
from .loading.detector import TOKEN_LOGITS
from .loading.models import Detector, to_module
from .progress import Progress, no_progress
from .regions import IfNothingFound, ImageRegions, Region, RegionBatch, resolve_each
from .request import Request


def check_route(detector: Detector, open_vocabulary: bool) -> None:
    """Raise unless ``detector`` suits the route: closed-set detectors find their own classes
    (:class:`DetectRequest`), open-vocabulary ones what text queries describe
    (:class:`TextDetectRequest`)."""
    if detector.open_vocabulary == open_vocabulary:
        return
    if detector.open_vocabulary:
        raise PinpointError(
            f"'{detector.name}' is an open-vocabulary detector: it finds what a text describes "
            "and has no class list of its own",
            "use it to detect by text (type what to find), or load a closed-set detector "
            "(DETR, YOLOS, RT-DETR) to detect its classes",
        )
    raise PinpointError(
        f"'{detector.name}' is a closed-set detector: it only knows its own classes and cannot "
        "read text queries",
        "use it to detect objects of its classes (with the labels filter), or load an "
        "open-vocabulary detector (OWL-ViT, OWLv2, Grounding DINO) to detect by text",
    )


@dataclasses.dataclass(frozen=True)
class DetectRequest(Request):
    """A checked call of :func:`detect_objects`.

    Attributes:
        detector: a closed-set detector from :func:`pinpoint.loading.load_model`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1]; any size and aspect ratio.
        threshold: minimum detector confidence in [0, 1].
        max_detections: keep at most this many regions per image, the most confident.
        labels: keep only these class names (``"car, truck"`` or a sequence; case ignored);
            empty keeps every class. Checked against the detector's classes.
        if_nothing_found: what an image without detections gets (see
            :func:`pinpoint.regions.resolve_nothing_found`).
        wanted: the checked class names (set from ``labels``).
    """

    detector: Detector
    images: torch.Tensor
    threshold: float = 0.7
    max_detections: int = 20
    labels: str | Sequence[str] = ""
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR
    wanted: frozenset[str] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        check_image(self.images)
        check_route(self.detector, open_vocabulary=False)
        self._normalise(
            if_nothing_found=IfNothingFound.check(self.if_nothing_found, "if_nothing_found"),
            wanted=check_labels(self.labels, self.detector.labels, self.detector.name, "detector"),
        )


def check_queries(detector: Detector, queries: str | Sequence[str]) -> tuple[str, ...]:
    """The queries as :func:`~pinpoint.labels.split_queries` keeps them; a '.' inside a
    Grounding DINO query (which it reads as the end of a query) is an error."""
    kept = split_queries(queries)
    if detector.model.config.model_type in TOKEN_LOGITS:
        dotted = [query for query in kept if "." in query]
        if dotted:
            raise PinpointError(
                f"{', '.join(repr(query) for query in dotted)} contains a '.', which "
                f"'{detector.name}' (Grounding DINO) reads as the end of a query",
                "remove the '.' from the queries",
            )
    return kept


@dataclasses.dataclass(frozen=True)
class TextDetectRequest(Request):
    """A checked call of :func:`detect_by_text`.

    Attributes:
        detector: an open-vocabulary detector (OWL-ViT, OWLv2, Grounding DINO).
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1]; any size and aspect ratio.
        queries: what to find, ``"a red car, a dog"`` or ``["a red car", "a dog"]``; every image
            is searched for every query. Stored as the checked tuple (:func:`check_queries`).
        threshold: minimum score in [0, 1] (the sigmoid of the best query's logit); open-
            vocabulary scores run lower than closed-set confidences.
        max_detections: keep at most this many regions per image, the highest scores.
        if_nothing_found: what an image without detections gets.
        spans: Grounding DINO only: each query's token positions in the joined text
            ``"q1. q2."`` (empty for OWL models, which score each query on its own).
    """

    detector: Detector
    images: torch.Tensor
    queries: str | Sequence[str]
    threshold: float = 0.1
    max_detections: int = 20
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR
    spans: tuple[tuple[int, ...], ...] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        check_image(self.images)
        check_route(self.detector, open_vocabulary=True)
        queries = check_queries(self.detector, self.queries)
        grounding = self.detector.model.config.model_type in TOKEN_LOGITS
        self._normalise(
            if_nothing_found=IfNothingFound.check(self.if_nothing_found, "if_nothing_found"),
            queries=queries,
            spans=_query_spans(self.detector, queries) if grounding else (),
        )


def _forward(detector: Detector, inputs: Mapping[str, torch.Tensor]) -> Any:
    """The detector's raw output for processor ``inputs`` (moved to its device and dtype)."""
    with torch.inference_mode():
        return detector.model(**to_module(detector.model, inputs))


def _find(
    images: torch.Tensor,
    run: Callable[[list[np.ndarray]], list[dict[str, Any]]],
    label_of: Callable[[int], str | None],
    source: str,
    max_detections: int,
    progress: Progress,
) -> list[ImageRegions]:
    """The regions of every image, :data:`IMAGES_PER_PASS` images per forward pass.

    Args:
        images: IMAGE ``[B, H, W, 3]``.
        run: uint8 arrays of a chunk → the processor's post-processed results, one dict per
            image with ``boxes`` (``[N, 4]`` x0, y0, x1, y1 in that image's pixels), ``scores``
            ``[N]`` and ``labels`` ``[N]`` (class or query ids).
        label_of: label id → region label, or None to drop the detection.
    """
    batch, height, width = int(images.shape[0]), int(images.shape[1]), int(images.shape[2])
    found: list[ImageRegions] = []
    for start in range(0, batch, IMAGES_PER_PASS):
        for result in run(to_uint8_arrays(images[start : start + IMAGES_PER_PASS])):
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
        progress(min(start + IMAGES_PER_PASS, batch), batch)
    return found


def detect_objects(request: DetectRequest, progress: Progress = no_progress) -> RegionBatch:
    """Run a closed-set detector on every image and return its boxes as regions.

    Args:
        request: the detector, images and settings.
        progress: called as ``progress(images_done, B)``.

    Returns:
        One :class:`ImageRegions` per image, boxes in that image's own pixels (``x0, y0, x1,
        y1``), sorted by confidence.
    """
    detector, images, wanted = request.detector, request.images, request.wanted
    size = (int(images.shape[1]), int(images.shape[2]))
    names = detector.labels

    def run(arrays: list[np.ndarray]) -> list[dict[str, Any]]:
        outputs = _forward(detector, detector.processor(images=arrays, return_tensors="pt"))
        results: list[dict[str, Any]] = detector.processor.post_process_object_detection(
            outputs, threshold=request.threshold, target_sizes=[size] * len(arrays)
        )
        return results

    def label_of(label_id: int) -> str | None:
        label = names.get(label_id, str(label_id))
        return label if not wanted or label.lower() in wanted else None

    source = f"detector:{detector.name}"
    found = _find(images, run, label_of, source, request.max_detections, progress)
    classes = f" among {', '.join(sorted(wanted))}" if wanted else ""
    return resolve_each(
        found,
        request.if_nothing_found,
        reason=f"nothing detected above threshold {request.threshold:.2f}{classes}",
        fix="lower the threshold" + (" or widen the label filter" if wanted else ""),
    )


def _grounding_text(detector: Detector, queries: Sequence[str]) -> dict[str, Any]:
    """Grounding DINO reads all queries as one text ``"q1. q2."``, up to ``max_text_len``
    tokens: the processor's ``text`` and tokenizer arguments."""
    limit = detector.model.config.max_text_len
    return dict(text=". ".join(queries) + ".", truncation=True, max_length=limit)


def _query_spans(detector: Detector, queries: Sequence[str]) -> tuple[tuple[int, ...], ...]:
    """Each query's token positions in Grounding DINO's joined text (tokenizer only, no model).

    Raises:
        PinpointError: the queries do not fit in the text length the model reads.
    """
    tokenizer = detector.processor.tokenizer
    special = set(tokenizer.all_special_ids) | {tokenizer.convert_tokens_to_ids(".")}
    tokens = tokenizer(**_grounding_text(detector, queries))["input_ids"]
    spans: list[list[int]] = [[]]
    for position, token in enumerate(tokens):
        if token not in special:
            spans[-1].append(position)
        elif spans[-1]:
            spans.append([])
    kept = tuple(tuple(span) for span in spans if span)
    if len(kept) != len(queries):
        raise PinpointError(
            f"'{detector.name}' reads at most {detector.model.config.max_text_len} tokens and "
            f"the {len(queries)} queries do not fit",
            "use fewer or shorter queries",
        )
    return kept


def detect_by_text(request: TextDetectRequest, progress: Progress = no_progress) -> RegionBatch:
    """Find what each text query describes with an open-vocabulary detector.

    Args:
        request: the detector, images, queries and settings.
        progress: called as ``progress(images_done, B)``.

    Returns:
        One :class:`ImageRegions` per image: boxes in that image's own pixels, each labelled
        with the query it matches best, ``confidence`` = ``score`` = that match's score,
        source ``"open-vocabulary:<name>"``, sorted by score.
    """
    detector, images, queries = request.detector, request.images, request.queries
    size = (int(images.shape[1]), int(images.shape[2]))
    if request.spans:  # Grounding DINO: one text for all queries
        limits = _grounding_text(detector, queries)
        text: list[Any] = [limits.pop("text")]
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
        if request.spans:  # Grounding DINO scores tokens; a query scores its best token
            best = [logits[..., list(span)].amax(dim=-1) for span in request.spans]
            logits = torch.stack(best, dim=-1)
        scored = SimpleNamespace(logits=logits, pred_boxes=outputs.pred_boxes)
        results: list[dict[str, Any]] = post_process(
            scored, threshold=request.threshold, target_sizes=[size] * len(arrays)
        )
        return results

    source = f"open-vocabulary:{detector.name}"
    found = _find(images, run, queries.__getitem__, source, request.max_detections, progress)
    return resolve_each(
        found,
        request.if_nothing_found,
        reason=f"nothing matching {', '.join(repr(q) for q in queries)} scored above "
        f"threshold {request.threshold:.2f}",
        fix="lower the threshold or describe the object differently",
    )
