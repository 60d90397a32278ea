"""CLIP Guider: a stock GUIDER (ComfyUI's CFG guider) that also steers every guided step with
Pinpoint's CLIP and background losses (``pinpoint.guidance``), for SamplerCustomAdvanced."""

from __future__ import annotations

from typing import Any

import comfy.model_management as mm
import comfy.samplers
import torch
from comfy_api.latest import io

from ..pinpoint.errors import reported_as
from ..pinpoint.guidance import Guidance, GuidanceSettings, GuidanceTarget
from ..pinpoint.loading.models import ClipMatcher, PerceptualNet
from ..pinpoint.memory import metrics_bytes
from . import sockets
from ._common import description
from .managed import managed

TITLE = "CLIP Guider (Pinpoint)"
DEFAULTS = GuidanceSettings()


class ClipGuider(comfy.samplers.CFGGuider):
    """ComfyUI's CFG guider whose prediction of the clean latent is moved down Pinpoint's
    guidance loss at the guided steps; everything else is the stock guider's."""

    def __init__(self, model_patcher: Any, guidance: Guidance, vae: Any):
        # the VAE and Pinpoint's networks load with the MODEL for the whole sampling run
        scorers = [guidance.target.clip, guidance.target.lpips_net]
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
        vae = self.vae
        samples = self.inner_model.process_latent_out(latent)
        decoded = vae.first_stage_model.decode(samples.to(vae.device, vae.vae_dtype))
        return vae.process_output(decoded.to(torch.float32).clone())  # in place on a copy


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
                    tooltip="Decodes the model's prediction at every guided step, with "
                    "gradients. The checkpoint's VAE is exact but costs memory and time; TAESD "
                    "(Load VAE with taesd / taesdxl from models/vae_approx) is far cheaper and "
                    "close enough to steer.",
                ),
                sockets.ClipMatcher.Input(
                    "clip", tooltip="From 'Load CLIP Matcher (Pinpoint)': scores the area."
                ),
                io.Image.Input(
                    "image",
                    tooltip="The crops being sampled, as they were (Crop for Inpaint's image): "
                    "the background losses keep the outside close to it.",
                ),
                io.Mask.Input(
                    "mask", tooltip="The area being edited in each crop (Crop for Inpaint's mask)."
                ),
                io.String.Input(
                    "text",
                    default="",
                    multiline=True,
                    placeholder="a blue pickup truck",
                    tooltip="What the area should become, in words: CLIP pulls it towards this.",
                ),
                io.Float.Input(
                    "scale",
                    default=0.05,
                    min=0.0,
                    max=1.0,
                    step=0.005,
                    tooltip="How far each guided step moves the prediction (root mean square in "
                    "latent units; 0.02 gentle, 0.1 strong). 0 = exactly the stock CFG guider.",
                ),
                io.Float.Input(
                    "start",
                    default=DEFAULTS.start,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="First guided step, as a fraction of the schedule.",
                ),
                io.Float.Input(
                    "end",
                    default=DEFAULTS.end,
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    tooltip="Last guided step, as a fraction of the schedule (the last steps "
                    "add detail; guiding them costs time and sharpness).",
                ),
                io.Int.Input(
                    "every",
                    default=DEFAULTS.every,
                    min=1,
                    max=100,
                    tooltip="Guide every n-th step of that part (each guided step costs a "
                    "decode and a CLIP pass, forwards and backwards).",
                ),
                io.Float.Input(
                    "region_weight",
                    default=DEFAULTS.region_weight,
                    min=0.0,
                    max=10000.0,
                    step=0.1,
                    tooltip="Weight of the region loss: CLIP distance between the text and "
                    "random cut-outs of the masked area.",
                ),
                io.Float.Input(
                    "mse_weight",
                    default=DEFAULTS.mse_weight,
                    min=0.0,
                    max=100000.0,
                    step=1.0,
                    tooltip="Weight of the background MSE against the source outside the mask "
                    "(S2 uses 1000).",
                ),
                io.Float.Input(
                    "lpips_weight",
                    default=DEFAULTS.lpips_weight,
                    min=0.0,
                    max=100000.0,
                    step=1.0,
                    tooltip="Weight of the background LPIPS outside the mask (S2 uses 1000); "
                    "needs 'lpips' connected.",
                ),
                io.Int.Input(
                    "cutouts",
                    default=DEFAULTS.cutouts,
                    min=1,
                    max=64,
                    tooltip="Random cut-outs of the area CLIP scores per guided step: more "
                    "steer more smoothly and cost more.",
                ),
                sockets.Perceptual.Input(
                    "lpips",
                    optional=True,
                    tooltip="From 'Load Perceptual Network (Pinpoint)' (alexnet-owt-7be5be79.pth): "
                    "the LPIPS backbone of the background LPIPS loss.",
                ),
            ],
            outputs=[
                io.Guider.Output(
                    display_name="guider",
                    tooltip="For SamplerCustomAdvanced (with stock noise, sampler and sigmas).",
                )
            ],
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
        scale: float,
        start: float,
        end: float,
        every: int,
        region_weight: float,
        mse_weight: float,
        lpips_weight: float,
        cutouts: int,
        lpips: PerceptualNet | None = None,
    ) -> io.NodeOutput:
        settings = GuidanceSettings(
            scale=scale,
            start=start,
            end=end,
            every=every,
            region_weight=region_weight,
            mse_weight=mse_weight,
            lpips_weight=lpips_weight,
            cutouts=cutouts,
        )
        guidance = Guidance(GuidanceTarget(clip, text, image, mask, lpips), settings)
        guider = ClipGuider(model, guidance, vae)
        guider.set_conds(positive, negative)
        guider.set_cfg(cfg)
        return io.NodeOutput(guider)
