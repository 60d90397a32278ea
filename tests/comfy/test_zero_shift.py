"""No shift, no drift on the ComfyUI routes, proven per family (issue 19, point 5).

The rig, the same on every route and family: the MODEL's sampler post-CFG step makes every
step's clean prediction a known latent (the tiny diffusion model itself still runs, with its
patching and reference tokens, on conditionings made by hand as in ``family_models.py``:
the stock text encoders are gigabytes), and the VAE's own encoder and decoder (the modules
inside ComfyUI's VAE, which still trims pixels to its step, batches and scales as it does) are
swapped for exact ones: a latent cell is the mean of its pixels (first three channels), a
decoded pixel is its cell. The picture and an off-centre pattern painted over the masked area
are constant on 16 px cells aligned with the crop window, so the known latent is the painted
window's and a crop that comes back in place equals the painted picture. The crop resolution
asked is the window's side plus half a step: a crop rounded to a smaller step than the
family's is cut at that resolution instead, stretched, and trimmed by the VAE.

Each case proves: every crop the VAE encodes has sides that are multiples of the family's
latent step (by construction: VAE downscale x patch) and is not trimmed; the decoded crop comes
back at its size; the pattern lies where it was painted (0 px by phase correlation, values
equal); every pixel outside the mask is the input's (``torch.equal``). FLUX Fill's one node
equals the stock three-node chain to the bit in ``test_families.py``
(``test_flux_fill_one_node_equals_the_stock_chain``).
"""

from __future__ import annotations

import pytest
import torch
from node_calls import encode, pack_module, run
from rigs import pattern_shift
from test_families import families, recorded, skip_reason

FIXTURES = (families, recorded)
"""The fixtures of ``test_families.py`` these tests use (imported so pytest finds them)."""
STEPS = {
    "SD15": 8, "SD15 inpainting": 8, "SDXL": 8, "Flux": 16, "FluxInpaint": 16, "Flux2": 16,
    "QwenImage": 16, "HiDream": 16, "Omnigen2": 16, "SD3": 16, "FluxSchnell": 16,
    "Chroma": 16, "Lumina2": 16, "ZImage": 16, "AuraFlow": 16, "LongCatImage": 16,
}  # fmt: skip
"""The tiny families built here (SD 1.5's two checkpoints) and their latent steps, known by
construction: 8x VAEs, under 2x2 patches on every transformer but FLUX.2's, whose VAE is 16x
without patches."""
SAME_UNET = ("SD20", "SD21UnclipL", "SD21UnclipH", "SDXLRefiner", "SSD1B", "KOALA_700M")
SAME_UNET += ("KOALA_1B", "Segmind_Vega")
"""Families of SD's UNet at other widths and depths: their crop geometry (SD's 4-channel 8x
latents, no patches) is SD 1.5's and SDXL's, proven here (asserted below)."""
NOT_BUILT = {
    "no tiny model yet: ComfyUI detects it only at full width and no small config of its "
    "diffusion model class is written here": (
        *("HunyuanDiT", "HunyuanDiT1", "ChromaRadiance", "ZImagePixelSpace"),
        *("PixelDiTT2I", "Boogu", "MageFlow", "JoyImage", "Krea2", "Ideogram4", "Anima"),
        *("ErnieImage", "Kandinsky5Image", "CosmosT2IPredict2", "Lens", "HiDreamO1"),
    ),
    "its 32x VAE (HunyuanImage 2.1's, 64 channels) loads only at full width (1024 channels "
    "wide): no tiny one": ("HunyuanImage21",),
    "ComfyUI's PixArt position embedding divides by its base size, which rounds to 0 below "
    "32 latent cells (a 256 px crop): this scene's 96x160 crop is too small for it": (
        "PixArtAlpha",
        "PixArtSigma",
    ),
}
"""Families not proven here, by reason (a new family of the table joins this or :data:`STEPS`
before the table test passes)."""
EDITORS = ("Flux", "Flux2", "Omnigen2")
"""The reference-latent editors proven in instruct mode here (Qwen-Image-Edit, which
re-encodes the prompt with the crop, is proven in ``test_instruct.py``)."""

CELL, HEIGHT, WIDTH = 16, 192, 224
BOX = (48, 112, 64, 192)
"""The masked area (y0, y1, x0, x1): off-centre, 64x128."""
WINDOW = (32, 128, 48, 208)
"""Its crop window: the area with 16 px of context (``context`` 0.125 of its 128 px side)."""


def cells(seed: int, height: int, width: int) -> torch.Tensor:
    """``[1, height, width, 3]``: random colours in [0.1, 0.9] on :data:`CELL` px cells."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.rand(1, height // CELL, width // CELL, 3, generator=generator) * 0.8 + 0.1
    return grid.repeat_interleave(CELL, 1).repeat_interleave(CELL, 2)


def scene() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The picture ``[1, H, W, 3]``, the mask ``[1, H, W]`` and the picture with the pattern
    painted over the masked area."""
    picture = cells(1, HEIGHT, WIDTH)
    y0, y1, x0, x1 = BOX
    mask = torch.zeros(1, HEIGHT, WIDTH)
    mask[:, y0:y1, x0:x1] = 1
    painted = picture.clone()
    painted[:, y0:y1, x0:x1] = cells(2, y1 - y0, x1 - x0)
    return picture, mask, painted


