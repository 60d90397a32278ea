"""CLIP Guider and Style Guider in-process: the GUIDER each returns samples through ComfyUI's
own guider path (as SamplerCustomAdvanced calls it) with the tiny SD 1.5 checkpoint. Scale 0
is the stock CFG guider to the bit; with the Pinpoint CLIP's text rigged onto a red picture,
the guided crop comes out redder inside the mask than the unguided one (and bluer, restyled
towards a text rigged onto blue)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from node_calls import assert_house_error, encode, error_of, pack_module, run
from rigs import point_text_at, point_texts_at, solid

TITLE = "CLIP Guider (Pinpoint)"
SIZE = 64


@pytest.fixture(scope="module")
def clip(comfyui):
    clip_name = comfyui.models["clip"].name
    return run(comfyui.node("PinpointLoadCLIP"), model_name=clip_name, precision="auto")[0]


@pytest.fixture(scope="module")
def rigged(clip):
    return point_text_at(clip, solid("red"), "a red fox")


def crop_and_mask() -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.full((1, SIZE, SIZE, 3), 0.5)
    image[:, :, :, 2] = 0.6
    mask = torch.zeros(1, SIZE, SIZE)
    mask[:, 16:48, 16:48] = 1.0
    return image, mask


def guider_inputs(checkpoint, clip, image, mask, **overrides) -> dict:
    model, text_encoder, vae = checkpoint
    inputs = dict(
        model=model,
        positive=encode(text_encoder, "a fox"),
        negative=encode(text_encoder, ""),
        cfg=5.0,
        vae=vae,
        clip=clip,
        image=image,
        mask=mask,
        text="a red fox",
        scale=0.0,
        start=0.0,
        end=1.0,
        every=1,
        region_weight=1.0,
        mse_weight=0.0,
        lpips_weight=0.0,
        cutouts=4,
    )
    return inputs | overrides


def sample(comfyui, guider, vae, image: torch.Tensor, steps: int = 4) -> torch.Tensor:
    """What SamplerCustomAdvanced does with a guider: noise, euler, the normal schedule."""
    import comfy.sample
    import comfy.samplers

    with torch.inference_mode():  # as ComfyUI's executor runs every node
        latent = vae.encode(image)
        latent = comfy.sample.fix_empty_latent_channels(guider.model_patcher, latent)
        noise = comfy.sample.prepare_noise(latent, 7)
        sampling = guider.model_patcher.get_model_object("model_sampling")
        sigmas = comfy.samplers.calculate_sigmas(sampling, "normal", steps).cpu()
        sampler = comfy.samplers.sampler_object("euler")
        out = guider.sample(noise, latent, sampler, sigmas, disable_pbar=True, seed=7)
        return vae.decode(out)


def test_scale_zero_is_the_stock_cfg_guider(comfyui, checkpoints, rigged):
    import comfy.samplers

    checkpoint = checkpoints[False]
    image, mask = crop_and_mask()
    inputs = guider_inputs(checkpoint, rigged, image, mask)
    (guider,) = run(comfyui.node("PinpointCLIPGuider"), **inputs)
    stock = comfy.samplers.CFGGuider(checkpoint[0])
    stock.set_conds(inputs["positive"], inputs["negative"])
    stock.set_cfg(5.0)
    vae = checkpoint[2]
    assert torch.equal(sample(comfyui, guider, vae, image), sample(comfyui, stock, vae, image))


def test_the_rigged_text_pulls_the_masked_area_towards_its_picture(comfyui, checkpoints, rigged):
    checkpoint = checkpoints[False]
    image, mask = crop_and_mask()
    node = comfyui.node("PinpointCLIPGuider")
    (plain,) = run(node, **guider_inputs(checkpoint, rigged, image, mask))
    (guided,) = run(node, **guider_inputs(checkpoint, rigged, image, mask, scale=0.3))
    before = sample(comfyui, plain, checkpoint[2], image)
    after = sample(comfyui, guided, checkpoint[2], image)

    def redness(pixels):
        inside = pixels[:, 16:48, 16:48]
        return float(inside[..., 0].mean() - inside[..., 2].mean())

    assert redness(after) > redness(before) + 0.02


def test_bad_guidance_is_refused_before_sampling(comfyui, checkpoints, rigged):
    checkpoint = checkpoints[False]
    image, mask = crop_and_mask()
    node = comfyui.node("PinpointCLIPGuider")
    message = error_of(node, **guider_inputs(checkpoint, rigged, image, mask, lpips_weight=1000.0))
    assert_house_error(
        message, TITLE, "the background LPIPS weight is 1000.0 but no LPIPS network is connected"
    )
    message = error_of(node, **guider_inputs(checkpoint, rigged, image, torch.ones(1, 32, 32)))
    assert_house_error(message, TITLE, "the mask is 32x32 but the image is 64x64")
    message = error_of(node, **guider_inputs(checkpoint, rigged, image, mask, text=""))
    assert_house_error(message, TITLE, "the text is empty")


def test_cancel_stops_a_guided_step(comfyui, checkpoints, rigged):
    import comfy.model_management as mm

    checkpoint = checkpoints[False]
    image, mask = crop_and_mask()
    inputs = guider_inputs(checkpoint, rigged, image, mask, scale=0.3)
    (guider,) = run(comfyui.node("PinpointCLIPGuider"), **inputs)
    calls = []
    real = guider.guidance.step

    def cancel_then_step(latent, decode):
        calls.append(1)
        mm.interrupt_current_processing(True)  # the user presses Cancel mid-run
        return real(latent, decode)

    guider.guidance.step = cancel_then_step
    try:
        with pytest.raises(mm.InterruptProcessingException):
            sample(comfyui, guider, checkpoint[2], image, steps=4)
    finally:
        mm.interrupt_current_processing(False)
    assert len(calls) == 1  # the next guided step did not run


def test_the_style_guider_turns_the_image_along_the_text_direction(comfyui, checkpoints, clip):
    """ "a blue photo" is a blue picture's embedding, "a photo" a grey one's: restyling the
    whole image towards "a blue photo" makes it bluer than the stock guider does."""
    grey = np.full((32, 32, 3), 128, dtype=np.uint8)
    styled = point_texts_at(clip, {"a blue photo": solid("blue"), "a photo": grey})
    checkpoint = checkpoints[False]
    image, _ = crop_and_mask()
    node = comfyui.node("PinpointStyleGuider")
    model, text_encoder, vae = checkpoint
    inputs = dict(
        model=model,
        positive=encode(text_encoder, "a photo"),
        negative=encode(text_encoder, ""),
        cfg=5.0,
        vae=vae,
        clip=styled,
        image=image,
        text="a blue photo",
        source_text="a photo",
        scale=0.0,
        start=0.0,
        end=1.0,
        every=1,
        global_weight=1.0,
        patch_weight=1.0,
        patch_threshold=0.0,
        content_weight=0.0,
        tv_weight=0.0,
        cutouts=4,
    )
    (plain,) = run(node, **inputs)
    (guided,) = run(node, **inputs | dict(scale=0.3))
    before, after = sample(comfyui, plain, vae, image), sample(comfyui, guided, vae, image)
    guidance = pack_module(comfyui, "pinpoint.guidance")
    judge = guidance.Guidance(
        guided.guidance.target,
        guidance.GuidanceSettings(region_weight=0.0, mse_weight=0.0, global_weight=1.0),
    )  # the global directional loss alone: no random patches

    def distance(pixels):
        return float(judge.loss(pixels.permute(0, 3, 1, 2)))

    assert distance(after) < distance(before) - 0.01
