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
