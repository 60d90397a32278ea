"""CLIP Guider and Style Guider: stock GUIDERs (ComfyUI's CFG guider) that also steer every
guided step with Pinpoint's losses (``pinpoint.guidance``: S2's region and background, S3's
style), for SamplerCustomAdvanced."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import comfy.model_management as mm
import comfy.samplers
import torch
from comfy_api.latest import io

from ..pinpoint.autograd import differentiable
from ..pinpoint.errors import reported_as
from ..pinpoint.guidance import (
    STYLE,
    Decode,
    Guidance,
    GuidanceRecipe,
    GuidanceSettings,
    GuidanceTarget,
)
from ..pinpoint.loading.models import ClipMatcher, PerceptualNet
from ..pinpoint.memory import metrics_bytes
from . import sockets
from ._common import description
from .managed import managed

TITLE = "CLIP Guider (Pinpoint)"
STYLE_TITLE = "Style Guider (Pinpoint)"
RECIPE_TITLE = "CLIP Guidance (Pinpoint)"
STYLE_RECIPE_TITLE = "Style Guidance (Pinpoint)"
DEFAULTS = GuidanceSettings()


class ClipGuider(comfy.samplers.CFGGuider):
    """ComfyUI's CFG guider whose prediction of the clean latent is moved down Pinpoint's
    guidance loss at the guided steps; everything else is the stock guider's."""

    def __init__(self, model_patcher: Any, guidance: Guidance, vae: Any):
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
    latents that ``to_vae`` turns into the VAE's own (unscaled) latents."""

    def decode(latent: torch.Tensor) -> torch.Tensor:
        decoder = differentiable(vae.first_stage_model)  # ComfyUI loads it in inference mode
        decoded = decoder.decode(to_vae(latent).to(vae.device, vae.vae_dtype))
        return vae.process_output(decoded.to(torch.float32).clone())  # in place on a copy

    return decode


def _weight(name: str, default: float, tooltip: str, most: float = 100000.0) -> io.Float.Input:
    return io.Float.Input(name, default=default, min=0.0, max=most, step=0.1, tooltip=tooltip)


def _guider_inputs(
    image_tooltip: str, mask: io.Mask.Input | None, text_tooltip: str
) -> list[io.Input]:
    """What both guiders take first: the stock guider's inputs, the decoder, the Pinpoint
    CLIP, the crops, their masks (when required) and the text."""
    return [
        io.Model.Input("model", tooltip="The MODEL to sample with (as CFG Guider)."),
        io.Conditioning.Input("positive", tooltip="What to paint (CLIP Text Encode)."),
        io.Conditioning.Input("negative", tooltip="What to avoid (CLIP Text Encode)."),
        io.Float.Input(
            "cfg",
            default=8.0,
            min=0.0,
            max=100.0,
            step=0.1,
            round=0.01,
            tooltip="Classifier-free guidance, as CFG Guider.",
        ),
        io.Vae.Input(
            "vae",
            tooltip="Decodes the model's prediction at every guided step, with gradients. The "
            "checkpoint's VAE is exact but costs memory and time; TAESD (Load VAE with taesd / "
            "taesdxl from models/vae_approx) is far cheaper and close enough to steer.",
        ),
        sockets.ClipMatcher.Input(
            "clip", tooltip="From 'Load CLIP Matcher (Pinpoint)': scores the images."
        ),
        io.Image.Input("image", tooltip=image_tooltip),
        *([mask] if mask is not None else []),
        io.String.Input(
            "text",
            default="",
            multiline=True,
            placeholder="a blue pickup truck",
            tooltip=text_tooltip,
        ),
    ]


def _schedule_inputs(defaults: GuidanceSettings) -> list[io.Input]:
    """How strongly and when both guiders steer."""
    return [
        io.Float.Input(
            "scale",
            default=0.05,
            min=0.0,
            max=1.0,
            step=0.005,
            tooltip="How far each guided step moves the prediction (root mean square in latent "
            "units; 0.02 gentle, 0.1 strong). 0 = exactly the stock CFG guider.",
        ),
        io.Float.Input(
            "start",
            default=defaults.start,
            min=0.0,
            max=1.0,
            step=0.01,
            tooltip="First guided step, as a fraction of the schedule.",
        ),
        io.Float.Input(
            "end",
            default=defaults.end,
            min=0.0,
            max=1.0,
            step=0.01,
            tooltip="Last guided step, as a fraction of the schedule (the last steps add detail; "
            "guiding them costs time and sharpness).",
        ),
        io.Int.Input(
            "every",
            default=defaults.every,
            min=1,
            max=100,
            tooltip="Guide every n-th step of that part (each guided step costs a decode and a "
            "CLIP pass, forwards and backwards).",
        ),
    ]


