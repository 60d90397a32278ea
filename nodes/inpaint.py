"""Inpaint Region · diffusers: regenerate the masked area with a diffusers inpainting pipeline."""

from __future__ import annotations

import comfy.model_management as mm
import torch
from comfy_api.latest import io

from ..pinpoint.crop import SPLIT_CHOICES
from ..pinpoint.errors import reported_as
from ..pinpoint.images import check_image, check_prompt
from ..pinpoint.inpaint import inpaint_masked
from ..pinpoint.loading.models import InpaintPipe
from . import sockets
from ._common import MB, check_choice, comfy_progress, description, report_notes
from .crop import crop_inputs, sampling_inputs
from .managed import managed

TITLE = "Inpaint Region · diffusers (Pinpoint)"

ACTIVATION_MB = 1024
"""Crops are resized to the model's native size, so activations do not grow with the image: about
1 GB for an SD 1.5 UNet at 512 px with classifier-free guidance (PyTorch SDPA), scaled by the
pixel count for other native sizes (4 GB for SDXL at 1024 px)."""


def activation_bytes(pipe: InpaintPipe, resolution: int = 0) -> int:
    """The estimate above for crops whose longer side is ``resolution`` (0 = native)."""
    return int(ACTIVATION_MB * MB * ((resolution or pipe.native_size) / 512) ** 2)


class PinpointInpaintDiffusers(io.ComfyNode):
    """Regenerates only the masked area of each image from a prompt; pixels outside the
    (feathered) mask come back bit-identical."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointInpaintDiffusers",
            display_name=TITLE,
            category="pinpoint/inpaint",
            description=description(cls),
            inputs=[
                sockets.InpaintPipe.Input(
                    "pipe", tooltip="From 'Load Inpaint Pipeline (Pinpoint)'."
                ),
                io.Image.Input("image", tooltip="Image batch to edit, [B,H,W,3]."),
                io.Mask.Input(
                    "mask",
                    tooltip="Area to regenerate, [B,H,W], 1 = edit (e.g. from 'Regions to Mask').",
                ),
                io.String.Input(
                    "prompt",
                    default="",
                    multiline=True,
                    placeholder="a blue pickup truck",
                    tooltip="What the masked area should show.",
                ),
                io.String.Input(
                    "negative_prompt",
                    default="",
                    multiline=True,
                    placeholder="blurry, distorted",
                    tooltip="What to avoid; may be empty.",
                ),
                *sampling_inputs(cfg=7.5),
                io.Float.Input(
                    "strength",
                    default=1.0,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="1 replaces the masked content; lower keeps more of the original.",
                ),
                *crop_inputs(resolution=0),
            ],
            outputs=[
                io.Image.Output(display_name="image", tooltip="The edited images, [B,H,W,3]."),
            ],
        )

    @classmethod
    def execute(
        cls,
        pipe: InpaintPipe,
        image: torch.Tensor,
        mask: torch.Tensor,
        prompt: str,
        negative_prompt: str,
        seed: int,
        steps: int,
        cfg: float,
        strength: float,
        context: float,
        resolution: int,
        feather_px: int,
        split: str,
    ) -> io.NodeOutput:
        check_image(image, TITLE)
        check_prompt(prompt, TITLE, "prompt", "a blue pickup truck")
        check_choice(split, SPLIT_CHOICES, "split", TITLE)
        managed(pipe).acquire(activation_bytes(pipe, resolution))
        with reported_as(TITLE):
            result = inpaint_masked(
                pipe,
                image,
                mask,
                prompt,
                negative_prompt=negative_prompt,
                steps=steps,
                cfg=cfg,
                strength=strength,
                seed=seed,
                context=context,
                feather_px=feather_px,
                resolution=resolution,
                split=split,
                progress=comfy_progress(steps),
                where=TITLE,
            )
        shown = report_notes(result.notes, TITLE) or None
        images = result.images.to(mm.intermediate_device())
        return io.NodeOutput(images, ui=shown)
