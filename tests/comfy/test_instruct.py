"""Instruction editing on the ComfyUI route (``mode`` instruct of 'Inpaint Region · ComfyUI
model' and 'Edit by Text'), in-process on tiny FLUX.1 (Kontext's config), FLUX.2, Qwen-Image
and HiDream models made as ComfyUI makes them (``family_models.py``; conditionings by hand, a
stand-in CLIP where a node encodes text: Qwen2.5-VL is gigabytes).

What each test proves is in its docstring. ComfyUI 0.3.64 has no FLUX.2 and reads the Wan VAE
only at full width, so those families are skipped there.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from node_calls import assert_house_error, error_of, pack_module, run, ui_dict
from test_families import (
    INPAINT,
    families,
    inpaint_inputs,
    matcher,
    nothing_samples,
    object_in,
    pattern_case,
)

FIXTURES = (families, matcher, nothing_samples)
"""The fixtures of ``test_families.py`` these tests use (imported so pytest finds them)."""
EDIT = "Edit by Text (Pinpoint)"


def crops_of(comfyui, family, image, mask, settings) -> torch.Tensor:
    """``[N, h, w, 3]``: the crops Crop for Inpaint cuts with the node's crop ``settings``."""
    crop = comfyui.node("PinpointCropForInpaint")
    keys = ("context", "resolution", "feather_px", "split")
    given = {key: settings[key] for key in keys}
    return run(crop, image=image, mask=mask, model=family.model, vae=family.vae, **given)[0]


def settle_ring(comfyui, mask: torch.Tensor, feather: int) -> torch.Tensor:
    """``[H, W]`` bool: where an instruction edit may change pixels (the feathered mask grown
    by the settle ring)."""
    masks = pack_module(comfyui, "pinpoint.masks")
    follow = pack_module(comfyui, "pinpoint.settle").EDITOR_SETTLE.follow_px
    return masks.grow_mask(masks.feather_mask(mask, feather), follow)[0] > 0


@pytest.mark.parametrize(
    ("name", "key"), [("Flux", "ref_latents"), ("Flux2", "ref_latents"), ("HiDream", "image_cond")]
)
def test_the_crop_reaches_the_model_as_its_reference_and_only_the_ring_changes(
    comfyui,
    families,
    name,
    key,
):
    """In instruct mode the diffusion model receives the VAE latent of the crop Crop for
    Inpaint cuts at every step: in ``ref_latents`` (FLUX.1 Kontext and FLUX.2, as
    ReferenceLatent hands it on) or as its input image ``image_cond`` (HiDream-E1, what
    ComfyUI's HiDream makes of InstructPixToPixConditioning's ``concat_latent_image``); no
    pixel outside the feathered mask grown by the settle ring moves. In inpaint mode it gets
    none."""
    family = families(name)
    image, mask = object_in()
    seen: list[list[torch.Tensor]] = []
    watched = family.model.clone()

    def watch(apply, args):
        given = args["c"].get(key)
        seen.append(list(given) if isinstance(given, list) else [] if given is None else [given])
        return apply(args["input"], args["timestep"], **args["c"])

    watched.set_model_unet_function_wrapper(watch)
    inputs = inpaint_inputs(family, image, mask, model=watched, mode="instruct", resolution=96)
    (edited,) = run(comfyui.node("PinpointInpaintComfy"), **inputs).result
    crops = crops_of(comfyui, family, image, mask, inputs)
    expected = family.model.model.process_latent_in(family.vae.encode(crops))
    assert len(seen) == inputs["steps"]
    for refs in seen:
        assert len(refs) == 1 and refs[0].shape == expected.shape
        assert torch.allclose(refs[0].to(expected), expected, atol=1e-5)
    keep = ~settle_ring(comfyui, mask, inputs["feather_px"])
    assert torch.equal(edited[0][keep], image[0][keep])
    assert not torch.allclose(edited[mask > 0], image[mask > 0], atol=1e-3)
    seen.clear()
    run(comfyui.node("PinpointInpaintComfy"), **inputs | dict(mode="inpaint"))
    assert seen and all(refs == [] for refs in seen)


def moved(crop: torch.Tensor, dx: float, dy: float, scale: float) -> torch.Tensor:
    """``crop`` ``[h, w, 3]`` as an editor returns it that shifts the picture by ``(dx, dy)``
    pixels (right, down) and zooms it ``scale`` times about its centre (edges repeated)."""
    height, width = crop.shape[:2]
    theta = torch.tensor(
        [[1 / scale, 0.0, -2 * dx / width / scale], [0.0, 1 / scale, -2 * dy / height / scale]]
    )
    grid = F.affine_grid(theta[None], [1, 3, height, width], align_corners=False)
    pixels = crop.permute(2, 0, 1)[None]
    out = F.grid_sample(pixels, grid, padding_mode="border", align_corners=False)
    return out[0].permute(1, 2, 0)