def _cutouts_input(defaults: GuidanceSettings) -> io.Int.Input:
    return io.Int.Input(
        "cutouts",
        default=defaults.cutouts,
        min=1,
        max=64,
        tooltip="Random cut-outs (patches) CLIP scores per guided step: more steer more "
        "smoothly and cost more.",
    )


def _guider(
    model, positive, negative, cfg: float, vae, target: GuidanceTarget, settings: GuidanceSettings
) -> io.NodeOutput:
    guider = ClipGuider(model, Guidance(target, settings), vae)
    guider.set_conds(positive, negative)
    guider.set_cfg(cfg)
    return io.NodeOutput(guider)


def _guider_output() -> io.Guider.Output:
    return io.Guider.Output(
        display_name="guider",
        tooltip="For SamplerCustomAdvanced (with stock noise, sampler and sigmas).",
    )


def _region_inputs() -> list[io.Input]:
    """S2's losses, as both the CLIP Guider and CLIP Guidance take them."""
    return [
        _weight(
            "region_weight",
            DEFAULTS.region_weight,
            "Weight of the region loss: CLIP distance between the text and random cut-outs of "
            "the masked area.",
            10000.0,
        ),
        _weight(
            "mse_weight",
            DEFAULTS.mse_weight,
            "Weight of the background MSE against the source outside the mask (S2 uses 1000).",
        ),
        _weight(
            "lpips_weight",
            DEFAULTS.lpips_weight,
            "Weight of the background LPIPS outside the mask (S2 uses 1000); needs 'lpips' "
            "connected.",
        ),
        _cutouts_input(DEFAULTS),
        sockets.Perceptual.Input(
            "lpips",
            optional=True,
            tooltip="From 'Load Perceptual Network (Pinpoint)' (alexnet-owt-7be5be79.pth): the "
            "LPIPS backbone of the background LPIPS loss.",
        ),
    ]


def _style_inputs() -> list[io.Input]:
    """S3's source text, schedule and losses, as the Style Guider and Style Guidance take them."""
    return [
        io.String.Input(
            "source_text",
            default="a photo",
            placeholder="a photo",
            tooltip="What the image shows now: the style's direction runs from this "
            "text to the style text.",
        ),
        *_schedule_inputs(STYLE),
        _weight(
            "global_weight",
            STYLE.global_weight,
            "Weight of the directional CLIP loss over the whole area.",
        ),
        _weight(
            "patch_weight",
            STYLE.patch_weight,
            "Weight of the directional CLIP loss over random perspective patches (local texture).",
        ),
        io.Float.Input(
            "patch_threshold",
            default=STYLE.patch_threshold,
            min=0.0,
            max=2.0,
            step=0.01,
            tooltip="Patches whose directional loss is already below this are left "
            "alone (CLIPstyler's 0.7): no over-styling.",
        ),
        _weight(
            "content_weight",
            STYLE.content_weight,
            "Weight of VGG16's content loss (conv4_2, conv5_2 against the source): "
            "keeps the layout; needs 'vgg' connected.",
        ),
        _weight(
            "tv_weight",
            STYLE.tv_weight,
            "Weight of total variation: smooths speckle.",
        ),
        _cutouts_input(STYLE),
    ]


def _vgg_input() -> io.Input:
    return sockets.Perceptual.Input(
        "vgg",
        optional=True,
        tooltip="From 'Load Perceptual Network (Pinpoint)' (vgg16-397923af.pth): "
        "the network of the content loss.",
    )


def _recipe_inputs(placeholder: str, tooltip: str) -> list[io.Input]:
    """What both guidance recipes take first: the Pinpoint CLIP and the text."""
    return [
        sockets.ClipMatcher.Input(
            "clip", tooltip="From 'Load CLIP Matcher (Pinpoint)': scores the crops."
        ),
        io.String.Input(
            "text", default="", multiline=True, placeholder=placeholder, tooltip=tooltip
        ),
    ]


def _recipe_vae_input() -> io.Vae.Input:
    return io.Vae.Input(
        "vae",
        optional=True,
        tooltip="Decodes the guided steps: TAESD (Load VAE with taesd / taesdxl from "
        "models/vae_approx) is far cheaper than the checkpoint's VAE; not connected: the "
        "inpaint node's VAE (the diffusers pipeline's own).",
    )


def _recipe_output() -> io.Output:
    return sockets.Guidance.Output(
        display_name="guidance",
        tooltip="For the guidance input of either 'Inpaint Region' node (ComfyUI model or "
        "diffusers).",
    )


