"""The ComfyUI route on every image family ComfyUI loads, in-process: tiny SDXL, FLUX.1,
FLUX.1 Fill, FLUX.2, Qwen-Image and HiDream models made as ComfyUI makes them
(``family_models.py``), sampled by 'Inpaint Region · ComfyUI model', 'Edit by Text' and the
CLIP Guider; their conditionings are made by hand (the stock text encoders are gigabytes).

What each test proves is in its docstring. ComfyUI 0.3.64 has no FLUX.2 and reads the Wan VAE
only at full width, so those families are skipped there.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from node_calls import assert_house_error, clip_guidance, error_of, pack_module, run, ui_dict

INPAINT = "Inpaint Region · ComfyUI model (Pinpoint)"
CROP = "Crop for Inpaint (Pinpoint)"
GUIDER = "CLIP Guider (Pinpoint)"
NAMES = ("SDXL", "Flux", "FluxInpaint", "Flux2", "QwenImage", "HiDream")


def skip_reason(name: str) -> str:
    """Why this ComfyUI cannot run ``name``'s tiny family ("" when it can)."""
    import comfy.supported_models
    import comfyui_version

    if not hasattr(comfy.supported_models, name):
        return f"ComfyUI {comfyui_version.__version__} has no {name} models"
    old = tuple(int(part) for part in comfyui_version.__version__.split(".")[:2]) < (0, 4)
    if name == "QwenImage" and old:
        return (
            "ComfyUI 0.3.64 reads the Wan 2.1 VAE (Qwen-Image's) only at its full width "
            "(dim 96, about 127 M parameters): no tiny one loads"
        )
    return ""


@pytest.fixture(scope="module")
def families(comfyui, tmp_path_factory):
    """``families(name)``: the tiny family ``name`` (made once), skipping where it cannot load."""
    import family_models

    folder, made = tmp_path_factory.mktemp("families"), {}

    def get(name: str):
        reason = skip_reason(name)
        if reason:
            pytest.skip(reason)
        if name not in made:
            made[name] = family_models.make_family(name, folder)
        return made[name]

    return get


@pytest.fixture
def recorded(monkeypatch):
    """The pixels every VAE encodes and the pictures it decodes from now on (``[N, h, w, 3]``)."""
    import comfy.sd

    shapes: dict[str, list[tuple[int, int]]] = {"encoded": [], "decoded": []}
    encode, decode = comfy.sd.VAE.encode, comfy.sd.VAE.decode

    def encoding(vae, pixels, *args, **kwargs):
        shapes["encoded"].append(tuple(pixels.shape[1:3]))
        return encode(vae, pixels, *args, **kwargs)

    def decoding(vae, latent, *args, **kwargs):
        decoded = decode(vae, latent, *args, **kwargs)
        shapes["decoded"].append(tuple(decoded.shape[-3:-1]))
        return decoded

    monkeypatch.setattr(comfy.sd.VAE, "encode", encoding)
    monkeypatch.setattr(comfy.sd.VAE, "decode", decoding)
    return shapes


def inpaint_inputs(family, image, mask, **overrides) -> dict:
    settings = dict(
        seed=3, steps=2, cfg=1.0, sampler_name="euler", scheduler="normal", denoise=1.0,
        masked_start="auto", context=0.25, resolution=88, feather_px=4, split="one per image",
    )  # fmt: skip
    given = dict(
        model=family.model,
        vae=family.vae,
        positive=family.encode("a dog"),
        negative=family.encode(""),
        image=image,
        mask=mask,
    )
    return given | settings | overrides


def object_in(height: int = 72, width: int = 112) -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(1, height, width, 3, generator=torch.Generator().manual_seed(7))
    mask = torch.zeros(1, height, width)
    mask[:, 18:50, 30:78] = 1
    return image, mask


def outside(comfyui, mask: torch.Tensor, feather: int = 4) -> torch.Tensor:
    return pack_module(comfyui, "pinpoint.masks").feather_mask(mask, feather) == 0


# --- the table --------------------------------------------------------------------------------


def test_every_family_comfyui_loads_has_its_line_in_the_table(comfyui):
    """Each model config class of ``comfy.supported_models.models`` has a native size or a
    reason why it is refused (never both, never neither)."""
    import comfy.supported_models

    table = pack_module(comfyui, "nodes.comfy_families").FAMILIES
    missing = [cls.__name__ for cls in comfy.supported_models.models if cls.__name__ not in table]
    assert missing == []
    for cls in comfy.supported_models.models:
        family = table[cls.__name__]
        assert (family.native_size > 0) != bool(family.refused), cls.__name__


