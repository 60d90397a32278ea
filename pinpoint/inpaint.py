"""Inpaint: regenerate the masked area with a diffusers inpainting pipeline, crop-and-stitch.

For each image the mask's neighbourhood is cropped, resized so its longer side is the model's
native size (aspect kept), inpainted, resized back and blended through the feathered mask.
Pixels where the feathered mask is 0 are returned bit-identical to the input.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .choices import Choice
from .crop import CropRequest, Split, cut, paste, plan_crops, plan_layers, stitch_crops
from .errors import PinpointError
from .guidance import Decode, GuidanceRecipe
from .guided_scheduler import (
    check_decoder,
    check_guidable,
    decoder_shape,
    vae_decoder,
    with_guidance,
)
from .harmonise import check_harmonise
from .images import check_prompt
from .loading.models import InpaintPipe
from .progress import Progress, no_progress
from .request import Request
from .seeds import image_seed


@dataclass(frozen=True)
class InpaintResult:
    """The outcome of :func:`inpaint_masked`.

    Attributes:
        images: ``[B, H, W, 3]`` float32, the edited images.
        notes: human-readable remarks, e.g. which images had an empty mask and were left
            unchanged.
    """

    images: torch.Tensor
    notes: tuple[str, ...]


class Scheduler(Choice):
    """The diffusers route's sampler. The pipeline's own for SD 1.5 inpainting is PNDM, which
    spends one UNet call more than its steps; DDIM (S3's), Euler and DPM-Solver++ spend one per
    step, and DPM-Solver++ is good in 20 steps or fewer."""

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
class InpaintRequest(Request):
    """A checked call of :func:`inpaint_masked`.

    Attributes:
        pipe: from :func:`pinpoint.loading.load_model`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1], any size and aspect ratio.
        masks: MASK ``[B, H, W]`` (or one ``[H, W]`` for the whole batch), 1 = regenerate.
        prompt: what the masked area should show; must not be empty. Stored stripped.
        negative_prompt: what to avoid; may be empty.
        seed: image ``b`` of the batch uses ``seed + b`` (:func:`pinpoint.seeds.image_seed`).
        steps, cfg, strength: the usual diffusion settings (``strength`` < 1 keeps some of the
            original content under the mask); ``steps x strength`` must leave a step to run.
        context, feather_px, split: the crop settings (see :class:`pinpoint.crop.CropRequest`).
        resolution: the crops' longer side; 0 = the pipeline's native size.
        scheduler: the sampler (:class:`Scheduler`).
        harmonise: 0 (off) to 1: correct the colour shift the pipeline gives each crop before
            it is pasted (:mod:`pinpoint.harmonise`); outside the feathered mask nothing changes
            either way.
        guidance: CLIP guidance of each crop (:mod:`pinpoint.guided_scheduler`): its text, losses
            and schedule; its decoder ``None`` decodes the guided steps with the pipeline's VAE.
            ``None`` or a scale of 0: plain sampling.
        crop: the checked crop request (set from the fields above).
    """

    pipe: InpaintPipe
    images: torch.Tensor
    masks: torch.Tensor
    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 20
    cfg: float = 7.5
    strength: float = 1.0
    context: float = 0.5
    resolution: int = 0
    feather_px: int = 8
    split: Split = Split.ONE_PER_IMAGE
    scheduler: Scheduler = Scheduler.OWN
    harmonise: float = 0.0
    guidance: GuidanceRecipe | None = None
    crop: CropRequest = field(init=False)

    def __post_init__(self) -> None:
        steps, strength = self.steps, self.strength
        if steps < 1 or not 0.0 < strength <= 1.0 or int(steps * strength) < 1:
            raise PinpointError(
                f"steps={steps} with strength={strength} leaves no denoising step to run",
                "use at least 1 step and a strength in (0, 1] with steps x strength >= 1",
            )
        if self.cfg < 0:
            raise PinpointError(f"cfg is {self.cfg}", "use a cfg of 0 or more (7.5 is typical)")
        crop = CropRequest(
            self.images,
            self.masks,
            context=self.context,
            resolution=self.resolution or self.pipe.native_size,
            feather_px=self.feather_px,
            split=self.split,
            multiple=self.pipe.multiple,
        )
        scheduler = Scheduler.check(self.scheduler, "scheduler")
        if self.guided:
            check_guidable(with_scheduler(self.pipe.pipe, scheduler).scheduler)
            decoder = self.guidance.decoder  # type: ignore[union-attr]
            if isinstance(decoder, torch.nn.Module):
                check_decoder(*decoder_shape(decoder), self.pipe.pipe)
        self._normalise(
            prompt=check_prompt(self.prompt, "prompt", "a blue pickup truck"),
            split=crop.split,
            scheduler=scheduler,
            harmonise=check_harmonise(self.harmonise),
            crop=crop,
        )

    @property
    def guided(self) -> bool:
        """Whether guidance steers the sampling (a recipe with a scale above 0)."""
        return self.guidance is not None and self.guidance.settings.scale > 0

    def decode(self) -> Decode:
        """How the guided steps are decoded: the guidance's decoder, else the pipeline's VAE."""
        decoder = self.guidance.decoder if self.guidance is not None else None
        if decoder is None:
            return vae_decoder(self.pipe.pipe.vae)
        return vae_decoder(decoder) if isinstance(decoder, torch.nn.Module) else decoder


CROPS_PER_PASS = 4
"""Crops :func:`inpaint_layers` samples together in one pipeline call."""


def _generate(
    request: InpaintRequest,
    crops: torch.Tensor,
    areas: torch.Tensor,
    owners: Sequence[InpaintRequest],
    seeds: list[int],
    on_step: Any,
) -> torch.Tensor:
    """One pipeline call over a batch of same-size crops, each with its own prompt, guidance
    and seed.

    Args:
        request: the pipeline and the shared settings (steps, cfg, strength).
        crops: ``[N, h, w, 3]`` float in [0, 1]; ``areas``: ``[N, h, w]`` 1 = regenerate.
        owners: the request of each crop (its prompt, negative prompt and guidance; the
            guided steps are decoded by the first guided crop's decoder).
        seeds: one per crop.
        on_step: diffusers' ``callback_on_step_end``.

    Returns:
        ``[N, h, w, 3]`` float32 on the CPU.
    """
    pipeline = with_scheduler(request.pipe.pipe, request.scheduler)
    guided = [owner for owner in owners if owner.guided]
    if guided:
        guides = [
            owner.guidance.for_crops(crops[i : i + 1], areas[i : i + 1]) if owner.guided else None
            for i, owner in enumerate(owners)
        ]
        pipeline = with_guidance(pipeline, guides, guided[0].decode())
    prompts = [owner.prompt for owner in owners]
    negatives = [owner.negative_prompt.strip() for owner in owners]
    result = pipeline(
        prompt=prompts,
        negative_prompt=negatives if any(negatives) else None,
        image=crops.movedim(-1, 1),
        mask_image=areas[:, None],
        height=int(crops.shape[1]),
        width=int(crops.shape[2]),
        num_inference_steps=request.steps,
        guidance_scale=request.cfg,
        strength=request.strength,
        generator=[torch.Generator(device="cpu").manual_seed(seed) for seed in seeds],
        output_type="pt",
        callback_on_step_end=on_step,
    )
    return result.images.movedim(1, -1).to("cpu", torch.float32)


def _step_reporter(request: InpaintRequest, progress: Progress, passes: int) -> Any:
    """``on_step(done_passes)``: a diffusers step callback moving ``progress`` over all passes."""

    def for_pass(done: int) -> Any:
        def on_step(
            pipeline: Any, step: int, timestep: Any, kwargs: dict[str, Any]
        ) -> dict[str, Any]:
            per_pass = max(1, int(getattr(pipeline, "num_timesteps", request.steps)))
            progress(done * per_pass + min(step + 1, per_pass), passes * per_pass)
            return kwargs

        return on_step

    return for_pass


def inpaint_masked(request: InpaintRequest, progress: Progress = no_progress) -> InpaintResult:
    """Replace the masked content of each image with what the prompt describes.

    Each crop keeps its own shape and is sampled alone, so an image's result never depends on
    its batch.

    Args:
        request: the pipeline, images, masks, prompts and settings.
        progress: called as ``progress(steps_done, steps_total)`` over all images.

    Returns:
        :class:`InpaintResult` with the edited images and notes.
    """
    plan = plan_crops(request.crop, same_size=False)
    report = _step_reporter(request, progress, len(plan.pieces))
    outputs = [image.to(torch.float32) for image in request.images]
    for position, piece in enumerate(plan.pieces):
        crop, area = cut(plan, piece)
        seed = image_seed(request.seed, piece.image_index)
        generated = _generate(request, crop[None], area[None], [request], [seed], report(position))
        outputs[piece.image_index] = paste(
            outputs[piece.image_index], piece, generated[0], request.harmonise
        )
    return InpaintResult(torch.stack(outputs), plan.notes)


def inpaint_layers(
    layers: Sequence[InpaintRequest], progress: Progress = no_progress
) -> InpaintResult:
    """Several masks of the same images, each regenerated from its own prompt, in few passes.

    Every layer's crops take one shared size (see :func:`pinpoint.crop.plan_layers`) and go
    through the pipeline :data:`CROPS_PER_PASS` at a time, each crop with its own layer's
    prompt, negative prompt, guidance and seed (``image_seed(layer.seed, image)``). The results
    are pasted layer by layer: where two layers' masks overlap, the later layer's pixels are on
    top. Pixels outside every feathered mask stay bit-identical.

    Args:
        layers: one request per layer, all with the same pipeline, images, ``steps``, ``cfg``,
            ``strength``, ``scheduler``, ``harmonise`` and ``resolution``, and guided layers
            with the same decoder.
        progress: called as ``progress(steps_done, steps_total)`` over all passes.

    Returns:
        :class:`InpaintResult`; the notes name images no layer touched.
    """
    first = layers[0]
    shared = ("steps", "cfg", "strength", "scheduler", "harmonise")
    decoders = {id(layer.guidance.decoder) for layer in layers if layer.guided}
    if len(decoders) > 1 or any(
        layer.pipe is not first.pipe
        or any(getattr(layer, name) != getattr(first, name) for name in shared)
        for layer in layers
    ):
        raise PinpointError(
            "the edits sampled together differ in pipeline, steps, cfg, strength, scheduler, "
            "harmonise or guidance decoder",
            "give every edit of one pass the same pipeline, steps, cfg, strength, scheduler, "
            "harmonise and guidance decoder",
        )
    plan = plan_layers([layer.crop for layer in layers], same_size=True)
    passes = range(0, len(plan.pieces), CROPS_PER_PASS)
    report = _step_reporter(first, progress, len(passes))
    sampled: list[torch.Tensor] = []
    for done, start in enumerate(passes):
        pieces = plan.pieces[start : start + CROPS_PER_PASS]
        pairs = [cut(plan, piece) for piece in pieces]
        owners = [layers[piece.layer] for piece in pieces]
        generated = _generate(
            first,
            torch.stack([crop for crop, _ in pairs]),
            torch.stack([area for _, area in pairs]),
            owners,
            [
                image_seed(owner.seed, piece.image_index)
                for owner, piece in zip(owners, pieces, strict=True)
            ],
            report(done),
        )
        sampled.extend(generated)
    return InpaintResult(stitch_crops(plan, sampled, first.harmonise), plan.notes)
