"""Guidance on the diffusers route: a scheduler stand-in whose step first moves the model's
prediction of the clean latent down Pinpoint's guidance losses (:mod:`pinpoint.guidance`).

A diffusers pipeline calls ``scheduler.step(model_output, t, x_t)`` once per step with the
classifier-free-guided model output. :class:`GuidedScheduler` turns that output into the clean
prediction x̂0 the way the scheduler reads it (DDPM-style schedulers: ``x_t = √ᾱ x0 + √(1-ᾱ) ε``;
Euler-style: ``x = x0 + σ ε``; flow matching: ``x_t = (1-σ) x0 + σ ε`` with the velocity
``v = ε - x0``, so ``x̂0 = x_t - σ v``), unpacks it where the family packs 2x2 patches into
tokens, lets each crop's :class:`~pinpoint.guidance.Guidance` move its x̂0, and hands the real
scheduler the output that predicts the moved x̂0 (for an ε-model
``ε' = ε + (x̂0 - x̂0') √ᾱ / √(1-ᾱ)``, for a flow model ``v' = v - (x̂0' - x̂0) / σ``). Every
other attribute is the real scheduler's, so the pipeline runs unchanged; a step that is not
guided passes the output through untouched.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .autograd import differentiable
from .diffusers_families import decoders_hint, latent_channels
from .errors import PinpointError
from .guidance import Decode, Guidance

DDPM_STYLE = frozenset(
    {
        "DDIMScheduler",
        "DDPMScheduler",
        "PNDMScheduler",
        "DPMSolverMultistepScheduler",
        "DPMSolverSinglestepScheduler",
        "UniPCMultistepScheduler",
        "DEISMultistepScheduler",
    }
)
"""Schedulers whose sample is ``x_t = √ᾱ_t x0 + √(1 - ᾱ_t) ε`` (ᾱ from ``alphas_cumprod``)."""
EULER_STYLE = frozenset(
    {"EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "LMSDiscreteScheduler"}
)
"""Schedulers whose sample is ``x = x0 + σ ε`` (σ from their ``sigmas``)."""
FLOW_STYLE = frozenset({"FlowMatchEulerDiscreteScheduler"})
"""Flow-matching schedulers: ``x = (1 - σ) x0 + σ ε``, the model output the velocity ``ε - x0``."""
PREDICTIONS = ("epsilon", "v_prediction", "sample")
Layout = Callable[[torch.Tensor], torch.Tensor]
"""The scheduler's latents → ``[B, C, h, w]`` (unpacking 2x2-packed tokens), or back."""


def _same(latent: torch.Tensor) -> torch.Tensor:
    return latent


def check_guidable(scheduler: Any) -> None:
    """Raise unless guidance can read ``scheduler``'s model output as a clean prediction."""
    name = type(scheduler).__name__
    if name in FLOW_STYLE:
        return
    prediction = scheduler.config.get("prediction_type", "epsilon")
    euler = name in EULER_STYLE
    if name not in DDPM_STYLE and not euler:
        raise PinpointError(
            f"guidance cannot steer the {name} sampler",
            "choose the DDIM, Euler or DPM-Solver++ scheduler (a flow-matching pipeline: its "
            "own FlowMatchEulerDiscreteScheduler)",
        )
    if prediction not in PREDICTIONS or (euler and prediction == "sample"):
        raise PinpointError(
            f"guidance cannot read a {prediction!r} model under {name}",
            "choose the DDIM scheduler",
        )


class GuidedScheduler:
    """``scheduler`` with a guided ``step``; every other attribute is the scheduler's own.

    Args:
        scheduler: a diffusers scheduler (see :func:`check_guidable`), already in the pipeline.
        guides: one guidance per item of the sampled batch (``None``: that item is not guided).
        decode: latent ``[1, C, h, w]`` → pixels ``[1, 3, H, W]`` in [0, 1], differentiable.
        unpack, pack: the scheduler's latents → ``[N, C, h, w]`` and back (2x2-packed tokens;
            the latents themselves otherwise).
    """

    def __init__(
        self,
        scheduler: Any,
        guides: Sequence[Guidance | None],
        decode: Decode,
        unpack: Layout = _same,
        pack: Layout = _same,
    ) -> None:
        check_guidable(scheduler)
        self._inner, self._guides, self._decode = scheduler, list(guides), decode
        self._unpack, self._pack = unpack, pack
        self._calls, self._first = 0, -1

        @functools.wraps(scheduler.step)  # diffusers reads the signature (eta, generator)
        def step(*args: Any, **kwargs: Any) -> Any:
            return self._step(*args, **kwargs)

        self.step = step

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self._inner, name)

    def _step(self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor, *args, **kw):
        step, self._calls = self._calls, self._calls + 1
        if self._first < 0:  # where this run's timesteps start (img2img strength skips some)
            found = (self._inner.timesteps == timestep).nonzero()
            self._first = int(found[0, 0]) if len(found) else 0
        steps = len(self._inner.timesteps) - self._first
        chosen = [
            (index, guide)
            for index, guide in enumerate(self._guides)
            if guide is not None and guide.settings.active(step, steps)
        ]
        if chosen:
            model_output = self._guided(model_output, timestep, sample, self._first + step, chosen)
        return self._inner.step(model_output, timestep, sample, *args, **kw)

    def _guided(
        self,
        output: torch.Tensor,
        timestep: Any,
        sample: torch.Tensor,
        position: int,
        chosen: list[tuple[int, Guidance]],
    ) -> torch.Tensor:
        """``output`` changed so that it predicts each chosen item's guided clean latent."""
        clean, slope = _clean_prediction(self._inner, output, timestep, sample, position)
        if slope is None:
            return output
        flat = self._unpack(clean)
        moved = flat.clone()
        for index, guide in chosen:
            moved[index : index + 1] = guide.step(flat[index : index + 1], self._decode)
        return (output.float() + self._pack(moved - flat) * slope).to(output.dtype)


