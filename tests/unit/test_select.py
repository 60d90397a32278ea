"""Selection beyond argmax: best k, all matches and the spatial picks, on any regions."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pinpoint.errors import PinpointError, reported_as
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP
from pinpoint.match import MatchRequest, match_text
from pinpoint.regions import IfNothingFound, ImageRegions, Region, RegionBatch
from pinpoint.selection import (
    Pick,
    SelectRequest,
    apply_pin,
    check_top_k,
    choose_regions,
    parse_pin,
    region_area,
    resolve_pin,
    select_regions,
)

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


def images(batch_size: int = 1) -> torch.Tensor:
    """An IMAGE batch of the size the test regions were found on."""
    return torch.rand(batch_size, HEIGHT, WIDTH, 3)


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
        kept = select_regions(found, Pick(pick), top_k).regions
        assert len(kept) == count
        assert all(any(k is r for r in found.regions) for k in kept)  # the same objects
        values = sorted(key(r) for r in found.regions)
        assert [key(r) for r in kept] == values[:count], pick


@settings(max_examples=40, deadline=None)
@given(found=candidates, top_k=st.integers(1, 5))
def test_best_keeps_the_top_k_and_all_keeps_everything(found, top_k):
    assert select_regions(found, Pick.BEST, top_k).regions == found.regions[:top_k]
    assert select_regions(found, Pick.ALL, top_k).regions == found.regions


def test_ties_in_a_spatial_order_keep_the_better_score_first():
    found = ImageRegions(WIDTH, HEIGHT, (region(10, 10, 20, 20, 0.9), region(10, 50, 20, 60, 0.2)))
    assert select_regions(found, Pick.LEFTMOST, 1).regions[0].score == 0.9


def test_largest_uses_the_mask_area_when_there_is_one():
    small_box_big_mask = Region((0, 0, 10, 10), "m", 0.5, "t", mask=torch.ones(HEIGHT, WIDTH))
    big_box = region(0, 0, 100, 100, 0.9)
    found = ImageRegions(WIDTH, HEIGHT, (big_box, small_box_big_mask))
    assert select_regions(found, Pick.LARGEST, 1).regions[0] is small_box_big_mask
    assert select_regions(found, Pick.SMALLEST, 1).regions[0] is big_box


def test_bad_pick_and_top_k_are_house_errors():
    batch = RegionBatch((ImageRegions(WIDTH, HEIGHT, (region(0, 0, 5, 5, 0.5),)),))
    with (
        pytest.raises(PinpointError, match=r"^Select: pick is 'lefmost'\. Fix: pick one of"),
        reported_as("Select"),
    ):
        SelectRequest(images(), batch, "lefmost")
    with pytest.raises(PinpointError, match=r"top_k is 0\. Fix: set top_k to 1"):
        SelectRequest(images(), batch, "best", 0)
    with pytest.raises(PinpointError, match=r"^Pinpoint: top_k is 0\. Fix: set top_k to 1"):
        check_top_k(0)
    assert check_top_k(3) == 3
    assert "nearest to center" in Pick.values()
    assert Pick.check("nearest to center", "pick") is Pick.NEAREST_TO_CENTER


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
    two = images(2)
    chosen = choose_regions(
        SelectRequest(two, batch, "leftmost", 1, min_score=0.5, if_nothing_found="empty mask")
    )
    assert chosen[0].regions == (left,)
    assert chosen[1].regions == () and "no region scored >= 0.50" in chosen[1].note
    whole = choose_regions(
        SelectRequest(two, batch, "all matches", 1, min_score=0.5, if_nothing_found="whole image")
    )
    assert whole[0].regions == (right, left)
    assert whole[1].regions[0].label == "whole image"
    with pytest.raises(PinpointError, match=r"in image 2 of 2.*Fix: lower min_score"):
        choose_regions(SelectRequest(two, batch, "best", 1, min_score=0.5))


# Pins ------------------------------------------------------------------------------------------

NOT_A_PIN = (
    "Select: pin '{}' is not a list of candidate numbers. Fix: write numbers from the scores "
    "table, e.g. '2', '1, 3' or '2:1' (image 2, candidate 1), or leave it empty."
)


def numbered(*scores: float) -> ImageRegions:
    """Candidates numbered 1, 2, ... in the given order, listed best score first."""
    regions = [
        dataclasses.replace(region(10 * n, 0, 10 * n + 5, 5, score), number=n)
        for n, score in enumerate(scores, start=1)
    ]
    return ImageRegions(WIDTH, HEIGHT, tuple(sorted(regions, key=lambda r: -r.score)))


@pytest.mark.parametrize(
    ("text", "batch_size", "expected"),
    [
        ("", 1, [set()]),
        ("  \n", 2, [set(), set()]),
        ("2", 1, [{2}]),
        ("1, 3", 1, [{1, 3}]),
        (" 3;1 ;; 3\t1 ", 1, [{1, 3}]),
        ("1:2", 1, [{2}]),
        ("2", 3, [{2}, {2}, {2}]),
        ("2:1", 3, [set(), {1}, set()]),
        ("2 : 1, 3:4", 3, [set(), {1}, {4}]),
        ("1:2 2:1, 5", 2, [{2, 5}, {1, 5}]),
        ("007", 1, [{7}]),
    ],
)
def test_parse_pin_reads_numbers_per_image(text, batch_size, expected):
    assert parse_pin(text, batch_size) == tuple(frozenset(s) for s in expected)


@pytest.mark.parametrize("text", ["a", "#2", "2-3", "1.5", "0", "1:", ":2", "1:2:3", "2:0", "-1"])
def test_parse_pin_refuses_anything_else(text):
    with pytest.raises(PinpointError) as refused, reported_as("Select"):
        parse_pin(text, 2)
    assert str(refused.value) == NOT_A_PIN.format(text)


def test_parse_pin_refuses_an_image_outside_the_batch():
    with pytest.raises(PinpointError) as refused, reported_as("Select"):
        parse_pin("1, 3:2", 2)
    assert str(refused.value) == (
        "Select: pin '3:2' names image 3 but the batch has 2 image(s). Fix: write '2' alone "
        "to pin candidate 2 in every image, or use an image number from 1 to 2."
    )
    with pytest.raises(PinpointError, match=r"names image 0 but the batch has 1 image\(s\)"):
        parse_pin("0:1", 1)


def test_resolve_pin_checks_each_image_has_the_pinned_numbers():
    batch = RegionBatch((numbered(0.1, 0.2, 0.3), numbered(0.5)))
    assert resolve_pin("1:3, 1", batch) == (frozenset({1, 3}), frozenset({1}))
    with pytest.raises(PinpointError) as refused, reported_as("Select"):
        resolve_pin("2", batch)
    assert str(refused.value) == (
        "Select: pin names candidate #2 but image 2 of 2 has 1 candidate(s). Fix: pick a "
        "number from the scores table or clear pin."
    )
    single = RegionBatch((numbered(0.1, 0.2, 0.3),))
    with pytest.raises(PinpointError, match=r"candidate #4 but image 1 has 3 candidate"):
        resolve_pin("4, 2", single)


def test_apply_pin_keeps_exactly_the_pinned_candidates_in_score_order():
    found = numbered(0.3, 0.9, 0.1, 0.5)  # listed as #2, #4, #1, #3
    kept = apply_pin(found, frozenset({3, 1}))
    assert [r.number for r in kept.regions] == [1, 3]  # the worst two, best first
    assert all(any(k is r for r in found.regions) for k in kept.regions)  # the same objects
    assert kept.note == "pinned #1, #3"
    assert (kept.width, kept.height) == (found.width, found.height)
    # a pin naming a candidate an image lacks is refused before apply_pin, by resolve_pin
    batch = RegionBatch((numbered(0.5), found, numbered(0.5)))
    with pytest.raises(PinpointError) as refused, reported_as("Select"):
        resolve_pin("2:2, 2:7", batch)
    assert str(refused.value) == (
        "Select: pin names candidate #7 but image 2 of 3 has 4 candidate(s). Fix: pick a "
        "number from the scores table or clear pin."
    )


def test_a_pin_resolved_for_unnumbered_candidates_is_never_silently_empty(tiny_models):
    """Candidates that come into Match unnumbered are numbered by it, in the order resolve_pin
    counts them, so the pin it accepted chooses exactly that candidate."""
    unnumbered = ImageRegions(WIDTH, HEIGHT, (region(0, 0, 5, 5, 0.5),))
    batch = RegionBatch((unnumbered,))
    assert resolve_pin("1", batch) == (frozenset({1}),)
    with pytest.raises(PinpointError, match="candidate #2 but image 1 has 1 candidate"):
        resolve_pin("2", batch)
    clip = load_model(CLIP, tiny_models["clip"])
    result = match_text(MatchRequest(clip, images(), batch, "anything", pin="1"))
    (chosen,) = result.chosen[0].regions
    assert chosen.number == 1 and chosen.box == unnumbered.regions[0].box
    assert result.chosen[0].note == "pinned #1"


# The request -------------------------------------------------------------------------------------


def test_the_request_stores_checked_settings():
    batch = RegionBatch((ImageRegions(WIDTH, HEIGHT, (region(0, 0, 5, 5, 0.5),)),))
    request = SelectRequest(images(), batch, "all matches", if_nothing_found="empty mask")
    assert request.pick is Pick.ALL and request.if_nothing_found is IfNothingFound.EMPTY_MASK
    default = SelectRequest(images(), batch)
    assert (default.pick, default.top_k, default.min_score, default.if_nothing_found) == (
        Pick.BEST,
        1,
        0.0,
        IfNothingFound.ERROR,
    )


@pytest.mark.parametrize(
    "settings, fragment",
    [
        (dict(pick="lefmost"), "pick is 'lefmost'. Fix: pick one of 'best', 'all matches', "),
        (dict(pick="Best"), "pick is 'Best'"),
        (dict(top_k=0), "top_k is 0. Fix: set top_k to 1 or more"),
        (dict(top_k=-1), "top_k is -1"),
        (dict(if_nothing_found="skip"), "if_nothing_found is 'skip'. Fix: pick one of 'error'"),
        (
            dict(images=torch.rand(2, HEIGHT, WIDTH, 3)),
            "the image batch has 2 image(s) but the regions cover 1. Fix: use the regions found "
            "on this same image batch",
        ),
        (
            dict(images=torch.rand(1, WIDTH, HEIGHT, 3)),
            f"regions of image 1 were found on a {WIDTH}x{HEIGHT} image but this image is "
            f"{HEIGHT}x{WIDTH}. Fix: use the regions found on this same image batch",
        ),
        (dict(images=torch.rand(1, HEIGHT, WIDTH, 4)), "the image is RGBA (4 channels)"),
    ],
)
def test_the_request_refuses_bad_settings_at_construction(settings, fragment):
    batch = RegionBatch((ImageRegions(WIDTH, HEIGHT, (region(0, 0, 5, 5, 0.5),)),))
    inputs = dict(images=images(), regions=batch) | settings
    with pytest.raises(PinpointError, match="^Pinpoint: .*" + re.escape(fragment)):
        SelectRequest(**inputs)
