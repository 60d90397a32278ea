"""Crop ↔ stitch: window geometry, shared crop sizes, and bit-identity outside the blend masks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pinpoint.crop import (
    CropRequest,
    Split,
    crop_for_inpaint,
    cut,
    plan_crops,
    resize_image,
)
from pinpoint.errors import PinpointError, reported_as
from pinpoint.masks import feather_mask
from pinpoint.stitch import stitch_crops


@st.composite
def batch_with_masks(draw):
    batch = draw(st.integers(1, 3))
    height = draw(st.integers(8, 200))
    width = draw(st.integers(8, 200))
    masks = torch.zeros(batch, height, width)
    for index in range(batch):
        for _ in range(draw(st.integers(0, 3))):
            x0 = draw(st.integers(0, width - 1))
            y0 = draw(st.integers(0, height - 1))
            x1 = draw(st.integers(x0 + 1, min(width, x0 + 40)))
            y1 = draw(st.integers(y0 + 1, min(height, y0 + 40)))
            masks[index, y0:y1, x0:x1] = 1
    seed = draw(st.integers(0, 1000))
    images = torch.rand(batch, height, width, 3, generator=torch.Generator().manual_seed(seed))
    return images, masks


@settings(max_examples=60, deadline=None)
@given(
    data=batch_with_masks(),
    context=st.floats(0, 2),
    resolution=st.sampled_from([64, 96, 512]),
    feather=st.integers(0, 12),
    split=st.sampled_from(Split.values()),
    same_size=st.booleans(),
)
def test_crops_cover_the_blend_and_stitch_changes_nothing_else(
    data, context, resolution, feather, split, same_size
):
    images, masks = data
    blends = feather_mask(masks, feather)
    request = CropRequest(images, masks, context, resolution, feather, split, 8)
    plan = plan_crops(request, same_size)
    height, width = masks.shape[1:]
    covered = torch.zeros_like(blends)
    sizes = set()
    for piece in plan.pieces:
        assert 0 <= piece.x0 < piece.x1 <= width and 0 <= piece.y0 < piece.y1 <= height
        assert piece.width % 8 == 0 and piece.height % 8 == 0
        assert max(piece.width, piece.height) == resolution
        assert piece.left + piece.content_width <= piece.width
        assert piece.top + piece.content_height <= piece.height
        assert piece.blend.shape == (piece.y1 - piece.y0, piece.x1 - piece.x0)
        covered[piece.image_index, piece.y0 : piece.y1, piece.x0 : piece.x1] += piece.blend
        crop, area = cut(plan, piece)
        assert crop.shape == (piece.height, piece.width, 3)
        assert area.shape == (piece.height, piece.width)
        assert set(area.unique().tolist()) <= {0.0, 1.0}
        sizes.add((piece.width, piece.height))
    # every blended pixel is in some crop's blend, and only there
    assert torch.equal((covered > 0), (blends > 0))
    if same_size:
        assert len(sizes) <= 1
    for index in range(images.shape[0]):
        has_crop = any(piece.image_index == index for piece in plan.pieces)
        assert has_crop == bool(masks[index].any())
    sampled = [torch.rand(piece.height, piece.width, 3) for piece in plan.pieces]
    out = stitch_crops(plan, sampled)
    assert out.shape == images.shape and out.dtype == torch.float32
    outside = blends == 0
    assert torch.equal(out[outside], images[outside])


def test_aspect_ratio_is_kept_for_one_crop():
    mask = torch.zeros(1, 400, 1000)
    mask[0, 100:300, 100:900] = 1
    (piece,) = plan_crops(CropRequest(torch.rand(1, 400, 1000, 3), mask, 0.0, 512, 0)).pieces
    assert (piece.x1 - piece.x0, piece.y1 - piece.y0) == (800, 200)
    assert (piece.width, piece.height) == (512, 128)
    assert (piece.content_width, piece.content_height, piece.left, piece.top) == (512, 128, 0, 0)


def test_small_object_in_large_image_is_cropped_at_the_resolution():
    mask = torch.zeros(1, 2048, 2048)
    mask[0, 1000:1040, 700:760] = 1
    (piece,) = plan_crops(CropRequest(torch.rand(1, 2048, 2048, 3), mask, 0.5, 512, 0)).pieces
    assert max(piece.width, piece.height) == 512
    assert (piece.x1 - piece.x0, piece.y1 - piece.y0) == (120, 100)


def test_identity_round_trip_when_no_resize_is_needed():
    images = torch.rand(1, 64, 64, 3)
    mask = torch.zeros(1, 64, 64)
    mask[0, 8:56, 8:56] = 1
    crops = crop_for_inpaint(CropRequest(images, mask, context=1.0, resolution=64, feather_px=0))
    assert torch.equal(crops.images, images)
    assert torch.equal(crops.masks, mask)
    assert torch.equal(stitch_crops(crops.plan, crops.images), images)


def test_a_batch_shares_one_crop_size_widening_windows_with_context():
    images = torch.rand(2, 200, 300, 3)
    masks = torch.zeros(2, 200, 300)
    masks[0, 50:150, 100:120] = 1  # tall: 20x100
    masks[1, 90:110, 100:200] = 1  # wide: 100x20
    crops = crop_for_inpaint(CropRequest(images, masks, context=0.0, resolution=128, feather_px=0))
    assert crops.images.shape[0] == 2 and crops.images.shape[1:3] == crops.masks.shape[1:]
    tall, wide = crops.plan.pieces
    # the shared aspect is the geometric mean of 0.2 and 5: square
    assert (tall.width, tall.height) == (wide.width, wide.height) == (128, 128)
    assert tall.y1 - tall.y0 == 100 and tall.x1 - tall.x0 == 100  # widened around the object
    assert tall.x0 <= 100 and 120 <= tall.x1
    assert (wide.x1 - wide.x0, wide.y1 - wide.y0) == (100, 100)
    assert wide.y0 <= 90 and 110 <= wide.y1
    assert tall.left == tall.top == wide.left == wide.top == 0
    assert all(float(area.sum()) > 0 for area in crops.masks)


def test_windows_the_image_cannot_widen_are_padded_and_padding_is_never_pasted():
    images = torch.rand(2, 40, 400, 3)
    masks = torch.zeros(2, 40, 400)
    masks[0, 5:35, 10:40] = 1  # square 30x30
    masks[1, 5:35, 20:380] = 1  # 360x30, too wide for a square crop of a 40-row image
    crops = crop_for_inpaint(CropRequest(images, masks, context=0.0, resolution=64, feather_px=0))
    square, wide = crops.plan.pieces
    assert (wide.y0, wide.y1) == (0, 40)  # heightened as far as the image allows
    assert wide.top > 0 and wide.content_height < wide.height
    crop, area = cut(crops.plan, wide)
    assert torch.equal(area[: wide.top], torch.zeros_like(area[: wide.top]))
    # the padding repeats the content's first row
    assert torch.equal(crop[0], crop[wide.top])
    assert torch.equal(crops.images[1], crop)
    out = stitch_crops(crops.plan, torch.rand_like(crops.images))
    outside = masks == 0
    assert torch.equal(out[outside], images[outside])
    assert not torch.equal(out[1][masks[1] > 0], images[1][masks[1] > 0])


def test_one_crop_per_masked_area_cuts_far_apart_objects_separately():
    images = torch.rand(1, 300, 300, 3)
    mask = torch.zeros(1, 300, 300)
    mask[0, 10:30, 10:30] = 1
    mask[0, 250:290, 240:280] = 1
    together = plan_crops(CropRequest(images, mask, 0.25, 64, 4, Split.ONE_PER_IMAGE)).pieces
    apart = plan_crops(CropRequest(images, mask, 0.25, 64, 4, Split.ONE_PER_AREA)).pieces
    assert len(together) == 1 and len(apart) == 2
    assert all((p.x1 - p.x0) * (p.y1 - p.y0) < 100 * 100 for p in apart)
    assert {p.image_index for p in apart} == {0}


def test_empty_masks_give_one_whole_image_crop_that_changes_nothing():
    images = torch.rand(2, 30, 50, 3)
    crops = crop_for_inpaint(CropRequest(images, torch.zeros(2, 30, 50), resolution=64))
    assert crops.images.shape == (1, 40, 64, 3)
    assert float(crops.masks.sum()) == 0
    assert any("every mask is empty" in note for note in crops.plan.notes)
    assert torch.equal(stitch_crops(crops.plan, torch.rand(1, 40, 64, 3)), images)


def test_an_image_without_mask_is_left_unchanged_and_noted():
    images = torch.rand(2, 32, 32, 3)
    masks = torch.zeros(2, 32, 32)
    masks[1, 8:24, 8:24] = 1
    crops = crop_for_inpaint(CropRequest(images, masks, resolution=32))
    assert [piece.image_index for piece in crops.plan.pieces] == [1]
    assert crops.plan.notes == ("image 1: empty mask, left unchanged",)
    out = stitch_crops(crops.plan, torch.rand_like(crops.images))
    assert torch.equal(out[0], images[0])


def test_one_mask_serves_the_whole_batch():
    images = torch.rand(3, 32, 48, 3)
    mask = torch.zeros(32, 48)
    mask[4:20, 10:30] = 1
    crops = crop_for_inpaint(CropRequest(images, mask, resolution=32))
    assert [piece.image_index for piece in crops.plan.pieces] == [0, 1, 2]


def test_stitch_accepts_resized_crops_and_refuses_other_counts_and_shapes():
    images = torch.rand(1, 64, 64, 3)
    mask = torch.zeros(1, 64, 64)
    mask[0, 16:48, 20:40] = 1
    crops = crop_for_inpaint(CropRequest(images, mask, resolution=64, feather_px=2))
    _, height, width, _ = crops.images.shape
    bigger = resize_image(crops.images[0], height * 2, width * 2)[None]
    assert stitch_crops(crops.plan, bigger).shape == images.shape
    with pytest.raises(PinpointError, match=r"got 2 sampled image\(s\) for 1 crop\(s\)"):
        stitch_crops(crops.plan, torch.cat([crops.images, crops.images]))
    with pytest.raises(PinpointError, match="Stitch .*but the crop was.*Fix: "):
        with reported_as("Stitch (Pinpoint)"):
            stitch_crops(crops.plan, torch.rand(1, height, width * 2, 3))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"split": "each"}, "split is 'each'.*Fix: pick one of 'one per image', 'one per"),
        ({"resolution": 4}, "resolution is 4.*Fix: use at least 8"),
        ({"resolution": 56, "multiple": 64}, "resolution is 56.*Fix: use at least 64"),
        ({"masks": torch.ones(1, 8, 8)}, "the mask is 8x8 but the image is 16x16.*Fix: use a mask"),
        ({"masks": torch.ones(1, 64, 64)}, "the mask is 64x64 but the image is 16x16"),
        ({"masks": torch.ones(3, 16, 16)}, "there are 3 masks for 1 images"),
        ({"images": torch.rand(1, 16, 16, 4)}, "RGBA.*Fix: convert it to RGB"),
    ],
)
def test_bad_settings_are_house_errors(settings, message):
    """Every bad setting is refused when the request is built, before any crop is planned."""
    arguments = {"images": torch.rand(1, 16, 16, 3), "masks": torch.ones(1, 16, 16), **settings}
    with pytest.raises(PinpointError, match=message):
        CropRequest(**arguments)


def test_resize_keeps_range():
    image = torch.rand(17, 23, 3, generator=torch.Generator().manual_seed(0))  # order-proof
    up = resize_image(image, 64, 80)
    down = resize_image(up, 17, 23)
    assert up.min() >= 0 and up.max() <= 1 and down.shape == image.shape
    assert (down - image).abs().mean() < 0.1
