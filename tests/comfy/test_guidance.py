"""CLIP Guider and Style Guider in-process: the GUIDER each returns samples through ComfyUI's
own guider path (as SamplerCustomAdvanced calls it) with the tiny SD 1.5 checkpoint. Scale 0
is the stock CFG guider to the bit; with the Pinpoint CLIP's text rigged onto a red picture,
the guided crop comes out redder inside the mask than the unguided one (and bluer, restyled
towards a text rigged onto blue)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from node_calls import assert_house_error, clip_guidance, encode, error_of, pack_module, run
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
    fix = "type what you mean, e.g. 'a blue pickup truck'"
    assert message == f"{TITLE}: the text is empty. Fix: {fix}."  # one "the", not two


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
    settings = pack_module(comfyui, "pinpoint.guidance_settings").GuidanceSettings
    judge = guidance.Guidance(
        guided.guidance.target,
        settings(region_weight=0.0, mse_weight=0.0, global_weight=1.0),
    )  # the global directional loss alone: no random patches

    def distance(pixels):
        return float(judge.loss(pixels.permute(0, 3, 1, 2)))

    assert distance(after) < distance(before) - 0.01


# --- TAESD from models/vae_approx by name, and guidance on the diffusers route ------------------


@pytest.fixture(scope="module")
def taesd(comfyui, tmp_path_factory):
    """ComfyUI's stock 'Load VAE' with ``taesd``: random TAESD files in a ``vae_approx`` folder
    (the names ComfyUI lists), and the decoder file's path."""
    from pinpoint.tiny.taesd import build_tiny_taesd

    folder = tmp_path_factory.mktemp("vae_approx")
    _, decoder = build_tiny_taesd(folder)
    comfyui.folder_paths.add_model_folder_path("vae_approx", str(folder))
    loader = comfyui.nodes.VAELoader
    assert "taesd" in loader.INPUT_TYPES()["required"]["vae_name"][0]  # the Load VAE menu
    with torch.inference_mode():
        (vae,) = loader().load_vae("taesd")
    return vae, decoder


def test_a_taesd_from_vae_approx_decodes_as_pinpoints_own_reading_of_the_file(comfyui, taesd):
    """ComfyUI's TAESD and Pinpoint's (diffusers' tiny decoder over the same file, for the
    diffusers route) decode a latent alike: the file's layers are read in the same places."""
    vae, decoder = taesd
    ours = pack_module(comfyui, "pinpoint.loading.taesd").load_taesd(decoder)
    latent = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        theirs = vae.first_stage_model.decode(latent.to(vae.vae_dtype)).float()
        mine = ours.decode(latent * 0.18215).sample  # the diffusers route's scaled latents
    torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-4)


def test_the_clip_guider_decodes_its_steps_with_a_taesd_loaded_by_name(
    comfyui, checkpoints, rigged, taesd
):
    checkpoint = checkpoints[False]
    image, mask = crop_and_mask()
    vae = taesd[0]
    inputs = guider_inputs(checkpoint, rigged, image, mask, scale=0.3, vae=vae)
    (guider,) = run(comfyui.node("PinpointCLIPGuider"), **inputs)
    calls = []
    hook = vae.first_stage_model.taesd_decoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        guided = sample(comfyui, guider, checkpoint[2], image)
    finally:
        hook.remove()
    # each of the 4 steps decoded by the named TAESD (through the copy guidance makes of its
    # inference-mode weights on first use, which keeps the hook)
    assert len(calls) == 4
    (plain,) = run(comfyui.node("PinpointCLIPGuider"), **inputs | dict(scale=0.0))
    assert not torch.equal(guided, sample(comfyui, plain, checkpoint[2], image))


@pytest.fixture(scope="module")
def pipe(comfyui):
    node = comfyui.node("PinpointLoadInpaintPipeline")
    return run(node, model_name=comfyui.models["inpaint"].name, precision="auto")[0]


def test_clip_and_style_guidance_steer_the_diffusers_route(comfyui, pipe, rigged, taesd):
    """The diffusers inpaint node with CLIP Guidance: scale 0 is the plain node to the bit, the
    rigged text turns the area redder, the outside stays; Style Guidance runs the same way; a
    TAESD of SD's 8x latents is refused for the tiny pipeline's 2x ones."""
    node = comfyui.node("PinpointInpaintDiffusers")
    image, mask = crop_and_mask()
    inputs = dict(
        pipe=pipe, image=image, mask=mask, prompt="a fox", negative_prompt="", seed=3, steps=6,
        cfg=7.5, strength=1.0, context=0.5, resolution=0, feather_px=4,
        split="one per image", scheduler="DDIM",
    )  # fmt: skip
    with torch.inference_mode():  # as ComfyUI's executor runs every node
        (plain,) = run(node, **inputs).result
        off, on = clip_guidance(comfyui, rigged, 0.0), clip_guidance(comfyui, rigged, 0.5)
        (still,) = run(node, **inputs | dict(guidance=off)).result
        (guided,) = run(node, **inputs | dict(guidance=on)).result
    assert torch.equal(still, plain)
    outside = pack_module(comfyui, "pinpoint.masks").feather_mask(mask, 4) == 0
    assert torch.equal(guided[outside], image[outside])
    inside = (guided - plain)[:, 16:48, 16:48]
    assert float(inside[..., 0].mean() - inside[..., 2].mean()) > 0.01

    style = dict(
        clip=rigged, text="a red fox", source_text="a photo", scale=0.3, start=0.0, end=1.0,
        every=1, global_weight=1.0, patch_weight=0.0, patch_threshold=0.0, content_weight=0.0,
        tv_weight=0.0, cutouts=4,
    )  # fmt: skip
    with torch.inference_mode():
        (styled,) = run(comfyui.node("PinpointStyleGuidance"), **style)
        (restyled,) = run(node, **inputs | dict(guidance=styled, strength=0.6)).result
        (unstyled,) = run(node, **inputs | dict(strength=0.6)).result
    assert not torch.equal(restyled, unstyled)
    assert torch.equal(restyled[outside], image[outside])

    with_taesd = clip_guidance(comfyui, rigged, 0.3, vae=taesd[0])
    message = error_of(node, **inputs | dict(guidance=with_taesd))
    assert_house_error(message, "Inpaint Region · diffusers (Pinpoint)", "another model family")


def test_without_a_mask_the_diffusers_node_restyles_the_whole_image(comfyui, pipe, clip):
    node = comfyui.node("PinpointInpaintDiffusers")
    image, _ = crop_and_mask()
    style = dict(
        clip=clip, text="a watercolor painting", source_text="a photo", scale=0.3, start=0.0,
        end=1.0, every=1, global_weight=1.0, patch_weight=0.0, patch_threshold=0.0,
        content_weight=0.0, tv_weight=0.0, cutouts=4,
    )  # fmt: skip
    inputs = dict(
        pipe=pipe, image=image, prompt="a watercolor painting", negative_prompt="", seed=3,
        steps=5, cfg=7.5, strength=0.6, context=0.5, resolution=0, feather_px=4,
        split="one per image", scheduler="DDIM",
    )  # fmt: skip
    with torch.inference_mode():
        (styled,) = run(comfyui.node("PinpointStyleGuidance"), **style)
        (whole,) = run(node, **inputs | dict(guidance=styled)).result
        (masked,) = run(node, **inputs | dict(guidance=styled, mask=torch.ones(1, 64, 64))).result
    assert torch.equal(whole, masked)
    assert float((whole - image).abs().amax(dim=-1).gt(0).float().mean()) > 0.9
