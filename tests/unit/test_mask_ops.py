"""Fill holes, drop islands, combine and invert: exact properties on random and drawn masks."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pinpoint.errors import PinpointError, reported_as
from pinpoint.masks import (
    MaskOperation,
    MaskOpsRequest,
    apply_mask_ops,
    check_mask_pair,
    combine_masks,
    drop_islands,
    feather_mask,
    fill_holes,
    grow_mask,
    invert_mask,
    label_components,
)


def random_mask(seed: int, batch: int, height: int, width: int, density: float) -> torch.Tensor:
    """Soft masks: most pixels 0, the rest random in (0, 1] so thresholds and soft values matter."""
    generator = torch.Generator().manual_seed(seed)
    values = torch.rand(batch, height, width, generator=generator)
    keep = torch.rand(batch, height, width, generator=generator) < density
    return torch.where(keep, values, torch.zeros_like(values))


masks = st.builds(
    random_mask,
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 3),
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    density=st.floats(0.0, 1.0),
)


def assert_mask(out: torch.Tensor, shape: torch.Size) -> None:
    assert out.shape == shape and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@settings(max_examples=60, deadline=None)
@given(mask=masks)
def test_fill_holes_is_an_idempotent_superset(mask):
    filled = fill_holes(mask)
    assert_mask(filled, mask.shape)
    assert bool((filled >= mask).all())
    assert bool(((filled == mask) | (filled == 1)).all())  # only ever sets pixels to 1
    assert torch.equal(fill_holes(filled), filled)


@settings(max_examples=60, deadline=None)
@given(mask=masks, min_area=st.integers(0, 30))
def test_drop_islands_is_a_subset_that_keeps_large_components(mask, min_area):
    dropped = drop_islands(mask, min_area)
    assert_mask(dropped, mask.shape)
    assert bool((dropped <= mask).all())
    assert bool(((dropped == mask) | (dropped == 0)).all())
    labels = label_components(mask > 0.5)
    for label in labels.unique()[1:]:
        component = labels == label
        if int(component.sum()) >= min_area:
            assert torch.equal(dropped[component], mask[component])
        else:
            assert bool((dropped[component] == 0).all())


@settings(max_examples=60, deadline=None)
@given(mask=masks)
def test_labels_join_exactly_the_4_connected_neighbours(mask):
    inside = mask > 0.5
    labels = label_components(inside)
    assert bool(((labels > 0) == inside).all())
    # neighbours inside share a label; a label is the smallest 1 + flat index of its pixels
    same_rows = inside[:, :, 1:] & inside[:, :, :-1]
    assert torch.equal(labels[:, :, 1:][same_rows], labels[:, :, :-1][same_rows])
    same_cols = inside[:, 1:] & inside[:, :-1]
    assert torch.equal(labels[:, 1:][same_cols], labels[:, :-1][same_cols])
    index = torch.arange(1, mask.numel() + 1).reshape(mask.shape)
    for label in labels.unique()[1:]:
        assert int(index[labels == label].min()) == int(label)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(2, 24), px=st.integers(0, 5))
def test_grow_then_shrink_after_cleanup_is_a_superset(seed, size, px):
    mask = drop_islands(fill_holes(random_mask(seed, 1, size, size, 0.4)), 3)
    closed = grow_mask(grow_mask(mask, px), -px)
    assert_mask(closed, mask.shape)
    assert bool((closed >= mask).all())


@settings(max_examples=60, deadline=None)
@given(data=st.data(), mask=masks, single=st.booleans())
def test_combine_laws_and_invert(data, mask, single):
    seed = data.draw(st.integers(0, 10_000))
    other = random_mask(seed, 1 if single else mask.shape[0], *mask.shape[1:], 0.5)
    other_each = other.expand_as(mask)
    check_mask_pair(mask, other)
    union = combine_masks(mask, other, MaskOperation.UNION)
    intersect = combine_masks(mask, other, MaskOperation.INTERSECT)
    subtract = combine_masks(mask, other, MaskOperation.SUBTRACT)
    for out in (union, intersect, subtract):
        assert_mask(out, mask.shape)
    assert bool((union >= mask).all() and (union >= other_each).all())
    assert bool((intersect <= mask).all() and (intersect <= other_each).all())
    assert bool((subtract <= mask).all())
    assert bool((subtract[other_each == 1] == 0).all())
    hard = (mask > 0.5).float()
    hard_other = (other > 0.5).float()
    hard_subtract = combine_masks(hard, hard_other, MaskOperation.SUBTRACT)
    assert float(combine_masks(hard_subtract, hard_other, MaskOperation.INTERSECT).sum()) == 0
    assert_mask(invert_mask(mask), mask.shape)
    assert torch.equal(invert_mask(invert_mask(hard)), hard)
    assert torch.allclose(invert_mask(invert_mask(mask)), mask)


def test_a_ring_is_filled_but_a_hole_open_to_the_border_is_not():
    ring = torch.zeros(1, 12, 12)
    ring[0, 2:9, 2:9] = 1
    ring[0, 4:7, 4:7] = 0
    ring[0, 2, 2] = 0.7  # soft values outside the hole are kept
    filled = fill_holes(ring)
    expected = ring.clone()
    expected[0, 4:7, 4:7] = 1
    assert torch.equal(filled, expected)

    open_ring = ring.clone()
    open_ring[0, 5, 0:5] = 0  # a channel from the hole to the left border
    assert torch.equal(fill_holes(open_ring), open_ring)

    corner = torch.zeros(1, 8, 8)  # the mask's box touches the image corner
    corner[0, 0:5, 0:5] = 1
    corner[0, 1:3, 1:3] = 0
    corner[0, 0:2, 1:2] = 0  # the hole reaches the top border through this gap
    assert torch.equal(fill_holes(corner), corner)
    corner[0, 0, 1] = 1  # closed at the border: now it is a hole
    expected = corner.clone()
    expected[0, 1:3, 1:3] = 1
    assert torch.equal(fill_holes(corner), expected)


def test_islands_of_4_and_20_px_with_min_10_keep_only_the_20():
    mask = torch.zeros(2, 16, 16)
    mask[0, 1:3, 1:3] = 1  # 4 px
    mask[0, 8:12, 6:11] = 1  # 20 px
    mask[1, 0, 0:4] = 1  # 4 px, in another image of the batch
    mask[1, 5, 5] = 0.4  # below the threshold: no island, kept as is
    expected = torch.zeros(2, 16, 16)
    expected[0, 8:12, 6:11] = 1
    expected[1, 5, 5] = 0.4
    assert torch.equal(drop_islands(mask, 10), expected)
    assert torch.equal(drop_islands(mask, 0), mask)


def test_islands_touching_only_at_a_corner_are_separate():
    mask = torch.zeros(1, 6, 6)
    mask[0, 0:2, 0:2] = 1
    mask[0, 2:5, 2:5] = 1  # touches the first only diagonally
    assert torch.equal(
        drop_islands(mask, 5), torch.where(mask.bool() & (torch.arange(6) >= 2), mask, 0)
    )


def test_combine_refuses_other_sizes_and_batches():
    with (
        pytest.raises(PinpointError, match=r"^Masks: the masks differ in size \(8x6 and 8x7"),
        reported_as("Masks"),
    ):
        check_mask_pair(torch.zeros(1, 6, 8), torch.zeros(1, 7, 8))
    with pytest.raises(PinpointError, match="batches hold 2 and 3"):
        check_mask_pair(torch.zeros(2, 6, 8), torch.zeros(3, 6, 8))
    with pytest.raises(PinpointError, match="Fix: pick one of 'none', 'union'"):
        MaskOpsRequest(torch.zeros(1, 6, 8), operation="xor", other=torch.zeros(1, 6, 8))
    check_mask_pair(torch.zeros(3, 6, 8), torch.ones(1, 6, 8))
    union = combine_masks(torch.zeros(3, 6, 8), torch.ones(1, 6, 8), MaskOperation.UNION)
    assert union.shape == (3, 6, 8)


@settings(max_examples=60, deadline=None)
@given(mask=masks, min_area=st.integers(2, 12))
def test_fill_and_drop_agree_with_scipy(mask, min_area):
    """Oracle: scipy.ndimage (installed with ComfyUI and requirements-dev, not a Pinpoint
    requirement)."""
    from scipy import ndimage

    for image, filled, dropped in zip(
        mask, fill_holes(mask), drop_islands(mask, min_area), strict=True
    ):
        inside = (image > 0.5).numpy()
        holes = torch.from_numpy(ndimage.binary_fill_holes(inside) & ~inside)
        assert torch.equal(filled, torch.where(holes, 1.0, image))
        labels, _ = ndimage.label(inside)
        sizes = torch.from_numpy(labels).flatten().bincount()
        small = (sizes[torch.from_numpy(labels)] < min_area) & torch.from_numpy(labels > 0)
        assert torch.equal(dropped, torch.where(small, 0.0, image))


def test_apply_mask_ops_runs_the_steps_in_order_and_needs_other():
    mask = torch.zeros(1, 24, 24)
    mask[0, 4:16, 4:16] = 1
    mask[0, 8:12, 8:12] = 0  # a hole
    mask[0, 20, 20] = 1  # a speck
    other = torch.zeros(1, 24, 24)
    other[0, :, :6] = 1
    out = apply_mask_ops(
        MaskOpsRequest(
            mask,
            grow_px=1,
            feather_px=2,
            fill_holes=True,
            min_island_px=4,
            invert=False,
            operation="subtract",
            other=other,
        )
    )
    cleaned = grow_mask(drop_islands(fill_holes(mask), 4), 1)
    expected = feather_mask(combine_masks(cleaned, other, MaskOperation.SUBTRACT), 2)
    assert torch.equal(out, expected)
    assert out[0, 10, 10] == 1 and out[0, 20, 20] == 0 and out[0, 10, 2] == 0
    with pytest.raises(PinpointError, match="operation 'union' needs the other mask"):
        MaskOpsRequest(mask, operation="union")


def test_apply_mask_ops_refuses_an_unknown_operation_even_without_other():
    with pytest.raises(
        PinpointError, match=r"operation is 'xor'. Fix: pick one of 'none', 'union'"
    ):
        MaskOpsRequest(torch.zeros(1, 8, 8), operation="xor")


def test_mask_ops_request_normalises_the_masks_and_the_operation():
    request = MaskOpsRequest(torch.zeros(6, 8), operation="union", other=torch.ones(6, 8))
    assert request.operation is MaskOperation.UNION
    assert request.mask.shape == (1, 6, 8) and request.other.shape == (1, 6, 8)
    assert torch.equal(apply_mask_ops(request), torch.ones(1, 6, 8))
    plain = MaskOpsRequest(torch.zeros(2, 6, 8), other=torch.zeros(1, 7, 8))  # 'none' ignores it
    assert plain.operation is MaskOperation.NONE
    assert torch.equal(apply_mask_ops(plain), torch.zeros(2, 6, 8))


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        (
            {"operation": "xor"},
            "operation is 'xor'. Fix: pick one of 'none', 'union', 'intersect', 'subtract'",
        ),
        (
            {"operation": "union"},
            "operation 'union' needs the other mask. Fix: give the other mask, or set operation "
            "to 'none'",
        ),
        (
            {"operation": MaskOperation.SUBTRACT},
            "operation 'subtract' needs the other mask",
        ),
        (
            {"operation": "intersect", "other": torch.zeros(1, 7, 8)},
            "the masks differ in size (8x6 and 8x7, width x height). Fix: make both masks from "
            "images of the same size",
        ),
        (
            {"operation": "union", "other": torch.zeros(6, 9)},
            "the masks differ in size (8x6 and 9x6",
        ),
        (
            {"operation": "union", "other": torch.zeros(3, 6, 8)},
            "the mask batches hold 2 and 3 masks. Fix: give both the same batch size",
        ),
    ],
)
def test_mask_ops_request_refuses_bad_settings(settings, fragment):
    with pytest.raises(PinpointError) as caught, reported_as("Masks"):
        MaskOpsRequest(torch.zeros(2, 6, 8), **settings)
    message = str(caught.value)
    assert message.startswith("Masks: ") and fragment in message, message
