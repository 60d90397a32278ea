"""Match: CLIP scoring on real (tiny, random) CLIP weights with a constructed answer."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from pinpoint.errors import PinpointError
from pinpoint.loading import load_clip
from pinpoint.match import format_scores, match_text, score_candidates
from pinpoint.regions import ImageRegions, Region, RegionBatch

COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


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
    """A tiny CLIP whose text tower maps the query exactly onto a solid green image's embedding.

    The image tower is untouched (random); only the text projection is set, by a rank-1 matrix,
    so that text_projection(pooled("the green one")) == image embedding of a green picture.
    """
    clip = load_clip(tiny_models["clip"])
    clip = dataclasses.replace(clip, model=copy.deepcopy(clip.model))
    model = clip.model
    green = torch.zeros(32, 32, 3, dtype=torch.uint8)
    green[..., 1] = 255
    with torch.no_grad():
        pixels = clip.processor.image_processor(images=[green.numpy()], return_tensors="pt")[
            "pixel_values"
        ]
        target = model.visual_projection(model.vision_model(pixel_values=pixels).pooler_output)[0]
        tokens = clip.processor.tokenizer(["the green one"], return_tensors="pt")
        pooled = model.text_model(**tokens).pooler_output[0]
        model.text_projection.weight.copy_(torch.outer(target, pooled) / pooled.dot(pooled))
    return clip


def test_matcher_picks_the_region_whose_embedding_matches(clip_pointing_at_green):
    for order in (["red", "green", "blue"], ["green", "blue", "red"], ["blue", "red", "green"]):
        image, regions = squares_image(order)
        batch = RegionBatch((ImageRegions(96, 96, regions),))
        result = match_text(
            clip_pointing_at_green, image[None], batch, "the green one", context_pad=0.0
        )
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
    result = match_text(
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
    calls = []
    handle = clip_pointing_at_green.model.vision_model.register_forward_hook(
        lambda module, args, kwargs, output: calls.append(kwargs["pixel_values"].shape[0]),
        with_kwargs=True,
    )
    try:
        first, regions_a = squares_image(["red", "green", "blue"])
        second, regions_b = squares_image(["green", "blue", "red"])
        batch = RegionBatch((ImageRegions(96, 96, regions_a), ImageRegions(96, 96, regions_b)))
        result = match_text(
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
    clip = load_clip(tiny_models["clip"])
    image = torch.rand(1, 40, 50, 3)
    empty = RegionBatch((ImageRegions(50, 40, ()),))
    with pytest.raises(
        PinpointError,
        match="Match: nothing to match 'a cat' against .* Fix: lower the detector threshold",
    ):
        match_text(clip, image, empty, "a cat")
    whole = match_text(clip, image, empty, "a cat", if_nothing_found="whole image")
    assert [region.box for region in whole.chosen[0].regions] == [(0.0, 0.0, 50.0, 40.0)]
    assert "whole image used" in whole.chosen[0].note
    blank = match_text(clip, image, empty, "a cat", if_nothing_found="empty mask")
    assert blank.chosen[0].regions == ()
    assert "empty mask" in format_scores(blank.scored, blank.chosen)


def test_min_probability_can_reject_everything(clip_pointing_at_green):
    image, regions = squares_image(["red", "green", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    with pytest.raises(
        PinpointError, match="no region matched 'the green one' with probability >= 0.99"
    ):
        match_text(
            clip_pointing_at_green, image[None], batch, "the green one", min_probability=0.99
        )


def test_empty_text_and_mismatched_regions_are_refused(tiny_models):
    clip = load_clip(tiny_models["clip"])
    image, regions = squares_image(["red", "green", "blue"])
    batch = RegionBatch((ImageRegions(96, 96, regions),))
    with pytest.raises(PinpointError, match="the text is empty"):
        match_text(clip, image[None], batch, "  ")
    with pytest.raises(PinpointError, match="regions cover 1"):
        match_text(clip, torch.stack([image, image]), batch, "x")


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
