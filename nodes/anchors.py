"""Attention Anchors: square box proposals around where a DINO ViT looks, with a preview."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..pinpoint.anchors import AnchorRequest, draw_anchors, find_anchors
from ..pinpoint.errors import reported_as
from ..pinpoint.loading.models import Dino
from ..pinpoint.memory import anchors_bytes
from . import sockets
from ._common import comfy_progress, description, on_device, with_preview

TITLE = "Attention Anchors · DINO (Pinpoint)"


class PinpointAttentionAnchors(io.ComfyNode):
    """Proposes square boxes of several sizes around the patches a DINO ViT attends to most,
    as candidate regions for 'Match Text to Regions'."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointAttentionAnchors",
            display_name=TITLE,
            category="pinpoint/detect",
            description=description(cls),
            inputs=[
                sockets.Dino.Input("dino", tooltip="From 'Load DINO (Pinpoint)'."),
                io.Image.Input("image", tooltip="Image batch to search, [B,H,W,3]."),
                io.Int.Input(
                    "anchors",
                    default=AnchorRequest.anchors,
                    min=1,
                    max=64,
                    step=1,
                    tooltip="How many attention peaks per image become anchors, most attended "
                    "first.",
                ),
                io.String.Input(
                    "box_sizes",
                    default=AnchorRequest.box_sizes,
                    multiline=False,
                    placeholder="0.15, 0.3, 0.5",
                    tooltip="Square box sides around each anchor, as fractions of the image's "
                    "shorter side (each in (0, 1]), separated by commas.",
                ),
                io.Int.Input(
                    "min_distance",
                    default=AnchorRequest.min_distance,
                    min=0,
                    max=64,
                    step=1,
                    tooltip="Minimum distance between two anchors, in ViT patches (16 px at "
                    "224 px for dino-vits16); 0 lets anchors touch.",
                ),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions",
                    tooltip="Anchors x box sizes square boxes per image, for 'Match Text to "
                    "Regions'.",
                ),
                io.Mask.Output(
                    display_name="attention",
                    tooltip="DINO's last-layer CLS attention at image size, [B,H,W] in [0,1].",
                ),
                io.Image.Output(
                    display_name="preview",
                    tooltip="The attention as a heat map, the boxes, and a white dot per anchor.",
                ),
            ],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(cls, dino: Dino, image: torch.Tensor, **settings) -> io.NodeOutput:
        request = AnchorRequest(dino, image, **settings)
        on_device(dino, anchors_bytes(request))
        search = find_anchors(request, comfy_progress())
        attention = search.attention.to(mm.intermediate_device())
        return with_preview(cls, draw_anchors(image, search), search.regions, attention)