def crop_settings(step: int) -> dict:
    """Crop settings whose crop is :data:`WINDOW` unresized at the family's ``step``."""
    side = WINDOW[3] - WINDOW[2]
    return dict(context=0.125, resolution=side + step // 2, feather_px=0, split="one per image")


def exact_vae(vae, monkeypatch) -> list[tuple[int, int]]:
    """Swap ``vae``'s encoder and decoder modules for exact ones (see the module docstring);
    return the pixel sizes the encoder receives (after ComfyUI's trimming)."""
    first, down = vae.first_stage_model, int(vae.spacial_compression_encode())
    channels, received = int(vae.latent_channels), []

    def encode_cells(pixels, **kwargs):
        *lead, height, width = pixels.shape
        received.append((height, width))
        mean = pixels.unflatten(-1, (width // down, down)).unflatten(-3, (height // down, down))
        latent = torch.zeros(lead[0], channels, *lead[2:], height // down, width // down)
        latent[:, :3] = mean.mean((-1, -3))
        return latent.to(pixels)

    def decode_cells(latent, output_buffer=None, **kwargs):
        pixels = latent[:, :3].repeat_interleave(down, -1).repeat_interleave(down, -2)
        return pixels if output_buffer is None else output_buffer.copy_(pixels)

    monkeypatch.setattr(first, "encode", encode_cells)
    monkeypatch.setattr(first, "decode", decode_cells)
    return received


def painting(model, vae, painted: torch.Tensor):
    """A clone of ``model`` whose every clean prediction is the latent of ``painted``'s crop
    window (through the exact VAE)."""
    y0, y1, x0, x1 = WINDOW
    target = model.model.process_latent_in(vae.encode(painted[:, y0:y1, x0:x1]))
    rigged = model.clone()

    def paint(args: dict) -> torch.Tensor:
        # on the grid sampled (top-left), so a crop of another size reaches the assertions
        denoised = args["denoised"]
        height = min(target.shape[-2], denoised.shape[-2])
        width = min(target.shape[-1], denoised.shape[-1])
        out = torch.zeros_like(denoised)
        out[..., :height, :width] = target[..., :height, :width].to(denoised)
        return out

    rigged.set_model_sampler_post_cfg_function(paint)
    return rigged


def assert_in_place(result, picture, mask, painted, step, recorded, received) -> None:
    """What every case proves (the module docstring); ``recorded``: the sizes ComfyUI's VAE
    was given and gave back, ``received``: those its encoder received."""
    crop = (WINDOW[1] - WINDOW[0], WINDOW[3] - WINDOW[2])
    assert crop[0] % step == 0 and crop[1] % step == 0
    sizes = (recorded["encoded"], received, recorded["decoded"])
    assert [set(seen) for seen in sizes] == [{crop}] * 3  # no trim, no resize
    y0, y1, x0, x1 = BOX
    area = (slice(None), slice(y0, y1), slice(x0, x1))
    assert pattern_shift(painted[area][0], result[area][0]) == (0, 0)
    torch.testing.assert_close(result, painted, atol=1e-4, rtol=0)
    outside = mask[0] == 0
    assert torch.equal(result[0][outside], picture[0][outside])


@pytest.fixture
def tiny(families, checkpoints, tmp_path_factory):
    """``tiny(name)``: the tiny family ``name`` of :data:`STEPS` (SD 1.5's from its
    checkpoints), skipping where this ComfyUI cannot load it."""
    import family_models
    import more_families

    def get(name: str):
        if name.startswith("SD15"):
            model, clip, vae = checkpoints[name.endswith("inpainting")]
            return family_models.TinyFamily("SD15", model, vae, 8, lambda text: encode(clip, text))
        if name not in more_families.MORE:
            return families(name)
        reason = skip_reason(name)
        if reason:
            pytest.skip(reason)
        return more_families.make_more(name, tmp_path_factory.mktemp(name), STEPS[name])

    return get


def test_every_family_that_repaints_is_proven_or_listed_with_its_reason(comfyui):
    """The cases walk the pack's family table: each family that can repaint is built here or
    listed with why not; SD's UNet families share SD 1.5's or SDXL's latent format; the
    reference-latent editors are those :data:`EDITORS` proves."""
    import comfy.latent_formats as formats
    import comfy.supported_models as supported

    table = pack_module(comfyui, "nodes.comfy_families")
    repaints = {name for name, family in table.FAMILIES.items() if not family.refused}
    built = {family_name(name) for name in STEPS}
    skipped = {name for names in NOT_BUILT.values() for name in names}
    assert sorted(built | set(SAME_UNET) | skipped) == sorted(repaints)
    assert not built & skipped and not built & set(SAME_UNET)
    for name in SAME_UNET:
        config = getattr(supported, name)
        assert config.latent_format in (formats.SD15, formats.SDXL), name
        assert "image_model" not in config.unet_config, name  # SD's UNet
    latent = {name for name, family in table.FAMILIES.items() if family.reference.name == "LATENT"}
    assert latent == set(EDITORS)


def family_name(name: str) -> str:
    """The table's key of a case of :data:`STEPS`."""
    return name.split()[0]


def node_inputs(family, model, picture, mask, step: int, **overrides) -> dict:
    """The inputs of 'Inpaint Region · ComfyUI model' for a case (two Euler steps, cfg 1)."""
    settings = dict(
        seed=3, steps=2, cfg=1.0, sampler_name="euler", scheduler="normal", denoise=1.0,
        masked_start="auto", **crop_settings(step),
    )  # fmt: skip
    given = dict(
        model=model, vae=family.vae, positive=family.encode("a dog"),
        negative=family.encode(""), image=picture, mask=mask,
    )  # fmt: skip
    return given | settings | overrides


@pytest.mark.parametrize("name", list(STEPS))
def test_one_node_paints_in_place(comfyui, tiny, recorded, monkeypatch, name):
    """'Inpaint Region · ComfyUI model' in inpaint mode (a noise mask, or mask channels for
    SD 1.5 inpainting and FLUX Fill)."""
    family, step = tiny(name), STEPS[name]
    received = exact_vae(family.vae, monkeypatch)
    picture, mask, painted = scene()
    model = painting(family.model, family.vae, painted)
    inputs = node_inputs(family, model, picture, mask, step)
    (result,) = run(comfyui.node("PinpointInpaintComfy"), **inputs).result
    assert_in_place(result, picture, mask, painted, step, recorded, received)


@pytest.mark.parametrize("name", EDITORS)
def test_instruct_mode_paints_in_place(comfyui, tiny, recorded, monkeypatch, name):
    """Instruct mode: at every step the model receives the crop as its reference latent (the
    VAE latent of the crop, as ReferenceLatent hands it on: OmniGen2's too); the pattern
    lies in place, and as the context comes back as it was, settling moves nothing and the
    blend does not grow past the mask."""
    family, step = tiny(name), STEPS[name]
    received = exact_vae(family.vae, monkeypatch)
    picture, mask, painted = scene()
    model, references = painting(family.model, family.vae, painted), []

    def watch(apply, args):
        references.append(list(args["c"].get("ref_latents", [])))
        return apply(args["input"], args["timestep"], **args["c"])

    model.set_model_unet_function_wrapper(watch)
    inputs = node_inputs(family, model, picture, mask, step, mode="instruct")
    (result,) = run(comfyui.node("PinpointInpaintComfy"), **inputs).result
    y0, y1, x0, x1 = WINDOW
    crop = family.model.model.process_latent_in(family.vae.encode(picture[:, y0:y1, x0:x1]))
    assert len(references) == inputs["steps"]
    for seen in references:
        assert len(seen) == 1 and torch.allclose(seen[0].to(crop), crop, atol=1e-5)
    assert_in_place(result, picture, mask, painted, step, recorded, received)


@pytest.mark.parametrize("name", ["SDXL", "Flux", "Flux2"])
def test_three_nodes_paint_in_place(comfyui, tiny, recorded, monkeypatch, name):
    """Crop for Inpaint (MODEL and VAE connected) → VAE Encode → Set Latent Noise Mask →
    KSampler → VAE Decode → Stitch, on an 8x VAE (SDXL), an 8x VAE under 2x2 patches
    (FLUX.1) and a 16x VAE (FLUX.2)."""
    family, step = tiny(name), STEPS[name]
    received = exact_vae(family.vae, monkeypatch)
    picture, mask, painted = scene()
    model = painting(family.model, family.vae, painted)
    crop, stitch = comfyui.node("PinpointCropForInpaint"), comfyui.node("PinpointStitch")
    crops, areas, plan = run(
        crop, image=picture, mask=mask, model=family.model, vae=family.vae, **crop_settings(step)
    ).result
    stock = comfyui.nodes
    (latent,) = stock.VAEEncode().encode(family.vae, crops)
    (latent,) = stock.SetLatentNoiseMask().set_mask(latent, areas)
    positive, negative = family.encode("a dog"), family.encode("")
    (sampled,) = stock.KSampler().sample(
        model, 3, 2, 1.0, "euler", "normal", positive, negative, latent, 1.0
    )
    (decoded,) = stock.VAEDecode().decode(family.vae, sampled)
    (result,) = run(stitch, stitch=plan, image=decoded).result
    assert_in_place(result, picture, mask, painted, step, recorded, received)
