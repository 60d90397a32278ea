"""Segment by text: what a text names becomes regions, each instance its own, with a pixel mask
where the model draws one. SAM 3 returns every instance of a short noun phrase ("cat") with a
score; Florence-2 outlines what a referring expression describes ("the man in the red shirt")
or boxes the phrases of a caption (phrase grounding)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from .boxes import clamp_box, mask_box
from .choices import Choice
from .errors import PinpointError
from .images import IMAGES_PER_PASS, check_image, to_uint8_arrays
from .labels import split_queries
from .loading.models import TextSegmenter, to_module
from .progress import Progress, no_progress
from .regions import IfNothingFound, ImageRegions, Region, RegionBatch, resolve_each
from .request import Request

SAM3_TEXT_TOKENS = 30
"""SAM 3 reads 32 text positions, two of them the start and end tokens; its processor does not
truncate, so a longer text is refused up front."""
MASK_THRESHOLD = 0.5
"""A SAM 3 mask pixel belongs to the instance when its probability is above this."""
FLORENCE_BEAMS = 3
"""Beam width of Florence-2's generation, as its authors run it."""
FLORENCE_MAX_TOKENS = 1024
"""Florence-2 writes an outline as coordinate tokens; long outlines need room."""


class FlorenceTask(Choice):
    """What Florence-2 is asked (SAM 3 always returns instance masks and boxes)."""

    OUTLINE = "referring segmentation"
    """The outline of what a referring expression describes ("the man in the red shirt")."""
    BOXES = "phrase grounding"
    """A box for each phrase of a caption it finds ("a dog and a red ball")."""


FLORENCE_PROMPTS = {
    FlorenceTask.OUTLINE: "<REFERRING_EXPRESSION_SEGMENTATION>",
    FlorenceTask.BOXES: "<CAPTION_TO_PHRASE_GROUNDING>",
}
"""Florence-2's task token for each task; the query follows it."""


@dataclasses.dataclass(frozen=True)
class TextSegmentRequest(Request):
    """A checked call of :func:`segment_by_text`.

    Attributes:
        segmenter: a SAM 3 or Florence-2 model from :func:`pinpoint.loading.load_model`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1]; any size and aspect ratio.
        text: what to find, ``"cat, dog"`` or a sequence; every image is searched for every
            query. Stored as the checked tuple (:func:`~pinpoint.labels.split_queries`).
        threshold: SAM 3: minimum instance score in [0, 1] (its own confidence times how sure
            it is that the text is in the image at all). Florence-2 has no threshold.
        max_regions: keep at most this many regions per image, the highest scores.
        florence_task: Florence-2: outline a referring expression or box a caption's phrases.
        if_nothing_found: what an image without a region gets.
    """

    segmenter: TextSegmenter
    images: torch.Tensor
    text: str | Sequence[str]
    threshold: float = 0.5
    max_regions: int = 20
    florence_task: FlorenceTask = FlorenceTask.OUTLINE
    if_nothing_found: IfNothingFound = IfNothingFound.ERROR

    def __post_init__(self) -> None:
        check_image(self.images)
        queries = split_queries(self.text)
        if self.segmenter.family == "SAM 3":
            _check_sam3_lengths(self.segmenter, queries)
        self._normalise(
            text=queries,
            florence_task=FlorenceTask.check(self.florence_task, "florence_task"),
            if_nothing_found=IfNothingFound.check(self.if_nothing_found, "if_nothing_found"),
        )


def _check_sam3_lengths(segmenter: TextSegmenter, queries: Sequence[str]) -> None:
    """Raise for a query longer than SAM 3 reads (tokenizer only, no model)."""
    tokenizer = segmenter.processor.tokenizer
    for query in queries:
        length = len(tokenizer(query, add_special_tokens=False)["input_ids"])
        if length > SAM3_TEXT_TOKENS:
            raise PinpointError(
                f"{query!r} is {length} tokens long but '{segmenter.name}' (SAM 3) reads at "
                f"most {SAM3_TEXT_TOKENS}",
                "name the object in a few words ('red car'); SAM 3 finds every instance of a "
                "short noun phrase, and CLIP matching can then pick one by a longer "
                "description",
            )


def _sam3(
    segmenter: TextSegmenter, arrays: list[np.ndarray], request: TextSegmentRequest
) -> list[list[Region]]:
    """Every query on every image of a chunk: one vision pass per image, then the text and
    detection heads once per query on the stored image features."""
    processor, model = segmenter.processor, segmenter.model
    source = f"sam3:{segmenter.name}"
    pixels = to_module(model, processor(images=arrays, return_tensors="pt"))
    found: list[list[Region]] = [[] for _ in arrays]
    with torch.inference_mode():
        vision = model.get_vision_features(pixel_values=pixels["pixel_values"])
        for query in request.text:
            text = to_module(model, processor(text=[query] * len(arrays), return_tensors="pt"))
            outputs = model(vision_embeds=vision, **text)
            results = processor.post_process_instance_segmentation(
                outputs,
                threshold=request.threshold,
                mask_threshold=MASK_THRESHOLD,
                target_sizes=[array.shape[:2] for array in arrays],
            )
            for regions, result, array in zip(found, results, arrays, strict=True):
                height, width = array.shape[:2]
                for score, box, mask in zip(
                    result["scores"].float().cpu().tolist(),
                    result["boxes"].float().cpu().tolist(),
                    result["masks"].cpu(),
                    strict=True,
                ):
                    x0, y0, x1, y1 = clamp_box(tuple(box), width, height)
                    if x1 <= x0 or y1 <= y0 or not bool(mask.any()):
                        continue  # a box outside the image, or a mask below the threshold
                    regions.append(
                        Region((x0, y0, x1, y1), query, score, source, mask.float(), score=score)
                    )
    return found


