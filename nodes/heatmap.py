"""Text to Heatmap: CLIPSeg shows where a text is; the heat gives regions, or re-ranks or cuts
regions found by another node."""

from __future__ import annotations

import math

import comfy.model_management as mm
import torch
from comfy_api.latest import io, ui

from ..pinpoint.errors import reported_as
from ..pinpoint.heatmap import (
    MAX_PAIRS_PER_FORWARD,
    heat_mask,
    heatmap_regions,
    intersect_regions,
    parse_texts,
    rescore_regions,
    text_heatmaps,
)
from ..pinpoint.images import check_image
from ..pinpoint.loading.models import ClipSeg
from ..pinpoint.preview import draw_regions, overlay_mask
from ..pinpoint.regions import RegionBatch, check_if_nothing_found
from . import sockets
from ._common import MB, check_choice, comfy_progress, description, if_nothing_found_input
from .managed import managed

TITLE = "Text to Heatmap · CLIPSeg (Pinpoint)"
USE_REGIONS = ["rescore", "intersect"]

ACTIVATION_MB = 256
"""CLIPSeg sees 352x352 inputs; a ViT-B/16 pass over a few pairs stays well under 256 MB."""


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
                    default=0.4,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="The heat (0..1) a pixel needs to count as found.",
                ),
                io.Float.Input(
                    "min_area",
                    default=0.001,
                    min=0.0,
                    max=1.0,
                    step=0.0001,
                    tooltip="Ignore hot pieces smaller than this fraction of the image "
                    "(0.001 = 0.1 %).",
                ),
                io.Int.Input(
                    "max_regions",
                    default=8,
                    min=1,
                    max=64,
                    step=1,
                    tooltip="At most this many regions per image, the hottest (when no regions "
                    "are connected).",
                ),
                io.Combo.Input(
                    "use_regions",
                    options=USE_REGIONS,
                    default="rescore",
                    tooltip="Only when 'regions' is connected. rescore: blend each region's mean "
                    "heat into its score and re-rank; intersect: cut each region to the mask "
                    "output, dropping regions outside it.",
                ),
                io.Float.Input(
                    "heat_weight",
                    default=0.5,
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
    def execute(
        cls,
        clipseg: ClipSeg,
        image: torch.Tensor,
        text: str,
        threshold: float,
        min_area: float,
        max_regions: int,
        use_regions: str,
        heat_weight: float,
        if_nothing_found: str,
        regions: RegionBatch | None = None,
    ) -> io.NodeOutput:
        check_image(image, TITLE)
        check_if_nothing_found(if_nothing_found, TITLE)  # before a model is moved to the GPU
        check_choice(use_regions, USE_REGIONS, "use_regions", TITLE)
        texts = parse_texts(text, TITLE)
        if regions is not None:
            regions.check_matches(image, TITLE, "Detect Objects (Pinpoint)")
        pixels = int(image.shape[1]) * int(image.shape[2])
        # each pass also holds its heatmaps at full size: sigmoid and resize, float32
        managed(clipseg).acquire(ACTIVATION_MB * MB + MAX_PAIRS_PER_FORWARD * pixels * 8)
        passes = math.ceil(int(image.shape[0]) * len(texts) / MAX_PAIRS_PER_FORWARD)
        with reported_as(TITLE):
            heat = text_heatmaps(
                clipseg, image, texts, progress=comfy_progress(passes), where=TITLE
            )
            found = heat_mask(heat, threshold, min_area)
            if regions is None:
                out = heatmap_regions(
                    heat,
                    threshold,
                    min_area,
                    max_regions,
                    source=f"clipseg:{clipseg.name}",
                    label=" | ".join(texts),
                    if_nothing_found=if_nothing_found,
                    where=TITLE,
                )
            elif use_regions == "rescore":
                out = rescore_regions(regions, heat, heat_weight, if_nothing_found, TITLE)
            else:
                out = intersect_regions(regions, found, if_nothing_found, TITLE)
        device = mm.intermediate_device()
        preview = draw_regions(overlay_mask(image.cpu(), heat), out).to(device)
        mask = found.to(device, torch.float32)
        return io.NodeOutput(
            out, mask, heat.to(device), preview, ui=ui.PreviewImage(preview, cls=cls)
        )
