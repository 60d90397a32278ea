"""Edge matting: the trimap by construction, a tiny random ViTMatte through the real loader
changing the mask only inside the band, a rigged ViTMatte whose alpha is known used exactly
(by the matte and then by the stitch), and bad bands refused before the model runs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

from pinpoint.crop import CropRequest, crop_for_inpaint
from pinpoint.errors import PinpointError
from pinpoint.loading import load_model
from pinpoint.loading.kinds import MATTE
from pinpoint.loading.models import VitMatte
from pinpoint.masks import grow_mask
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
