"""Text to Heatmap: CLIPSeg shows where a text is; the heat gives regions, or re-ranks or cuts
regions found by another node."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.heatmap import HeatmapRequest, UseRegions, find_by_heat
from ..pinpoint.loading.models import ClipSeg
from ..pinpoint.memory import heatmap_bytes
from ..pinpoint.preview import draw_regions, overlay_mask
from . import sockets
from ._common import comfy_progress, description, on_device, with_preview
from .inputs import if_nothing_found_input

TITLE = "Text to Heatmap · CLIPSeg (Pinpoint)"


class PinpointTextHeatmap(io.ComfyNode):
    """Finds what a text names with CLIPSeg: a heatmap per image and its hot pieces as regions,
    or, when regions are connected, those regions re-scored by their heat or cut to the hot
    area."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointTextHeatmap",
            display_name=TITLE,
            category="pinpoint/match",
            description=description(cls),
            inputs=[
                sockets.ClipSeg.Input("clipseg", tooltip="From 'Load CLIPSeg (Pinpoint)'."),
                io.Image.Input("image", tooltip="The image(s) to search, any size."),
                io.String.Input(
                    "text",
                    default="",
                    multiline=True,
                    placeholder="a car | a bus",
                    tooltip="What to find. Separate alternatives with '|' (or new lines); each "
                    "pixel takes its hottest alternative.",
                ),
                io.Float.Input(
                    "threshold",
                    default=HeatmapRequest.threshold,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="The heat (0..1) a pixel needs to count as found.",
                ),
                io.Float.Input(
                    "min_area",
                    default=HeatmapRequest.min_area,
                    min=0.0,
                    max=1.0,
                    step=0.0001,
                    tooltip="Ignore hot pieces smaller than this fraction of the image "
                    "(0.001 = 0.1 %).",
                ),
                io.Int.Input(
                    "max_regions",
                    default=HeatmapRequest.max_regions,
                    min=1,
                    max=64,
                    step=1,
                    tooltip="At most this many regions per image, the hottest (when no regions "
                    "are connected).",
                ),
                io.Combo.Input(
                    "use_regions",
                    options=UseRegions.values(),
                    default=HeatmapRequest.use_regions.value,
                    tooltip="Only when 'regions' is connected. rescore: blend each region's mean "
                    "heat into its score and re-rank; intersect: cut each region to the mask "
                    "output, dropping regions outside it.",
                ),
                io.Float.Input(
                    "heat_weight",
                    default=HeatmapRequest.heat_weight,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="rescore only: new score = (1 - weight) x score + weight x mean heat.",
                ),
                if_nothing_found_input("no region for that image"),
                sockets.Regions.Input(
                    "regions",
                    optional=True,
                    tooltip="Optional candidates (e.g. from 'Detect Objects (Pinpoint)') to "
                    "rescore or intersect instead of making regions from the heat.",
                ),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions",
                    tooltip="The hot pieces as regions (hottest first), or the connected regions "
                    "rescored or intersected.",
                ),
                io.Mask.Output(
                    display_name="mask",
                    tooltip="Heat >= threshold without pieces under min_area, [B,H,W], 1 = found.",
                ),
                io.Mask.Output(display_name="heatmap", tooltip="The soft heat, [B,H,W] 0..1."),
                io.Image.Output(
                    display_name="preview",
                    tooltip="Heat tinted red over the image, with the regions' boxes and scores.",
                ),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(cls, clipseg: ClipSeg, image: torch.Tensor, **settings) -> io.NodeOutput:
        request = HeatmapRequest(clipseg, image, **settings)
        on_device(clipseg, heatmap_bytes(request))
        found = find_by_heat(request, comfy_progress())
        device = mm.intermediate_device()
        preview = draw_regions(overlay_mask(image.cpu(), found.heat), found.regions)
        mask = found.mask.to(device, torch.float32)
        return with_preview(cls, preview, found.regions, mask, found.heat.to(device))
