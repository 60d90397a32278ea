"""The inputs the guidance nodes share (``nodes/guidance.py``): the stock guider's, the
recipes', and S2's and S3's settings, each with its default from ``pinpoint.guidance``."""

from __future__ import annotations

from comfy_api.latest import io

from ..pinpoint.guidance_settings import (
    CLIP_SCALE,
    SOURCE_TEXT,
    STYLE,
    STYLE_SCALE,
    GuidanceSettings,
)
from . import sockets

DEFAULTS = GuidanceSettings()


def _weight(name: str, default: float, tooltip: str, most: float = 100000.0) -> io.Float.Input:
    return io.Float.Input(name, default=default, min=0.0, max=most, step=0.1, tooltip=tooltip)


def guider_inputs(
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


def guider_output() -> io.Guider.Output:
    return io.Guider.Output(
        display_name="guider",
        tooltip="For SamplerCustomAdvanced (with stock noise, sampler and sigmas).",
    )


def recipe_inputs(placeholder: str, tooltip: str) -> list[io.Input]:
    """What both guidance recipes take first: the Pinpoint CLIP and the text."""
    return [
        sockets.ClipMatcher.Input(
            "clip", tooltip="From 'Load CLIP Matcher (Pinpoint)': scores the crops."
        ),
        io.String.Input(
            "text", default="", multiline=True, placeholder=placeholder, tooltip=tooltip
        ),
    ]


def recipe_vae_input() -> io.Vae.Input:
    return io.Vae.Input(
        "vae",
        optional=True,
        tooltip="Decodes the guided steps: TAESD (Load VAE with taesd / taesdxl from "
        "models/vae_approx) is far cheaper than the checkpoint's VAE; not connected: the "
        "inpaint node's VAE (the diffusers pipeline's own).",
    )


def recipe_output() -> io.Output:
    return sockets.Guidance.Output(
        display_name="guidance",
        tooltip="For the guidance input of either 'Inpaint Region' node (ComfyUI model or "
        "diffusers).",
    )


def _schedule_inputs(defaults: GuidanceSettings, scale: float) -> list[io.Input]:
    """How strongly and when a guidance node steers."""
    return [
        io.Float.Input(
            "scale",
            default=scale,
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


def clip_inputs() -> list[io.Input]:
    """S2's schedule and losses, as the CLIP Guider and CLIP Guidance take them."""
    return [
        *_schedule_inputs(DEFAULTS, CLIP_SCALE),
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


def style_inputs() -> list[io.Input]:
    """S3's source text, schedule and losses, as the Style Guider and Style Guidance take them."""
    return [
        io.String.Input(
            "source_text",
            default=SOURCE_TEXT,
            placeholder=SOURCE_TEXT,
            tooltip="What the image shows now: the style's direction runs from this "
            "text to the style text.",
        ),
        *_schedule_inputs(STYLE, STYLE_SCALE),
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


def vgg_input() -> io.Input:
    return sockets.Perceptual.Input(
        "vgg",
        optional=True,
        tooltip="From 'Load Perceptual Network (Pinpoint)' (vgg16-397923af.pth): "
        "the network of the content loss.",
    )