@pytest.fixture(scope="module")
def pack_family(comfyui):
    """A MODEL of a family another pack adds (a config class ComfyUI does not ship), built
    in code with the tiny SDXL UNet."""
    import comfy.latent_formats
    import comfy.supported_models_base
    import family_models

    class PackModel(comfy.supported_models_base.BASE):
        unet_config: dict = {}
        latent_format = comfy.latent_formats.SDXL

    return family_models.build_in_code(PackModel, family_models.IN_CODE["SDXL"])


def test_an_unknown_family_is_refused_and_its_size_asked_for(comfyui, pack_family, families):
    image, mask = object_in()
    crop = comfyui.node("PinpointCropForInpaint")
    settings = dict(context=0.25, feather_px=4, split="one per image", model=pack_family)
    message = error_of(crop, image=image, mask=mask, resolution=0, **settings)
    assert_house_error(message, CROP, "native size of PackModel models is not known", "resolution")
    crops = run(crop, image=image, mask=mask, resolution=64, **settings).result[0]
    assert crops.shape[1] % 8 == 0 and crops.shape[2] % 8 == 0  # its latent format's step
    sdxl = families("SDXL")
    inputs = inpaint_inputs(sdxl, image, mask, model=pack_family)
    message = error_of(comfyui.node("PinpointInpaintComfy"), **inputs)
    assert_house_error(message, INPAINT, "PackModel model, a family Pinpoint does not know")
    assert "Crop for Inpaint (resolution set)" in message


# --- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def nothing_samples(comfyui, monkeypatch):
    """Any sampling or model move fails the test."""
    import comfy.sample

    def refuse(*args, **kwargs):
        raise AssertionError("sampling started before the models were checked")

    monkeypatch.setattr(comfy.sample, "sample", refuse)
    monkeypatch.setattr(comfyui.mm, "load_models_gpu", refuse)


def test_a_video_model_or_a_vae_of_another_family_is_refused_before_sampling(
    comfyui, families, checkpoints, nothing_samples
):
    import family_models

    image, mask = object_in()
    node = comfyui.node("PinpointInpaintComfy")
    flux, sdxl = families("Flux"), families("SDXL")
    video = family_models.build_in_code("WAN21_T2V")
    message = error_of(node, **inpaint_inputs(flux, image, mask, model=video))
    assert_house_error(message, INPAINT, "WAN21_T2V, a video model", "connect an image model")
    cases = [
        (flux, sdxl.vae, "the VAE makes 4-channel 4-D latents but Flux models take 16-channel"),
        (sdxl, flux.vae, "the VAE makes 16-channel 4-D latents but SDXL models take 4-channel"),
        (
            sdxl,
            checkpoints[False][2],
            "TAESD of latents scaled 0.1821 but SDXL latents are scaled 0.1303",
        ),
    ]
    for family, vae, fragment in cases:
        message = error_of(node, **inpaint_inputs(family, image, mask, vae=vae))
        assert_house_error(message, INPAINT, fragment, "connect the VAE of the MODEL's family")
    if not skip_reason("QwenImage"):
        qwen = families("QwenImage")
        message = error_of(node, **inpaint_inputs(qwen, image, mask, vae=flux.vae))
        assert_house_error(message, INPAINT, "16-channel 4-D latents but QwenImage models take")
        message = error_of(node, **inpaint_inputs(flux, image, mask, vae=qwen.vae))
        assert_house_error(message, INPAINT, "16-channel 5-D latents but Flux models take")


# --- each family on the one-node route ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_one_node_keeps_the_outside_and_crops_at_the_familys_step(
    comfyui, families, recorded, name
):
    """Pixels outside the feathered mask are the input's; every crop the VAE sees has sides
    that are multiples of the family's latent step (no trim) and comes back at its size."""
    family = families(name)
    image, mask = object_in()
    node = comfyui.node("PinpointInpaintComfy")
    (edited,) = run(node, **inpaint_inputs(family, image, mask)).result
    assert edited.shape == image.shape and torch.isfinite(edited).all()
    keep = outside(comfyui, mask)
    assert torch.equal(edited[keep], image[keep])
    assert not torch.allclose(edited[mask > 0], image[mask > 0], atol=1e-3)
    assert recorded["encoded"], "the crop went through the VAE"
    for height, width in recorded["encoded"]:
        assert height % family.step == 0 and width % family.step == 0, (height, width)
    assert recorded["decoded"] == recorded["encoded"][-len(recorded["decoded"]) :]


