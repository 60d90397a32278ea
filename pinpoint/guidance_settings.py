"""How strongly, when and by what a sampler is guided (:mod:`pinpoint.guidance` applies it):
the settings, S3's restyling preset, the defaults callers offer, and the settings of a kind of
guidance by name."""

from __future__ import annotations

import dataclasses
import math

from .errors import PinpointError
from .request import Request

WEIGHTS = (
    "region_weight",
    "mse_weight",
    "lpips_weight",
    "global_weight",
    "patch_weight",
    "content_weight",
    "tv_weight",
)
"""Every loss's weight in :class:`GuidanceSettings`."""
STYLE_WEIGHTS = ("global_weight", "patch_weight", "content_weight", "tv_weight")
"""S3's losses, computed on the guided area over the source."""


@dataclasses.dataclass(frozen=True)
class GuidanceSettings(Request):
    """How strongly, when and by what a sampler is guided.

    Attributes:
        scale: how far x̂0 moves down the loss gradient per guided step, as the root mean
            square of the change in latent units (SD latents spread about 1: 0.02 is gentle,
            0.1 strong; 0: no guidance). The losses' weights set the direction only.
        start, end: the guided part of the schedule, as fractions of the steps (0 = first,
            1 = last).
        every: guide every n-th step of that part (1: each).
        region_weight: weight of the region loss (CLIP, edit text ↔ masked cut-outs).
        mse_weight: weight of the background MSE (S2: 1000).
        lpips_weight: weight of the background LPIPS (S2: 1000; needs an LPIPS backbone).
        global_weight: weight of the directional CLIP loss over the whole area (S3).
        patch_weight: weight of the directional CLIP loss over random perspective patches.
        patch_threshold: τ: patches whose directional loss is already below it are dropped.
        content_weight: weight of VGG16's content loss (needs VGG16 weights).
        tv_weight: weight of the total variation (smoothness) of the area.
        cutouts: random cut-outs (region loss) and patches (patch loss) per guided step.
        seed: the cut-outs' random draw (the same run gives the same result).
    """

    scale: float = 0.0
    start: float = 0.0
    end: float = 0.7
    every: int = 1
    region_weight: float = 1.0
    mse_weight: float = 1000.0
    lpips_weight: float = 0.0
    global_weight: float = 0.0
    patch_weight: float = 0.0
    patch_threshold: float = 0.7
    content_weight: float = 0.0
    tv_weight: float = 0.0
    cutouts: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        for name in WEIGHTS + ("scale", "patch_threshold"):
            if getattr(self, name) < 0:
                raise PinpointError(f"{name} is {getattr(self, name)}", "use 0 or more")
        if not 0.0 <= self.start <= self.end <= 1.0:
            raise PinpointError(
                f"the guided part runs from {self.start} to {self.end}",
                "give 0 <= start <= end <= 1 (fractions of the schedule)",
            )
        if self.every < 1:
            raise PinpointError(f"every is {self.every}", "guide every 1st step or rarer")
        if self.cutouts < 1:
            raise PinpointError(f"cutouts is {self.cutouts}", "use at least 1 cut-out")

    def active(self, step: int, steps: int) -> bool:
        """Whether step ``step`` (0-based) of ``steps`` is guided."""
        if self.scale == 0 or steps < 1:
            return False
        last = max(1, steps - 1)
        first = math.ceil(self.start * last)
        inside = self.start * last <= step <= self.end * last
        return inside and (step - first) % self.every == 0


STYLE = GuidanceSettings(region_weight=0.0, mse_weight=0.0, global_weight=1.0, patch_weight=1.0)
"""Restyling's settings (S3): the directional losses on, S2's region and background off (the
mask, or the whole image, is restyled; the sampler's denoise keeps the rest of the layout)."""


CLIP_SCALE = 0.05
"""The scale CLIP guidance (S2) is offered at by the nodes and the CLI (GuidanceSettings' 0 is
"off"): gentle enough to keep the sampler's image."""
STYLE_SCALE = 0.05
"""The scale style guidance (S3) is offered at by the nodes and the CLI."""
SOURCE_TEXT = "a photo"
"""The source text offered by default: what the area shows now, the start of the style's
direction."""
GUIDE_KINDS = {"clip": GuidanceSettings(), "style": STYLE}
"""The kinds of guidance by name: the losses each turns on (S2's region and background, S3's
directional losses)."""


def guidance_settings(
    kind: str,
    scale: float,
    start: float = GuidanceSettings.start,
    end: float = GuidanceSettings.end,
    every: int = GuidanceSettings.every,
    lpips: bool = False,
    content_weight: float = 0.0,
) -> GuidanceSettings:
    """The settings of guidance ``kind`` (a key of :data:`GUIDE_KINDS`) at ``scale`` on the
    part ``start``..``end`` of the schedule, every ``every``-th step; checked, so a caller can
    refuse them before any model loads and build its :class:`GuidanceRecipe` once they have.

    Args:
        lpips: an LPIPS backbone keeps the outside too, with S2's weight (the MSE's, 1000).
        content_weight: the weight of VGG16's content loss; 0 when no VGG16 is given.

    Raises:
        PinpointError: an unknown kind, or settings :class:`GuidanceSettings` refuses.
    """
    if kind not in GUIDE_KINDS:
        raise PinpointError(f"the guidance is '{kind}'", f"use one of {', '.join(GUIDE_KINDS)}")
    return dataclasses.replace(
        GUIDE_KINDS[kind],
        scale=scale,
        start=start,
        end=end,
        every=every,
        lpips_weight=GuidanceSettings.mse_weight if lpips else 0.0,
        content_weight=content_weight,
    )
