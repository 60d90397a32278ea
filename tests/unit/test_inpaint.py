"""Inpaint: the tiny random SD inpainting pipeline through crop → diffusers → stitch."""

from __future__ import annotations

import pytest
import torch
from rigs import Recorder
from routes import diffusers_edit, inpaint

from pinpoint.crop import Split
from pinpoint.diffusers_sampler import SCHEDULER_CLASSES, Scheduler, with_scheduler
from pinpoint.errors import PinpointError, reported_as
from pinpoint.loading import load_model
from pinpoint.loading.kinds import INPAINT
from pinpoint.loading.models import InpaintPipe
from pinpoint.masks import feather_mask
from pinpoint.seeds import image_seed


@pytest.fixture(scope="module")
def pipe(tiny_models) -> InpaintPipe:
    return load_model(INPAINT, tiny_models["inpaint"])


def box_mask(
    height: int, width: int, box: tuple[int, int, int, int], batch: int = 1
) -> torch.Tensor:
    x0, y0, x1, y1 = box
    mask = torch.zeros(batch, height, width)
    mask[:, y0:y1, x0:x1] = 1
    return mask


@pytest.mark.parametrize(
    "height, width, box",
    [(70, 130, (80, 10, 110, 40)), (200, 90, (5, 150, 40, 195)), (64, 64, (0, 0, 64, 64))],
)
def test_outside_feathered_mask_is_bit_identical(pipe, height, width, box):
    images = torch.rand(1, height, width, 3)
    masks = box_mask(height, width, box)
    out = inpaint(pipe, images, masks, "a cat", steps=2, feather_px=6, seed=1)
    assert out.images.shape == images.shape and out.images.dtype == torch.float32
    assert out.images.min() >= 0 and out.images.max() <= 1
    outside = feather_mask(masks, 6)[0] == 0
    assert torch.equal(out.images[0][outside], images[0][outside])
    inside = masks[0] == 1
    assert not torch.equal(out.images[0][inside], images[0][inside])


def test_same_seed_same_output_other_seed_differs(pipe):
    images = torch.rand(1, 48, 80, 3)
    masks = box_mask(48, 80, (20, 10, 50, 40))
    first = inpaint(pipe, images, masks, "a cat", steps=2, seed=7).images
    again = inpaint(pipe, images, masks, "a cat", steps=2, seed=7).images
    other = inpaint(pipe, images, masks, "a cat", steps=2, seed=8).images
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_batch_items_match_single_runs_and_empty_masks_pass_through(pipe):
    images = torch.rand(3, 40, 56, 3)
    masks = torch.zeros(3, 40, 56)
    masks[0, 5:20, 5:20] = 1
    masks[2, 20:38, 30:50] = 1
    result = inpaint(pipe, images, masks, "a dog", steps=2, seed=3)
    assert torch.equal(result.images[1], images[1])
    assert result.notes == ("image 2: empty mask, left unchanged",)
    # image b of a batch is sampled as it would be alone with seed + b
    assert image_seed(3, 2) == 5
    alone = inpaint(pipe, images[2:3], masks[2:3], "a dog", steps=2, seed=5).images
    assert torch.equal(result.images[2], alone[0])


def test_crop_is_processed_at_native_size_keeping_aspect(pipe):
    recorder = Recorder(pipe.pipe)
    spied = InpaintPipe(recorder, pipe.name, pipe.path, pipe.native_size, pipe.multiple)
    images = torch.rand(1, 300, 500, 3)
    # a 60x30 box padded by 0.5 x 60 on every side: a 120x90 window, processed at 64x48
    mask = box_mask(300, 500, (100, 100, 160, 130))
    inpaint(spied, images, mask, "a cat", steps=1, context=0.5, feather_px=0)
    call = recorder.calls[0]
    assert (call["width"], call["height"]) == (pipe.native_size, pipe.native_size * 3 // 4)
    assert tuple(call["image"].shape) == (1, 3, call["height"], call["width"])
    assert tuple(call["mask_image"].shape) == (1, 1, call["height"], call["width"])


def test_resolution_and_one_crop_per_area_reach_the_pipeline(pipe):
    recorder = Recorder(pipe.pipe)
    spied = InpaintPipe(recorder, pipe.name, pipe.path, pipe.native_size, pipe.multiple)
    images = torch.rand(1, 200, 300, 3)
    mask = box_mask(200, 300, (10, 10, 40, 40)) + box_mask(200, 300, (250, 150, 290, 190))
    out = inpaint(
        spied, images, mask, "a cat", steps=1, resolution=48, split="one per masked area"
    ).images
    assert [(call["width"], call["height"]) for call in recorder.calls] == [(48, 48), (48, 48)]
    outside = feather_mask(mask, 8) == 0
    assert torch.equal(out[outside], images[outside])


def test_progress_counts_steps_and_cancel_stops(pipe):
    seen = []
    images = torch.rand(2, 32, 32, 3)
    masks = box_mask(32, 32, (8, 8, 24, 24), batch=2)
    inpaint(pipe, images, masks, "a cat", steps=3, progress=lambda d, t: seen.append((d, t)))
    totals = {total for _, total in seen}
    assert len(totals) == 1 and seen[-1][0] == seen[-1][1] == totals.pop()
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)

    class Cancelled(Exception):
        pass

    def cancel(done, total):
        raise Cancelled

    with pytest.raises(Cancelled):
        inpaint(pipe, images, masks, "a cat", steps=3, progress=cancel)


