"""Match: CLIP scoring on real (tiny, random) CLIP weights with a constructed answer."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from rigs import COLOURS, point_text_at, point_texts_at, solid, vision_calls

from pinpoint.errors import PinpointError, reported_as
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP
from pinpoint.loading.models import ClipMatcher
from pinpoint.match import (
    CropMode,
    MatchRequest,
    MatchResult,
    candidate_rows,
    crop_regions,
    format_scores,
    match_text,
    score_candidates,
)
from pinpoint.regions import IfNothingFound, ImageRegions, Region, RegionBatch
from pinpoint.selection import Pick


def match(
    clip: ClipMatcher, images: torch.Tensor, regions: RegionBatch, text: str, **settings
) -> MatchResult:
    """Build the request (checks) and run it."""
    return match_text(MatchRequest(clip, images, regions, text, **settings))


def squares_image(order: list[str], size: int = 96) -> tuple[torch.Tensor, tuple[Region, ...]]:
    """A grey image with one solid 24x24 square per colour, left to right in ``order``."""
    image = torch.full((size, size, 3), 0.5)
    regions = []
    confidences = {"red": 0.9, "blue": 0.8, "green": 0.1}
    for slot, name in enumerate(order):
        x0 = 4 + slot * 32
        image[4:28, x0 : x0 + 24] = torch.tensor(COLOURS[name])
        regions.append(
            Region((float(x0), 4.0, float(x0 + 24), 28.0), name, confidences[name], "test")
        )
    return image, tuple(regions)


@pytest.fixture
def clip_pointing_at_green(tiny_models):
    """A tiny CLIP whose text tower maps "the green one" onto a solid green image's embedding."""
    return point_text_at(load_model(CLIP, tiny_models["clip"]), solid("green"), "the green one")


@pytest.fixture
def clip_pointing_at_colours(tiny_models):
    """A tiny CLIP that maps "the green one" onto green and "the red one" onto red."""
    texts = {"the green one": solid("green"), "the red one": solid("red")}
    return point_texts_at(load_model(CLIP, tiny_models["clip"]), texts)


def test_matcher_picks_the_region_whose_embedding_matches(clip_pointing_at_green):
    for order in (["red", "green", "blue"], ["green", "blue", "red"], ["blue", "red", "green"]):
        image, regions = squares_image(order)
        batch = RegionBatch((ImageRegions(96, 96, regions),))
        result = match(clip_pointing_at_green, image[None], batch, "the green one", context_pad=0.0)
        chosen = result.chosen[0].regions
        assert [region.label for region in chosen] == ["green"]
        best = result.scored[0].regions[0]
        assert best.label == "green" and best.similarity == pytest.approx(1.0, abs=1e-4)
        probabilities = [region.probability for region in result.scored[0].regions]
        assert sum(probabilities) == pytest.approx(1.0) and probabilities == sorted(
            probabilities, reverse=True
        )


