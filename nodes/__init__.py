"""Thin ComfyUI V3 adapters over the core library, one module per stage."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .detect import PinpointDetect
from .inpaint import PinpointInpaintDiffusers
from .loaders import PinpointLoadCLIP, PinpointLoadDetector, PinpointLoadInpaintPipeline
from .mask import PinpointMaskOps, PinpointRegionsToMask
from .match import PinpointMatchText

NODES: list[type[io.ComfyNode]] = [
    PinpointLoadDetector,
    PinpointLoadCLIP,
    PinpointLoadInpaintPipeline,
    PinpointDetect,
    PinpointMatchText,
    PinpointRegionsToMask,
    PinpointMaskOps,
    PinpointInpaintDiffusers,
]


class PinpointExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