IMAGES = torch.rand(1, 32, 48, 3)
MASKS = box_mask(32, 48, (4, 4, 20, 20))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"prompt": ""}, "^Inpaint: the prompt is empty. Fix:"),
        ({"prompt": "   "}, "^Inpaint: the prompt is empty. Fix: type what you mean"),
        ({"masks": torch.zeros(1, 64, 64)}, "the mask is 64x64 but the image is 48x32"),
        ({"images": IMAGES[..., :1]}, "grayscale"),
        ({"images": torch.rand(1, 32, 48, 4)}, "RGBA"),
        ({"steps": 2, "strength": 0.2}, "steps=2 with strength=0.2 leaves no denoising step"),
        ({"steps": 0}, "steps=0 with strength=1.0 leaves no denoising step"),
        ({"strength": 0.0}, "leaves no denoising step.*Fix: use at least 1 step"),
        ({"strength": 1.5}, "leaves no denoising step"),
        ({"cfg": -1.0}, "cfg is -1.0.*Fix: use a cfg of 0 or more"),
        ({"split": "each"}, "split is 'each'.*Fix: pick one of"),
        ({"resolution": 4}, "resolution is 4.*Fix: use at least 8"),
    ],
)
def test_user_errors_are_clear(pipe, changes, message):
    """Every bad input or setting is refused when the request is built, before any sampling."""
    recorder = Recorder(pipe.pipe)
    spied = InpaintPipe(recorder, pipe.name, pipe.path, pipe.native_size, pipe.multiple)
    arguments = {"images": IMAGES, "masks": MASKS, "prompt": "a cat", **changes}
    with pytest.raises(PinpointError, match=message), reported_as("Inpaint"):
        diffusers_edit(spied, **arguments)
    assert recorder.calls == []


def test_request_normalises_its_settings(pipe):
    request = diffusers_edit(pipe, IMAGES, MASKS[0], "  a cat ", split="one per masked area")
    (crop,) = request.crops
    assert request.layers[0].prompt == "a cat"
    assert request.split is Split.ONE_PER_AREA and crop.split is Split.ONE_PER_AREA
    assert crop.masks.shape == (1, 32, 48)
    assert (crop.resolution, crop.multiple) == (pipe.native_size, pipe.multiple)


@pytest.mark.parametrize("scheduler", Scheduler.values())
def test_each_scheduler_is_the_stock_pipeline_with_that_scheduler(pipe, scheduler, monkeypatch):
    """The route's pipeline call gives what diffusers' own pipeline built with the chosen
    scheduler gives for the same arguments; PNDM (the tiny pipeline's own) spends one UNet call
    more than the steps, the others one per step; the shared pipeline keeps its scheduler."""
    import diffusers

    import pinpoint.diffusers_sampler

    seen = {}

    def spy(loaded, choice):
        chosen = with_scheduler(loaded, choice)

        def call(**kwargs):
            result = chosen(**kwargs)
            seen.update(kwargs=kwargs, out=result.images, scheduler=chosen.scheduler)
            return result

        return call

    monkeypatch.setattr(pinpoint.diffusers_sampler, "with_scheduler", spy)
    images = torch.rand(1, 40, 56, 3, generator=torch.Generator().manual_seed(2))
    mask = box_mask(40, 56, (10, 8, 40, 30))
    calls = []
    hook = pipe.pipe.unet.register_forward_hook(lambda *_: calls.append(1))
    try:
        inpaint(pipe, images, mask, "a cat", steps=3, scheduler=scheduler)
    finally:
        hook.remove()
    assert len(calls) == (4 if scheduler == Scheduler.OWN else 3)
    assert type(pipe.pipe.scheduler) is diffusers.PNDMScheduler  # the loaded one, untouched
    sd_auto = Scheduler.DPM_SOLVER if scheduler == Scheduler.AUTO else scheduler  # SD: not flow
    expected_class = "PNDMScheduler" if scheduler == Scheduler.OWN else SCHEDULER_CLASSES[sd_auto]
    assert type(seen["scheduler"]).__name__ == expected_class
    chosen = type(seen["scheduler"]).from_config(pipe.pipe.scheduler.config)
    stock = diffusers.StableDiffusionInpaintPipeline(**pipe.pipe.components | {"scheduler": chosen})
    seeds = [torch.Generator().manual_seed(image_seed(0, 0))]
    expected = stock(**seen["kwargs"] | {"generator": seeds}).images
    assert torch.equal(seen["out"], expected)
