"""What is particular to text segmenter folders: models that find what a text names and return
instance masks or boxes (SAM 3; Florence-2 with phrase grounding and referring-expression
segmentation). The shared loader reads them through
:data:`pinpoint.loading.kinds.TEXT_SEGMENTER`."""

from __future__ import annotations

CLASSES = {
    "sam3": ("Sam3Model", "Sam3Processor"),
    "sam3_video": ("Sam3Model", "Sam3Processor"),
    "florence2": ("Florence2ForConditionalGeneration", "Florence2Processor"),
}
"""config.json ``model_type`` → (model class, processor class). A SAM 3 download in the video
layout (``sam3_video``) holds the image detector's weights too; the detector is loaded."""

FAMILIES = {"sam3": "SAM 3", "sam3_video": "SAM 3", "florence2": "Florence-2"}
"""config.json ``model_type`` → the family's name as users know it."""

KINDS_HINT = (
    "a SAM 3 or Florence-2 model in the transformers layout (e.g. facebook/sam3, "
    "florence-community/Florence-2-base); SAM 2 and SAM-HQ refine boxes and go in "
    "models/pinpoint_sam"
)