def smooth_pattern(height: int, width: int, seed: int = 1) -> torch.Tensor:
    """``[1, H, W, 3]``: random colours interpolated smoothly from a 16 px grid."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.rand(1, 3, height // 16 + 3, width // 16 + 3, generator=generator)
    big = F.interpolate(grid, size=(height + 48, width + 48), mode="bicubic", align_corners=False)
    return big[:, :, 16 : 16 + height, 16 : 16 + width].clamp(0, 1).permute(0, 2, 3, 1)


def registration(moved: torch.Tensor, fixed: torch.Tensor, reach: int = 4) -> tuple[int, int]:
    """The shift ``(dy, dx)`` that lays ``fixed`` ``[H, W]`` onto ``moved`` best, by normalised
    cross-correlation within ``reach`` pixels (affine changes of brightness do not move it)."""
    height, width = moved.shape
    core = moved[reach : height - reach, reach : width - reach]
    core = (core - core.mean()) / core.std()
    scores = {}
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            part = fixed[reach - dy : height - reach - dy, reach - dx : width - reach - dx]
            scores[(dy, dx)] = float((core * (part - part.mean()) / part.std()).mean())
    return max(scores, key=scores.__getitem__)


INTERIOR = (64, 128, 64, 160)
"""Where the pattern tests measure (y0, y1, x0, x1): the masked area less 16 px, 32 px inside
the crop window (out of reach of the crop's borders through the tiny VAEs), centred on it."""


def quadrant_shifts(result: torch.Tensor, expected: torch.Tensor) -> list[tuple[int, int]]:
    """Registration of ``result`` on ``expected`` (``[1, H, W, 3]``) in the top-left and the
    bottom-right quarter of :data:`INTERIOR`: a stretched crop moves them apart."""
    y0, y1, x0, x1 = INTERIOR
    ym, xm = (y0 + y1) // 2, (x0 + x1) // 2
    moved, fixed = result[0].detach().mean(-1), expected[0].detach().mean(-1)
    return [
        registration(moved[rows, cols], fixed[rows, cols])
        for rows, cols in ((slice(y0, ym), slice(x0, xm)), (slice(ym, y1), slice(xm, x1)))
    ]


def pattern_case(family) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """A 176x224 pattern with a 96x128 masked area (not feathered) whose crop window (16 px of
    context) is 160x128 at (32, 32): multiples of 16, so the crop is the window unresized and
    its latent grid is the picture's. Returns the picture, the mask, the pattern as the
    family's VAE renders the whole picture (what lies in place), and the crop settings."""
    image = smooth_pattern(176, 224)
    mask = torch.zeros(1, 176, 224)
    mask[:, 32 + 16 : 32 + 112, 32 + 16 : 32 + 144] = 1
    expected = family.vae.decode(family.vae.encode(image)).reshape(1, 176, 224, 3)
    settings = dict(context=0.125, resolution=160, feather_px=0, split="one per image")
    return image, mask, expected, settings


@pytest.mark.parametrize("name", NAMES)
def test_a_pattern_painted_by_a_rigged_model_comes_back_in_place(comfyui, families, name):
    """The MODEL is rigged to predict, at every step, the VAE-encoded crop of a smooth pattern
    (the picture itself); what the one node stitches back lies on the pattern as the family's
    VAE renders it in place: 0 px by registration in two opposite quarters of the area."""
    family = families(name)
    image, mask, expected, settings = pattern_case(family)
    crop = comfyui.node("PinpointCropForInpaint")
    crops = run(crop, image=image, mask=mask, model=family.model, vae=family.vae, **settings)[0]
    assert tuple(crops.shape[1:3]) == (128, 160)
    target = family.model.model.process_latent_in(family.vae.encode(crops))
    rigged = family.model.clone()
    rigged.set_model_unet_function_wrapper(lambda apply, args: target.to(args["input"]))
    inputs = inpaint_inputs(family, image, mask, model=rigged, **settings)
    (result,) = run(comfyui.node("PinpointInpaintComfy"), **inputs).result
    assert quadrant_shifts(result, expected) == [(0, 0), (0, 0)]


def test_the_measure_sees_a_crop_trimmed_and_stretched_back(comfyui, families):
    """What the test above would see if a 16x VAE trimmed the crop (ComfyUI centre-crops
    sides that are not multiples of its step: 568 → 560 rows of a 1024x568 crop) and the
    result were stretched back to the crop: Crop → VAE Encode → VAE Decode → Stitch lies in
    place, the same with 4 px trimmed off each side and stretched back does not."""
    family = families("Flux2")
    assert tuple(family.vae.vae_encode_crop_pixels(torch.zeros(1, 568, 1024, 3)).shape) == (
        1, 560, 1024, 3,
    )  # fmt: skip
    image, mask, expected, settings = pattern_case(family)
    crop, stitch = comfyui.node("PinpointCropForInpaint"), comfyui.node("PinpointStitch")
    crops, _, plan = run(
        crop, image=image, mask=mask, model=family.model, vae=family.vae, **settings
    ).result
    (latent,) = comfyui.nodes.VAEEncode().encode(family.vae, crops)
    (decoded,) = comfyui.nodes.VAEDecode().decode(family.vae, latent)
    (in_place,) = run(stitch, stitch=plan, image=decoded).result
    assert quadrant_shifts(in_place, expected) == [(0, 0), (0, 0)]
    trimmed = decoded[:, 4:-4].permute(0, 3, 1, 2)
    stretched = F.interpolate(trimmed, size=tuple(decoded.shape[1:3]), mode="bicubic")
    (shifted,) = run(stitch, stitch=plan, image=stretched.permute(0, 2, 3, 1).clamp(0, 1)).result
    top, bottom = quadrant_shifts(shifted, expected)
    assert top[0] < 0 <= bottom[0]  # stretched about the crop's centre


# --- FLUX Fill, FLUX guidance ---------------------------------------------------------------------


def test_flux_fill_one_node_equals_the_stock_chain(comfyui, families):
    """Crop → FluxGuidance (30) → InpaintModelConditioning → KSampler (cfg 1) → VAE Decode →
    Stitch and the one node give the same pixels; the model sees the masked crop in its extra
    channels (before, it got zeros there)."""
    from comfy_extras.nodes_flux import FluxGuidance

    family = families("FluxInpaint")
    image, mask = object_in()
    inputs = inpaint_inputs(family, image, mask)
    seen = []
    watched = family.model.clone()

    def watch(apply, args):
        seen.append(args["c"]["c_concat"][:, :16].std())
        return apply(args["input"], args["timestep"], **args["c"])

    watched.set_model_unet_function_wrapper(watch)
    (one_node,) = run(comfyui.node("PinpointInpaintComfy"), **inputs | dict(model=watched)).result
    assert min(float(std) for std in seen) > 0.05
    crop, stitch = comfyui.node("PinpointCropForInpaint"), comfyui.node("PinpointStitch")
    settings = dict(context=0.25, resolution=88, feather_px=4, split="one per image")
    crops, areas, plan = run(
        crop, image=image, mask=mask, model=family.model, vae=family.vae, **settings
    ).result
    positive = run(FluxGuidance, conditioning=inputs["positive"], guidance=30.0)[0]
    stock = comfyui.nodes
    positive, negative, latent = stock.InpaintModelConditioning().encode(
        positive, inputs["negative"], crops, family.vae, areas, True
    )
    (sampled,) = stock.KSampler().sample(
        family.model, 3, 2, 1.0, "euler", "normal", positive, negative, latent, 1.0
    )
    (decoded,) = stock.VAEDecode().decode(family.vae, sampled)
    (stitched,) = run(stitch, stitch=plan, image=decoded).result
    assert torch.equal(one_node, stitched)


def guidance_seen(comfyui, family, **overrides) -> tuple[list[float], dict]:
    """The guidance values the MODEL receives in a one-node run, and the node's ui."""
    seen: list[float] = []
    watched = family.model.clone()

    def watch(apply, args):
        if "guidance" in args["c"]:
            seen.extend(float(value) for value in args["c"]["guidance"].flatten())
        return apply(args["input"], args["timestep"], **args["c"])

    watched.set_model_unet_function_wrapper(watch)
    image, mask = object_in()
    inputs = inpaint_inputs(family, image, mask, model=watched) | overrides
    output = run(comfyui.node("PinpointInpaintComfy"), **inputs)
    return seen, ui_dict(output) if output.ui else {}


def test_the_flux_guidance_value_reaches_the_model(comfyui, families):
    """flux_guidance 0 gives each guidance-distilled family its default (FLUX.1 3.5, FLUX
    Fill 30, FLUX.2 4) and keeps an upstream FluxGuidance's value; above 0 it is the value;
    a model without a guidance embedding gets none and the node says the setting is unused;
    cfg above 1 on a distilled model is pointed out."""
    from comfy_extras.nodes_flux import FluxGuidance

    defaults = {"Flux": 3.5, "FluxInpaint": 30.0, "Flux2": 4.0}
    for name, default in defaults.items():
        if skip_reason(name):
            continue
        family = families(name)
        seen, _ = guidance_seen(comfyui, family)
        assert set(seen) == {default}, name
        seen, _ = guidance_seen(comfyui, family, flux_guidance=2.5)
        assert set(seen) == {2.5}, name
    flux = families("Flux")
    upstream = run(FluxGuidance, conditioning=flux.encode("a dog"), guidance=5.0)[0]
    seen, _ = guidance_seen(comfyui, flux, positive=upstream)
    assert set(seen) == {5.0}
    seen, shown = guidance_seen(comfyui, flux, cfg=4.0)
    assert any("cfg is 4 on a guidance-distilled model" in line for line in shown["text"])
    seen, shown = guidance_seen(comfyui, families("SDXL"), flux_guidance=3.0)
    assert seen == []
    assert any("flux_guidance is 3 but this model reads no guidance" in t for t in shown["text"])


# --- Edit by Text ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def matcher(comfyui):
    from rigs import point_texts_at, solid

    loaded = run(
        comfyui.node("PinpointLoadCLIP"), model_name=comfyui.models["clip"].name, precision="auto"
    )[0]
    names = ("red", "green", "blue")
    return point_texts_at(loaded, {f"the {name} one": solid(name) for name in names})


@pytest.mark.parametrize("name", NAMES)
def test_edit_by_text_on_each_family(comfyui, families, matcher, recorded, name):
    """Three lines on one picture with the family's MODEL, VAE and (stand-in) CLIP: each
    square changes, the rest is the input's, crops at the family's step."""
    from test_edit_by_text import LINES, edit_inputs, three_squares

    family = families(name)
    image, regions, areas = three_squares(comfyui)
    checkpoint = (family.model, family.clip, family.vae)
    inputs = edit_inputs(checkpoint, matcher, image, "\n".join(LINES), regions=regions, cfg=1.0)
    edited = run(comfyui.node("PinpointEditByText"), **inputs).result[0]
    for area in areas.values():
        assert not torch.allclose(edited[0][area], image[0][area], atol=1e-3)
    rest = ~(areas["red"] | areas["green"] | areas["blue"])
    assert torch.equal(edited[0][rest], image[0][rest])
    for height, width in recorded["encoded"]:
        assert height % family.step == 0 and width % family.step == 0


# --- guiders on a flow model and on 5-D latents ---------------------------------------------------


@pytest.mark.parametrize("name", ["Flux", "QwenImage"])
def test_the_clip_guider_on_a_flow_model_and_on_5d_latents(comfyui, families, matcher, name):
    """The CLIP Guider on FLUX.1 (flow prediction) and Qwen-Image (5-D latents from the Wan
    VAE): scale 0 is the stock CFG guider to the bit; guided steps decode the 5-D prediction
    and change the crop; a decoder of another family is refused naming the family's TAESD."""
    import comfy.samplers

    family = families(name)
    image = smooth_pattern(64, 64)
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:48, 16:48] = 1
    inputs = dict(
        model=family.model, positive=family.encode("a fox"), negative=family.encode(""),
        cfg=1.0, vae=family.vae, clip=matcher, image=image, mask=mask, text="the red one",
        scale=0.0, start=0.0, end=1.0, every=1, region_weight=1.0, mse_weight=0.0,
        lpips_weight=0.0, cutouts=4,
    )  # fmt: skip
    node = comfyui.node("PinpointCLIPGuider")
    (plain,) = run(node, **inputs)
    (guided,) = run(node, **inputs | dict(scale=0.5))
    stock = comfy.samplers.CFGGuider(family.model)
    stock.set_conds(inputs["positive"], inputs["negative"])
    stock.set_cfg(1.0)
    results = [sample(family, guider, image) for guider in (plain, stock, guided)]
    assert torch.equal(results[0], results[1])
    assert torch.isfinite(results[2]).all() and not torch.equal(results[2], results[0])
    other = families("SDXL").vae if name == "Flux" else families("Flux").vae
    message = error_of(node, **inputs | dict(vae=other))
    hint = {"Flux": "taef1 (Load VAE", "QwenImage": "lighttaew2_1 (Load VAE"}[name]
    assert_house_error(message, GUIDER, "the guidance decoder", "another model family", hint)


