"""Inpaint: regenerate the masked area with a diffusers inpainting pipeline, crop-and-stitch.

For each image the mask's neighbourhood is cropped, resized so its longer side is the model's
native size (aspect kept), inpainted, resized back and blended through the feathered mask.
Pixels where the feathered mask is 0 are returned bit-identical to the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .crop import CropRequest, Split, cut, paste, plan_crops
from .errors import PinpointError
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
        self._normalise(
            prompt=check_prompt(self.prompt, "prompt", "a blue pickup truck"),
            split=crop.split,
            crop=crop,
        )


def inpaint_masked(request: InpaintRequest, progress: Progress = no_progress) -> InpaintResult:
    """Replace the masked content of each image with what the prompt describes.

    Each crop keeps its own shape, so an image's result never depends on its batch.

    Args:
        request: the pipeline, images, masks, prompts and settings.
        progress: called as ``progress(steps_done, steps_total)`` over all images.

    Returns:
        :class:`InpaintResult` with the edited images and notes.
    """
    plan = plan_crops(request.crop, same_size=False)
    steps = request.steps
    outputs = [image.to(torch.float32) for image in request.images]
    for position, piece in enumerate(plan.pieces):
        generator = torch.Generator(device="cpu").manual_seed(
            image_seed(request.seed, piece.image_index)
        )

        def on_step(
            pipeline: Any, step: int, timestep: Any, kwargs: dict[str, Any], done: int = position
        ) -> dict[str, Any]:
            per_crop = max(1, int(getattr(pipeline, "num_timesteps", steps)))
            progress(done * per_crop + min(step + 1, per_crop), len(plan.pieces) * per_crop)
            return kwargs

        crop, area = cut(plan, piece)
        result = request.pipe.pipe(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt.strip() or None,
            image=crop.movedim(-1, 0)[None],
            mask_image=area[None, None],
            height=piece.height,
            width=piece.width,
            num_inference_steps=steps,
            guidance_scale=request.cfg,
            strength=request.strength,
            generator=generator,
            output_type="pt",
            callback_on_step_end=on_step,
        )
        generated = result.images[0].movedim(0, -1).to("cpu", torch.float32)
        outputs[piece.image_index] = paste(outputs[piece.image_index], piece, generated)
    return InpaintResult(torch.stack(outputs), plan.notes)
