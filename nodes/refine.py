"""Refine with SAM: pixel masks for regions from Segment Anything, with a preview."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io, ui

from ..pinpoint.errors import reported_as
from ..pinpoint.images import check_image
from ..pinpoint.loading.models import SamModel, module_dtype
from ..pinpoint.loading.sam import GRID_SIZE
from ..pinpoint.masks import regions_to_mask
from ..pinpoint.preview import draw_regions
from ..pinpoint.refine import (
    CHUNK,
    DECODER_BYTES_PER_PROMPT,
    POINTS_EXAMPLE,
    check_points,
    parse_points,
    refine_with_sam,
)
from ..pinpoint.regions import RegionBatch
from . import sockets
from ._common import MB, comfy_progress, description
from .managed import managed

TITLE = "Refine with SAM (Pinpoint)"
DETECT_TITLE = "Detect Objects (Pinpoint)"


def activation_bytes(sam: SamModel) -> int:
    """Peak activations: the larger of one image embedding and one mask-decoder call.

    A global-attention block holds its scores, their softmax and the relative-position sum,
    each heads x 4096 x 4096 (vit_h in fp16: about 1.6 GB); a decoder call holds ``CHUNK``
    prompts (about 0.5 GB).
    """
    heads = int(sam.model.image_encoder.blocks[0].attn.num_heads)
    element = torch.finfo(module_dtype(sam.model)).bits // 8
    encoder = 3 * heads * (GRID_SIZE * GRID_SIZE) ** 2 * element
    return max(encoder, CHUNK * DECODER_BYTES_PER_PROMPT) + 64 * MB


class PinpointRefineSAM(io.ComfyNode):
    """Turns boxes into pixel masks with Segment Anything: one image embedding per image, every
    box of that image decoded against it. Optional clicks (points) sharpen the boxes that
    contain them; without regions, the points alone are segmented."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointRefineSAM",
            display_name=TITLE,
            category="pinpoint/refine",
            description=description(cls),
            inputs=[
                sockets.Sam.Input("sam", tooltip="From 'Load SAM (Pinpoint)'."),
                io.Image.Input(
                    "image", tooltip="The same IMAGE the regions were found on, [B,H,W,3]."
                ),
                sockets.Regions.Input(
                    "regions",
                    tooltip="Boxes to refine, e.g. from 'Detect Objects' or 'Match Text to "
                    "Regions'; each box is SAM's prompt (an existing mask is replaced).",
                ),
                io.Boolean.Input(
                    "multimask",
                    default=True,
                    tooltip="On: SAM proposes three masks per box and the one it rates best "
                    "(highest predicted IoU) is kept. Off: one mask per box.",
                ),
                io.String.Input(
                    "points",
                    default="",
                    multiline=False,
                    placeholder="x,y; x,y,0",
                    tooltip="Optional clicks in pixels, separated by ';': 'x,y' on the object, "
                    f"'x,y,0' on background, e.g. '{POINTS_EXAMPLE}'. A point joins every box "
                    "that contains it, in every image of the batch.",
                ),
            ],
            outputs=[
                sockets.Regions.Output(
                    display_name="regions",
                    tooltip="The regions with SAM masks, boxes tightened to the masks.",
                ),
                io.Mask.Output(
                    display_name="mask",
                    tooltip="[B,H,W] union of each image's SAM masks, 1 = object.",
                ),
                io.Image.Output(
                    display_name="preview",
                    tooltip="The image with the masks tinted, boxes and predicted IoU.",
                ),
            ],
        )

    @classmethod
    def execute(
        cls,
        sam: SamModel,
        image: torch.Tensor,
        regions: RegionBatch,
        multimask: bool,
        points: str,
    ) -> io.NodeOutput:
        check_image(image, TITLE)
        with reported_as(TITLE):  # before the model is moved to the GPU
            regions.check_matches(image, TITLE, produced_by=DETECT_TITLE)
            parsed = parse_points(points, TITLE)
            check_points(parsed, int(image.shape[2]), int(image.shape[1]), TITLE)
        managed(sam).acquire(activation_bytes(sam))
        with reported_as(TITLE):
            refined = refine_with_sam(
                sam,
                image,
                regions,
                parsed,
                multimask=multimask,
                progress=comfy_progress(int(image.shape[0])),
                where=TITLE,
            )
        device = mm.intermediate_device()
        mask = regions_to_mask(refined).to(device)
        preview = draw_regions(image, refined).to(device)
        return io.NodeOutput(refined, mask, preview, ui=ui.PreviewImage(preview, cls=cls))