def _outline(polygons: Sequence[Sequence[float]], height: int, width: int) -> torch.Tensor:
    """``[H, W]`` float mask of Florence-2's polygons (flat ``x, y, x, y ...`` pixel lists)."""
    picture = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(picture)
    for polygon in polygons:
        if len(polygon) >= 6:
            draw.polygon([float(value) for value in polygon], fill=255, outline=255)
    return torch.from_numpy(np.asarray(picture) > 0).to(torch.float32)


def _florence(
    segmenter: TextSegmenter, arrays: list[np.ndarray], request: TextSegmentRequest
) -> list[list[Region]]:
    """Every (image, query) pair of a chunk in one beam-search generation; a result's
    confidence is the probability Florence-2 gives its own answer (per token, geometric mean)."""
    processor, model = segmenter.processor, segmenter.model
    task = FLORENCE_PROMPTS[request.florence_task]
    pairs = [(index, query) for index in range(len(arrays)) for query in request.text]
    inputs = processor(
        text=[task + query for _, query in pairs],
        images=[arrays[index] for index, _ in pairs],
        padding=True,
        return_tensors="pt",
    )
    with torch.inference_mode():
        generated = model.generate(
            **to_module(model, inputs),
            max_new_tokens=FLORENCE_MAX_TOKENS,
            num_beams=FLORENCE_BEAMS,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
        )
    texts = processor.batch_decode(generated.sequences, skip_special_tokens=False)
    confidences = generated.sequences_scores.float().exp().cpu().tolist()
    source = f"florence2:{segmenter.name}"
    found: list[list[Region]] = [[] for _ in arrays]
    for (index, query), text, confidence in zip(pairs, texts, confidences, strict=True):
        height, width = arrays[index].shape[:2]
        parsed = processor.post_process_generation(text, task=task, image_size=(width, height))
        answer = parsed[task]
        if request.florence_task == FlorenceTask.OUTLINE:
            for polygons in answer["polygons"]:
                mask = _outline(polygons, height, width)
                box = mask_box(mask)
                if box is not None:
                    found[index].append(
                        Region(box, query, confidence, source, mask=mask, score=confidence)
                    )
        else:
            for box, phrase in zip(answer["bboxes"], answer["labels"], strict=True):
                x0, y0, x1, y1 = clamp_box(tuple(float(v) for v in box), width, height)
                if x1 > x0 and y1 > y0:
                    label = phrase.strip() or query
                    found[index].append(
                        Region((x0, y0, x1, y1), label, confidence, source, score=confidence)
                    )
    return found


def segment_by_text(request: TextSegmentRequest, progress: Progress = no_progress) -> RegionBatch:
    """Find what each query names in every image, as regions.

    Args:
        request: the segmenter, images, queries and settings.
        progress: called as ``progress(images_done, B)``.

    Returns:
        One :class:`ImageRegions` per image, best score first, at most ``max_regions``:
        SAM 3: one region per instance above the threshold, ``mask`` ``[H, W]`` float32 in
        {0, 1}, ``box`` SAM 3's box (clipped to the image), ``label`` the query,
        ``confidence`` = ``score`` = its score, source ``"sam3:<name>"``. Florence-2: one
        region per outline (with its mask) or per grounded phrase (a box, no mask; label the
        phrase), ``confidence`` = ``score`` = the answer's probability, source
        ``"florence2:<name>"``.
    """
    segmenter, images = request.segmenter, request.images
    batch, height, width = int(images.shape[0]), int(images.shape[1]), int(images.shape[2])
    run = _sam3 if segmenter.family == "SAM 3" else _florence
    found: list[ImageRegions] = []
    for start in range(0, batch, IMAGES_PER_PASS):
        arrays = to_uint8_arrays(images[start : start + IMAGES_PER_PASS])
        for regions in run(segmenter, arrays, request):
            regions.sort(key=lambda region: region.score, reverse=True)
            found.append(ImageRegions(width, height, tuple(regions[: request.max_regions])))
        progress(min(start + IMAGES_PER_PASS, batch), batch)
    queries = ", ".join(repr(query) for query in request.text)
    if segmenter.family == "SAM 3":
        reason = f"SAM 3 found no {queries} above threshold {request.threshold:.2f}"
        fix = "lower the threshold or name the object differently"
    else:
        reason = f"Florence-2 found no {queries}"
        fix = "describe the object differently"
    return resolve_each(found, request.if_nothing_found, reason, fix)
