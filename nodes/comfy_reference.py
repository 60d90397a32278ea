"""Instruction editing on the ComfyUI route: each crop is the model's reference image and the
edit's prompt its instruction ("make it a fox"), for ``ComfySampler``'s instruct mode.

The crop reaches the model through ComfyUI's own nodes, called here: ReferenceLatent (FLUX.1
Kontext, FLUX.2, OmniGen2), TextEncodeQwenImageEditPlus (Qwen-Image-Edit: the prompt is
re-encoded with each crop, which its vision tower sees) or InstructPixToPixConditioning
(HiDream-E1: the crop's latent is its input image). The sampler then starts from the
crop's own latent without a noise mask, and the loop settles the result into its window
(:data:`~pinpoint.settle.EDITOR_SETTLE`): the editor's shift and zoom undone, the blend
following the edit within a bounded ring; only the blend is pasted back.
"""

from __future__ import annotations

import inspect
from typing import Any

import comfy.sample
import torch
from comfy_extras.nodes_edit_model import ReferenceLatent
from comfy_extras.nodes_ip2p import InstructPixToPixConditioning
from comfy_extras.nodes_qwen import TextEncodeQwenImageEditPlus

from ..pinpoint.choices import Choice
from ..pinpoint.errors import PinpointError
from ..pinpoint.repaint import CropBatch
from .comfy_families import EDITORS, Conditioning, Family, Reference, encode_crops


class EditMode(Choice):
    """How the ComfyUI sampler edits a crop."""

    INPAINT = "inpaint"
    """Regenerate the masked area (a noise mask, or an inpainting model's mask channels)."""
    INSTRUCT = "instruct"
    """Hand the crop to an instruction editor as its reference; the prompt is the instruction."""


def check_editor(name: str, family: Family, model: Any) -> None:
    """Raise unless ``model`` (a MODEL of the ``name`` family) takes a reference image: its
    family takes one, and where that is an input image (HiDream-E1) its diffusion model reads
    one (``image_cond``, which ComfyUI's HiDream has since HiDream-E1)."""
    remedy = (
        f"use mode inpaint with this model, or connect an instruction editor ({EDITORS}) and "
        "its VAE"
    )
    if family.reference == Reference.NONE:
        raise PinpointError(
            f"mode is instruct but the MODEL is {name}, which takes no reference image (it "
            "cannot edit a crop by instruction)",
            remedy,
        )
    if family.reference == Reference.INPUT_IMAGE and not _reads_input_image(model):
        raise PinpointError(
            f"mode is instruct but this {name} MODEL takes no input image (its diffusion model "
            "reads no image_cond: a ComfyUI from before HiDream-E1, or another pack's model)",
            f"update ComfyUI and load HiDream-E1, or {remedy}",
        )


def _reads_input_image(model: Any) -> bool:
    """Whether ``model``'s diffusion model takes an input image (an ``image_cond`` argument)."""
    return "image_cond" in inspect.signature(model.model.diffusion_model.forward).parameters


def with_reference(
    family: Family,
    vae: Any,
    conditioning: Conditioning,
    crop: torch.Tensor,
    latent: torch.Tensor,
    clip: Any = None,
    text: str | None = None,
) -> Conditioning:
    """``conditioning`` (of the prompt ``text`` where it was text) with ``crop`` as its
    reference image.

    Args:
        crop: ``[1, h, w, 3]`` the crop in [0, 1]; latent: its VAE latent ``[1, C, h', w']``
            (``[1, C, 1, h', w']`` from a video-style VAE).
        clip, text: the CLIP and the text that made ``conditioning``: Qwen-Image-Edit
            re-encodes ``text`` with the crop (its TextEncodeQwenImageEditPlus), which also
            adds the crop's latent at about one megapixel.
    """
    if family.reference == Reference.QWEN_EDIT and clip is not None and text is not None:
        return TextEncodeQwenImageEditPlus.execute(clip, text, vae, image1=crop).args[0]
    return ReferenceLatent.execute(conditioning, {"samples": latent}).args[0]


def instruct_start(
    sampler: Any, batch: CropBatch, positive: Conditioning, negative: Conditioning
) -> tuple[Conditioning, Conditioning, torch.Tensor, None]:
    """What ``sampler`` (a ``ComfySampler`` in instruct mode) samples one crop from: both
    conditionings with the crop as their reference (or input image: InstructPixToPixConditioning
    encodes the crop itself), the crop's own latent (``[1, C, h', w']``) and no noise mask."""
    samples = encode_crops(sampler.vae, batch.crops)
    latent = comfy.sample.fix_empty_latent_channels(sampler.model, samples)
    if sampler.family.reference == Reference.INPUT_IMAGE:
        given = InstructPixToPixConditioning.execute(positive, negative, batch.crops, sampler.vae)
        return given.args[0], given.args[1], latent, None
    layer = batch.layers[0]

    def referenced(conditioning: Conditioning, prompt: Any) -> Conditioning:
        text = prompt.strip() if isinstance(prompt, str) else None
        return with_reference(
            sampler.family, sampler.vae, conditioning, batch.crops, samples, sampler.clip, text
        )

    return referenced(positive, layer.prompt), referenced(negative, layer.negative), latent, None


def reference_notes(family: Family, prompt: Any) -> tuple[str, ...]:
    """What to tell the user about how the crop reaches a Qwen-Image-Edit model whose prompt
    is a ready conditioning (its text encoding never saw the crop)."""
    if family.reference == Reference.QWEN_EDIT and not isinstance(prompt, str):
        return (
            "Qwen-Image-Edit gets each crop as a reference latent only: the positive was "
            "encoded without it (Edit by Text re-encodes each line's prompt with its crop)",
        )
    return ()