def sample(family, guider, image: torch.Tensor, steps: int = 3) -> torch.Tensor:
    """What SamplerCustomAdvanced does with a guider: noise, euler, the simple schedule."""
    import comfy.sample
    import comfy.samplers

    with torch.inference_mode():  # as ComfyUI's executor runs every node
        latent = comfy.sample.fix_empty_latent_channels(family.model, family.vae.encode(image))
        noise = comfy.sample.prepare_noise(latent, 7)
        sampling = guider.model_patcher.get_model_object("model_sampling")
        sigmas = comfy.samplers.calculate_sigmas(sampling, "simple", steps).cpu()
        sampler = comfy.samplers.sampler_object("euler")
        out = guider.sample(noise, latent, sampler, sigmas, disable_pbar=True, seed=7)
        return family.vae.decode(out)


def test_one_node_clip_guidance_on_5d_latents(comfyui, families, matcher):
    """The one node with CLIP Guidance on Qwen-Image: the noise mask and the guided steps
    work on 5-D latents; scale 0 is the plain node to the bit, the outside never moves."""
    family = families("QwenImage")
    image, mask = object_in()
    node = comfyui.node("PinpointInpaintComfy")
    inputs = inpaint_inputs(family, image, mask, steps=3)
    (plain,) = run(node, **inputs).result
    (still,) = run(node, **inputs | dict(guidance=clip_guidance(comfyui, matcher, 0.0))).result
    assert torch.equal(still, plain)
    guidance = clip_guidance(comfyui, matcher, 0.5, text="the red one")
    (guided,) = run(node, **inputs | dict(guidance=guidance)).result
    keep = outside(comfyui, mask)
    assert torch.equal(guided[keep], image[keep]) and not torch.equal(guided, plain)
    wrong = clip_guidance(comfyui, matcher, 0.5, vae=families("Flux").vae)
    message = error_of(node, **inputs | dict(guidance=wrong))
    assert_house_error(
        message, INPAINT, "the guidance decoder makes 16-channel 4-D", "lighttaew2_1"
    )


