"""Mask operations: shape, range and the exact-zero guarantees the stitch relies on."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pinpoint.masks import blur_mask, feather_mask, grow_mask, regions_to_mask
from pinpoint.regions import ImageRegions, Region, RegionBatch


def random_mask(seed: int, height: int, width: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(1, height, width, generator=generator) > 0.85).float()


def distance_to_mask(mask: torch.Tensor) -> torch.Tensor:
    """Chebyshev distance of every pixel of [H, W] to the nearest set pixel (brute force)."""
    ys, xs = torch.nonzero(mask > 0, as_tuple=True)
    grid_y, grid_x = torch.meshgrid(
        torch.arange(mask.shape[0]), torch.arange(mask.shape[1]), indexing="ij"
    )
    dy = (grid_y[..., None] - ys).abs()
    dx = (grid_x[..., None] - xs).abs()
    return torch.maximum(dy, dx).min(dim=-1).values


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    height=st.integers(4, 40),
    width=st.integers(4, 40),
    px=st.integers(0, 6),
)
def test_grow_then_shrink_is_a_superset_and_shapes_ranges_hold(seed, height, width, px):
    mask = random_mask(seed, height, width)
    grown = grow_mask(mask, px)
    closed = grow_mask(grown, -px)
    for out in (grown, closed):
        assert out.shape == mask.shape
        assert out.min() >= 0 and out.max() <= 1
    assert bool((closed >= mask).all())
    assert bool((grown >= mask).all())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    height=st.integers(4, 40),
    width=st.integers(4, 40),
    px=st.integers(1, 6),
)
def test_shrink_is_a_subset(seed, height, width, px):
    mask = random_mask(seed, height, width)
    shrunk = grow_mask(mask, -px)
    assert bool((shrunk <= mask).all())


def test_grow_reaches_exactly_px_along_axes():
    mask = torch.zeros(1, 21, 21)
    mask[0, 10, 10] = 1
    grown = grow_mask(mask, 4)
    row = grown[0, 10]
    assert row.nonzero().flatten().tolist() == list(range(6, 15))
    # the octagon brush: diagonal reach is shorter than a square's
    assert grown[0, 6, 6] == 0


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    height=st.integers(6, 36),
    width=st.integers(6, 36),
    px=st.integers(1, 8),
)
def test_feather_keeps_mask_and_stays_local(seed, height, width, px):
    mask = random_mask(seed, height, width)
    feathered = feather_mask(mask, px)
    assert feathered.shape == mask.shape
    assert feathered.min() >= 0 and feathered.max() <= 1
    assert bool((feathered[mask > 0] == 1).all())
    if mask.any():
        reach = 2 * ((px + 1) // 2)
        far = distance_to_mask(mask[0]) > reach
        assert bool((feathered[0][far] == 0).all())


def test_feather_is_soft():
    mask = torch.zeros(1, 40, 40)
    mask[0, 15:25, 15:25] = 1
    feathered = feather_mask(mask, 8)
    edge = feathered[0, 20, 25:35]
    assert edge[0] > edge[-1]
    assert bool(((edge > 0) & (edge < 1)).any())


def test_blur_zero_radius_is_identity():
    mask = random_mask(3, 10, 12)
    assert torch.equal(blur_mask(mask, 0), mask)


def test_regions_to_mask_boxes_and_empty_images():
    batch = RegionBatch(
        (
            ImageRegions(10, 8, (Region((1.0, 2.0, 4.0, 5.0), "a", 0.9, "t"),)),
            ImageRegions(10, 8, ()),
        )
    )
    mask = regions_to_mask(batch)
    assert mask.shape == (2, 8, 10)
    expected = torch.zeros(8, 10)
    expected[2:5, 1:4] = 1
    assert torch.equal(mask[0], expected)
    assert mask[1].sum() == 0


def test_regions_to_mask_uses_region_masks_and_fractional_boxes_cover_touched_pixels():
    own = torch.zeros(6, 6)
    own[0, 0] = 1
    batch = RegionBatch(
        (
            ImageRegions(
                6,
                6,
                (
                    Region((0.0, 0.0, 6.0, 6.0), "with mask", 0.5, "t", mask=own),
                    Region((2.5, 2.5, 3.2, 3.9), "box", 0.5, "t"),
                ),
            ),
        )
    )
    mask = regions_to_mask(batch)[0]
    assert mask[0, 0] == 1 and mask[0, 1] == 0
    assert mask[2:4, 2:4].eq(1).all() and mask.sum() == 5


def full_image_grow(mask: torch.Tensor, px: int) -> torch.Tensor:
    """Oracle: the same alternating square/cross dilation, run over the whole image."""
    import torch.nn.functional as F

    work = (mask if px > 0 else 1.0 - mask)[:, None]
    for step in range(abs(px)):
        if step % 2 == 1:
            work = F.max_pool2d(work, 3, 1, 1)
        else:
            rows = F.max_pool2d(work, (3, 1), 1, (1, 0))
            work = torch.maximum(rows, F.max_pool2d(work, (1, 3), 1, (0, 1)))
    return work[:, 0] if px > 0 else 1.0 - work[:, 0]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    height=st.integers(4, 48),
    width=st.integers(4, 48),
    px=st.integers(-6, 6),
    spot=st.booleans(),
)
def test_work_near_the_mask_equals_the_whole_image_result(seed, height, width, px, spot):
    """grow/shrink/feather only touch the mask's neighbourhood; the result must be exact."""
    mask = random_mask(seed, height, width)
    if spot:  # a small blob away from the borders leaves most of the image out of the window
        mask = torch.zeros(1, height, width)
        mask[0, height // 2, width // 3] = 0.7
    assert torch.equal(grow_mask(mask, px), full_image_grow(mask, px))
    if px > 0:
        radius = (px + 1) // 2
        expected = torch.maximum(blur_mask(full_image_grow(mask, radius), radius), mask)
        assert torch.equal(feather_mask(mask, px), expected)
