"""Edit lists: parsing, several masks inpainted in one pass each from its own prompt, and the
whole pipeline with three edits on one image (rigged detector and CLIP, real tiny SD)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from rigs import COLOURS, detector_finding, point_texts_at, solid, vision_calls
from routes import diffusers_layers

from pinpoint.crop import CropRequest, plan_layers
from pinpoint.edit_list import EditLine, EditSettings, parse_edit_line, parse_edit_list
from pinpoint.errors import PinpointError, reported_as
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP, DETECTOR, INPAINT
from pinpoint.masks import feather_mask
from pinpoint.metrics import MetricsRequest, measure_edits
from pinpoint.pipeline import edit
from pinpoint.ranking import RankSettings
from pinpoint.repaint import repaint
from pinpoint.selection import Pick


def error_text(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)


# Parsing ---------------------------------------------------------------------------------------


def test_lines_options_comments_and_defaults():
    text = """
    # what changes
    the cat => a small red fox
    the car on the left => a blue pickup | pick = leftmost; top_k=2
    the people => marble statues | pick=all matches; min_probability=0.25
    """
    defaults = EditLine("", "", Pick.BEST, 1, 0.1)
    edits = parse_edit_list(text.splitlines(), defaults)
    assert edits == (
        EditLine("the cat", "a small red fox", Pick.BEST, 1, 0.1),
        EditLine("the car on the left", "a blue pickup", Pick.LEFTMOST, 2, 0.1),
        EditLine("the people", "marble statues", Pick.ALL, 1, 0.25),
    )
    assert str(edits[0]) == "the cat => a small red fox"
    assert parse_edit_list(["a => b"]) == (EditLine("a", "b"),)  # Match's defaults


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("the cat a fox", "'the cat a fox' has no '=>'"),
        (" => a fox", "does not say what to find"),
        ("the cat =>  ", "does not say what it becomes"),
        ("the cat => a fox | colour=red", "'colour=red' in 'the cat => a fox | colour=red' is not"),
        ("the cat => a fox | top_k", "'top_k' in"),
        ("the cat => a fox | top_k=two", "top_k=two is not a whole number"),
        ("the cat => a fox | top_k=0", "top_k is 0"),
        ("the cat => a fox | min_probability=2", "min_probability=2"),
        ("the cat => a fox | min_probability=much", "min_probability=much is not a number"),
        ("the cat => a fox | pick=middle", "pick"),
    ],
)
def test_a_bad_line_is_named_with_its_number(line, fragment):
    with pytest.raises(PinpointError) as excinfo, reported_as("Edit by Text"):
        parse_edit_list(["a => b", "", line])
    text = error_text(excinfo)
    assert text.startswith("Edit by Text: line 3: ") and fragment in text and "Fix: " in text


def test_an_empty_list_is_refused():
    for lines in ([], ["", "  # only a comment"]):
        with pytest.raises(PinpointError, match="the edit list is empty") as excinfo:
            parse_edit_list(lines)
        assert "the cat => a small red fox" in error_text(excinfo)


def test_a_prompt_may_hold_commas_and_arrows_only_once():
    (line,) = parse_edit_list(["the cat => a fox, small and red => odd"])
    assert line.prompt == "a fox, small and red => odd"
    assert parse_edit_line("x => y |", EditLine("", "")) == EditLine("x", "y")


# Several masks, one pass ------------------------------------------------------------------------

SQUARES = {"red": (12, 12), "green": (60, 12), "blue": (36, 60)}
"""Colour → top-left corner of its 24x24 square in :func:`three_squares`: far enough from the
edges that every crop window is the same square, alone or in a batch."""


def three_squares() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A grey 96x96 image with a red, a green and a blue square, and each square's mask."""
    image = torch.full((1, 96, 96, 3), 0.5)
    masks = {}
    for name, (x, y) in SQUARES.items():
        image[0, y : y + 24, x : x + 24] = torch.tensor(COLOURS[name])
        mask = torch.zeros(1, 96, 96)
        mask[0, y : y + 24, x : x + 24] = 1.0
        masks[name] = mask
    return image, masks


@pytest.fixture(scope="module")
def pipe(tiny_models):
    return load_model(INPAINT, tiny_models["inpaint"])


def layers(pipe, image, masks, prompts, **settings):
    """One layer per mask and prompt, with quick settings (``settings`` override)."""
    settings = dict(steps=2, feather_px=4, context=0.25) | settings
    return diffusers_layers(pipe, image, masks, prompts, **settings)