def test_the_step_native_size_and_decoder_names_come_from_the_model(
    comfyui, families, tmp_path_factory
):
    """A family's native size, crop step and the TAESD Load VAE lists for it are read from the
    MODEL: FLUX.2's step is 16 with ComfyUI's taef2 (Load VAE), whose VAE reports 8."""
    import family_models

    table = pack_module(comfyui, "nodes.comfy_families")
    flux = families("Flux")
    assert table.crop_resolution(0, flux.model) == 1024
    assert table.crop_step(flux.model, flux.vae) == 16
    assert table.decoder_name(flux.model).startswith("taef1 ")
    assert table.crop_step(families("SDXL").model, families("SDXL").vae) == 8
    if not skip_reason("QwenImage"):
        qwen = families("QwenImage")
        assert table.crop_resolution(0, qwen.model) == 1328
        assert table.decoder_name(qwen.model).startswith("lighttaew2_1 ")
    if skip_reason("Flux2"):
        return
    flux2 = families("Flux2")
    folder = family_models.write_tae_files(tmp_path_factory.mktemp("vae_approx"), "taef2", 128)
    comfyui.folder_paths.add_model_folder_path("vae_approx", str(folder))
    (taef2,) = comfyui.nodes.VAELoader().load_vae("taef2")
    assert taef2.spacial_compression_encode() == 8  # what ComfyUI's VAE says
    assert table.crop_step(flux2.model, taef2) == 16
    table.check_vae(flux2.model, taef2)  # its own family's: accepted
    assert table.decoder_name(flux2.model).startswith("taef2 ")
