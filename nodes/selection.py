"""Select Regions: keep the best, all, or the leftmost/largest/... regions, with no model."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.masks import regions_to_mask
from ..pinpoint.preview import draw_regions
from ..pinpoint.regions import RegionBatch
from ..pinpoint.selection import SelectRequest, choose_regions
from . import sockets
from ._common import description, with_preview
from .inputs import if_nothing_found_input, pick_inputs

TITLE = "Select Regions (Pinpoint)"


class PinpointSelectRegions(io.ComfyNode):
    """Keeps some of the regions by score, position or size (e.g. the leftmost detected car, every
    segment above a confidence); runs no model, so changing the pick re-runs nothing upstream."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointSelectRegions",
            display_name=TITLE,
            category="pinpoint/match",
            description=description(cls),
            inputs=[
                io.Image.Input("image", tooltip="The IMAGE the regions were found on."),
                sockets.Regions.Input(
                    "regions", tooltip="Regions from any Pinpoint detect, segment or match node."
                ),
                *pick_inputs(),
                io.Float.Input(
                    "min_score",
                    default=SelectRequest.min_score,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Drop regions scoring lower: the detector's confidence, or the match "
                    "score after 'Match Text to Regions'.",
                ),
                if_nothing_found_input(),
            ],
            outputs=[
                sockets.Regions.Output(display_name="regions", tooltip="The kept region(s)."),
                io.Mask.Output(
                    display_name="mask", tooltip="The kept regions' masks or boxes, [B,H,W]."
                ),
                io.Image.Output(
                    display_name="preview", tooltip="Every region; the kept ones in green."
                ),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(cls, image: torch.Tensor, regions: RegionBatch, **settings) -> io.NodeOutput:
        chosen = choose_regions(SelectRequest(image, regions, **settings))
        mask = regions_to_mask(chosen).to(mm.intermediate_device())
        return with_preview(cls, draw_regions(image, regions, chosen), chosen, mask)
