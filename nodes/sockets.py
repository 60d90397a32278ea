"""Pinpoint's socket types. Type strings are global in ComfyUI, hence the ``PINPOINT_`` prefix."""

from __future__ import annotations

from comfy_api.latest import io

Detector = io.Custom("PINPOINT_DETECTOR")
"""A loaded ``pinpoint.loading.models.Detector``."""
ClipMatcher = io.Custom("PINPOINT_CLIP")
"""A loaded ``pinpoint.loading.models.ClipMatcher``."""
InpaintPipe = io.Custom("PINPOINT_INPAINT_PIPE")
"""A loaded ``pinpoint.loading.models.InpaintPipe``."""
Regions = io.Custom("PINPOINT_REGIONS")
"""A ``pinpoint.regions.RegionBatch``: candidate boxes per image of the batch."""
Sam = io.Custom("PINPOINT_SAM")
"""A loaded ``pinpoint.loading.models.SamModel``."""
Segmenter = io.Custom("PINPOINT_SEGMENTER")
"""A loaded ``pinpoint.loading.models.Segmenter``."""
ClipSeg = io.Custom("PINPOINT_CLIPSEG")
"""A loaded ``pinpoint.loading.models.ClipSeg``."""
Dino = io.Custom("PINPOINT_DINO")
"""A loaded ``pinpoint.loading.models.Dino``."""
Stitch = io.Custom("PINPOINT_STITCH")
"""A ``pinpoint.crop.StitchPlan``: the original images and where each crop goes back."""