class PinpointCLIPGuidance(io.ComfyNode):
    """CLIP guidance for either 'Inpaint Region' node: at the guided steps each crop's
    prediction is pulled towards the text inside its mask and kept close to the original
    outside it (the CLIP Guider's losses, applied by the inpaint node to the crops it makes)."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointCLIPGuidance",
            display_name=RECIPE_TITLE,
            category="pinpoint/guide",
            description=description(cls),
            inputs=[
                *_recipe_inputs(
                    "a blue pickup truck",
                    "What the area should become, in words: CLIP pulls it towards this.",
                ),
                *_schedule_inputs(DEFAULTS),
                *_region_inputs(),
                _recipe_vae_input(),
            ],
            outputs=[_recipe_output()],
        )

    @classmethod
    @reported_as(RECIPE_TITLE)
    def execute(
        cls,
        clip: ClipMatcher,
        text: str,
        lpips: PerceptualNet | None = None,
        vae: Any = None,
        **settings,
    ) -> io.NodeOutput:
        settings = GuidanceSettings(**settings)
        return io.NodeOutput(GuidanceRecipe(clip, text, settings, lpips_net=lpips, decoder=vae))


class PinpointCLIPGuider(io.ComfyNode):
    """A guider for SamplerCustomAdvanced: ComfyUI's CFG guider that, at the guided steps,
    decodes the model's prediction of the crop, scores it with CLIP against the edit text
    (inside the mask) and against the source (outside it), and moves it down that loss."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointCLIPGuider",
            display_name=TITLE,
            category="pinpoint/guide",
            description=description(cls),
            inputs=[
                *_guider_inputs(
                    "The crops being sampled, as they were (Crop for Inpaint's image): the "
                    "background losses keep the outside close to it.",
                    io.Mask.Input(
                        "mask",
                        tooltip="The area being edited in each crop (Crop for Inpaint's mask).",
                    ),
                    "What the area should become, in words: CLIP pulls it towards this.",
                ),
                *_schedule_inputs(DEFAULTS),
                *_region_inputs(),
            ],
            outputs=[_guider_output()],
        )

    @classmethod
    @reported_as(TITLE)
    def execute(
        cls,
        model,
        positive,
        negative,
        cfg: float,
        vae,
        clip: ClipMatcher,
        image: torch.Tensor,
        mask: torch.Tensor,
        text: str,
        lpips: PerceptualNet | None = None,
        **settings,
    ) -> io.NodeOutput:
        target = GuidanceTarget(clip, text, image, mask, lpips_net=lpips)
        return _guider(model, positive, negative, cfg, vae, target, GuidanceSettings(**settings))


class PinpointStyleGuider(io.ComfyNode):
    """A guider for SamplerCustomAdvanced that restyles while keeping structure (S3): at the
    guided steps it turns the image (or the masked object) along the CLIP direction from the
    source text to the style text, over the whole and over random perspective patches, with
    VGG16's content loss and total variation to keep the layout."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointStyleGuider",
            display_name=STYLE_TITLE,
            category="pinpoint/guide",
            description=description(cls),
            inputs=[
                *_guider_inputs(
                    "The image being restyled, as it was (or Crop for Inpaint's crops): the "
                    "losses measure the change from it.",
                    None,
                    "The style, in words ('a watercolor painting', 'made of gold').",
                ),
                *_style_inputs(),
                io.Mask.Input(
                    "mask",
                    optional=True,
                    tooltip="Restyle only this area (Crop for Inpaint's mask); not connected: the "
                    "whole image.",
                ),
                _vgg_input(),
            ],
            outputs=[_guider_output()],
        )

    @classmethod
    @reported_as(STYLE_TITLE)
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
        source_text: str,
        mask: torch.Tensor | None = None,
        vgg: PerceptualNet | None = None,
        **settings,
    ) -> io.NodeOutput:
        area = torch.ones(image.shape[:3]) if mask is None else mask
        target = GuidanceTarget(clip, text, image, area, source_text=source_text, vgg_net=vgg)
        style = dataclasses.replace(STYLE, **settings)
        return _guider(model, positive, negative, cfg, vae, target, style)


class PinpointStyleGuidance(io.ComfyNode):
    """Style guidance for either 'Inpaint Region' node (S3): each crop's masked area turns
    along the CLIP direction from the source text to the style text while VGG16's content loss
    keeps its layout. With a denoise / strength below 1 it restyles what is there."""

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PinpointStyleGuidance",
            display_name=STYLE_RECIPE_TITLE,
            category="pinpoint/guide",
            description=description(cls),
            inputs=[
                *_recipe_inputs(
                    "a watercolor painting",
                    "The style, in words ('a watercolor painting', 'made of gold').",
                ),
                *_style_inputs(),
                _vgg_input(),
                _recipe_vae_input(),
            ],
            outputs=[_recipe_output()],
        )

    @classmethod
    @reported_as(STYLE_RECIPE_TITLE)
    def execute(
        cls,
        clip: ClipMatcher,
        text: str,
        source_text: str,
        vgg: PerceptualNet | None = None,
        vae: Any = None,
        **settings,
    ) -> io.NodeOutput:
        style = dataclasses.replace(STYLE, **settings)
        recipe = GuidanceRecipe(
            clip, text, style, decoder=vae, source_text=source_text, vgg_net=vgg
        )
        return io.NodeOutput(recipe)
