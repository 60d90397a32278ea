"""Regions to Mask: boxes → a MASK, grown and feathered; Mask Operations: clean up and combine."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io, ui

from ..pinpoint.errors import reported_as
from ..pinpoint.masks import MaskOperation, MaskOpsRequest, apply_mask_ops, regions_to_mask
from ..pinpoint.regions import RegionBatch
from . import sockets
from ._common import description
from .inputs import grow_and_feather_inputs

TITLE = "Regions to Mask (Pinpoint)"
OPS_TITLE = "Mask Operations (Pinpoint)"


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
                *grow_and_feather_inputs(
                    "Grow the mask by this many pixels (negative shrinks) to cover edges.",
                    "Soft edge this many pixels wide outside the mask (inside stays 1).",
                ),
            ],
            outputs=[io.Mask.Output(display_name="mask", tooltip="[B,H,W] float 0..1, 1 = edit.")],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(cls, regions: RegionBatch, grow_px: int, feather_px: int) -> io.NodeOutput:
        mask = regions_to_mask(regions, grow_px=grow_px, feather_px=feather_px)
        mask = mask.to(mm.intermediate_device())
        return io.NodeOutput(mask, ui=ui.PreviewMask(mask, cls=cls))


class PinpointMaskOps(io.ComfyNode):
    """Cleans up a MASK and combines it with another, in this fixed order: fill holes, drop small
    islands, grow/shrink, combine with 'other', invert, feather. Holes and islands come first so
    growing cannot bridge a speck into the shape; 'other' is combined as given; feathering comes
    last so the soft edge is the final edge and no later step hardens or flips it."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointMaskOps",
            display_name=OPS_TITLE,
            category="pinpoint/mask",
            description=description(cls),
            inputs=[
                io.Mask.Input("mask", tooltip="The MASK to clean up (1 = edit)."),
                *grow_and_feather_inputs(
                    "Step 3: grow by this many pixels (negative shrinks), after the holes and "
                    "islands are handled.",
                    "Step 6, last: soft edge this many pixels wide outside the final mask (inside "
                    "stays 1).",
                ),
                io.Boolean.Input(
                    "fill_holes",
                    default=MaskOpsRequest.fill_holes,
                    tooltip="Step 1: set to 1 every gap enclosed by the mask (not touching the "
                    "image border).",
                ),
                io.Int.Input(
                    "min_island_px",
                    default=MaskOpsRequest.min_island_px,
                    min=0,
                    max=1_000_000,
                    step=1,
                    tooltip="Step 2: remove separate pieces smaller than this many pixels "
                    "(0 keeps all).",
                ),
                io.Boolean.Input(
                    "invert",
                    default=MaskOpsRequest.invert,
                    tooltip="Step 5: swap edit and keep (after combining, before feathering).",
                ),
                io.Combo.Input(
                    "operation",
                    options=MaskOperation.values(),
                    default=MaskOpsRequest.operation.value,
                    tooltip="Step 4: union (either), intersect (both) or subtract ('other' "
                    "removed) with the 'other' mask; none ignores it.",
                ),
                io.Mask.Input(
                    "other",
                    optional=True,
                    tooltip="The second mask for 'operation', same size; used as given.",
                ),
            ],
            outputs=[io.Mask.Output(display_name="mask", tooltip="[B,H,W] float 0..1, 1 = edit.")],
        )

    @classmethod
    @reported_as(OPS_TITLE)
    def execute(cls, mask: torch.Tensor, **settings) -> io.NodeOutput:
        out = apply_mask_ops(MaskOpsRequest(mask, **settings)).to(mm.intermediate_device())
        return io.NodeOutput(out, ui=ui.PreviewMask(out, cls=cls))
