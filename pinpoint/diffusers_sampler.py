"""The diffusers sampler: crops repainted by a diffusers inpainting pipeline of any family of
:mod:`pinpoint.diffusers_families` (SD 1.x/2.x, SDXL, SD 3.x, FLUX.1 Fill ...).

Everything Pinpoint knows of a pipeline's insides is here, in the family table (what differs
between families) and in :mod:`pinpoint.guided_scheduler` (the guided steps): its size and
latent step, the scheduler copies, the call's arguments, the decoder of guided steps and the
memory a call needs. The crop → sample → stitch loop around it is
:func:`pinpoint.repaint.repaint`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .choices import Choice
from .diffusers_families import BY_KEY, Family, grid, pack, to_vae, unpack
from .errors import PinpointError
from .guidance import Decode, GuidanceRecipe
from .guided_scheduler import (
    check_decoder,
    check_guidable,
    decoder_shape,
    is_tiny,
    vae_decoder,
    with_guidance,
)
from .images import check_prompt, to_pil
from .loading.models import InpaintPipe
from .repaint import CROPS_PER_CALL, EXAMPLE, CropBatch, Layer, RepaintRequest, StepCallback
from .request import Request

MB = 1024 * 1024
INPAINT_MB_AT_512 = 1024
"""Crops are resized to the model's native size, so activations do not grow with the image:
about 1 GB for an SD 1.5 UNet at 512 px with classifier-free guidance (PyTorch SDPA), scaled by
the pixel count for other sizes (4 GB for SDXL at 1024 px)."""
GUIDED_VAE_MB_AT_512, GUIDED_TAESD_MB_AT_512 = 6656, 1024
"""A guided step's extra peak at 512 px: decoding x̂0 with gradients through SD's VAE, or
through TAESD (benchmark 8 on CPU in float32: +6.5 GB and +0.9 GB)."""


class Scheduler(Choice):
    """The diffusers route's sampler. The pipeline's own for SD 1.5 inpainting is PNDM, which
    spends one UNet call more than its steps; DDIM (S3's), Euler and DPM-Solver++ spend one per
    step, and DPM-Solver++ is good in 20 steps or fewer. Flow-matching families (FLUX, SD 3,
    Qwen-Image ...) sample with their own flow-matching Euler only, one call per step; ``auto``
    is DPM-Solver++ on the other families and that one on these."""

    AUTO = "auto"
    OWN = "pipeline's own"
    DDIM = "DDIM"
    EULER = "Euler"
    DPM_SOLVER = "DPM-Solver++"


SCHEDULER_CLASSES = {
    Scheduler.DDIM: "DDIMScheduler",
    Scheduler.EULER: "EulerDiscreteScheduler",
    Scheduler.DPM_SOLVER: "DPMSolverMultistepScheduler",
}
"""Scheduler → its diffusers class, built from the pipeline's own scheduler config."""


def with_scheduler(pipe: Any, scheduler: Scheduler) -> Any:
    """``pipe`` itself for :attr:`Scheduler.OWN`; otherwise a copy sharing all its modules
    with ``scheduler``'s sampler (the loaded pipeline, which other callers share, is left as
    it is)."""
    if scheduler == Scheduler.OWN:
        return pipe
    import diffusers

    chosen = getattr(diffusers, SCHEDULER_CLASSES[scheduler]).from_config(pipe.scheduler.config)
    copied = copy.copy(pipe)
    copied.register_modules(scheduler=chosen)
    return copied


@dataclass(frozen=True)
class DiffusersSampler(Request):
    """A :class:`~pinpoint.repaint.CropSampler` over a diffusers inpainting pipeline.

    Attributes:
        pipe: from :func:`pinpoint.loading.load_model`.
        steps, cfg, strength: the usual diffusion settings (``strength`` < 1 keeps some of the
            original content under the mask); ``steps x strength`` must leave a step to run;
            ``cfg`` None: the family's usual (:attr:`Family.cfg`).
        scheduler: the sampler (:class:`Scheduler`; ``auto`` is resolved here, by the family); a
            flow-matching family samples with its own only.
        distilled: a guidance-distilled family's guidance (FLUX.1 Fill, Kontext): 0 = the
            family's usual one (30 for Fill); ``cfg`` is then its true classifier-free scale,
            which FLUX.1 Fill does not have.
    """

    pipe: InpaintPipe
    steps: int = 20
    cfg: float | None = None
    strength: float = 1.0
    scheduler: Scheduler = Scheduler.OWN
    distilled: float = 0.0

    crops_per_call = CROPS_PER_CALL

    def __post_init__(self) -> None:
        steps, strength = self.steps, self.strength
        if steps < 1 or not 0.0 < strength <= 1.0 or int(steps * strength) < 1:
            raise PinpointError(
                f"steps={steps} with strength={strength} leaves no denoising step to run",
                "use at least 1 step and a strength in (0, 1] with steps x strength >= 1",
            )
        if self.cfg is not None and self.cfg < 0:
            raise PinpointError(
                f"cfg is {self.cfg}", f"use a cfg of 0 or more ({self.family.cfg:g} is usual)"
            )
        if self.distilled < 0:
            raise PinpointError(
                f"the distilled guidance is {self.distilled}",
                "use 0 (the family's usual one) or more",
            )
        scheduler = Scheduler.check(self.scheduler, "scheduler")
        if scheduler == Scheduler.AUTO:
            scheduler = Scheduler.OWN if self.family.flow else Scheduler.DPM_SOLVER
        if self.family.flow and scheduler != Scheduler.OWN:
            raise PinpointError(
                f"{self.family.title} samples by flow matching, which the {scheduler.value} "
                "scheduler does not do",
                f"choose the scheduler '{Scheduler.OWN.value}' or '{Scheduler.AUTO.value}'",
            )
        self._normalise(scheduler=scheduler)

    @property
    def family(self) -> Family:
        """The pipeline's family (:mod:`pinpoint.diffusers_families`)."""
        return BY_KEY[self.pipe.family]

    @property
    def native_size(self) -> int:
        """The resolution the model was trained at (512 for SD 1.5, 1024 for FLUX)."""
        return self.pipe.native_size

    @property
    def multiple(self) -> int:
        """The VAE's downscale (times 2 for a model reading 2x2 patches): crop sides are
        multiples of it."""
        return self.pipe.multiple

    @property
    def guidance_scale(self) -> float:
        """The classifier-free guidance scale the pipeline is given: ``cfg``, or the family's
        usual one."""
        return self.family.cfg if self.cfg is None else self.cfg

    @property
    def notes(self) -> tuple[str, ...]:
        """What the user should know of the settings: a ``cfg`` the family does not read."""
        family = self.family
        if self.cfg is not None and not family.cfg_argument:
            return (
                f"cfg {self.cfg:g} is not used: {family.title} has no classifier-free guidance "
                f"(its distilled guidance, {self.distilled or family.distilled:g}, steers it)",
            )
        return ()

    def crop_sizes(self) -> tuple[tuple[int, int], ...]:
        """The sizes the family's crops take (Kontext's training resolutions, the sizes
        Qwen-Image-Edit samples at); empty: any aspect at the native size."""
        return self.family.sizes(self.multiple)

    def check(self, layer: Layer) -> Layer:
        """A text prompt (stripped), a text negative where the family takes one, and guidance
        this pipeline can apply: a scheduler whose output it reads, a decoder of this
        pipeline's latents."""
        prompt = check_prompt(layer.prompt, "prompt", EXAMPLE)
        if (layer.negative or "").strip() and not self.family.negative:
            raise PinpointError(
                f"{self.family.title} takes no negative prompt",
                "leave the negative prompt empty",
            )
        if layer.guided:
            check_guidable(with_scheduler(self.pipe.pipe, self.scheduler).scheduler)
            decoder = layer.guidance.decoder  # type: ignore[union-attr]
            if isinstance(decoder, torch.nn.Module):
                self.check_decoder(*decoder_shape(decoder))
        negative = (layer.negative or "").strip()
        return dataclasses.replace(
            layer, prompt=prompt, negative=negative, text=layer.text or prompt
        )

    def check_decoder(self, factor: int, channels: int) -> None:
        """Raise unless a decoder that upscales ``channels``-channel latents ``factor`` times
        decodes this pipeline's latents."""
        check_decoder(factor, channels, self.pipe.pipe)

    def unscale(self, latent: torch.Tensor) -> torch.Tensor:
        """The pipeline's (scaled) latent ``[B, C, h, w]`` (unpacked) as its VAE's own latent,
        for another decoder."""
        return to_vae(self.family, self.pipe.pipe.vae, latent)

    def decode(self, guidance: GuidanceRecipe) -> Decode:
        """How ``guidance``'s steps (unpacked latents) are decoded: its decoder, else the
        pipeline's VAE."""
        decoder = guidance.decoder
        if decoder is None:
            return vae_decoder(self.pipe.pipe.vae, self.unscale)
        return vae_decoder(decoder) if isinstance(decoder, torch.nn.Module) else decoder

    def activation_bytes(self, request: RepaintRequest) -> int:
        """One UNet step on a crop at the request's resolution, and a guided step's decode
        with gradients (TAESD's when the decoder is a tiny autoencoder, else a full VAE's)."""
        megabytes = INPAINT_MB_AT_512
        guided = [layer.guidance for layer in request.layers if layer.guided]
        if guided:
            tiny = is_tiny(guided[0].decoder)  # type: ignore[union-attr]
            megabytes += GUIDED_TAESD_MB_AT_512 if tiny else GUIDED_VAE_MB_AT_512
        return int(megabytes * MB * (request.crop_resolution / 512) ** 2)

    def sample(self, batch: CropBatch, on_step: StepCallback) -> Sequence[torch.Tensor]:
        """One pipeline call over ``batch``, each crop with its own prompt, negative prompt,
        guidance and seed (the guided steps decoded by the first guided crop's decoder).

        Returns:
            ``[N, h, w, 3]`` float32 on the CPU.
        """
        family, pipeline = self.family, with_scheduler(self.pipe.pipe, self.scheduler)
        height, width = int(batch.crops.shape[1]), int(batch.crops.shape[2])
        guided = [layer.guidance for layer in batch.layers if layer.guided]
        if guided:
            decode = self.decode(guided[0])  # type: ignore[arg-type]
            layout = (self._unpack(width / height), pack) if family.packed else ()
            pipeline = with_guidance(pipeline, batch.guides, decode, *layout)
        images = batch.crops.movedim(-1, 1)
        negatives = [layer.negative for layer in batch.layers]
        result = pipeline(
            prompt=[layer.prompt for layer in batch.layers],
            image=[to_pil(crop) for crop in batch.crops] if family.pictures else images,
            mask_image=batch.areas[:, None],
            height=height,
            width=width,
            num_inference_steps=self.steps,
            strength=self.strength,
            generator=[torch.Generator(device="cpu").manual_seed(seed) for seed in batch.seeds],
            output_type="pt",
            callback_on_step_end=self._reporter(on_step, len(batch)),
            **family.arguments(self.guidance_scale, self.distilled, negatives, height, width),
        )
        return _to_crop(result.images, height, width).movedim(1, -1).to("cpu", torch.float32)

    @staticmethod
    def _unpack(aspect: float) -> Any:
        """Packed latents → ``[N, C, h, w]`` for crops of ``aspect`` (width / height)."""
        return lambda tokens: unpack(tokens, *grid(tokens, aspect))

    def _reporter(self, on_step: StepCallback, crops: int) -> Any:
        """A diffusers ``callback_on_step_end`` reporting each step of a call sampling
        ``crops`` crops together to ``on_step``."""

        def report(pipeline: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> Any:
            steps = max(1, int(getattr(pipeline, "num_timesteps", self.steps)))
            on_step(crops * min(step + 1, steps), crops * steps)
            return kwargs

        return report


def _to_crop(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A pipeline's pictures ``[N, 3, h, w]`` stretched back to the crop's ``height x width``
    where it sampled another size (Qwen-Image-Edit samples about 1 MP whatever the crop, from
    the crop resized the same way); as they are otherwise."""
    if tuple(images.shape[-2:]) == (height, width):
        return images
    return F.interpolate(images.float(), size=(height, width), mode="bicubic").clamp(0, 1)
