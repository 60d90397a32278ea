"""Every diffusers family through the one loader and the one loop, with constructed answers.

Each family's tiny random pipeline (its real diffusers class, saved in diffusers layout) loads
through ``load_model(INPAINT, path)`` and edits through ``repaint``: pixels outside the
feathered mask stay bit-identical; crops are exact multiples of the family's step; a rigged
denoiser that makes the final latent a known block pattern and a rigged VAE decode that shows
that latent as pixels bring the pattern back at the same pixel coordinates (phase correlation
0, values equal); the family's own call arguments reach the pipeline; bad input is refused
before any model runs.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch
import torch.nn.functional as F
from rigs import Recorder
from routes import diffusers_edit, inpaint

from pinpoint.diffusers_families import BY_KEY, pack, unpack
from pinpoint.diffusers_sampler import DiffusersSampler, Scheduler
from pinpoint.errors import PinpointError
from pinpoint.loading import load_model
from pinpoint.loading.kinds import INPAINT
from pinpoint.masks import feather_mask
from pinpoint.repaint import repaint

FAMILY_MODELS = {
    # tiny model key: (family, native size, crop step)
    "inpaint": ("sd", 64, 8),
    "sdxl_inpaint": ("sdxl", 64, 8),
    "sd3_inpaint": ("sd3", 1024, 16),
    "flux_fill": ("flux-fill", 1024, 16),
    "flux_kontext": ("flux-kontext", 1024, 16),
    "chroma_inpaint": ("chroma", 1024, 16),
    "z_image_inpaint": ("z-image", 1024, 16),
    "qwen_image": ("qwen-image", 1024, 16),
    "qwen_image_edit": ("qwen-image-edit", 1024, 16),
}
RIGGED = [key for key in FAMILY_MODELS if key != "inpaint"]
"""The families whose own scheduler the rig can read (SD 1.5's own is PNDM)."""
HEIGHT, WIDTH = 96, 128


@pytest.fixture(scope="module", params=list(FAMILY_MODELS))
def family_pipe(request, tiny_models):
    return request.param, load_model(INPAINT, tiny_models[request.param])


def scene(height: int = HEIGHT, width: int = WIDTH) -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(1, height, width, 3, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(1, height, width)
    mask[0, 24:72, 32 : width - 32] = 1.0
    return image, mask


def spied(pipe) -> tuple[object, Recorder]:
    recorder = Recorder(pipe.pipe)
    return dataclasses.replace(pipe, pipe=recorder), recorder


def test_each_family_loads_as_its_pipeline_class(family_pipe):
    key, pipe = family_pipe
    family, native, step = FAMILY_MODELS[key]
    assert pipe.family == family
    assert type(pipe.pipe).__name__ == BY_KEY[family].pipeline
    assert (pipe.native_size, pipe.multiple) == (native, step)


def test_an_edit_keeps_every_pixel_outside_the_feathered_mask(family_pipe):
    key, pipe = family_pipe
    pipe, recorder = spied(pipe)
    image, mask = scene()
    out = inpaint(pipe, image, mask, "a red fox", steps=2, resolution=112, feather_px=6, seed=1)
    outside = feather_mask(mask, 6)[0] == 0
    assert torch.equal(out.images[0][outside], image[0][outside])
    assert not torch.equal(out.images[0][mask[0] == 1], image[0][mask[0] == 1])
    step = FAMILY_MODELS[key][2]
    (call,) = recorder.calls
    assert call["height"] % step == 0 and call["width"] % step == 0  # no trimming inside
    image = call["image"]  # Qwen-Image-Edit's: 8-bit pictures, whose size it reads
    sides = image[0].size[::-1] if isinstance(image, list) else tuple(image.shape[-2:])
    assert sides == (call["height"], call["width"])


def phase_shift(expected: torch.Tensor, got: torch.Tensor) -> tuple[int, int]:
    """The (rows, columns) ``got`` is displaced from ``expected`` by, by phase correlation
    (greyscale pictures ``[h, w]``)."""
    first = torch.fft.fft2(expected - expected.mean())
    second = torch.fft.fft2(got - got.mean())
    cross = second * first.conj()
    surface = torch.fft.ifft2(cross / cross.abs().clamp_min(1e-12)).real
    row, column = divmod(int(surface.argmax()), surface.shape[1])
    height, width = surface.shape
    return (row if row <= height // 2 else row - height), (
        column if column <= width // 2 else column - width
    )


PATTERN = torch.rand(3, 160, 160, generator=torch.Generator().manual_seed(7)) * 1.6 - 0.8
"""The painted latent pattern: values in [-0.8, 0.8] on latent cells (3 channels)."""


def model_latent(pipe, latent: torch.Tensor) -> torch.Tensor:
    """The pipeline's own latent of the VAE latent ``latent`` ``[1, C, h, w]``, written the
    way the stock pipeline encodes (scaling, shift) and packs (its own ``_pack_latents``)."""
    config, diffusers_pipe = pipe.pipe.vae.config, pipe.pipe
    if config.get("latents_mean"):  # Qwen-Image's VAE
        mean, std = (
            torch.tensor(config[name]).view(1, -1, 1, 1) for name in ("latents_mean", "latents_std")
        )
        scaled = (latent - mean) / std
    else:
        scaled = (latent - (config.get("shift_factor") or 0.0)) * config.scaling_factor
    if not BY_KEY[pipe.family].packed:
        return scaled
    batch, channels, height, width = scaled.shape
    return diffusers_pipe._pack_latents(scaled, batch, channels, height, width)


def rig(pipe, monkeypatch, height: int, width: int) -> dict:
    """Make the pipeline paint :data:`PATTERN`: its denoiser predicts, at every step, the output
    whose clean latent is the pattern's model latent (on the latent grid of a ``height x
    width`` crop, as the pipeline rounds it); its VAE decode shows a latent's first three
    channels as pixels, each over its cell."""
    diffusers_pipe = pipe.pipe
    scale, family = int(diffusers_pipe.vae_scale_factor), BY_KEY[pipe.family]
    channels = diffusers_pipe.vae.config.get("latent_channels") or diffusers_pipe.vae.config.z_dim
    seen = {}
    denoiser = getattr(diffusers_pipe, "unet", None) or diffusers_pipe.transformer

    def target(rows: int, columns: int) -> torch.Tensor:
        seen["grid"] = rows, columns
        latent = torch.zeros(1, channels, rows, columns)
        latent[:, :3] = PATTERN[:, :rows, :columns]
        return model_latent(pipe, latent)

    def forward(hidden_states, *args, **kwargs):
        scheduler = diffusers_pipe.scheduler
        index = scheduler.step_index
        sigma = float(scheduler.sigmas[index if index is not None else scheduler.begin_index or 0])
        if family.packed:  # tokens of 2x2 cells (Kontext's picture tokens after them)
            if "img_shapes" in kwargs:  # Qwen-Image says its grid of patches
                _, rows, columns = kwargs["img_shapes"][0][0]
                goal = target(2 * rows, 2 * columns)
            else:
                goal = target(2 * (height // (2 * scale)), 2 * (width // (2 * scale)))
            out = torch.zeros(hidden_states.shape[:2] + goal.shape[2:])
            x = hidden_states[:, : goal.shape[1], : goal.shape[2]]
            out[:, : goal.shape[1]] = (x - goal) / sigma  # a velocity
            return (out,)
        if isinstance(hidden_states, list):  # Z-Image: [C, 1, h, w] each, its output negated
            goal = target(*hidden_states[0].shape[2:])[0, :, None]
            return ([(goal - x[:channels]) / sigma for x in hidden_states],)
        goal = target(*hidden_states.shape[2:])
        x = hidden_states[:, :channels]
        if family.flow:
            return ((x - goal) / sigma,)
        return ((x * (sigma**2 + 1) ** 0.5 - goal) / sigma,)  # ε under Euler's input scaling

    def decode(latent, return_dict=True, **kwargs):
        pixels = latent[:, :3].repeat_interleave(scale, -1).repeat_interleave(scale, -2)
        return (pixels,) if not return_dict else type("Decoded", (), {"sample": pixels})()

    monkeypatch.setattr(denoiser, "forward", forward)
    monkeypatch.setattr(diffusers_pipe.vae, "decode", decode)
    return seen


def paint(
    pipe, monkeypatch, height: int, width: int, resolution: int = 0, **settings
) -> tuple[torch.Tensor, torch.Tensor]:
    """Edit :func:`scene` with the pipeline rigged to paint :data:`PATTERN` (:func:`rig`),
    the crop the whole picture (``resolution``: its longer side, the picture's width by
    default); return the stitched picture ``[H, W, 3]`` and the pattern as it should lie in it
    (a pipeline that samples another size, Qwen-Image-Edit's about 1 MP, has its picture
    stretched back to the crop: bicubic)."""
    seen = rig(pipe, monkeypatch, height, width)
    image, mask = scene(height, width)
    out = inpaint(
        pipe, image, mask, "a fox", steps=3, resolution=resolution or width, context=4.0,
        seed=2, **settings,
    )  # fmt: skip
    scale, (rows, columns) = int(pipe.pipe.vae_scale_factor), seen["grid"]
    cells = PATTERN[:, :rows, :columns] / 2 + 0.5
    expected = cells.repeat_interleave(scale, -1).repeat_interleave(scale, -2)
    if expected.shape[-2:] != (height, width):
        expected = F.interpolate(expected[None], size=(height, width), mode="bicubic")[0]
    return out.images[0], expected.clamp(0, 1).permute(1, 2, 0)


def painted(pipe, monkeypatch, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The stitched picture's and the expected pattern's middle of the mask (greyscale), as
    :func:`paint` gives them."""
    got, expected = paint(pipe, monkeypatch, height, width)
    inside = (slice(32, 64), slice(40, width - 40))  # the mask less a cell and a feather
    return got[inside].mean(-1), expected[inside].mean(-1)


@pytest.mark.parametrize("key", RIGGED)
def test_a_painted_pattern_comes_back_where_it_was_painted(key, tiny_models, monkeypatch):
    pipe = load_model(INPAINT, tiny_models[key])
    got, expected = painted(pipe, monkeypatch, HEIGHT, WIDTH)
    assert phase_shift(expected, got) == (0, 0)
    # up to a constant: diffusers 0.42's SD 3 inpainting decodes without the VAE's shift
    torch.testing.assert_close(got - got.mean(), expected - expected.mean(), atol=1e-4, rtol=0)


def test_a_picture_pasted_without_being_stretched_back_is_caught(tiny_models, monkeypatch):
    """The check can fail: with a crop step that forgets FLUX's 2x2 patches, a 424-pixel side
    is sampled at 416 (the pipeline resizes the crop); pasted at its own pixels instead of
    stretched back (what a trimming VAE encode does), the pattern lands up to 8 px off."""
    import pinpoint.diffusers_sampler

    def pasted(images, height, width):
        return F.pad(images, (0, width - images.shape[-1], 0, height - images.shape[-2]))

    monkeypatch.setattr(pinpoint.diffusers_sampler, "_to_crop", pasted)
    pipe = load_model(INPAINT, tiny_models["flux_fill"])
    forgetful = dataclasses.replace(pipe, multiple=8)
    got, expected = painted(forgetful, monkeypatch, HEIGHT, 424)
    assert phase_shift(expected, got) != (0, 0)
    assert (got - expected).abs().max() > 0.1


def test_packing_is_the_pipelines_own(tiny_models):
    pipe = load_model(INPAINT, tiny_models["flux_fill"]).pipe
    latent = torch.randn(2, 16, 6, 10)
    stock = type(pipe)._pack_latents(latent, 2, 16, 6, 10)
    assert torch.equal(pack(latent), stock)
    assert torch.equal(unpack(stock, 6, 10), latent)


def arguments_of(pipe, **settings) -> dict:
    pipe, recorder = spied(pipe)
    image, mask = scene()
    repaint(diffusers_edit(pipe, image, mask, "a fox", steps=1, resolution=64, **settings))
    return recorder.calls[0]


def test_each_family_gets_its_own_call_arguments(tiny_models):
    sdxl = arguments_of(load_model(INPAINT, tiny_models["sdxl_inpaint"]), negative_prompt="blur")
    assert sdxl["negative_prompt"] == ["blur"] and sdxl["guidance_scale"] == 7.5
    fill = load_model(INPAINT, tiny_models["flux_fill"])
    call = arguments_of(fill, cfg=3.0)
    assert "negative_prompt" not in call and "true_cfg_scale" not in call
    assert call["guidance_scale"] == 30.0  # FLUX.1 Fill's usual distilled guidance
    assert arguments_of(fill, distilled=12.0)["guidance_scale"] == 12.0
    image, mask = scene()
    (note,) = repaint(diffusers_edit(spied(fill)[0], image, mask, "a", steps=1, cfg=3.0)).notes
    assert note.startswith("cfg 3 is not used: FLUX.1 Fill has no classifier-free guidance")
    assert DiffusersSampler(fill).notes == ()  # no cfg given: nothing dropped
    kontext = load_model(INPAINT, tiny_models["flux_kontext"])
    call = arguments_of(kontext, cfg=4.0, negative_prompt="blur")
    assert (call["true_cfg_scale"], call["guidance_scale"]) == (4.0, 2.5)
    assert call["negative_prompt"] == ["blur"] and call["_auto_resize"] is False
    assert call["max_area"] == call["height"] * call["width"]  # the crop as it is
    qwen = arguments_of(
        load_model(INPAINT, tiny_models["qwen_image"]), cfg=4.0, negative_prompt="x"
    )
    assert (qwen["true_cfg_scale"], qwen["negative_prompt"]) == (4.0, ["x"])
    assert "guidance_scale" not in qwen  # not guidance-distilled
    usual = {"sdxl_inpaint": 7.5, "sd3_inpaint": 7.0, "qwen_image": 4.0, "z_image_inpaint": 5.0}
    for key, scale in usual.items():  # no cfg given: the family's usual (its pipeline's own)
        call = arguments_of(load_model(INPAINT, tiny_models[key]), negative_prompt="x")
        assert call.get("true_cfg_scale", call.get("guidance_scale")) == scale, key
    assert arguments_of(kontext)["true_cfg_scale"] == 1.0  # off: the distilled guidance steers
    for key in ("sd3_inpaint", "chroma_inpaint", "z_image_inpaint"):
        call = arguments_of(load_model(INPAINT, tiny_models[key]), cfg=4.0, negative_prompt="x")
        assert (call["guidance_scale"], call["negative_prompt"]) == (4.0, ["x"])
        assert "true_cfg_scale" not in call


def test_a_folder_of_an_unknown_family_is_refused(tiny_models, tmp_path):
    folder = shutil.copytree(tiny_models["flux_fill"], tmp_path / "flux-dev")
    index = json.loads((folder / "model_index.json").read_text())
    index["_class_name"] = "FluxPipeline"
    (folder / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(PinpointError, match="is a FluxPipeline; Pinpoint drives .*FLUX.1 Fill"):
        load_model(INPAINT, folder)


def test_settings_a_family_does_not_take_are_refused_before_sampling(tiny_models):
    pipe, recorder = spied(load_model(INPAINT, tiny_models["flux_fill"]))
    image, mask = scene()
    with pytest.raises(PinpointError, match="FLUX.1 Fill takes no negative prompt"):
        diffusers_edit(pipe, image, mask, "a fox", negative_prompt="blur")
    with pytest.raises(PinpointError, match="samples by flow matching.*pipeline's own"):
        diffusers_edit(pipe, image, mask, "a fox", scheduler="DDIM")
    assert DiffusersSampler(pipe, scheduler="auto").scheduler is Scheduler.OWN  # its flow Euler
    with pytest.raises(PinpointError, match="distilled guidance is -1"):
        diffusers_edit(pipe, image, mask, "a fox", distilled=-1.0)
    assert recorder.calls == []


def test_crops_take_the_sizes_kontext_and_qwen_image_edit_sample_at(tiny_models):
    """Kontext's crops take its training resolutions; Qwen-Image-Edit's the sizes its pipeline
    samples at as they are (diffusers' own sizing rule is the oracle), so neither is resized
    inside the pipeline; the other families take any aspect."""
    from diffusers.pipelines.flux.pipeline_flux_kontext_inpaint import (
        PREFERRED_KONTEXT_RESOLUTIONS,
    )
    from diffusers.pipelines.qwenimage.pipeline_qwenimage_edit_inpaint import (
        calculate_dimensions,
    )

    kontext = DiffusersSampler(load_model(INPAINT, tiny_models["flux_kontext"]))
    assert set(kontext.crop_sizes()) <= set(PREFERRED_KONTEXT_RESOLUTIONS)
    assert (1024, 1024) in kontext.crop_sizes()
    edit = DiffusersSampler(load_model(INPAINT, tiny_models["qwen_image_edit"]))
    sizes = edit.crop_sizes()
    assert len(sizes) > 20 and (1024, 1024) in sizes
    step = edit.multiple
    for width, height in sizes:
        w, h, _ = calculate_dimensions(1024 * 1024, width / height)
        assert (w // step * step, h // step * step) == (width, height)
    assert DiffusersSampler(load_model(INPAINT, tiny_models["flux_fill"])).crop_sizes() == ()
