"""Crop for Inpaint, Stitch and Inpaint Region · ComfyUI model in-process: ComfyUI imported on
CPU, the nodes called as its executor calls them, sampling with a tiny random SD 1.5 checkpoint
loaded through ComfyUI's own checkpoint loader."""

from __future__ import annotations

import pytest
import torch
from node_calls import (
    assert_house_error,
    clip_guidance,
    encode,
    error_of,
    pack_module,
    rank_edits_choice,
    rig_candidate,
    run,
    ui_dict,
)

CROP = "Crop for Inpaint (Pinpoint)"
STITCH = "Stitch (Pinpoint)"
INPAINT = "Inpaint Region · ComfyUI model (Pinpoint)"


@pytest.fixture(scope="module")
def crop_nodes(comfyui):
    return comfyui.node("PinpointCropForInpaint"), comfyui.node("PinpointStitch")


def crop_inputs(image, mask, **overrides) -> dict:
    settings = dict(context=0.5, resolution=64, feather_px=4, split="one per image")
    return dict(image=image, mask=mask) | settings | overrides


def two_objects(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(batch, 120, 200, 3, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(batch, 120, 200)
    mask[:, 10:30, 10:40] = 1
    mask[:, 80:110, 150:190] = 1
    return image, mask


def test_crop_then_stitch_changes_only_the_feathered_masks(comfyui, crop_nodes):
    crop, stitch = crop_nodes
    image, mask = two_objects()
    output = run(crop, **crop_inputs(image, mask, split="one per masked area"))
    crops, areas, plan = output.result
    assert crops.shape[0] == areas.shape[0] == 4  # two areas in each of two images
    assert crops.shape[1] % 8 == 0 and crops.shape[2] % 8 == 0 and max(crops.shape[1:3]) == 64
    assert crops.device == comfyui.mm.intermediate_device()
    assert ui_dict(output)["images"], "the crop windows are previewed on the node"
    (stitched,) = run(stitch, stitch=plan, image=1.0 - crops).result
    blend = pack_module(comfyui, "pinpoint.masks").feather_mask(mask, 4)
    outside = blend == 0
    assert torch.equal(stitched[outside], image[outside])
    assert not torch.equal(stitched[mask > 0], image[mask > 0])


def test_resolution_zero_reads_the_native_size_or_asks_for_the_model(comfyui, crop_nodes):
    crop, _ = crop_nodes
    image, mask = two_objects(1)
    message = error_of(crop, **crop_inputs(image, mask, resolution=0))
    assert_house_error(message, CROP, "no model is connected", "connect the MODEL")


def test_stitch_refuses_crops_from_elsewhere(crop_nodes):
    crop, stitch = crop_nodes
    _, mask = two_objects(1)
    rows, cols = torch.meshgrid(torch.linspace(0, 1, 120), torch.linspace(0, 1, 200), indexing="ij")
    image = torch.stack([0.3 + 0.4 * cols, 0.5 + 0.1 * rows, 0.6 - 0.3 * rows], dim=-1)[None]
    crops, _, plan = run(crop, **crop_inputs(image, mask)).result
    message = error_of(stitch, stitch=plan, image=torch.cat([crops, crops]))
    assert_house_error(message, STITCH, "2 sampled image(s) for 1 crop(s)")


def test_empty_masks_are_reported_on_the_node(crop_nodes):
    crop, stitch = crop_nodes
    image = torch.rand(1, 40, 40, 3)
    output = run(crop, **crop_inputs(image, torch.zeros(1, 40, 40)))
    assert any("every mask is empty" in line for line in ui_dict(output)["text"])
    crops, _, plan = output.result
    assert torch.equal(run(stitch, stitch=plan, image=crops).result[0], image)


def test_every_input_and_output_has_a_tooltip(comfyui):
    for node_id in ("PinpointCropForInpaint", "PinpointStitch", "PinpointInpaintComfy"):
        schema = comfyui.node(node_id).GET_SCHEMA()
        for item in [*schema.inputs, *schema.outputs]:
            assert item.tooltip, f"{node_id}.{item.id} has no tooltip"


# --- Inpaint Region · ComfyUI model, with a tiny SD 1.5 checkpoint ---------------------------


def inpaint_inputs(checkpoint, image, mask, **overrides) -> dict:
    model, clip, vae = checkpoint
    settings = dict(
        seed=3,
        steps=2,
        cfg=5.0,
        sampler_name="euler",
        scheduler="normal",
        denoise=1.0,
        masked_start="auto",
        context=0.5,
        resolution=64,
        feather_px=4,
        split="one per image",
    )
    return (
        dict(
            model=model,
            vae=vae,
            positive=encode(clip, "a dog"),
            negative=encode(clip, "blurry"),
            image=image,
            mask=mask,
        )
        | settings
        | overrides
    )


def object_in(batch: int, height: int = 72, width: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(7))
    mask = torch.zeros(batch, height, width)
    mask[:, 20:44, 30:60] = 1
    return image, mask


@pytest.mark.parametrize("inpainting", [True, False])
def test_one_node_inpaint_changes_only_the_feathered_mask(comfyui, checkpoints, inpainting):
    image, mask = object_in(2)
    node = comfyui.node("PinpointInpaintComfy")
    (edited,) = run(node, **inpaint_inputs(checkpoints[inpainting], image, mask)).result
    assert edited.shape == image.shape and edited.device == comfyui.mm.intermediate_device()
    outside = pack_module(comfyui, "pinpoint.masks").feather_mask(mask, 4) == 0
    assert torch.equal(edited[outside], image[outside])
    assert not torch.equal(edited[mask > 0], image[mask > 0])
    assert torch.isfinite(edited).all()


def test_one_node_equals_crop_stock_nodes_and_stitch(comfyui, checkpoints):
    """Crop → InpaintModelConditioning → KSampler → VAE Decode → Stitch (the shipped workflow)
    and the one node give the same pixels for one image: same crop, latents, noise and blend."""
    image, mask = object_in(1)
    inputs = inpaint_inputs(checkpoints[True], image, mask)
    (one_node,) = run(comfyui.node("PinpointInpaintComfy"), **inputs).result
    crop, stitch = comfyui.node("PinpointCropForInpaint"), comfyui.node("PinpointStitch")
    crops, areas, plan = run(crop, **crop_inputs(image, mask, resolution=64, feather_px=4)).result
    stock = comfyui.nodes
    positive, negative, latent = stock.InpaintModelConditioning().encode(
        inputs["positive"], inputs["negative"], crops, inputs["vae"], areas, True
    )
    (sampled,) = stock.KSampler().sample(
        inputs["model"], 3, 2, 5.0, "euler", "normal", positive, negative, latent, 1.0
    )
    (decoded,) = stock.VAEDecode().decode(inputs["vae"], sampled)
    (stitched,) = run(stitch, stitch=plan, image=decoded).result
    assert torch.equal(one_node, stitched)


def test_a_batch_with_several_areas_per_image_through_ksampler(comfyui, checkpoints):
    """Two images with two separate objects each: four crops sampled as one latent batch by
    the stock nodes, each pasted back into its own image and place."""
    image, mask = two_objects(2)
    model, clip, vae = checkpoints[False]
    settings = crop_inputs(image, mask, split="one per masked area", resolution=48)
    crops, areas, plan = run(comfyui.node("PinpointCropForInpaint"), **settings).result
    assert crops.shape[0] == 4
    stock = comfyui.nodes
    (latent,) = stock.VAEEncodeForInpaint().encode(vae, crops, areas, 6)
    positive, negative = encode(clip, "a dog"), encode(clip, "blurry")
    (sampled,) = stock.KSampler().sample(
        model, 1, 2, 5.0, "euler", "normal", positive, negative, latent, 1.0
    )
    (decoded,) = stock.VAEDecode().decode(vae, sampled)
    (stitched,) = run(comfyui.node("PinpointStitch"), stitch=plan, image=decoded).result
    outside = pack_module(comfyui, "pinpoint.masks").feather_mask(mask, 4) == 0
    assert torch.equal(stitched[outside], image[outside])
    for index in range(2):
        for rows, cols in ((slice(10, 30), slice(10, 40)), (slice(80, 110), slice(150, 190))):
            assert not torch.equal(stitched[index, rows, cols], image[index, rows, cols])


def test_one_node_result_does_not_depend_on_the_batch(comfyui, checkpoints):
    image, mask = object_in(2)
    node = comfyui.node("PinpointInpaintComfy")
    (both,) = run(node, **inpaint_inputs(checkpoints[False], image, mask)).result
    second = inpaint_inputs(checkpoints[False], image[1:], mask[1:], seed=4)
    (alone,) = run(node, **second).result
    assert torch.equal(both[1], alone[0])


def test_regular_checkpoint_starts_from_grey_or_the_original(comfyui, checkpoints):
    image, mask = object_in(1)
    node = comfyui.node("PinpointInpaintComfy")
    results = [
        run(
            node, **inpaint_inputs(checkpoints[False], image, mask, denoise=0.5, masked_start=s)
        ).result[0]
        for s in ("auto", "original pixels", "neutral grey")
    ]
    assert torch.equal(results[0], results[1])  # auto below denoise 1 keeps the original
    assert not torch.equal(results[1], results[2])


def test_progress_counts_every_crop_step_and_cancel_stops(comfyui, checkpoints, monkeypatch):
    calls = []

    def record(value, total, preview, node_id=None):
        calls.append((value, total))

    monkeypatch.setattr(comfyui.utils, "PROGRESS_BAR_HOOK", record)
    image, mask = object_in(2)
    node = comfyui.node("PinpointInpaintComfy")
    run(node, **inpaint_inputs(checkpoints[True], image, mask, steps=3))
    assert calls[-1] == (6, 6)  # two crops of three steps, one bar
    assert [value for value, _ in calls] == sorted(value for value, _ in calls)

    def press_cancel(value, total, preview, node_id=None):
        comfyui.mm.interrupt_current_processing(True)

    monkeypatch.setattr(comfyui.utils, "PROGRESS_BAR_HOOK", press_cancel)
    try:
        with pytest.raises(comfyui.mm.InterruptProcessingException):
            run(node, **inpaint_inputs(checkpoints[True], image, mask, steps=3))
    finally:
        comfyui.mm.interrupt_current_processing(False)


def test_native_size_comes_from_the_model(comfyui, checkpoints):
    crop_resolution = pack_module(comfyui, "nodes.comfy_sampler").crop_resolution
    model = checkpoints[True][0]
    assert crop_resolution(0, model) == 512  # SD 1.5
    assert crop_resolution(96, model) == 96
    image, mask = object_in(1)
    crops = run(
        comfyui.node("PinpointCropForInpaint"),
        **crop_inputs(image, mask, resolution=0, model=model),
    ).result[0]
    assert max(crops.shape[1:3]) == 512


def test_one_node_errors_name_the_node_and_say_how_to_fix(comfyui, checkpoints):
    image, mask = object_in(1)
    node = comfyui.node("PinpointInpaintComfy")
    checkpoint = checkpoints[True]
    wrong = [[torch.zeros(1, 77, 1024), {}]]  # an SD 2 text encoder's conditioning
    cases = [
        (dict(denoise=0.0), "denoise is 0"),
        (dict(sampler_name="warp"), "sampler_name is 'warp'"),
        (dict(positive=wrong, negative=wrong), "sampling failed"),
    ]
    for overrides, fragment in cases:
        message = error_of(node, **inpaint_inputs(checkpoint, image, mask, **overrides))
        assert_house_error(message, INPAINT, fragment)
    small_mask = inpaint_inputs(checkpoint, image, torch.zeros(1, 64, 64))
    assert_house_error(error_of(node, **small_mask), INPAINT, "the mask is 64x64 but the image")


def test_empty_masks_leave_the_images_unchanged_without_sampling(comfyui, checkpoints):
    image = torch.rand(1, 40, 40, 3)
    node = comfyui.node("PinpointInpaintComfy")
    output = run(node, **inpaint_inputs(checkpoints[True], image, torch.zeros(1, 40, 40)))
    assert torch.equal(output.result[0], image)
    assert "image 1: empty mask, left unchanged" in ui_dict(output)["text"]


def test_candidates_are_sampled_together_and_the_best_kept(comfyui, checkpoints):
    """candidates=3 samples the image with seeds seed, seed+1, seed+2 (as a batch of three
    copies would be) and keeps the one Rank Edits keeps; the text is rigged onto the third."""
    image, mask = object_in(1)
    node = comfyui.node("PinpointInpaintComfy")
    inputs = inpaint_inputs(checkpoints[True], image, mask)
    copies = dict(image=image.repeat(3, 1, 1, 1), mask=mask.repeat(3, 1, 1))
    (separately,) = run(node, **inputs | copies).result
    clip_name = comfyui.models["clip"].name
    clip = run(comfyui.node("PinpointLoadCLIP"), model_name=clip_name, precision="auto")[0]
    rigged = rig_candidate(comfyui, clip, separately, mask, "a red fox", 2)
    output = run(node, **inputs | dict(candidates=3, clip=rigged, text="a red fox"))
    (kept,) = output.result
    chosen = rank_edits_choice(comfyui, rigged, image, separately, mask, "a red fox")
    assert kept.shape == image.shape and torch.equal(kept[0], separately[chosen])
    assert any(f"candidate {chosen + 1} of 3 kept" in line for line in ui_dict(output)["text"])
    message = error_of(node, **inputs | dict(candidates=3))
    assert_house_error(message, INPAINT, "candidates is 3 but no CLIP is connected to rank them")
    message = error_of(node, **inputs | dict(candidates=3, clip=rigged, text=" "))
    assert_house_error(message, INPAINT, "text is empty")


def test_stitch_harmonises_the_seam_and_previews_before_and_after(comfyui, crop_nodes):
    crop, stitch = crop_nodes
    _, mask = two_objects(1)
    rows, cols = torch.meshgrid(torch.linspace(0, 1, 120), torch.linspace(0, 1, 200), indexing="ij")
    image = torch.stack([0.3 + 0.4 * cols, 0.5 + 0.1 * rows, 0.6 - 0.3 * rows], dim=-1)[None]
    crops, _, plan = run(crop, **crop_inputs(image, mask)).result
    shifted = (crops + torch.tensor([0.2, -0.1, 0.1])).clamp(0, 1)  # a sampler's colour drift
    (plain,) = run(stitch, stitch=plan, image=shifted).result
    output = run(stitch, stitch=plan, image=shifted, harmonise=1.0)
    (matched,) = output.result
    blend = pack_module(comfyui, "pinpoint.masks").feather_mask(mask, 4)
    edge, outside = (blend > 0) & (blend < 1), blend == 0
    assert torch.equal(matched[outside], image[outside])
    gap = (matched - image).abs()[edge].mean()
    assert gap < 0.1 * (plain - image).abs()[edge].mean()
    shown = ui_dict(output)["images"]
    assert len(shown) == 1  # one picture: before | after
    assert run(stitch, stitch=plan, image=shifted).ui is None  # no preview when off


def test_one_node_inpaint_harmonised_keeps_the_outside(comfyui, checkpoints):
    image, mask = object_in(1)
    node = comfyui.node("PinpointInpaintComfy")
    inputs = inpaint_inputs(checkpoints[True], image, mask)
    (plain,) = run(node, **inputs).result
    (off,) = run(node, **inputs | dict(harmonise=0.0)).result
    (matched,) = run(node, **inputs | dict(harmonise=1.0)).result
    assert torch.equal(plain, off)
    outside = pack_module(comfyui, "pinpoint.masks").feather_mask(mask, 4) == 0
    assert torch.equal(matched[outside], image[outside])
    assert not torch.equal(matched, plain)
    message = error_of(node, **inputs | dict(harmonise=2.0))
    assert_house_error(message, INPAINT, "harmonise is 2.0", "use 0 (off) to 1")


def test_one_node_inpaint_with_clip_guidance(comfyui, checkpoints):
    """Guidance at scale 0 is the plain node to the bit; with the Pinpoint CLIP's text rigged
    onto a red picture, the guided object comes out redder; the outside never moves."""
    from rigs import point_text_at, solid

    image, mask = object_in(1)
    image = torch.full_like(image, 0.5)
    node = comfyui.node("PinpointInpaintComfy")
    inputs = inpaint_inputs(checkpoints[False], image, mask, steps=4)
    (plain,) = run(node, **inputs).result
    clip_name = comfyui.models["clip"].name
    clip = run(comfyui.node("PinpointLoadCLIP"), model_name=clip_name, precision="auto")[0]
    rigged = point_text_at(clip, solid("red"), "a red fox")
    (still,) = run(node, **inputs | dict(guidance=clip_guidance(comfyui, rigged, 0.0))).result
    assert torch.equal(still, plain)
    (guided,) = run(node, **inputs | dict(guidance=clip_guidance(comfyui, rigged, 0.6))).result
    outside = pack_module(comfyui, "pinpoint.masks").feather_mask(mask, 4) == 0
    assert torch.equal(guided[outside], image[outside])

    def redness(pixels):
        inside = pixels.detach()[:, 20:44, 30:60]  # in-process nodes run with autograd on
        return float(inside[..., 0].mean() - inside[..., 2].mean())

    assert redness(guided) > redness(plain) + 0.02
