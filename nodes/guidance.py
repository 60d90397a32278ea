"""CLIP Guider and Style Guider: stock GUIDERs (ComfyUI's CFG guider) that also steer every
guided step with Pinpoint's losses (``pinpoint.guidance``: S2's region and background, S3's
style), for SamplerCustomAdvanced; CLIP Guidance and Style Guidance hand the same losses to an
inpaint node as a recipe. Their shared inputs are in ``guidance_inputs.py``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import comfy.model_management as mm
import comfy.samplers
import torch
from comfy_api.latest import io

from ..pinpoint.autograd import differentiable
from ..pinpoint.clip_embed import clip_notes
from ..pinpoint.errors import reported_as
from ..pinpoint.guidance import Decode, Guidance, GuidanceRecipe, GuidanceTarget
from ..pinpoint.guidance_settings import STYLE, GuidanceSettings
from ..pinpoint.loading.models import ClipMatcher, PerceptualNet
from ..pinpoint.memory import metrics_bytes
from ._common import description, report_notes
from .comfy_families import check_vae
from .guidance_inputs import (
    clip_inputs,
    guider_inputs,
    guider_output,
    recipe_inputs,
    recipe_output,
    recipe_vae_input,
    style_inputs,
    vgg_input,
)
from .managed import managed


class ClipGuider(comfy.samplers.CFGGuider):
    """ComfyUI's CFG guider whose prediction of the clean latent is moved down Pinpoint's
    guidance loss at the guided steps; everything else is the stock guider's.

    The stock guider's output is the clean-latent prediction whatever the model predicts:
    ComfyUI's model sampling turns ε-, v- and flow (FLUX, SD3, Qwen-Image) outputs into it
    (``calculate_denoised``) before classifier-free guidance mixes them. ``vae`` decodes the
    guided steps: it must be of the MODEL's family (checked here).
    """

    def __init__(self, model_patcher: Any, guidance: Guidance, vae: Any):
        check_vae(model_patcher, vae, decoder=True)
        # the VAE and Pinpoint's networks load with the MODEL for the whole sampling run
        target = guidance.target
        scorers = [target.clip, target.lpips_net, target.vgg_net]
        self.scorers = [managed(model) for model in scorers if model is not None]
        patched = model_patcher.clone()
        patched.set_additional_models(
            "pinpoint_guidance", [vae.patcher, *(scorer.patcher for scorer in self.scorers)]
        )
        super().__init__(patched)
        self.guidance, self.vae = guidance, vae

    def predict_noise(self, x, timestep, model_options={}, seed=None):  # noqa: B006 (stock)
        denoised = super().predict_noise(x, timestep, model_options, seed)
        sigmas = model_options.get("transformer_options", {}).get("sample_sigmas")
        if sigmas is None:
            return denoised
        step = int((sigmas.to(timestep.device) - timestep[0]).abs().argmin())
        if not self.guidance.settings.active(step, len(sigmas) - 1):
            return denoised
        mm.throw_exception_if_processing_interrupted()  # Cancel during the extra work too
        for scorer in self.scorers:
            scorer.acquire(metrics_bytes())  # whole: plain layers cannot run part-offloaded
        return self.guidance.step(denoised, self._decode)

    def _decode(self, latent: torch.Tensor) -> torch.Tensor:
        """The sampler's latent → pixels ``[B, 3, H, W]`` in [0, 1], keeping the gradient."""
        return comfy_decoder(self.vae, self.inner_model.process_latent_out)(latent)


def comfy_decoder(vae: Any, to_vae: Callable[[torch.Tensor], torch.Tensor]) -> Decode:
    """A ComfyUI VAE (the checkpoint's, or TAESD from Load VAE) as a differentiable decoder of
    latents that ``to_vae`` turns into the VAE's own (unscaled) latents: ``[B, C, h, w]`` or a
    video-style VAE's ``[B, C, T, h, w]`` → ``[B·T, 3, H, W]``."""

    def decode(latent: torch.Tensor) -> torch.Tensor:
        decoder = differentiable(vae.first_stage_model)  # ComfyUI loads it in inference mode
        decoded = decoder.decode(to_vae(latent).to(vae.device, vae.vae_dtype))
        if decoded.dim() == 5:  # [B, 3, T, H, W]: each frame a picture
            decoded = decoded.movedim(2, 1).flatten(0, 1)
        return vae.process_output(decoded.to(torch.float32).clone())  # in place on a copy

    return decode


class _Guider(io.ComfyNode):
    """What both guiders share: the stock CFG guider's inputs, the target (the image, its mask,
    the text and the networks connected) and ``SETTINGS`` with the node's settings over them."""

    TITLE: ClassVar[str]
    SETTINGS: ClassVar[GuidanceSettings]
    """The settings the node's inputs replace: the core's defaults, or restyling's."""

    @classmethod
    def execute(
        cls,
        model,
        positive,
        negative,
        cfg: float,
        vae,
        clip: ClipMatcher,
        image: torch.Tensor,
        text: str,
        mask: torch.Tensor | None = None,
        lpips: PerceptualNet | None = None,
        vgg: PerceptualNet | None = None,
        source_text: str = "",
        **settings,
    ) -> io.NodeOutput:
        with reported_as(cls.TITLE):
            area = torch.ones(image.shape[:3]) if mask is None else mask
            target = GuidanceTarget(
                clip, text, image, area, lpips_net=lpips, source_text=source_text, vgg_net=vgg
            )
            guidance = Guidance(target, dataclasses.replace(cls.SETTINGS, **settings))
            guider = ClipGuider(model, guidance, vae)
            guider.set_conds(positive, negative)
            guider.set_cfg(cfg)
            shown = report_notes(clip_notes(clip, target.text, source_text), cls.TITLE)
            return io.NodeOutput(guider, ui=shown or None)


