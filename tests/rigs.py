"""Real tiny models rigged to a known answer, and recorders of their calls, shared by the tests.

The towers and backbones stay real and random; only a head (a projection, a classifier) is set
so the right answer is known in advance.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:  # the ComfyUI tests pass the pack's own copies of these
    from pinpoint.loading.models import ClipMatcher, Detector

COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


def solid(name: str) -> np.ndarray:
    """A 32x32 uint8 picture of one of :data:`COLOURS`."""
    picture = np.zeros((32, 32, 3), dtype=np.uint8)
    picture[:] = np.array(COLOURS[name]) * 255
    return picture


def point_texts_at(clip: ClipMatcher, pictures: dict[str, np.ndarray]) -> ClipMatcher:
    """A copy of ``clip`` whose text tower maps each text exactly onto its picture's embedding.

    The image tower is untouched (random); only the text projection is set, to
    ``targets @ pinv(pooled)``, exact while the texts' pooled outputs are linearly independent
    (pictures are ``[h, w, 3]`` uint8).
    """
    clip = dataclasses.replace(clip, model=copy.deepcopy(clip.model))
    model = clip.model
    with torch.no_grad():
        pixels = clip.processor.image_processor(
            images=list(pictures.values()), return_tensors="pt"
        )["pixel_values"]
        targets = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)
        tokens = clip.processor.tokenizer(list(pictures), padding=True, return_tensors="pt")
        pooled = model.text_model(**tokens).pooler_output.double()
        weight = targets.double().T @ torch.linalg.pinv(pooled.T)
        model.text_projection.weight.copy_(weight.to(model.text_projection.weight.dtype))
    return clip


def point_text_at(clip: ClipMatcher, picture: np.ndarray, text: str) -> ClipMatcher:
    """:func:`point_texts_at` for one text."""
    return point_texts_at(clip, {text: picture})


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def detector_finding(
    detector: Detector, boxes: list[tuple[float, float, float, float]], label: str = "dog"
) -> Detector:
    """A copy of a DETR whose query ``i`` finds ``label`` at ``boxes[i]`` (normalised
    ``cx, cy, w, h``) with probability ~0.99, and whose other queries find nothing.

    The heads' outputs are set by forward hooks; the backbone, the transformer and the image
    processor run as they are.
    """
    detector = dataclasses.replace(detector, model=copy.deepcopy(detector.model))
    model = detector.model
    wanted = {name: index for index, name in detector.labels.items()}[label]
    count = len(boxes)
    box_logits = torch.tensor([[_logit(v) for v in box] for box in boxes])

    def classes(module, args, output):
        logits = torch.full_like(output, -5.0)
        logits[..., -1] = 5.0  # "no object"
        logits[:, :count, -1] = -5.0
        logits[:, :count, wanted] = 5.0
        return logits

    def places(module, args, output):
        logits = output.clone()
        logits[:, :count] = box_logits.to(output)
        return logits

    model.class_labels_classifier.register_forward_hook(classes)
    model.bbox_predictor.register_forward_hook(places)
    return detector


def vision_calls(clip: ClipMatcher) -> tuple[list[int], torch.utils.hooks.RemovableHandle]:
    """Crops per forward of ``clip``'s image tower, recorded from now on (remove the handle)."""
    calls: list[int] = []
    handle = clip.model.vision_model.register_forward_hook(
        lambda module, args, kwargs, output: calls.append(kwargs["pixel_values"].shape[0]),
        with_kwargs=True,
    )
    return calls, handle
