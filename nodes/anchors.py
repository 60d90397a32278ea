"""Attention Anchors: square box proposals around where a DINO ViT looks, with a preview."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io, ui

from ..pinpoint.anchors import (
    attention_bytes,
    check_anchor_counts,
    draw_anchors,
    find_anchors,
    parse_box_sizes,
)
from ..pinpoint.errors import reported_as
from ..pinpoint.images import check_image
from ..pinpoint.loading.models import Dino
from . import sockets
from ._common import comfy_progress, description
from .managed import managed

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
                    default=5,
                    min=1,
                    max=64,
                    step=1,
                    tooltip="How many attention peaks per image become anchors, most attended "
                    "first.",
                ),
                io.String.Input(
                    "box_sizes",
                    default="0.15, 0.3, 0.5",
                    multiline=False,
                    placeholder="0.15, 0.3, 0.5",
                    tooltip="Square box sides around each anchor, as fractions of the image's "
                    "shorter side (each in (0, 1]), separated by commas.",
                ),
                io.Int.Input(
                    "min_distance",
                    default=2,
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
    def execute(
        cls,
        dino: Dino,
        image: torch.Tensor,
        anchors: int,
        box_sizes: str,
        min_distance: int,
    ) -> io.NodeOutput:
        check_image(image, TITLE)
        sizes = parse_box_sizes(box_sizes, TITLE)  # before a model is moved to the GPU
        check_anchor_counts(anchors, min_distance, TITLE)
        batch, height, width = int(image.shape[0]), int(image.shape[1]), int(image.shape[2])
        managed(dino).acquire(attention_bytes(dino, height, width, batch))
        with reported_as(TITLE):
            search = find_anchors(
                dino,
                image,
                anchors=anchors,
                box_sizes=sizes,
                min_distance=min_distance,
                progress=comfy_progress(batch),
                where=TITLE,
            )
        device = mm.intermediate_device()
        attention = search.attention.to(device)
        preview = draw_anchors(image, search).to(device)
        shown = ui.PreviewImage(preview, cls=cls)
        return io.NodeOutput(search.regions, attention, preview, ui=shown)
