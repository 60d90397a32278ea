"""Inpaint: regenerate the masked area with a diffusers inpainting pipeline, crop-and-stitch.

For each image the mask's neighbourhood is cropped, resized so its longer side is the model's
native size (aspect kept), inpainted, resized back and blended through the feathered mask.
Pixels where the feathered mask is 0 are returned bit-identical to the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .crop import ONE_PER_IMAGE, cut, paste, plan_crops
from .errors import PinpointError
from .images import as_mask_batch, check_image, check_prompt
from .loading.models import InpaintPipe
from .progress import Progress, no_progress

SEED_MODULUS = 2**64


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


def _check_settings(steps: int, strength: float, cfg: float, where: str) -> None:
    if steps < 1 or not 0.0 < strength <= 1.0 or int(steps * strength) < 1:
        raise PinpointError(
            where,
            f"steps={steps} with strength={strength} leaves no denoising step to run",
            "use at least 1 step and a strength in (0, 1] with steps x strength >= 1",
        )
    if cfg < 0:
        raise PinpointError(where, f"cfg is {cfg}", "use a cfg of 0 or more (7.5 is typical)")


def inpaint_masked(
    pipe: InpaintPipe,
    images: torch.Tensor,
    masks: torch.Tensor,
    prompt: str,
    negative_prompt: str = "",
    steps: int = 20,
    cfg: float = 7.5,
    strength: float = 1.0,
    seed: int = 0,
    context: float = 0.5,
    feather_px: int = 8,
    resolution: int = 0,
    split: str = ONE_PER_IMAGE,
    progress: Progress = no_progress,
    where: str = "Inpaint",
) -> InpaintResult:
    """Replace the masked content of each image with what ``prompt`` describes.

    Args:
        pipe: from :func:`pinpoint.loading.load_inpaint_pipeline`.
        images: IMAGE ``[B, H, W, 3]`` float in [0, 1], any size and aspect ratio.
        masks: MASK ``[B, H, W]`` (or one ``[H, W]`` for the whole batch), 1 = regenerate.
        prompt: what the masked area should show; must not be empty.
        negative_prompt: what to avoid; may be empty.
        steps, cfg, strength: the usual diffusion settings (``strength`` < 1 keeps some of the
            original content under the mask).
        seed: image ``b`` of the batch uses ``seed + b``, so results do not depend on batching.
        context: padding around the mask as a fraction of its larger side.
        feather_px: width of the soft blend edge outside the mask.
        resolution: the crops' longer side; 0 = the pipeline's native size.
        split: one crop per image or per separate masked area (see
            :func:`pinpoint.crop.plan_crops`).
        progress: called as ``progress(steps_done, steps_total)`` over all images.

    Returns:
        :class:`InpaintResult` with the edited images and notes.
    """
    check_image(images, where)
    masks = as_mask_batch(masks, images, where)
    prompt = check_prompt(prompt, where, "prompt", "a blue pickup truck")
    _check_settings(steps, strength, cfg, where)
    # each crop keeps its own shape, so an image's result never depends on its batch
    plan = plan_crops(
        images,
        masks,
        context,
        resolution or pipe.native_size,
        feather_px,
        split,
        multiple=pipe.multiple,
        same_size=False,
        where=where,
    )
    outputs = [image.to(torch.float32) for image in images]
    for position, piece in enumerate(plan.pieces):
        generator = torch.Generator(device="cpu").manual_seed(
            (seed + piece.image_index) % SEED_MODULUS
        )

        def on_step(
            pipeline: Any, step: int, timestep: Any, kwargs: dict[str, Any], done: int = position
        ) -> dict[str, Any]:
            per_crop = max(1, int(getattr(pipeline, "num_timesteps", steps)))
            progress(done * per_crop + min(step + 1, per_crop), len(plan.pieces) * per_crop)
            return kwargs

        crop, area = cut(plan, piece)
        result = pipe.pipe(
            prompt=prompt,
            negative_prompt=negative_prompt.strip() or None,
            image=crop.movedim(-1, 0)[None],
            mask_image=area[None, None],
            height=piece.height,
            width=piece.width,
            num_inference_steps=steps,
            guidance_scale=cfg,
            strength=strength,
            generator=generator,
            output_type="pt",
            callback_on_step_end=on_step,
        )
        generated = result.images[0].movedim(0, -1).to("cpu", torch.float32)
        outputs[piece.image_index] = paste(outputs[piece.image_index], piece, generated)
    return InpaintResult(torch.stack(outputs), plan.notes)