def test_each_area_comes_from_its_own_prompt_in_one_pass(pipe):
    image, masks = three_squares()
    order = ["red", "green", "blue"]
    prompts = ["a small red fox", "a blue pickup", "a green parrot"]
    calls = []
    real = pipe.pipe.__call__
    recording = dataclasses.replace(pipe, pipe=lambda **kw: calls.append(kw) or real(**kw))
    together = repaint(layers(recording, image, [masks[n] for n in order], prompts))
    assert len(calls) == 1 and calls[0]["prompt"] == prompts  # three crops, one pipeline call
    outside = torch.ones(96, 96, dtype=torch.bool)
    for position, name in enumerate(order):
        alone = repaint(layers(pipe, image, [masks[name]], [prompts[position]]))
        other = repaint(layers(pipe, image, [masks[name]], [prompts[position - 1]]))
        area = feather_mask(masks[name], 4)[0] > 0
        outside &= ~area
        got = together.images[0][area]
        # the crop sampled in the batch is the crop sampled alone with its own prompt
        assert torch.allclose(got, alone.images[0][area], atol=1e-4), name
        assert not torch.allclose(got, other.images[0][area], atol=1e-2), name
    assert torch.equal(together.images[0][outside], image[0][outside])


def test_a_later_layer_is_painted_over_an_earlier_one(pipe):
    image = torch.rand(1, 64, 64, 3)
    first = torch.zeros(1, 64, 64)
    first[0, 10:40, 10:40] = 1
    second = torch.zeros(1, 64, 64)
    second[0, 25:55, 25:55] = 1
    both = repaint(layers(pipe, image, [first, second], ["a cat", "a dog"], feather_px=0))
    last = repaint(layers(pipe, image, [second], ["a dog"], feather_px=0))
    overlap = (first[0] > 0) & (second[0] > 0)
    # where they overlap, the second edit's pixels are on top (as its own run paints them, up
    # to the batch's shared crop size)
    plan = plan_layers(layers(pipe, image, [first, second], ["a", "b"]).crops)
    assert [piece.layer for piece in plan.pieces] == [0, 1]
    assert (plan.pieces[0].width, plan.pieces[0].height) == (plan.pieces[1].width, 64)
    assert torch.allclose(both.images[0][overlap], last.images[0][overlap], atol=1e-4)
    assert not torch.allclose(both.images[0][overlap], image[0][overlap], atol=1e-2)


def test_layers_share_the_sampling_settings(pipe):
    """One request holds one sampler and one set of crop settings for every layer, so edits
    sampled together cannot differ in them; plans of other images or sizes are refused."""
    image, masks = three_squares()
    with pytest.raises(PinpointError, match="different images or crop sizes"):
        plan_layers(
            [CropRequest(image, masks["red"]), CropRequest(image, masks["red"], resolution=64)]
        )


def test_an_image_no_layer_touches_is_noted_and_unchanged(pipe):
    images = torch.rand(2, 48, 48, 3)
    mask = torch.zeros(2, 48, 48)
    mask[0, 10:30, 10:30] = 1
    result = repaint(layers(pipe, images, [mask, torch.zeros(2, 48, 48)], ["a", "b"]))
    assert result.notes == ("image 2: empty mask, left unchanged",)
    assert torch.equal(result.images[1], images[1])


# The whole pipeline ----------------------------------------------------------------------------


def normalised(x: int, y: int, size: int = 24, image: int = 96) -> tuple[float, ...]:
    """``cx, cy, w, h`` of a square at ``(x, y)`` in an ``image``-sized picture."""
    return ((x + size / 2) / image, (y + size / 2) / image, size / image, size / image)


@pytest.fixture(scope="module")
def rigged(tiny_models):
    """A DETR finding the three squares, and a CLIP reading 'the red/green/blue one'."""
    detector = detector_finding(
        load_model(DETECTOR, tiny_models["detector"]),
        [normalised(*SQUARES[name]) for name in ("red", "green", "blue")],
    )
    texts = {f"the {name} one": solid(name) for name in ("red", "green", "blue")}
    clip = point_texts_at(load_model(CLIP, tiny_models["clip"]), texts)
    return detector, clip


SETTINGS = EditSettings(threshold=0.5, steps=2, grow_px=0, feather_px=4, context=0.25)


