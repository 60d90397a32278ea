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
from transformers import LogitsProcessor, LogitsProcessorList

if TYPE_CHECKING:  # the ComfyUI tests pass the pack's own copies of these
    from pinpoint.loading.models import ClipMatcher, Detector, TextSegmenter

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


class Recorder:
    """Stands in front of a real pipeline and records each call's keyword arguments as they
    were passed (lists copied: Z-Image's pipeline rewrites its prompt lists); its other
    attributes are the pipeline's."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __getattr__(self, name):
        if name == "real":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.real, name)

    def __call__(self, **kwargs):
        self.calls.append({k: list(v) if isinstance(v, list) else v for k, v in kwargs.items()})
        return self.real(**kwargs)


def vision_calls(clip: ClipMatcher) -> tuple[list[int], torch.utils.hooks.RemovableHandle]:
    """Crops per forward of ``clip``'s image tower, recorded from now on (remove the handle)."""
    calls: list[int] = []
    handle = clip.model.vision_model.register_forward_hook(
        lambda module, args, kwargs, output: calls.append(kwargs["pixel_values"].shape[0]),
        with_kwargs=True,
    )
    return calls, handle


# --- text segmenters ------------------------------------------------------------------------

RIGGED_SIZE = (96, 64)
"""(width, height) of the pictures the rigged text segmenters answer for."""
INSTANCES = {
    # query: [(score, box in pixels x0, y0, x1, y1)]
    "cat": [(0.6, (4, 6, 30, 40)), (0.9, (50, 10, 90, 60)), (0.3, (0, 0, 10, 10))],
    "dog": [(0.8, (20, 30, 60, 62))],
}
"""What the rigged SAM 3 answers for each query; the 0.3 instance is below the threshold."""


def rig_sam3(segmenter: TextSegmenter) -> list[int]:
    """Make ``segmenter`` answer :data:`INSTANCES` for the query its text ids spell (every
    other query slot scores nothing); return a list that counts vision-encoder passes."""
    model, tokenizer = segmenter.model, segmenter.processor.tokenizer
    width, height = RIGGED_SIZE
    vision_passes: list[int] = []

    def answer(module, args, kwargs, output):
        ids = kwargs["input_ids"]
        batch, queries = output.pred_logits.shape
        logits = torch.full((batch, queries), -20.0)
        boxes = torch.zeros(batch, queries, 4)
        masks = torch.full((batch, queries, height, width), -20.0)
        for row in range(batch):
            query = tokenizer.decode(ids[row], skip_special_tokens=True).strip()
            for slot, (score, (x0, y0, x1, y1)) in enumerate(INSTANCES.get(query, [])):
                logits[row, slot] = _logit(score)
                boxes[row, slot] = torch.tensor([x0 / width, y0 / height, x1 / width, y1 / height])
                masks[row, slot, y0:y1, x0:x1] = 20.0
        output.pred_logits, output.pred_boxes, output.pred_masks = logits, boxes, masks
        output.presence_logits = torch.full((batch, 1), 20.0)
        return output

    model.register_forward_hook(answer, with_kwargs=True)
    model.vision_encoder.register_forward_hook(lambda *args: vision_passes.append(1))
    return vision_passes


def location(pixel: int, size: int) -> int:
    """The ``<loc_k>`` bin Florence-2 decodes to ``pixel`` on a side of ``size`` pixels
    (it decodes bin k to ``int((k + 0.5) * size / 1000)``)."""
    return -((size - 2000 * pixel) // (2 * size))


def points(*xy: int) -> str:
    """``<loc_…>`` tokens of pixel points ``x, y, x, y …`` on a picture of :data:`RIGGED_SIZE`."""
    return "".join(f"<loc_{location(v, RIGGED_SIZE[i % 2])}>" for i, v in enumerate(xy))


class Scripted(LogitsProcessor):
    """Makes every beam of row ``i`` write ``scripts[i]`` token by token, then padding."""

    def __init__(self, scripts: list[list[int]], beams: int, pad: int):
        self.scripts, self.beams, self.pad = scripts, beams, pad

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - 1  # after the decoder's start token
        forced = torch.full_like(scores, float("-inf"))
        for row in range(scores.shape[0]):
            script = self.scripts[row // self.beams]
            forced[row, script[step] if step < len(script) else self.pad] = 0.0
        return forced


def script_florence(segmenter: TextSegmenter, monkeypatch, answers: list[str]) -> list[dict]:
    """Make ``segmenter`` answer ``answers`` (one per image and query, in that order) through its
    real ``generate``; return the keyword arguments of each call."""
    tokenizer = segmenter.processor.tokenizer
    scripts = [
        tokenizer(f"<s>{answer}</s>", add_special_tokens=False)["input_ids"] for answer in answers
    ]
    generate, calls = segmenter.model.generate, []

    def scripted(**kwargs):
        calls.append(kwargs)
        rig = Scripted(scripts, kwargs["num_beams"], tokenizer.pad_token_id)
        return generate(**kwargs, logits_processor=LogitsProcessorList([rig]))

    monkeypatch.setattr(segmenter.model, "generate", scripted)
    return calls


def checkerboard(height: int, width: int, square: int = 6) -> torch.Tensor:
    """``[height, width, 3]``: black and white squares of ``square`` px (a pattern whose
    position phase correlation finds to the pixel)."""
    rows = torch.arange(height)[:, None] // square
    cols = torch.arange(width)[None, :] // square
    return ((rows + cols) % 2).to(torch.float32)[..., None].expand(height, width, 3).clone()


def pattern_shift(expected: torch.Tensor, got: torch.Tensor) -> tuple[int, int]:
    """``(dy, dx)``: how far ``got`` is moved from ``expected`` (both ``[h, w, 3]``), by phase
    correlation (the peak of the normalised cross-power spectrum)."""
    a = expected.to(torch.float64).mean(dim=-1)
    b = got.to(torch.float64).mean(dim=-1)
    cross = torch.fft.fft2(b - b.mean()) * torch.conj(torch.fft.fft2(a - a.mean()))
    peak = torch.fft.ifft2(cross / cross.abs().clamp_min(1e-12)).real
    dy, dx = divmod(int(peak.argmax()), int(peak.shape[1]))
    height, width = int(peak.shape[0]), int(peak.shape[1])
    return (dy - height if dy > height // 2 else dy), (dx - width if dx > width // 2 else dx)
