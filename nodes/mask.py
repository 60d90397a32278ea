"""Regions to Mask: boxes → a MASK, grown and feathered."""

from __future__ import annotations

import comfy.model_management as mm
from comfy_api.latest import io, ui

from ..pinpoint.errors import reported_as
from ..pinpoint.masks import regions_to_mask
from ..pinpoint.regions import RegionBatch
from . import sockets
from ._common import description

TITLE = "Regions to Mask (Pinpoint)"


class PinpointRegionsToMask(io.ComfyNode):
    """Turns regions into a MASK (1 = edit), optionally grown/shrunk and feathered."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointRegionsToMask",
            display_name=TITLE,
            category="pinpoint/mask",
            description=description(cls),
            inputs=[
                sockets.Regions.Input(
                    "regions", tooltip="From 'Match Text to Regions' (or 'Detect Objects' for all)."
                ),
                io.Int.Input(
                    "grow_px",
                    default=0,
                    min=-256,
                    max=256,
                    step=1,
                    tooltip="Grow the mask by this many pixels (negative shrinks) to cover edges.",
                ),
                io.Int.Input(
                    "feather_px",
                    default=0,
                    min=0,
                    max=256,
                    step=1,
                    tooltip="Soft edge this many pixels wide outside the mask (inside stays 1).",
                ),
            ],
            outputs=[io.Mask.Output(display_name="mask", tooltip="[B,H,W] float 0..1, 1 = edit.")],
        )

    @classmethod
    def execute(cls, regions: RegionBatch, grow_px: int, feather_px: int) -> io.NodeOutput:
        with reported_as(TITLE):
            mask = regions_to_mask(regions, grow_px=grow_px, feather_px=feather_px)
        mask = mask.to(mm.intermediate_device())
        return io.NodeOutput(mask, ui=ui.PreviewMask(mask, cls=cls))