def test_three_edits_change_three_areas_each_from_its_own_prompt(rigged, pipe):
    detector, clip = rigged
    image, masks = three_squares()
    edits = parse_edit_list(
        ["the red one => a small red fox", "the green one => a parrot", "the blue one => a truck"]
    )
    calls, handle = vision_calls(clip)
    result = edit(detector, clip, pipe, image, edits, SETTINGS)
    handle.remove()
    assert calls == [3]  # CLIP saw the three candidates once, for all three edits
    changed_line = edit(
        detector,
        clip,
        pipe,
        image,
        (*edits[:1], dataclasses.replace(edits[1], prompt="a cat"), edits[2]),
        SETTINGS,
    )
    chosen = [outcome.chosen[0].regions[0].box for outcome in result.edits]
    assert chosen == [
        pytest.approx((x, y, x + 24, y + 24), abs=1e-3)
        for x, y in (SQUARES["red"], SQUARES["green"], SQUARES["blue"])
    ]
    areas = {
        name: feather_mask(outcome.mask, 4)[0] > 0
        for name, outcome in zip(SQUARES, result.edits, strict=True)
    }
    for name, area in areas.items():
        assert bool(area[masks[name][0] > 0].all()), name  # the square, and a pixel of rounding
        assert int(area.sum()) <= int((feather_mask(masks[name], 5)[0] > 0).sum()), name
    outside = ~(areas["red"] | areas["green"] | areas["blue"])
    assert torch.equal(result.images[0][outside], image[0][outside])
    for name, area in areas.items():
        assert not torch.allclose(result.images[0][area], image[0][area], atol=1e-2), name
    # only the edit whose prompt changed looks different
    assert torch.allclose(
        result.images[0][areas["red"]], changed_line.images[0][areas["red"]], atol=1e-4
    )
    assert torch.allclose(
        result.images[0][areas["blue"]], changed_line.images[0][areas["blue"]], atol=1e-4
    )
    assert not torch.allclose(
        result.images[0][areas["green"]], changed_line.images[0][areas["green"]], atol=1e-2
    )
    assert torch.equal(result.mask, torch.stack([o.mask for o in result.edits]).amax(0))
    assert result.scores.startswith("edit 1: the red one => a small red fox\nimage 1: 3 candidate")
    assert result.preview.shape == image.shape


def test_a_line_that_finds_nothing_is_reported_per_line(rigged, pipe):
    detector, clip = rigged
    image, _ = three_squares()
    edits = parse_edit_list(
        ["the red one => a fox", "the green one => a parrot | min_probability=0.999999"]
    )
    with pytest.raises(PinpointError) as excinfo:
        edit(detector, clip, pipe, image, edits, SETTINGS)
    assert error_text(excinfo).startswith("Match: edit 2 ('the green one'): no region matched")
    skipped = edit(
        detector,
        clip,
        pipe,
        image,
        edits,
        dataclasses.replace(SETTINGS, if_nothing_found="empty mask"),
    )
    assert skipped.edits[1].chosen[0].regions == ()
    assert skipped.notes == (
        "edit 2 ('the green one'): image 1: no region matched 'the green one' with probability "
        ">= 1.00: empty mask",
    )


def test_bad_sampling_settings_fail_before_any_model_runs(rigged, pipe):
    detector, clip = rigged
    image, _ = three_squares()
    unrunnable = dataclasses.replace(detector, model=None)
    with pytest.raises(PinpointError, match="^Inpaint: steps=0"):
        edit(
            unrunnable,
            clip,
            pipe,
            image,
            parse_edit_list(["a => b"]),
            dataclasses.replace(SETTINGS, steps=0),
        )


def test_candidates_are_sampled_together_and_the_best_by_its_score_is_kept(rigged, pipe):
    """Three candidates of two edits: candidate j is the one-candidate run with seed + j, the
    table's scores are each candidate's mean S over the edits, and the highest is kept."""
    detector, clip = rigged
    image, _ = three_squares()
    edits = parse_edit_list(["the red one => a small red fox", "the blue one => a truck"])
    ranking = RankSettings(alpha=1.0, beta=0.5)
    calls = []
    original = pipe.pipe.__class__.__call__

    def counted(self, *args, **kwargs):
        calls.append(len(kwargs["image"]))
        return original(self, *args, **kwargs)

    pipe.pipe.__class__.__call__ = counted
    try:
        result = edit(detector, clip, pipe, image, edits, SETTINGS, candidates=3, ranking=ranking)
    finally:
        pipe.pipe.__class__.__call__ = original
    assert calls == [4, 2]  # 2 edits x 3 candidates = 6 crops, 4 per sampling call
    singles = [
        edit(detector, clip, pipe, image, edits, dataclasses.replace(SETTINGS, seed=seed)).images
        for seed in range(3)
    ]
    expected = []
    for outcome in result.edits:
        measured = measure_edits(
            MetricsRequest(
                clip,
                image,
                torch.cat(singles),
                outcome.mask[0],
                outcome.edit.prompt,
                outcome.edit.find,
            )
        )
        expected.append([ranking.score(m) for m in measured])
    totals = torch.tensor(expected).sum(dim=0)
    winner = int(totals.argmax())
    header, *lines = result.ranking.splitlines()
    assert header == f"image 1: candidate {winner + 1} of 3 kept"
    for line, scores in zip(lines, expected, strict=True):
        assert [float(v) for v in line.split(": ")[1].split()] == pytest.approx(scores, abs=2e-3)
    assert result.images.shape == image.shape
    assert torch.allclose(result.images, singles[winner], atol=1e-4)
    with pytest.raises(PinpointError, match="candidates is 0"):
        edit(detector, clip, pipe, image, edits, SETTINGS, candidates=0)
