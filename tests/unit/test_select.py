"""Selection beyond argmax: best k, all matches and the spatial picks, on any regions."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pinpoint.errors import PinpointError
from pinpoint.regions import ImageRegions, Region, RegionBatch
from pinpoint.select import PICK_CHOICES, choose_regions, region_area, select_regions

WIDTH, HEIGHT = 200, 100


def region(x0: float, y0: float, x1: float, y1: float, score: float, label: str = "") -> Region:
    return Region((x0, y0, x1, y1), label or f"{x0},{y0}", score, "test", score=score)


boxes = st.tuples(
    st.integers(0, WIDTH - 2), st.integers(0, HEIGHT - 2), st.integers(1, 60), st.integers(1, 60)
).map(lambda t: (t[0], t[1], min(WIDTH, t[0] + t[2]), min(HEIGHT, t[1] + t[3])))
candidates = st.lists(
    st.tuples(boxes, st.floats(0.0, 1.0, allow_nan=False)), min_size=1, max_size=12
).map(
    lambda items: ImageRegions(
        WIDTH,
        HEIGHT,
        tuple(
            sorted(
                (region(*box, score) for box, score in items),
                key=lambda r: r.score,
                reverse=True,
            )
        ),
    )
)


def centre(r: Region) -> tuple[float, float]:
    return (r.box[0] + r.box[2]) / 2, (r.box[1] + r.box[3]) / 2


@settings(max_examples=60, deadline=None)
@given(found=candidates, top_k=st.integers(1, 5))
def test_spatial_picks_keep_the_extreme_candidates(found, top_k):
    count = min(top_k, len(found))
    checks = {
        "leftmost": lambda r: centre(r)[0],
        "rightmost": lambda r: -centre(r)[0],
        "topmost": lambda r: centre(r)[1],
        "bottommost": lambda r: -centre(r)[1],
        "largest": lambda r: -region_area(r),
        "smallest": region_area,
        "nearest to center": lambda r: (centre(r)[0] - 100) ** 2 + (centre(r)[1] - 50) ** 2,
    }
    for pick, key in checks.items():
        kept = select_regions(found, pick, top_k).regions
        assert len(kept) == count
        assert all(any(k is r for r in found.regions) for k in kept)  # the same objects
        values = sorted(key(r) for r in found.regions)
        assert [key(r) for r in kept] == values[:count], pick


@settings(max_examples=40, deadline=None)
@given(found=candidates, top_k=st.integers(1, 5))
def test_best_keeps_the_top_k_and_all_keeps_everything(found, top_k):
    assert select_regions(found, "best", top_k).regions == found.regions[:top_k]
    assert select_regions(found, "all matches", top_k).regions == found.regions


def test_ties_in_a_spatial_order_keep_the_better_score_first():
    found = ImageRegions(WIDTH, HEIGHT, (region(10, 10, 20, 20, 0.9), region(10, 50, 20, 60, 0.2)))
    assert select_regions(found, "leftmost", 1).regions[0].score == 0.9


def test_largest_uses_the_mask_area_when_there_is_one():
    small_box_big_mask = Region((0, 0, 10, 10), "m", 0.5, "t", mask=torch.ones(HEIGHT, WIDTH))
    big_box = region(0, 0, 100, 100, 0.9)
    found = ImageRegions(WIDTH, HEIGHT, (big_box, small_box_big_mask))
    assert select_regions(found, "largest", 1).regions[0] is small_box_big_mask
    assert select_regions(found, "smallest", 1).regions[0] is big_box


def test_bad_pick_and_top_k_are_house_errors():
    found = ImageRegions(WIDTH, HEIGHT, (region(0, 0, 5, 5, 0.5),))
    with pytest.raises(PinpointError, match=r"^Select: pick is 'lefmost'\. Fix: pick one of"):
        select_regions(found, "lefmost")
    with pytest.raises(PinpointError, match=r"top_k is 0\. Fix: set top_k to 1"):
        select_regions(found, "best", 0)
    assert "nearest to center" in PICK_CHOICES


def test_choose_regions_thresholds_scores_then_picks_per_image():
    left, right, weak = (
        region(0, 0, 10, 10, 0.6),
        region(150, 0, 160, 10, 0.8),
        region(90, 0, 95, 5, 0.1),
    )
    batch = RegionBatch(
        (
            ImageRegions(WIDTH, HEIGHT, (right, left, weak)),
            ImageRegions(WIDTH, HEIGHT, (weak,)),
        )
    )
    chosen = choose_regions(batch, "leftmost", 1, min_score=0.5, if_nothing_found="empty mask")
    assert chosen[0].regions == (left,)
    assert chosen[1].regions == () and "no region scored >= 0.50" in chosen[1].note
    whole = choose_regions(batch, "all matches", 1, min_score=0.5, if_nothing_found="whole image")
    assert whole[0].regions == (right, left)
    assert whole[1].regions[0].label == "whole image"
    with pytest.raises(PinpointError, match=r"in image 2 of 2.*Fix: lower min_score"):
        choose_regions(batch, "best", 1, min_score=0.5)
