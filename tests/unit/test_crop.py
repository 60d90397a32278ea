"""Crop ↔ stitch: the window geometry and bit-identity outside the blend mask."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pinpoint.crop import crop_image, crop_mask, plan_crop, resize_image, stitch
from pinpoint.masks import feather_mask


@st.composite
def image_and_mask(draw):
    height = draw(st.integers(8, 300))
    width = draw(st.integers(8, 300))
    x0 = draw(st.integers(0, width - 1))
    y0 = draw(st.integers(0, height - 1))
    x1 = draw(st.integers(x0 + 1, width))
    y1 = draw(st.integers(y0 + 1, height))
    seed = draw(st.integers(0, 1000))
    mask = torch.zeros(height, width)
    mask[y0:y1, x0:x1] = 1
    image = torch.rand(height, width, 3, generator=torch.Generator().manual_seed(seed))
    return image, mask


@settings(max_examples=60, deadline=None)
@given(
    data=image_and_mask(),
    context=st.floats(0, 2),
    native=st.sampled_from([64, 512, 1024]),
    feather=st.integers(0, 12),
)
def test_window_contains_mask_and_stitch_changes_only_blend_area(data, context, native, feather):
    image, mask = data
    blend = feather_mask(mask[None], feather)[0]
    window = plan_crop(blend, context, native, 8)
    assert window is not None
    height, width = mask.shape
    assert 0 <= window.x0 < window.x1 <= width and 0 <= window.y0 < window.y1 <= height
    nonzero = blend.nonzero()
    assert window.y0 <= nonzero[:, 0].min() and nonzero[:, 0].max() < window.y1
    assert window.x0 <= nonzero[:, 1].min() and nonzero[:, 1].max() < window.x1
    assert window.width % 8 == 0 and window.height % 8 == 0
    assert (
        max(window.width, window.height) in (native - 4, native, native + 4)
        or min(window.width, window.height) == 8
    )
    crop = crop_image(image, window)
    assert crop.shape == (window.height, window.width, 3)
    area = crop_mask(blend, window)
    assert area.shape == (window.height, window.width) and set(area.unique().tolist()) <= {0.0, 1.0}
    generated = torch.rand_like(crop)
    out = stitch(image, generated, window, blend)
    assert out.shape == image.shape and out.dtype == image.dtype
    outside = blend == 0
    assert torch.equal(out[outside], image[outside])
    full = blend == 1
    assert not torch.equal(out[full], image[full]) or not bool(full.any())


def test_aspect_ratio_is_kept():
    mask = torch.zeros(400, 1000)
    mask[100:300, 100:900] = 1
    window = plan_crop(mask, 0.0, 512, 8)
    assert (window.x1 - window.x0, window.y1 - window.y0) == (800, 200)
    assert (window.width, window.height) == (512, 128)


def test_small_object_in_large_image_is_processed_at_native_size():
    mask = torch.zeros(2048, 2048)
    mask[1000:1040, 700:760] = 1
    window = plan_crop(mask, 0.5, 512, 8)
    assert max(window.width, window.height) == 512
    assert window.x1 - window.x0 == 120 and window.y1 - window.y0 == 100


def test_identity_round_trip_when_no_resize_is_needed():
    image = torch.rand(64, 64, 3)
    mask = torch.zeros(64, 64)
    mask[8:56, 8:56] = 1
    window = plan_crop(mask, 1.0, 64, 8)
    assert (window.x0, window.y0, window.x1, window.y1, window.width, window.height) == (
        0,
        0,
        64,
        64,
        64,
        64,
    )
    crop = crop_image(image, window)
    assert torch.equal(crop, image)
    assert torch.equal(stitch(image, crop, window, mask), image)


def test_empty_mask_has_no_window():
    assert plan_crop(torch.zeros(10, 10), 0.5, 512) is None


def test_stitch_rejects_blend_outside_window():
    mask = torch.zeros(20, 20)
    mask[5:8, 5:8] = 1
    window = plan_crop(mask, 0.0, 64)
    other = torch.zeros(20, 20)
    other[15, 15] = 1
    try:
        stitch(torch.rand(20, 20, 3), torch.rand(window.height, window.width, 3), window, other)
    except ValueError as err:
        assert "outside the crop window" in str(err)
    else:
        raise AssertionError("stitch accepted a blend mask outside its window")


def test_resize_keeps_range():
    image = torch.rand(17, 23, 3)
    up = resize_image(image, 64, 80)
    down = resize_image(up, 17, 23)
    assert up.min() >= 0 and up.max() <= 1 and down.shape == image.shape
    assert (down - image).abs().mean() < 0.1
