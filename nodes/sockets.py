"""Pinpoint's socket types. Type strings are global in ComfyUI, hence the ``PINPOINT_`` prefix,
and frozen: saved workflows name them. A loaded model travels on its kind's socket
(:data:`MODEL_TYPES`, one per kind of the table in ``pinpoint.loading.kinds``)."""

from __future__ import annotations

from comfy_api.latest import io

from ..pinpoint.loading.kinds import (
    CLIP,
    CLIPSEG,
    DETECTOR,
    DINO,
    INPAINT,
    KINDS,
    MATTE,
    PERCEPTUAL,
    SAM,
    SAM_FOLDER,
    SEGMENTER,
    TEXT_SEGMENTER,
)

MODEL_TYPES = {
    DETECTOR.key: "PINPOINT_DETECTOR",
    CLIP.key: "PINPOINT_CLIP",
    INPAINT.key: "PINPOINT_INPAINT_PIPE",
    SEGMENTER.key: "PINPOINT_SEGMENTER",
    CLIPSEG.key: "PINPOINT_CLIPSEG",
    DINO.key: "PINPOINT_DINO",
    SAM.key: "PINPOINT_SAM",
    SAM_FOLDER.key: "PINPOINT_SAM",  # Refine with SAM takes either engine
    TEXT_SEGMENTER.key: "PINPOINT_TEXT_SEGMENTER",
    MATTE.key: "PINPOINT_MATTE",
    PERCEPTUAL.key: "PINPOINT_PERCEPTUAL",
}
"""Kind key → the socket type that carries a loaded model of that kind."""

MODELS = {kind.key: io.Custom(MODEL_TYPES[kind.key]) for kind in KINDS}
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
Matte = MODELS[MATTE.key]

Regions = io.Custom("PINPOINT_REGIONS")
"""A ``pinpoint.regions.RegionBatch``: candidate boxes per image of the batch."""
Stitch = io.Custom("PINPOINT_STITCH")
"""A ``pinpoint.crop.StitchPlan``: the original images and where each crop goes back."""
Guidance = io.Custom("PINPOINT_GUIDANCE")
"""A ``pinpoint.guidance.GuidanceRecipe``: CLIP guidance an inpaint node applies to its crops."""
Segs = io.Custom("SEGS")
"""The Impact Pack's detections of one image, ``((height, width), [SEG, ...])``
(``pinpoint.interop``)."""
