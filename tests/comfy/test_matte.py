"""Matte Edges in-process: the tiny random ViTMatte through Load ViTMatte, its matte changing the
mask only inside the band, and a rigged alpha carried exactly through Crop for Inpaint (feather
0) and Stitch: the stitched image is ``source * (1 - a) + edit * a``, bit-identical where a = 0."""

from __future__ import annotations

import pytest
import torch
from node_calls import assert_house_error, error_of, pack_module, run, ui_dict

TITLE = "Matte Edges (Pinpoint)"
HEIGHT, WIDTH = 64, 80


@pytest.fixture(scope="module")
def vitmatte(comfyui):
    loader = comfyui.node("PinpointLoadMatte")
    return run(loader, model_name=comfyui.models["matte"].name, precision="auto").result[0]


def picture_and_mask() -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(1, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(1, HEIGHT, WIDTH)
    mask[:, 16:48, 20:60] = 1.0
    return image, mask


def test_the_matte_changes_the_mask_only_inside_the_band(comfyui, vitmatte):
    image, mask = picture_and_mask()
    output = run(
        comfyui.node("PinpointMatteEdges"), matte=vitmatte, image=image, mask=mask, band_px=4
    )
    out, preview = output.result
    band = pack_module(comfyui, "pinpoint.matte").trimap(mask, 4) == 128
    assert out.shape == mask.shape and out.device == comfyui.mm.intermediate_device()
    assert torch.equal(out[~band], mask[~band])
    assert not torch.isin(out[band], torch.tensor([0.0, 1.0])).any()
    assert preview.shape == image.shape and ui_dict(output)["images"]


def test_a_rigged_matte_is_the_stitch_blend_exactly(comfyui, vitmatte):
    image, mask = picture_and_mask()

    def red(module, args, kwargs, result):  # alpha = the red channel it was given
        result.alphas = (kwargs["pixel_values"][:, :1] + 1.0) / 2.0
        return result

    handle = vitmatte.model.register_forward_hook(red, with_kwargs=True)
    try:
        (alpha, _) = run(
            comfyui.node("PinpointMatteEdges"), matte=vitmatte, image=image, mask=mask, band_px=5
        ).result
    finally:
        handle.remove()
    band = pack_module(comfyui, "pinpoint.matte").trimap(mask, 5) == 128
    expected = (image[..., 0] * 255).round() / 255
    torch.testing.assert_close(alpha[band], expected[band], atol=1e-6, rtol=0)

    settings = dict(context=0.3, resolution=64, feather_px=0, split="one per image")
    crops, _, plan = run(
        comfyui.node("PinpointCropForInpaint"), image=image, mask=alpha, **settings
    ).result
    (stitched,) = run(
        comfyui.node("PinpointStitch"), stitch=plan, image=torch.full_like(crops, 0.75)
    ).result
    weight = alpha[..., None]
    torch.testing.assert_close(stitched, image * (1 - weight) + 0.75 * weight, atol=1e-6, rtol=0)
    assert torch.equal(stitched[alpha == 0], image[alpha == 0])


def test_a_band_larger_than_the_image_is_a_house_error(comfyui, vitmatte):
    image, mask = picture_and_mask()
    message = error_of(
        comfyui.node("PinpointMatteEdges"), matte=vitmatte, image=image, mask=mask, band_px=200
    )
    assert_house_error(
        message, TITLE, "band_px is 200", "under half the image's shorter side (64 px)"
    )


def test_edit_by_text_mattes_each_line_before_inpainting(comfyui, vitmatte, checkpoints):
    from test_edit_by_text import edit_inputs, matcher, three_squares  # noqa: F401

    image, regions, _ = three_squares(comfyui)
    loaded_clip = run(
        comfyui.node("PinpointLoadCLIP"), model_name=comfyui.models["clip"].name, precision="auto"
    )[0]
    inputs = edit_inputs(checkpoints[True], loaded_clip, image, "the red one => a fox")
    inputs |= dict(regions=regions, feather_px=0, matte=vitmatte, matte_band_px=3)
    edited, mask, _, _ = run(comfyui.node("PinpointEditByText"), **inputs).result
    hard = torch.zeros(1, 96, 96)
    hard[0, 12:36, 12:36] = 1.0  # the red square, the line's region
    band = pack_module(comfyui, "pinpoint.matte").trimap(hard, 3) == 128
    assert bool(band.any()) and not torch.isin(mask[band], torch.tensor([0.0, 1.0])).any()
    assert torch.equal(mask[~band], hard[~band])
    assert torch.equal(edited[mask == 0], image[mask == 0])
    message = error_of(comfyui.node("PinpointEditByText"), **(inputs | dict(matte_band_px=48)))
    assert_house_error(message, "Edit by Text (Pinpoint)", "band_px is 48")