def test_confidence_weight_blends_detector_confidence(clip_pointing_at_green):
    image, regions = squares_image(["red", "green", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    result = match(
        clip_pointing_at_green,
        image[None],
        batch,
        "the green one",
        context_pad=0.0,
        confidence_weight=1.0,
        top_k=2,
    )
    assert [region.label for region in result.chosen[0].regions] == ["red", "blue"]


def test_all_crops_of_a_batch_go_through_one_forward(clip_pointing_at_green):
    calls, handle = vision_calls(clip_pointing_at_green)
    try:
        first, regions_a = squares_image(["red", "green", "blue"])
        second, regions_b = squares_image(["green", "blue", "red"])
        batch = RegionBatch((ImageRegions(96, 96, regions_a), ImageRegions(96, 96, regions_b)))
        result = match(
            clip_pointing_at_green,
            torch.stack([first, second]),
            batch,
            "the green one",
            context_pad=0.0,
        )
    finally:
        handle.remove()
    assert calls == [6]
    assert [item.regions[0].label for item in result.chosen] == ["green", "green"]
    assert [item.regions[0].box[0] for item in result.chosen] == [36.0, 4.0]


def test_nothing_to_match_follows_policy(tiny_models):
    clip = load_model(CLIP, tiny_models["clip"])
    image = torch.rand(1, 40, 50, 3)
    empty = RegionBatch((ImageRegions(50, 40, ()),))
    with (
        pytest.raises(
            PinpointError,
            match="Match: nothing to match 'a cat' against .* Fix: lower the detector threshold",
        ),
        reported_as("Match"),
    ):
        match(clip, image, empty, "a cat")
    whole = match(clip, image, empty, "a cat", if_nothing_found="whole image")
    assert [region.box for region in whole.chosen[0].regions] == [(0.0, 0.0, 50.0, 40.0)]
    assert "whole image used" in whole.chosen[0].note
    blank = match(clip, image, empty, "a cat", if_nothing_found="empty mask")
    assert blank.chosen[0].regions == ()
    assert "empty mask" in format_scores(blank.scored, blank.chosen)


def test_min_probability_can_reject_everything(clip_pointing_at_green):
    image, regions = squares_image(["red", "green", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    with pytest.raises(
        PinpointError, match="no region matched 'the green one' with probability >= 0.99"
    ):
        match(clip_pointing_at_green, image[None], batch, "the green one", min_probability=0.99)


def test_empty_text_and_mismatched_regions_are_refused(tiny_models):
    clip = load_model(CLIP, tiny_models["clip"])
    image, regions = squares_image(["red", "green", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    with pytest.raises(PinpointError, match="the text is empty"):
        MatchRequest(clip, image[None], batch, "  ")
    with pytest.raises(PinpointError, match="regions cover 1"):
        MatchRequest(clip, torch.stack([image, image]), batch, "x")


def test_score_candidates_math():
    regions = (
        Region((0, 0, 1, 1), "a", 0.2, "t"),
        Region((1, 1, 2, 2), "b", 0.9, "t"),
    )
    scored = score_candidates(regions, torch.tensor([0.30, 0.20]), 100.0, 0.5)
    probability_a = torch.softmax(torch.tensor([30.0, 20.0], dtype=torch.float64), 0)[0].item()
    assert scored[0].label == "a"
    assert scored[0].probability == pytest.approx(probability_a)
    assert scored[0].score == pytest.approx(0.5 * probability_a + 0.5 * 0.2)
    assert scored[1].score == pytest.approx(0.5 * (1 - probability_a) + 0.5 * 0.9)


# Masked crops ---------------------------------------------------------------------------------


def test_masked_crops_keep_the_mask_and_paint_the_rest_neutral():
    torch.manual_seed(0)
    image = torch.rand(40, 50, 3)
    mask = torch.zeros(40, 50)
    mask[10:30, 12:20] = 1
    mask[14:18, 25:33] = 1  # two blobs: the box (12, 10, 33, 30) holds pixels of neither
    box_area = torch.zeros(40, 50)
    box_area[5:12, 5:15] = 1
    found = ImageRegions(
        50,
        40,
        (
            Region((12.0, 10.0, 33.0, 30.0), "segment", 0.5, "test", mask=mask),
            Region((5.0, 5.0, 15.0, 12.0), "box only", 0.5, "test"),
        ),
    )
    neutral = (0.2, 0.4, 0.6)
    fill = np.array([51, 102, 153], dtype=np.uint8)  # round(255 * neutral)
    pixels = (image * 255).round().to(torch.uint8).numpy()
    boxes = crop_regions(image, found, 0.25)
    masked = crop_regions(image, found, 0.25, crop=CropMode.MASKED, neutral=neutral)
    # each box grown by 0.25 of its larger side (5.25 and 2.5 px), out to whole pixels
    windows = [(6, 4, 39, 36), (2, 2, 18, 15)]
    for (x0, y0, x1, y1), inside, box_crop, masked_crop in zip(
        windows, (mask, box_area), boxes, masked, strict=True
    ):
        inside = inside[y0:y1, x0:x1].bool().numpy()
        assert inside.any() and (~inside).any()
        assert np.array_equal(box_crop, pixels[y0:y1, x0:x1])
        assert masked_crop.shape == box_crop.shape and masked_crop.dtype == np.uint8
        assert np.array_equal(masked_crop[inside], box_crop[inside])
        assert (masked_crop[~inside] == fill).all()


def test_masked_mode_shows_clip_the_segment_alone(tiny_models):
    image = torch.full((96, 96, 3), 0.5)
    image[4:28, 4:28] = torch.tensor(COLOURS["green"])
    image[4:28, 36:60] = torch.tensor(COLOURS["red"])
    mask = torch.zeros(96, 96)
    mask[4:28, 4:28] = 1
    segment = Region((4.0, 4.0, 60.0, 28.0), "segment", 0.5, "test", mask=mask)
    red = Region((36.0, 4.0, 60.0, 28.0), "red", 0.5, "test")
    batch = RegionBatch((ImageRegions(96, 96, (segment, red)),))
    clip = load_model(CLIP, tiny_models["clip"])
    mean = np.array(clip.processor.image_processor.image_mean)
    alone = np.empty((24, 56, 3), dtype=np.uint8)
    alone[:] = np.round(mean * 255).astype(np.uint8)  # CLIP's neutral colour
    alone[:, :24] = (0, 255, 0)
    clip = point_text_at(clip, alone, "the green segment")

    def similarity(crop: str) -> float:
        result = match(clip, image[None], batch, "the green segment", context_pad=0.0, crop=crop)
        if crop == "masked":
            assert [region.label for region in result.chosen[0].regions] == ["segment"]
        (found,) = [r for r in result.scored[0].regions if r.label == "segment"]
        return found.similarity

    assert similarity("masked") == pytest.approx(1.0, abs=1e-4)
    assert similarity("box") < 1.0 - 1e-3  # the box also holds the red square


def test_unknown_crop_mode_is_refused_up_front(tiny_models):
    clip = load_model(CLIP, tiny_models["clip"])
    image, regions = squares_image(["red", "green", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    expected = "Match: crop is 'tight'. Fix: pick one of 'box', 'masked'."
    calls, handle = vision_calls(clip)
    try:
        with pytest.raises(PinpointError) as refused, reported_as("Match"):
            MatchRequest(clip, image[None], batch, "the green one", crop="tight")
    finally:
        handle.remove()
    assert str(refused.value) == expected
    assert calls == []
    # crop_regions takes the checked member; the check is the one the request makes
    with pytest.raises(PinpointError) as refused, reported_as("Match"):
        CropMode.check("tight", "crop")
    assert str(refused.value) == expected
    assert MatchRequest(clip, image[None], batch, "x", crop="masked").crop is CropMode.MASKED


def test_pick_chooses_among_the_candidates_passing_min_probability(clip_pointing_at_green):
    image, regions = squares_image(["green", "red", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))

    def chosen(pick: str, min_probability: float, top_k: int = 1) -> list[str]:
        result = match(
            clip_pointing_at_green,
            image[None],
            batch,
            "the green one",
            context_pad=0.0,
            top_k=top_k,
            min_probability=min_probability,
            pick=pick,
        )
        return [region.label for region in result.chosen[0].regions]

    assert chosen("rightmost", 0.0) == ["blue"]  # every candidate competes
    assert chosen("all matches", 0.0) == chosen("best", 0.0, top_k=3)
    scored = match(clip_pointing_at_green, image[None], batch, "the green one", context_pad=0.0)
    second = scored.scored[0].regions[1].probability
    assert len(chosen("all matches", second)) == 2  # the best two pass the threshold
    assert chosen("rightmost", scored.scored[0].regions[0].probability) == ["green"]
    with (
        pytest.raises(PinpointError, match=r"^Match: pick is 'left'\. Fix: pick one of"),
        reported_as("Match"),
    ):
        chosen("left", 0.0)


# Candidate numbers and pins ----------------------------------------------------------------------


def test_numbers_follow_detection_order_whatever_the_text(clip_pointing_at_colours):
    image, regions = squares_image(["blue", "green", "red"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    ranks = {}
    for text in ("the green one", "the red one"):
        result = match(clip_pointing_at_colours, image[None], batch, text, context_pad=0.0)
        scored = result.scored[0].regions
        assert {region.label: region.number for region in scored} == {
            "blue": 1,
            "green": 2,
            "red": 3,
        }
        ranks[text] = [region.number for region in scored]
        assert result.pinned == (frozenset(),)
    assert ranks["the green one"][0] == 2 and ranks["the red one"][0] == 3  # ranks change
    for text in ("the green one", "the red one"):  # the same pin, the same candidate
        pinned = match(clip_pointing_at_colours, image[None], batch, text, context_pad=0.0, pin="1")
        assert [region.label for region in pinned.chosen[0].regions] == ["blue"]


def test_a_pinned_candidate_is_chosen_even_when_it_scores_worst(clip_pointing_at_green):
    image, regions = squares_image(["red", "green", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    free = match(clip_pointing_at_green, image[None], batch, "the green one")
    worst = free.scored[0].regions[-1]
    assert worst.label != "green" and worst.probability < 0.99
    result = match(
        clip_pointing_at_green,
        image[None],
        batch,
        "the green one",
        min_probability=0.99,  # would reject every candidate but green
        pick="rightmost",
        pin=str(worst.number),
    )
    (chosen,) = result.chosen[0].regions
    assert chosen is result.scored[0].regions[-1]  # the scored object itself, ranked last
    assert chosen.label == worst.label and chosen.number == worst.number
    assert result.chosen[0].note == f"pinned #{worst.number}"
    assert result.pinned == (frozenset({worst.number}),)
    both = match(clip_pointing_at_green, image[None], batch, "the green one", pin="3 1")
    assert [region.number for region in both.chosen[0].regions] == [
        region.number for region in both.scored[0].regions if region.number in (1, 3)
    ]  # every pinned candidate, in score order, top_k=1 notwithstanding


def test_a_pin_for_one_image_leaves_the_others_to_pick(clip_pointing_at_green):
    first, regions_a = squares_image(["red", "green", "blue"])
    second, regions_b = squares_image(["green", "blue", "red"])
    batch = RegionBatch((ImageRegions(96, 96, regions_a), ImageRegions(96, 96, regions_b)))
    result = match(
        clip_pointing_at_green,
        torch.stack([first, second]),
        batch,
        "the green one",
        context_pad=0.0,
        pin="2:3",
    )
    assert [[r.label for r in item.regions] for item in result.chosen] == [["green"], ["red"]]
    assert [item.note for item in result.chosen] == ["", "pinned #3"]
    assert result.pinned == (frozenset(), frozenset({3}))


def test_a_bad_pin_fails_before_clip_runs(clip_pointing_at_green):
    image, regions = squares_image(["red", "green", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    calls, handle = vision_calls(clip_pointing_at_green)
    try:
        with pytest.raises(PinpointError) as refused, reported_as("Match"):
            MatchRequest(clip_pointing_at_green, image[None], batch, "the green one", pin="4")
        assert str(refused.value) == (
            "Match: pin names candidate #4 but image 1 has 3 candidate(s). Fix: pick a number "
            "from the scores table or clear pin."
        )
        with (
            pytest.raises(PinpointError, match=r"^Match: pin 'two' is not a list of candidate"),
            reported_as("Match"),
        ):
            MatchRequest(clip_pointing_at_green, image[None], batch, "the green one", pin="two")
        with pytest.raises(PinpointError, match=r"names image 2 but the batch has 1 image"):
            MatchRequest(clip_pointing_at_green, image[None], batch, "the green one", pin="2:1")
        empty = RegionBatch((ImageRegions(96, 96, ()),))
        with pytest.raises(PinpointError, match=r"candidate #1 but image 1 has 0 candidate"):
            MatchRequest(clip_pointing_at_green, image[None], empty, "x", pin="1")
    finally:
        handle.remove()
    assert calls == []


def test_scores_table_and_rows_show_the_candidate_numbers(clip_pointing_at_green):
    image, regions = squares_image(["red", "green", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    result = match(clip_pointing_at_green, image[None], batch, "the green one", pin="3")
    table = format_scores(result.scored, result.chosen).splitlines()
    assert table[0] == "image 1: 3 candidate(s), 1 chosen - pinned #3"
    assert table[1].startswith("  #2 green ")  # best score, not chosen: the pin wins
    numbers = [region.number for region in result.scored[0].regions]
    assert [line[2:4] for line in table[1:]] == [f"#{n}" for n in numbers]
    assert [line[1] for line in table[1:]] == ["*" if n == 3 else " " for n in numbers]
    rows = candidate_rows(result)
    assert [row["number"] for row in rows] == numbers
    assert json.loads(json.dumps(rows)) == rows
    (blue,) = [row for row in rows if row["number"] == 3]
    best = result.scored[0].regions[0]
    assert rows[0] == {
        "image": 1,
        "number": 2,
        "label": "green",
        "score": best.score,
        "probability": best.probability,
        "confidence": 0.1,
        "chosen": False,
        "pinned": False,
    }
    assert blue["label"] == "blue" and blue["chosen"] and blue["pinned"]
    assert sum(row["chosen"] for row in rows) == 1


# The request -------------------------------------------------------------------------------------


def test_the_request_stores_checked_settings(tiny_models):
    clip = load_model(CLIP, tiny_models["clip"])
    image, regions = squares_image(["red", "green", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    request = MatchRequest(
        clip,
        image[None],
        batch,
        "  the red one \n",
        pick="leftmost",
        crop="masked",
        if_nothing_found="whole image",
        pin=" 3, 1 ",
    )
    assert request.text == "the red one"
    assert request.pick is Pick.LEFTMOST and request.crop is CropMode.MASKED
    assert request.if_nothing_found is IfNothingFound.WHOLE_IMAGE
    assert request.pinned == (frozenset({1, 3}),)
    default = MatchRequest(clip, image[None], batch, "x")
    assert (default.pick, default.top_k, default.crop, default.pinned) == (
        Pick.BEST,
        1,
        CropMode.BOX,
        (frozenset(),),
    )


@pytest.mark.parametrize(
    "settings, fragment",
    [
        (dict(pick="left"), "pick is 'left'. Fix: pick one of 'best', 'all matches', "),
        (dict(top_k=0), "top_k is 0. Fix: set top_k to 1 or more"),
        (dict(top_k=-2), "top_k is -2"),
        (dict(crop="tight"), "crop is 'tight'. Fix: pick one of 'box', 'masked'"),
        (dict(if_nothing_found="skip"), "if_nothing_found is 'skip'. Fix: pick one of 'error'"),
        (dict(text=""), "the text is empty. Fix: type what you mean, e.g. 'the red car'"),
        (dict(text=" \n "), "the text is empty"),
        (dict(pin="4"), "pin names candidate #4 but image 1 has 3 candidate(s)"),
        (dict(pin="1:2, 1:5"), "pin names candidate #5 but image 1 has 3 candidate(s)"),
        (dict(pin="two"), "pin 'two' is not a list of candidate numbers"),
        (dict(pin="2:1"), "pin '2:1' names image 2 but the batch has 1 image(s)"),
        (
            dict(images=torch.rand(2, 96, 96, 3)),
            "the image batch has 2 image(s) but the regions cover 1. Fix: use the regions found "
            "on this same image batch",
        ),
        (
            dict(images=torch.rand(1, 96, 90, 3)),
            "regions of image 1 were found on a 96x96 image but this image is 90x96. Fix: use "
            "the regions found on this same image batch",
        ),
        (dict(images=torch.rand(1, 96, 96, 4)), "the image is RGBA (4 channels)"),
    ],
)
def test_the_request_refuses_bad_settings_at_construction(tiny_models, settings, fragment):
    clip = load_model(CLIP, tiny_models["clip"])
    image, regions = squares_image(["red", "green", "blue"])
    inputs = dict(images=image[None], regions=RegionBatch((ImageRegions(96, 96, regions),)))
    inputs |= dict(text="the green one") | settings
    calls, handle = vision_calls(clip)
    try:
        with pytest.raises(PinpointError, match="^Pinpoint: .*" + re.escape(fragment)):
            MatchRequest(clip, **inputs)
    finally:
        handle.remove()
    assert calls == []
