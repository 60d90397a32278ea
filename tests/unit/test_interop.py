"""Regions from any MASK and to/from the Impact Pack's SEGS, checked on constructed masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pinpoint.errors import PinpointError
from pinpoint.interop import (
    SEG,
    MaskRegionsRequest,
    SegsRequest,
    mask_regions,
    regions_to_segs,
    segs_to_regions,
)
from pinpoint.regions import IfNothingFound, ImageRegions, Region, RegionBatch

HEIGHT, WIDTH = 40, 60


def canvas() -> torch.Tensor:
    return torch.zeros(1, HEIGHT, WIDTH)


def boxes(regions: RegionBatch) -> list[tuple[float, ...]]:
    return [region.box for region in regions[0].regions]


def test_each_separate_piece_is_a_region_holes_stay_corners_do_not_join():
    mask = canvas()
    mask[0, 2:12, 2:12] = 1.0  # a square with a hole
    mask[0, 5:8, 5:8] = 0.0
    mask[0, 20:24, 30:34] = 1.0  # two squares touching only at a corner: two pieces
    mask[0, 24:28, 34:38] = 1.0
    mask[0, 30:34, 40:44] = 1.0  # two squares sharing an edge: one piece
    mask[0, 30:34, 44:48] = 1.0
    image = torch.rand(1, HEIGHT, WIDTH, 3)
    found = mask_regions(MaskRegionsRequest(image, mask, min_area=0.0))
    assert sorted(boxes(found)) == sorted(
        [(2.0, 2.0, 12.0, 12.0), (30.0, 20.0, 34.0, 24.0), (34.0, 24.0, 38.0, 28.0)]
        + [(40.0, 30.0, 48.0, 34.0)]
    )
    holed = next(r for r in found[0].regions if r.box == (2.0, 2.0, 12.0, 12.0))
    assert int(holed.mask.sum()) == 100 - 9 and float(holed.mask[6, 6]) == 0.0
    assert all(region.label == "mask" and region.source == "mask" for region in found[0].regions)
    assert all(region.score == region.confidence == 1.0 for region in found[0].regions)


def test_min_area_max_regions_and_soft_values():
    mask = canvas()
    mask[0, 0:20, 0:20] = 0.8  # 400 px, mean 0.8
    mask[0, 30:32, 50:52] = 1.0  # 4 px
    image = torch.rand(1, HEIGHT, WIDTH, 3)
    small_dropped = mask_regions(MaskRegionsRequest(image, mask, min_area=10 / (HEIGHT * WIDTH)))
    assert boxes(small_dropped) == [(0.0, 0.0, 20.0, 20.0)]
    assert small_dropped[0].regions[0].score == pytest.approx(0.8)
    both = mask_regions(MaskRegionsRequest(image, mask, min_area=0.0))
    assert boxes(both)[0] == (50.0, 30.0, 52.0, 32.0)  # mean 1.0 before mean 0.8
    one = mask_regions(MaskRegionsRequest(image, mask, min_area=0.0, max_regions=1))
    assert boxes(one) == [(50.0, 30.0, 52.0, 32.0)]


def test_instance_masks_of_one_image_stay_apart_even_when_they_touch():
    masks = torch.zeros(3, HEIGHT, WIDTH)
    masks[0, 10:20, 10:20] = 1.0
    masks[1, 10:20, 20:30] = 1.0  # touches the first along an edge
    image = torch.rand(1, HEIGHT, WIDTH, 3)  # the third mask is empty: no region
    found = mask_regions(MaskRegionsRequest(image, masks, min_area=0.0, label="cat"))
    assert boxes(found) == [(10.0, 10.0, 20.0, 20.0), (20.0, 10.0, 30.0, 20.0)]
    assert [region.label for region in found[0].regions] == ["cat", "cat"]


def test_no_instance_mask_at_all_is_nothing_found():
    """ComfyUI's SAM 3 node with individual masks gives ``[0, H, W]`` when it finds nothing."""
    image, none = torch.rand(1, HEIGHT, WIDTH, 3), torch.zeros(0, HEIGHT, WIDTH)
    with pytest.raises(PinpointError, match="no piece of the mask covers"):
        mask_regions(MaskRegionsRequest(image, none))
    empty = mask_regions(MaskRegionsRequest(image, none, if_nothing_found="empty mask"))
    assert len(empty[0]) == 0 and "empty mask" in empty[0].note
    with pytest.raises(PinpointError, match="the mask is 64x64 but the image is 60x40"):
        MaskRegionsRequest(image, torch.zeros(0, 64, 64))


