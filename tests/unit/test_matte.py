"""Edge matting: the trimap by construction, a tiny random ViTMatte through the real loader
changing the mask only inside the band, a rigged ViTMatte whose alpha is known used exactly
(by the matte and then by the stitch), bad bands refused before the model runs, and
``edit --matte`` end to end on the tiny models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

import pinpoint.pipeline
from pinpoint.cli import main
from pinpoint.crop import CropRequest, crop_for_inpaint
from pinpoint.errors import PinpointError
from pinpoint.images import load_image, save_image
from pinpoint.loading import load_model
from pinpoint.loading.kinds import MATTE
from pinpoint.loading.models import VitMatte
from pinpoint.masks import grow_mask, regions_to_mask
from pinpoint.matte import BACKGROUND, FOREGROUND_VALUE, UNKNOWN, MatteRequest, matte_edges, trimap
from pinpoint.stitch import stitch_crops

HEIGHT, WIDTH = 72, 90
Y0, Y1, X0, X1 = 20, 50, 25, 70


def square_mask(batch: int = 1) -> torch.Tensor:
    mask = torch.zeros(batch, HEIGHT, WIDTH)
    mask[:, Y0:Y1, X0:X1] = 1.0
    return mask


@pytest.fixture(scope="module")
def vitmatte(tiny_models) -> VitMatte:
    return load_model(MATTE, tiny_models["matte"])


@contextmanager
def red_alpha(model: VitMatte) -> Iterator[None]:
    """Rig ``model``'s answer: the alpha of every pixel is the red channel of the picture it was
    given (read back from the normalised input), so a window or padding put in the wrong place
    shows as a wrong value."""

    def answer(module, args, kwargs, output):
        output.alphas = (kwargs["pixel_values"][:, :1] + 1.0) / 2.0
        return output

    handle = model.model.register_forward_hook(answer, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


def test_trimap_regions_by_construction():
    band = 3
    tri = trimap(square_mask(), band)[0]
    inside = torch.zeros(HEIGHT, WIDTH, dtype=torch.bool)
    inside[Y0 + band : Y1 - band, X0 + band : X1 - band] = True
    assert torch.equal(tri == FOREGROUND_VALUE, inside)  # eroding a box shrinks it by the band
    near = grow_mask(square_mask(), band)[0] > 0.5
    assert torch.equal(tri == BACKGROUND, ~near)
    row = tri[(Y0 + Y1) // 2]  # across a straight edge the band is 2 * band wide on each side
    assert torch.equal(
        (row == UNKNOWN).nonzero().flatten(),
        torch.tensor([*range(X0 - band, X0 + band), *range(X1 - band, X1 + band)]),
    )
    assert set(tri.unique().tolist()) == {BACKGROUND, UNKNOWN, FOREGROUND_VALUE}


def test_tiny_vitmatte_changes_the_mask_only_inside_the_band(vitmatte):
    torch.manual_seed(0)
    images, masks = torch.rand(2, HEIGHT, WIDTH, 3), square_mask(2)
    masks[1] = 0.0  # a mask without an edge: nothing to matte
    calls = []
    out = matte_edges(
        MatteRequest(vitmatte, images, masks, band_px=4), lambda d, t: calls.append(d)
    )
    band = trimap(masks, 4) == UNKNOWN
    assert out.shape == masks.shape and out.dtype == torch.float32
    assert torch.equal(out[~band], masks[~band])  # exactly 1 inside, exactly 0 outside
    assert not band[1].any() and torch.equal(out[1], masks[1])
    inside_band = out[band]
    assert inside_band.min() >= 0 and inside_band.max() <= 1
    assert not torch.isin(inside_band, torch.tensor([0.0, 1.0])).any()  # ViTMatte's, not the mask's
    assert calls == [1, 2]


def test_a_rigged_alpha_is_used_exactly_by_the_matte_and_by_the_stitch(vitmatte):
    torch.manual_seed(1)
    source = torch.rand(1, HEIGHT, WIDTH, 3)
    with red_alpha(vitmatte):
        out = matte_edges(MatteRequest(vitmatte, source, square_mask(), band_px=5))
    tri = trimap(square_mask(), 5)[0]
    band = tri == UNKNOWN
    red = (source[0, ..., 0] * 255).round() / 255  # what the processor was given (uint8)
    torch.testing.assert_close(out[0][band], red[band], atol=1e-6, rtol=0)

    # the matte as the blend: feather 0 keeps it exact; the sampler paints one grey
    crops = crop_for_inpaint(CropRequest(source, out, resolution=64, feather_px=0, context=0.2))
    grey = torch.full_like(crops.images, 0.25)
    stitched = stitch_crops(crops.plan, grey)[0]
    alpha = out[0][..., None]
    torch.testing.assert_close(stitched, source[0] * (1 - alpha) + 0.25 * alpha, atol=1e-6, rtol=0)
    outside = out[0] == 0
    assert torch.equal(stitched[outside], source[0][outside])  # bit-identical
    assert torch.equal(stitched[tri == BACKGROUND], source[0][tri == BACKGROUND])


@pytest.mark.parametrize(
    ("band_px", "problem"),
    [
        (0, "band_px is 0 but the band must be at least 1 px"),
        (-3, "band_px is -3"),
        (36, "band_px is 36 but .* under half the image's shorter side \\(72 px\\)"),
        (500, "band_px is 500"),
    ],
)
def test_bad_bands_are_refused_before_the_model_runs(vitmatte, band_px, problem):
    def refuse(*args, **kwargs):
        raise AssertionError("the model ran before the band was checked")

    handle = vitmatte.model.register_forward_pre_hook(refuse)
    try:
        with pytest.raises(PinpointError, match=problem) as caught:
            matte_edges(
                MatteRequest(vitmatte, torch.rand(1, HEIGHT, WIDTH, 3), square_mask(), band_px)
            )
    finally:
        handle.remove()
    assert re.search(r"\. Fix: use a band_px from 1 to 35 for this image\.$", str(caught.value))


def test_the_largest_band_below_half_the_image_is_accepted(vitmatte):
    request = MatteRequest(vitmatte, torch.rand(1, HEIGHT, WIDTH, 3), square_mask(), band_px=35)
    assert request.band_px == 35 and request.masks.shape == (1, HEIGHT, WIDTH)


# --- the command line: --matte and --matte-band ----------------------------------------------


def scene(path) -> torch.Tensor:
    """A 96x128 grey picture with a bright disc (for the tiny detector's boxes), as read back."""
    image = 0.4 + 0.2 * torch.rand(1, 96, 128, 3, generator=torch.Generator().manual_seed(3))
    ys, xs = torch.meshgrid(torch.arange(96), torch.arange(128), indexing="ij")
    image[0][(ys - 40) ** 2 + (xs - 40) ** 2 < 18**2] = torch.tensor([0.9, 0.8, 0.2])
    save_image(image[0], path)
    return load_image(path)


def test_the_cli_mattes_each_edit_mask_before_inpainting(tmp_path, models_root, monkeypatch):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(models_root))
    real, calls = pinpoint.pipeline.edit, []

    def recording(*args, **kwargs):
        calls.append((real(*args, **kwargs), kwargs["route"], kwargs["matte"]))
        return calls[-1][0]

    monkeypatch.setattr(pinpoint.pipeline, "edit", recording)
    source = scene(tmp_path / "in.png")
    args = ["edit", "--tiny", "--image", str(tmp_path / "in.png"), "--out", str(tmp_path / "o.png")]
    args += ["--find", "the disc", "--prompt", "a moon", "--steps", "2", "--grow", "2"]
    assert (
        main([*args, "--feather", "0", "--matte", "tiny-random-vitmatte", "--matte-band", "3"]) == 0
    )
    ((result, route, vitmatte),) = calls
    assert isinstance(vitmatte, VitMatte) and route.matte_band_px == 3
    (outcome,) = result.edits
    hard = route.mask_ops(regions_to_mask(outcome.chosen), 2)
    expected = matte_edges(MatteRequest(vitmatte, source, hard, 3))
    assert torch.equal(outcome.mask, expected)
    band = trimap(hard, 3) == UNKNOWN
    assert bool(band.any()) and not torch.isin(outcome.mask[band], torch.tensor([0.0, 1.0])).any()
    outside = outcome.mask[0] == 0
    edited = load_image(tmp_path / "o.png")
    assert bool(outside.any()) and torch.equal(edited[0][outside], source[0][outside])


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (("--matte-band", "4"), "--matte-band is a setting of matting, which is off. Fix: add "
         "--matte vitmatte-small-composition-1k"),
        (("--matte", "x", "--matte-band", "36"), "pinpoint edit --matte-band: band_px is 36 but"),
        (("--matte", "x", "--matte-band", "0"), "band_px is 0 but"),
    ],
)  # fmt: skip
def test_bad_matte_options_are_refused_before_any_model_loads(
    options, fragment, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("PINPOINT_TINY_DIR", str(tmp_path / "never-built"))
    image = tmp_path / "in.png"
    save_image(torch.rand(72, 120, 3), image)
    args = ["edit", "--tiny", "--image", str(image), "--out", str(tmp_path / "o.png")]
    assert main([*args, "--find", "a", "--prompt", "b", *options]) == 2
    err = capsys.readouterr().err
    assert fragment in err, err
    assert not (tmp_path / "never-built").exists() and not (tmp_path / "o.png").exists()


def test_models_lists_the_matting_kind(models_root, capsys):
    assert main(["models", "--models-dir", str(models_root)]) == 0
    assert (
        "image matting model (ViTMatte) [--matte]: tiny-random-vitmatte" in capsys.readouterr().out
    )
