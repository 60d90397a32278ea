"""Thin ComfyUI V3 adapters over the core library, one module per stage."""

from __future__ import annotations

import logging

from comfy_api.latest import ComfyExtension, io

from .anchors import PinpointAttentionAnchors
from .box_lists import (
    FROM_BOXES_TITLE,
    TO_BOXES_TITLE,
    PinpointBoxesToRegions,
    PinpointRegionsToBoxes,
)
from .crop import PinpointCropForInpaint, PinpointStitch
from .detect import PinpointDetect, PinpointDetectByText
from .edit_list import PinpointEditByText
from .guidance import (
    PinpointCLIPGuidance,
    PinpointCLIPGuider,
    PinpointStyleGuidance,
    PinpointStyleGuider,
)
from .heatmap import PinpointTextHeatmap
from .inpaint import PinpointInpaintDiffusers
from .inpaint_comfy import PinpointInpaintComfy
from .interop import PinpointMaskToRegions, PinpointRegionsToSEGS, PinpointSEGSToRegions
from .loading import (
    PinpointLoadCLIP,
    PinpointLoadCLIPSeg,
    PinpointLoadDetector,
    PinpointLoadDINO,
    PinpointLoadInpaintPipeline,
    PinpointLoadMatte,
    PinpointLoadPerceptual,
    PinpointLoadSAM,
    PinpointLoadSAMFolder,
    PinpointLoadSegmenter,
    PinpointLoadTextSegmenter,
)
from .masks import PinpointMaskOps, PinpointRegionsToMask
from .match import PinpointMatchText
from .matte import PinpointMatteEdges
from .metrics import PinpointRankEdits
from .refine import PinpointRefineSAM
from .segments import PinpointSegment
from .selection import PinpointSelectRegions
from .text_segments import PinpointSegmentByText

NODES: list[type[io.ComfyNode]] = [
    # loaders
    PinpointLoadDetector,
    PinpointLoadCLIP,
    PinpointLoadSAM,
    PinpointLoadSAMFolder,
    PinpointLoadSegmenter,
    PinpointLoadTextSegmenter,
    PinpointLoadCLIPSeg,
    PinpointLoadDINO,
    PinpointLoadMatte,
    PinpointLoadInpaintPipeline,
    PinpointLoadPerceptual,
    # 1 detect: candidate regions
    PinpointDetect,
    PinpointDetectByText,
    PinpointSegmentByText,
    PinpointSegment,
    PinpointAttentionAnchors,
    PinpointMaskToRegions,
    # 2 match: which candidate the text means
    PinpointMatchText,
    PinpointTextHeatmap,
    PinpointSelectRegions,
    # 3 refine: pixel masks
    PinpointRefineSAM,
    PinpointRegionsToMask,
    PinpointMaskOps,
    PinpointMatteEdges,
    # 4 inpaint
    PinpointCropForInpaint,
    PinpointStitch,
    PinpointInpaintComfy,
    PinpointInpaintDiffusers,
    # guide: steer a stock sampler with CLIP
    PinpointCLIPGuider,
    PinpointStyleGuider,
    PinpointCLIPGuidance,
    PinpointStyleGuidance,
    # all four stages in one node
    PinpointEditByText,
    # measure: rank candidate edits
    PinpointRankEdits,
    # working with other packs
    PinpointRegionsToSEGS,
    PinpointSEGSToRegions,
]


def box_nodes() -> list[type[io.ComfyNode]]:
    """The nodes over ComfyUI's ``BOUNDING_BOX`` type where this ComfyUI has it (0.33 and
    later); elsewhere none, and the log says which nodes were left out and why."""
    if hasattr(io, "BoundingBox"):
        return [PinpointBoxesToRegions, PinpointRegionsToBoxes]
    logging.getLogger("pinpoint").warning(
        "Pinpoint: left out '%s' and '%s': this ComfyUI has no BOUNDING_BOX type (ComfyUI 0.33 "
        "and later have it: update ComfyUI to use them)",
        FROM_BOXES_TITLE,
        TO_BOXES_TITLE,
    )
    return []


NODES += box_nodes()


class PinpointExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