class _Recipe(io.ComfyNode):
    """What both guidance recipes share: a :class:`GuidanceRecipe` of the CLIP, the text, the
    networks connected and ``SETTINGS`` with the node's settings over them."""

    TITLE: ClassVar[str]
    SETTINGS: ClassVar[GuidanceSettings]
    """The settings the node's inputs replace: the core's defaults, or restyling's."""

    @classmethod
    def execute(
        cls,
        clip: ClipMatcher,
        text: str,
        lpips: PerceptualNet | None = None,
        vgg: PerceptualNet | None = None,
        vae: Any = None,
        source_text: str = "",
        **settings,
    ) -> io.NodeOutput:
        with reported_as(cls.TITLE):
            recipe = GuidanceRecipe(
                clip,
                text,
                dataclasses.replace(cls.SETTINGS, **settings),
                lpips_net=lpips,
                decoder=vae,
                source_text=source_text,
                vgg_net=vgg,
            )
            shown = report_notes(clip_notes(clip, recipe.text, source_text), cls.TITLE)
            return io.NodeOutput(recipe, ui=shown or None)


class PinpointCLIPGuidance(_Recipe):
    """CLIP guidance for either 'Inpaint Region' node: at the guided steps each crop's
    prediction is pulled towards the text inside its mask and kept close to the original
    outside it (the CLIP Guider's losses, applied by the inpaint node to the crops it makes)."""

    TITLE, SETTINGS = "CLIP Guidance (Pinpoint)", GuidanceSettings()

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointCLIPGuidance",
            display_name=cls.TITLE,
            category="pinpoint/guide",
            description=description(cls),
            inputs=[
                *recipe_inputs(
                    "a blue pickup truck",
                    "What the area should become, in words: CLIP pulls it towards this.",
                ),
                *clip_inputs(),
                recipe_vae_input(),
            ],
            outputs=[recipe_output()],
        )


class PinpointCLIPGuider(_Guider):
    """A guider for SamplerCustomAdvanced: ComfyUI's CFG guider that, at the guided steps,
    decodes the model's prediction of the crop, scores it with CLIP against the edit text
    (inside the mask) and against the source (outside it), and moves it down that loss."""

    TITLE, SETTINGS = "CLIP Guider (Pinpoint)", GuidanceSettings()

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointCLIPGuider",
            display_name=cls.TITLE,
            category="pinpoint/guide",
            description=description(cls),
            inputs=[
                *guider_inputs(
                    "The crops being sampled, as they were (Crop for Inpaint's image): the "
                    "background losses keep the outside close to it.",
                    io.Mask.Input(
                        "mask",
                        tooltip="The area being edited in each crop (Crop for Inpaint's mask).",
                    ),
                    "What the area should become, in words: CLIP pulls it towards this.",
                ),
                *clip_inputs(),
            ],
            outputs=[guider_output()],
        )


class PinpointStyleGuider(_Guider):
    """A guider for SamplerCustomAdvanced that restyles while keeping structure (S3): at the
    guided steps it turns the image (or the masked object) along the CLIP direction from the
    source text to the style text, over the whole and over random perspective patches, with
    VGG16's content loss and total variation to keep the layout."""

    TITLE, SETTINGS = "Style Guider (Pinpoint)", STYLE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointStyleGuider",
            display_name=cls.TITLE,
            category="pinpoint/guide",
            description=description(cls),
            inputs=[
                *guider_inputs(
                    "The image being restyled, as it was (or Crop for Inpaint's crops): the "
                    "losses measure the change from it.",
                    None,
                    "The style, in words ('a watercolor painting', 'made of gold').",
                ),
                *style_inputs(),
                io.Mask.Input(
                    "mask",
                    optional=True,
                    tooltip="Restyle only this area (Crop for Inpaint's mask); not connected: the "
                    "whole image.",
                ),
                vgg_input(),
            ],
            outputs=[guider_output()],
        )


class PinpointStyleGuidance(_Recipe):
    """Style guidance for either 'Inpaint Region' node (S3): each crop's masked area turns
    along the CLIP direction from the source text to the style text while VGG16's content loss
    keeps its layout. With a denoise / strength below 1 it restyles what is there."""

    TITLE, SETTINGS = "Style Guidance (Pinpoint)", STYLE

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointStyleGuidance",
            display_name=cls.TITLE,
            category="pinpoint/guide",
            description=description(cls),
            inputs=[
                *recipe_inputs(
                    "a watercolor painting",
                    "The style, in words ('a watercolor painting', 'made of gold').",
                ),
                *style_inputs(),
                vgg_input(),
                recipe_vae_input(),
            ],
            outputs=[recipe_output()],
        )
