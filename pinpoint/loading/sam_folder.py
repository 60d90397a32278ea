"""What is particular to Segment Anything folders in the transformers layout (SAM 2 / 2.1,
SAM-HQ, SAM); the shared loader reads them through :data:`pinpoint.loading.kinds.SAM_FOLDER`.
The original single-file checkpoints are :mod:`pinpoint.loading.sam`'s."""

from __future__ import annotations

CLASSES = {
    "sam2": ("Sam2Model", "Sam2Processor"),
    "sam2_video": ("Sam2Model", "Sam2Processor"),
    "sam_hq": ("SamHQModel", "SamHQProcessor"),
    "sam": ("SamModel", "SamProcessor"),
}
"""config.json ``model_type`` → (model class, processor class). A SAM 2.1 download in the video
layout (``sam2_video``) holds the image model's weights too; the image model is loaded."""

ENGINES = {"sam2": "SAM 2", "sam2_video": "SAM 2", "sam_hq": "SAM-HQ", "sam": "SAM"}
"""config.json ``model_type`` → the engine's name as users know it."""

KINDS_HINT = (
    "a SAM 2 / 2.1, SAM-HQ or SAM model in the transformers layout (e.g. "
    "facebook/sam2.1-hiera-small, syscv-community/sam-hq-vit-base, facebook/sam-vit-base); SAM 3 "
    "finds objects from text and is not a box refiner"
)
