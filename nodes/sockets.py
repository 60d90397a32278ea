"""Pinpoint's socket types. Type strings are global in ComfyUI, hence the ``PINPOINT_`` prefix;
a loaded model travels on its kind's socket (the table in ``pinpoint.loading.kinds``)."""

from __future__ import annotations

from comfy_api.latest import io

from ..pinpoint.loading.kinds import (
    CLIP,
    CLIPSEG,
    DETECTOR,
    DINO,
    INPAINT,
    KINDS,
    PERCEPTUAL,
    SAM,
    SEGMENTER,
    TEXT_SEGMENTER,
)

MODELS = {kind.key: io.Custom(kind.socket) for kind in KINDS}
"""Kind key → the socket of a loaded model of that kind (``kind.result``)."""

Detector = MODELS[DETECTOR.key]
ClipMatcher = MODELS[CLIP.key]
InpaintPipe = MODELS[INPAINT.key]
Sam = MODELS[SAM.key]
Segmenter = MODELS[SEGMENTER.key]
ClipSeg = MODELS[CLIPSEG.key]
Dino = MODELS[DINO.key]
TextSegmenter = MODELS[TEXT_SEGMENTER.key]
Perceptual = MODELS[PERCEPTUAL.key]

Regions = io.Custom("PINPOINT_REGIONS")
"""A ``pinpoint.regions.RegionBatch``: candidate boxes per image of the batch."""
Stitch = io.Custom("PINPOINT_STITCH")
"""A ``pinpoint.crop.StitchPlan``: the original images and where each crop goes back."""
Guidance = io.Custom("PINPOINT_GUIDANCE")
"""A ``pinpoint.guidance.GuidanceRecipe``: CLIP guidance an inpaint node applies to its crops."""
Segs = io.Custom("SEGS")
"""The Impact Pack's detections of one image, ``((height, width), [SEG, ...])``
(``pinpoint.interop``)."""