@pytest.mark.parametrize("name", ["Flux", "Flux2"])
def test_an_editor_that_shifts_and_zooms_comes_back_in_place_and_says_so(
    comfyui,
    families,
    monkeypatch,
    name,
):
    """The editor (the MODEL sampled as usual, its decoded crop rigged) paints a checkerboard
    on the object and returns the whole crop moved 6 px right, 4 px up and zoomed 1.03x, as
    instruction editors do. Inpaint mode pastes it moved; instruct mode measures the motion on
    the context, undoes it and says so on the node: the checkerboard lies where the crop put
    it (0 px by phase correlation), and nothing outside the settle ring moves.

    The rig is at the decoded pixels because the tiny VAEs blur and darken a crop's borders
    (their round trip alone measures as a 2 % zoom); the measure itself is tested on known
    motions in ``tests/unit/test_settle.py``."""
    import comfy.sd
    from rigs import checkerboard, pattern_shift

    family = families(name)
    image, mask, _, settings = pattern_case(family)
    settings = settings | dict(context=0.5, resolution=256)
    crop, stitch = comfyui.node("PinpointCropForInpaint"), comfyui.node("PinpointStitch")
    crops, areas, plan = run(
        crop, image=image, mask=mask, model=family.model, vae=family.vae, **settings
    ).result
    painted = crops[0].clone()
    inside = areas[0] > 0
    painted[inside] = checkerboard(*inside.shape)[inside]
    (in_place,) = run(stitch, stitch=plan, image=painted[None]).result
    decode = comfy.sd.VAE.decode

    def edited(vae, latent, *args, **kwargs):
        decode(vae, latent, *args, **kwargs)
        return moved(painted, 6.0, -4.0, 1.03)[None]

    monkeypatch.setattr(comfy.sd.VAE, "decode", edited)
    inputs = inpaint_inputs(family, image, mask, **settings)
    node = comfyui.node("PinpointInpaintComfy")
    box = (slice(56, 136), slice(56, 168))  # inside the object, away from its edge
    (loose,) = run(node, **inputs).result
    assert pattern_shift(in_place[0][box], loose[0][box]) != (0, 0)
    output = run(node, **inputs | dict(mode="instruct"))
    (settled,) = output.result
    assert pattern_shift(in_place[0][box], settled[0][box]) == (0, 0)
    (note,) = [line for line in ui_dict(output)["text"] if "the model shifted" in line]
    assert "6.0 px right and 4.0 px up, zoomed it 1.030x; undone" in note
    keep = ~settle_ring(comfyui, mask, settings["feather_px"])
    assert torch.equal(settled[0][keep], image[0][keep])


class Encoded(Exception):
    """Stops a run at its first VAE encode, with the pixels' ``[N, h, w, 3]`` shape."""


def test_instruct_mode_crops_at_kontexts_resolutions(
    comfyui,
    families,
    monkeypatch,
):
    """Resolution 0 in instruct mode on a FLUX.1 model (Kontext's config): the crop the VAE
    encodes is one of the resolutions ComfyUI's FluxKontextImageScale picks from (a wide one
    for a wide object; the run stops there, sampling 1 MP crops on a CPU takes minutes).
    Inpaint mode keeps any aspect. Qwen-Image-Edit's sizes are about one megapixel at the
    step."""
    import comfy.sd
    import comfy_extras.nodes_flux as flux

    def encode(vae, pixels, *args, **kwargs):
        raise Encoded(tuple(pixels.shape))

    monkeypatch.setattr(comfy.sd.VAE, "encode", encode)
    listed = getattr(flux, "PREFERRED_KONTEXT_RESOLUTIONS", None)
    listed = listed or flux.PREFERED_KONTEXT_RESOLUTIONS
    family = families("Flux")
    image, mask = object_in()
    node = comfyui.node("PinpointInpaintComfy")
    shapes = {}
    for mode in ("instruct", "inpaint"):
        inputs = inpaint_inputs(family, image, mask, mode=mode, resolution=0)
        with pytest.raises(Encoded) as stopped:
            run(node, **inputs)
        shapes[mode] = stopped.value.args[0][1:3]
    height, width = shapes["instruct"]
    assert (width, height) in listed and width > height
    assert shapes["inpaint"] not in {(h, w) for w, h in listed}
    sizes = pack_module(comfyui, "nodes.comfy_families").megapixel_sizes(16)
    assert all(w % 16 == h % 16 == 0 and abs(w * h / 2**20 - 1) < 0.1 for w, h in sizes)
    assert any(math.isclose(w / h, 1.0) for w, h in sizes)


