"""Crop for Inpaint → any sampler → Stitch: the masked areas at the model's size, pasted back."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy.model_base import ModelType
from comfy_api.latest import io, ui

from ..pinpoint.crop import ONE_PER_IMAGE, SPLIT_CHOICES, StitchPlan, crop_for_inpaint, stitch_crops
from ..pinpoint.errors import PinpointError, reported_as
from ..pinpoint.images import check_image
from ..pinpoint.preview import draw_crops
from . import sockets
from ._common import check_choice, description, report_notes

TITLE = "Crop for Inpaint (Pinpoint)"
STITCH_TITLE = "Stitch (Pinpoint)"

NATIVE_SIZES = {
    "SD15": 512,
    "SD20": 768,
    "SDXLRefiner": 1024,
    "SDXL": 1024,
    "SD3": 1024,
    "AuraFlow": 1024,
    "PixArtAlpha": 1024,
    "HunyuanDiT": 1024,
    "Flux": 1024,
    "Lumina2": 1024,
    "HiDream": 1024,
    "Chroma": 1024,
    "QwenImage": 1328,
}
"""ComfyUI model config class → the resolution its family was trained at (SD 2.x: 768 for the
v-prediction models, 512 for the others)."""


def crop_inputs(resolution: int) -> list[io.Input]:
    """The crop settings shared by 'Crop for Inpaint' and the one-node inpaint."""
    return [
        io.Float.Input(
            "context",
            default=0.5,
            min=0.0,
            max=4.0,
            step=0.05,
            tooltip="Padding around each masked area that the sampler sees, as a fraction of the "
            "area's size; more context blends better, less gives the object more pixels.",
        ),
        io.Int.Input(
            "resolution",
            default=resolution,
            min=0,
            max=8192,
            step=8,
            tooltip="Longer side of the crops in pixels (multiples of 8, aspect kept): small "
            "objects are upscaled to it, large ones downscaled. 0 = the model's native size "
            "(SD 1.5: 512, SD 2 768-v: 768, SDXL/SD3/Flux: 1024).",
        ),
        io.Int.Input(
            "feather_px",
            default=8,
            min=0,
            max=256,
            step=1,
            tooltip="Blend width outside the mask in pixels; beyond it pixels stay bit-identical.",
        ),
        io.Combo.Input(
            "split",
            options=SPLIT_CHOICES,
            default=ONE_PER_IMAGE,
            tooltip="one per image: one crop around all of an image's mask. one per masked area: "
            "separate parts of the mask get their own crops (two small objects far apart are "
            "not cut out with everything between them).",
        ),
    ]


def sampling_inputs(cfg: float) -> list[io.Input]:
    """seed, steps and cfg, shared by the one-node inpaints (``cfg`` is the default guidance)."""
    return [
        io.Int.Input(
            "seed",
            default=0,
            min=0,
            max=0xFFFFFFFFFFFFFFFF,
            control_after_generate=True,
            tooltip="Noise seed; the crops of image b use seed + b, so a result does not depend "
            "on the batch.",
        ),
        io.Int.Input("steps", default=20, min=1, max=10000, tooltip="Sampling steps."),
        io.Float.Input(
            "cfg",
            default=cfg,
            min=0.0,
            max=100.0,
            step=0.1,
            round=0.01,
            tooltip="Classifier-free guidance: how strongly to follow the prompt.",
        ),
    ]


def crop_resolution(resolution: int, model, where: str) -> int:
    """``resolution``, or the native size of ``model`` (a ComfyUI MODEL) when it is 0."""
    if resolution > 0:
        return resolution
    if model is None:
        raise PinpointError(
            where,
            "resolution is 0 (the model's native size) but no model is connected",
            "connect the MODEL, or set resolution (512 for SD 1.5, 1024 for SDXL)",
        )
    base = model.model
    for config_class in type(base.model_config).__mro__:
        size = NATIVE_SIZES.get(config_class.__name__)
        if size == 768 and base.model_type != ModelType.V_PREDICTION:
            return 512
        if size is not None:
            return size
    raise PinpointError(
        where,
        f"the native size of {type(base.model_config).__name__} models is not known",
        "set resolution to the size the model was trained at (e.g. 1024)",
    )


class PinpointCropForInpaint(io.ComfyNode):
    """Cuts a context window around each masked area at the sampler's size (multiples of 8,
    aspect kept) for stock inpainting nodes; 'Stitch' pastes the result back so pixels outside
    the feathered mask stay bit-identical."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointCropForInpaint",
            display_name=TITLE,
            category="pinpoint/inpaint",
            description=description(cls),
            inputs=[
                io.Image.Input("image", tooltip="Image batch to edit, [B,H,W,3]."),
                io.Mask.Input(
                    "mask",
                    tooltip="Area to regenerate, [B,H,W], 1 = edit (e.g. from 'Refine with SAM' "
                    "or 'Match Text to Regions').",
                ),
                *crop_inputs(resolution=512),
                io.Model.Input(
                    "model",
                    optional=True,
                    tooltip="Optional: only read for its native size when resolution is 0.",
                ),
            ],
            outputs=[
                io.Image.Output(
                    display_name="image",
                    tooltip="The crops, [N,h,w,3], one per image (or masked area): feed VAE "
                    "Encode / InpaintModelConditioning.",
                ),
                io.Mask.Output(
                    display_name="mask",
                    tooltip="The area to regenerate in each crop, [N,h,w]: feed VAE Encode for "
                    "Inpaint / InpaintModelConditioning / Set Latent Noise Mask.",
                ),
                sockets.Stitch.Output(
                    display_name="stitch",
                    tooltip="Where each crop goes back: connect to 'Stitch (Pinpoint)'.",
                ),
            ],
        )

    @classmethod
    def execute(
        cls,
        image: torch.Tensor,
        mask: torch.Tensor,
        context: float,
        resolution: int,
        feather_px: int,
        split: str,
        model=None,
    ) -> io.NodeOutput:
        check_choice(split, SPLIT_CHOICES, "split", TITLE)
        with reported_as(TITLE):
            size = crop_resolution(resolution, model, TITLE)
            crops = crop_for_inpaint(image, mask, context, size, feather_px, split, where=TITLE)
        device = mm.intermediate_device()
        shown = ui.PreviewImage(draw_crops(crops.plan).to(device), cls=cls).as_dict()
        return io.NodeOutput(
            crops.images.to(device),
            crops.masks.to(device),
            crops.plan,
            ui=shown | report_notes(crops.plan.notes, TITLE),
        )


class PinpointStitch(io.ComfyNode):
    """Pastes the sampled crops from 'Crop for Inpaint' back into the original images through
    the feathered mask; everything outside it stays bit-identical."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointStitch",
            display_name=STITCH_TITLE,
            category="pinpoint/inpaint",
            description=description(cls),
            inputs=[
                sockets.Stitch.Input("stitch", tooltip="From 'Crop for Inpaint (Pinpoint)'."),
                io.Image.Input(
                    "image",
                    tooltip="The sampled crops (VAE Decode after KSampler), [N,h,w,3], in the "
                    "order they came from the crop; any size with the crops' aspect.",
                ),
            ],
            outputs=[
                io.Image.Output(
                    display_name="image", tooltip="The original images with the crops pasted back."
                )
            ],
        )

    @classmethod
    def execute(cls, stitch: StitchPlan, image: torch.Tensor) -> io.NodeOutput:
        check_image(image, STITCH_TITLE)
        with reported_as(STITCH_TITLE):
            result = stitch_crops(stitch, image, STITCH_TITLE)
        return io.NodeOutput(
            result.to(mm.intermediate_device()), ui=report_notes(stitch.notes, STITCH_TITLE) or None
        )