def test_a_batch_gets_one_mask_per_image_and_nothing_found_follows_the_policy():
    images = torch.rand(2, HEIGHT, WIDTH, 3)
    masks = torch.zeros(2, HEIGHT, WIDTH)
    masks[0, 1:5, 1:5] = 1.0
    with pytest.raises(PinpointError, match="in image 2 of 2. Fix: lower min_area"):
        mask_regions(MaskRegionsRequest(images, masks, min_area=0.0))
    empty = mask_regions(
        MaskRegionsRequest(images, masks, min_area=0.0, if_nothing_found=IfNothingFound.EMPTY_MASK)
    )
    assert len(empty[0]) == 1 and len(empty[1]) == 0 and "empty mask" in empty[1].note


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (dict(masks=torch.zeros(1, 64, 64)), "the mask is 64x64 but the image is 60x40"),
        (
            dict(masks=torch.zeros(3, HEIGHT, WIDTH), images=torch.rand(2, HEIGHT, WIDTH, 3)),
            "3 masks",
        ),
        (dict(if_nothing_found="skip"), "if_nothing_found is 'skip'"),
        (dict(images=torch.rand(1, HEIGHT, WIDTH, 4)), "RGBA"),
    ],
)
def test_mask_request_refuses_bad_settings(settings, fragment):
    inputs = dict(images=torch.rand(1, HEIGHT, WIDTH, 3), masks=canvas()) | settings
    with pytest.raises(PinpointError, match=f"^Pinpoint: .*{fragment.replace('(', '.')}"):
        MaskRegionsRequest(**inputs)


def sample_regions() -> RegionBatch:
    masked = torch.zeros(HEIGHT, WIDTH)
    masked[10:20, 30:45] = 1.0
    masked[12:14, 32:34] = 0.0
    return RegionBatch(
        (
            ImageRegions(
                WIDTH,
                HEIGHT,
                (
                    Region((30.0, 10.0, 45.0, 20.0), "cat", 0.9, "t", mask=masked, score=0.7),
                    Region((2.5, 3.0, 12.0, 9.5), "dog", 0.8, "t", score=0.4),
                ),
            ),
        )
    )


def test_segs_have_the_impact_pack_structure():
    assert SEG._fields == (
        "cropped_image",
        "cropped_mask",
        "confidence",
        "crop_region",
        "bbox",
        "label",
        "control_net_wrapper",
    )
    (height, width), segs = regions_to_segs(SegsRequest(sample_regions(), crop_factor=2.0))
    assert (height, width) == (HEIGHT, WIDTH) and len(segs) == 2
    cat, dog = segs
    assert cat.bbox == [30, 10, 45, 20] and dog.bbox == [2, 3, 12, 10]  # every pixel touched
    assert cat.label == "cat" and cat.confidence == pytest.approx(0.7)
    assert cat.crop_region == [22, 5, 52, 25]  # 2x the box around its centre
    assert dog.crop_region == [0, 0, 20, 14]  # 2x, shifted inside the image
    for seg in segs:
        x0, y0, x1, y1 = seg.crop_region
        assert isinstance(seg.cropped_mask, np.ndarray) and seg.cropped_mask.dtype == np.float32
        assert seg.cropped_mask.shape == (y1 - y0, x1 - x0)
        assert seg.cropped_image is None and seg.control_net_wrapper is None
    assert float(cat.cropped_mask.sum()) == 150 - 4  # the region's own mask, hole included


def test_segs_round_trip_keeps_masks_boxes_labels_and_scores():
    regions = sample_regions()
    image = torch.rand(1, HEIGHT, WIDTH, 3)
    back = segs_to_regions(regions_to_segs(SegsRequest(regions)), image)
    before, after = regions[0].regions, back[0].regions
    assert [r.label for r in after] == ["cat", "dog"]  # best score first
    assert [r.score for r in after] == pytest.approx([0.7, 0.4])
    assert after[0].box == before[0].box and torch.equal(after[0].mask, before[0].mask)
    assert after[1].box == (2.0, 3.0, 12.0, 10.0)  # the pixels the box touched
    assert after[1].source == "segs"


def test_segs_of_other_images_or_shapes_are_refused():
    image = torch.rand(1, HEIGHT, WIDTH, 3)
    with pytest.raises(PinpointError, match="made for a 30x20 image but this image is 60x40"):
        segs_to_regions(((20, 30), []), image)
    with pytest.raises(PinpointError, match="not SEGS"):
        segs_to_regions([1, 2, 3], image)
    with pytest.raises(PinpointError, match="the image batch has 2"):
        segs_to_regions(((HEIGHT, WIDTH), []), torch.rand(2, HEIGHT, WIDTH, 3))
    broken = SEG(None, np.ones((3, 3), np.float32), 1.0, [0, 0, 5, 5], [0, 0, 5, 5], "x")
    with pytest.raises(PinpointError, match="SEG 1's mask is"):
        segs_to_regions(((HEIGHT, WIDTH), [broken]), image)
    with pytest.raises(PinpointError, match="the regions cover 2"):
        SegsRequest(RegionBatch((sample_regions()[0],) * 2))
    with pytest.raises(PinpointError, match="crop_factor is 0.5"):
        SegsRequest(sample_regions(), crop_factor=0.5)