@pytest.mark.parametrize("name", ["SDXL", "FluxInpaint"])
def test_instruct_mode_on_a_model_without_reference_inputs_is_refused_before_sampling(
    comfyui,
    families,
    matcher,
    nothing_samples,
    name,
):
    """SDXL and FLUX Fill take no reference image: instruct mode is refused by both nodes
    with the house error naming the instruction editors, before any model moves; an unknown
    mode is refused naming the two."""
    from test_edit_by_text import LINES, edit_inputs, three_squares

    family = families(name)
    image, mask = object_in()
    node = comfyui.node("PinpointInpaintComfy")
    message = error_of(node, **inpaint_inputs(family, image, mask, mode="instruct"))
    assert_house_error(
        message, INPAINT, f"mode is instruct but the MODEL is {name}", "FLUX.1 Kontext"
    )
    picture, regions, _ = three_squares(comfyui)
    checkpoint = (family.model, family.clip, family.vae)
    inputs = edit_inputs(checkpoint, matcher, picture, "\n".join(LINES), regions=regions)
    message = error_of(comfyui.node("PinpointEditByText"), **inputs | dict(mode="instruct"))
    assert_house_error(message, EDIT, "takes no reference image", "Qwen-Image-Edit")
    message = error_of(node, **inpaint_inputs(family, image, mask, mode="paint"))
    assert_house_error(message, INPAINT, "mode is 'paint'", "'inpaint', 'instruct'")


def test_qwen_image_edit_reencodes_each_lines_prompt_with_its_crop(
    comfyui,
    families,
    matcher,
):
    """Edit by Text in instruct mode on Qwen-Image: each line's prompt (and the negative) is
    encoded by ComfyUI's TextEncodeQwenImageEditPlus with that line's crop (the stand-in
    CLIP receives the crop, 384² in area, for its vision tower) and the model receives the
    crop's latent as its reference; outside the settle rings nothing moves. The one node
    with a ready conditioning hands the reference latent alone and says so."""
    from test_edit_by_text import LINES, edit_inputs, three_squares

    family = families("QwenImage")
    image, regions, areas = three_squares(comfyui)
    refs: list[int] = []
    watched = family.model.clone()

    def watch(apply, args):
        refs.append(len(args["c"].get("ref_latents", [])))
        return apply(args["input"], args["timestep"], **args["c"])

    watched.set_model_unet_function_wrapper(watch)
    clip = family.clip
    checkpoint = (watched, clip, family.vae)
    inputs = edit_inputs(checkpoint, matcher, image, "\n".join(LINES), regions=regions, cfg=1.0)
    inputs |= dict(mode="instruct", resolution=64)
    edited, edit_mask = run(comfyui.node("PinpointEditByText"), **inputs).result[:2]
    assert len(clip.images) == 2 * len(LINES)  # each line's prompt and its negative
    for seen in clip.images:
        assert seen.shape[-1] == 3 and abs(seen.shape[1] * seen.shape[2] - 384**2) < 384 * 8
    assert refs and set(refs) == {1}
    for area in areas.values():
        assert not torch.allclose(edited[0][area], image[0][area], atol=1e-3)
    keep = ~settle_ring(comfyui, edit_mask, inputs["feather_px"])
    assert torch.equal(edited[0][keep], image[0][keep])
    image, mask = object_in()
    output = run(
        comfyui.node("PinpointInpaintComfy"),
        **inpaint_inputs(family, image, mask, mode="instruct", resolution=64),
    )
    assert any("reference latent only" in line for line in ui_dict(output)["text"])


def test_hidream_e1_crops_are_768_square_and_a_model_without_input_image_is_refused(
    comfyui,
    families,
    monkeypatch,
):
    """Resolution 0 in instruct mode on HiDream: the crop the VAE encodes is 768x768,
    HiDream-E1-Full's size, for a wide object too (inpaint mode: 1024 on the long side, the
    object's aspect). A HiDream whose diffusion model reads no input image (ComfyUI's before
    HiDream-E1: no ``image_cond``) is refused with the house error before any encode."""
    import comfy.ldm.hidream.model as hidream
    import comfy.sd
    import family_models

    def encode(vae, pixels, *args, **kwargs):
        raise Encoded(tuple(pixels.shape))

    monkeypatch.setattr(comfy.sd.VAE, "encode", encode)
    family = families("HiDream")
    image, mask = object_in()
    node = comfyui.node("PinpointInpaintComfy")
    shapes = {}
    for mode in ("instruct", "inpaint"):
        with pytest.raises(Encoded) as stopped:
            run(node, **inpaint_inputs(family, image, mask, mode=mode, resolution=0))
        shapes[mode] = stopped.value.args[0][1:3]
    assert shapes["instruct"] == (768, 768)
    assert max(shapes["inpaint"]) == 1024 and shapes["inpaint"][0] != shapes["inpaint"][1]

    class BeforeE1(hidream.HiDreamImageTransformer2DModel):
        """HiDream's diffusion model as ComfyUI had it before HiDream-E1: no ``image_cond``."""

        def forward(self, x, t, y=None, context=None, encoder_hidden_states_llama3=None, **rest):
            return super().forward(x, t, y, context, encoder_hidden_states_llama3, **rest)

    older = family_models.build_in_code("HiDream")
    older.model.diffusion_model.__class__ = BeforeE1
    inputs = inpaint_inputs(family, image, mask, model=older, mode="instruct")
    message = error_of(node, **inputs)
    assert_house_error(message, INPAINT, "this HiDream MODEL takes no input image", "HiDream-E1")
    with pytest.raises(Encoded):  # it still inpaints
        run(node, **inputs | dict(mode="inpaint"))