def _clean_prediction(
    scheduler: Any, output: torch.Tensor, timestep: Any, sample: torch.Tensor, position: int
) -> tuple[torch.Tensor, float | None]:
    """The clean latent ``output`` predicts at ``timestep`` (float32), and how much ``output``
    changes per unit change of that prediction (``None`` where it cannot: a noise-free step)."""
    prediction = scheduler.config.get("prediction_type", "epsilon")
    x, out = sample.float(), output.float()
    name = type(scheduler).__name__
    if name in EULER_STYLE or name in FLOW_STYLE:
        index = scheduler.step_index
        if index is None:
            index = scheduler.begin_index if scheduler.begin_index is not None else position
        sigma = float(scheduler.sigmas[index])
        if sigma <= 0:
            return out, None
        if name in FLOW_STYLE:
            return x - sigma * out, -1.0 / sigma
        if prediction == "epsilon":
            return x - sigma * out, -1.0 / sigma
        root = (sigma**2 + 1) ** 0.5  # v-prediction
        return out * (-sigma / root) + x / (sigma**2 + 1), -root / sigma
    alpha_bar = float(scheduler.alphas_cumprod[int(timestep)])
    alpha, sigma = alpha_bar**0.5, (1 - alpha_bar) ** 0.5
    if prediction == "sample":
        return out, 1.0
    if sigma <= 0:
        return out, None
    if prediction == "epsilon":
        return (x - sigma * out) / alpha, -alpha / sigma
    return alpha * x - sigma * out, -1.0 / sigma  # v-prediction


def with_guidance(
    pipe: Any,
    guides: Sequence[Guidance | None],
    decode: Decode,
    unpack: Layout = _same,
    pack: Layout = _same,
) -> Any:
    """A copy of ``pipe`` sharing all its modules, its scheduler guided item by item (see
    :class:`GuidedScheduler`)."""
    guided = copy.copy(pipe)
    scheduler = GuidedScheduler(pipe.scheduler, guides, decode, unpack, pack)
    # past the pipeline's config bookkeeping: the stand-in is no scheduler class to record
    object.__setattr__(guided, "scheduler", scheduler)
    return guided


def check_decoder(factor: int, channels: int, pipe: Any) -> None:
    """Raise unless a decoder that upscales latents of ``channels`` channels ``factor`` times
    fits ``pipe``'s latents (a decoder of another model family does not)."""
    ours = (int(pipe.vae_scale_factor), latent_channels(pipe.vae))
    if (factor, int(channels)) != ours:
        raise PinpointError(
            f"the guidance decoder turns {channels}-channel latents into pictures {factor}x "
            f"their size, but the pipeline's latents have {ours[1]} channels at 1/{ours[0]} of "
            "the picture: it belongs to another model family",
            f"use the TAESD of the pipeline's family ({decoders_hint()}) or no decoder (the "
            "pipeline's own VAE)",
        )


def is_tiny(vae: Any) -> bool:
    """Whether ``vae`` is a diffusers ``AutoencoderTiny`` (TAESD's architecture)."""
    return "decoder_block_out_channels" in getattr(vae, "config", {})


def decoder_shape(vae: torch.nn.Module) -> tuple[int, int]:
    """How many times a diffusers VAE's decoder upscales, and its latent channels."""
    config = vae.config
    if is_tiny(vae):
        ups = len(config.decoder_block_out_channels) - 1
        return int(config.upsampling_scaling_factor) ** ups, int(config.latent_channels)
    return 2 ** (len(config.block_out_channels) - 1), int(config.latent_channels)


def vae_decoder(vae: torch.nn.Module, to_vae: Layout | None = None) -> Decode:
    """A diffusers VAE (``AutoencoderKL``, or ``AutoencoderTiny`` for TAESD) as a
    :data:`~pinpoint.guidance.Decode` of a pipeline's (scaled) latents ``[B, C, h, w]``:
    ``to_vae`` turns them into the VAE's own (default: divided by its ``scaling_factor``, as
    TAESD reads them); a decode with a frame axis gives that frame."""
    factor = float(vae.config.get("scaling_factor", 1.0))

    def decode(latent: torch.Tensor) -> torch.Tensor:
        module = differentiable(vae)  # a ComfyUI loader node made its weights in inference mode
        parameter = next(module.parameters())
        moved = latent.to(parameter.device, parameter.dtype)
        decoded = module.decode(to_vae(moved) if to_vae else moved / factor).sample
        if decoded.ndim == 5:
            decoded = decoded[:, :, 0]
        return (decoded.float() / 2 + 0.5).clamp(0, 1).to(latent.device)

    return decode
