"""Measuring and ranking edits with the tiny CLIP: constructed images (identical, changed only
inside, one pixel changed outside) and a CLIP whose text tower is rigged onto one candidate."""

from __future__ import annotations

import pytest
import torch
from rigs import point_texts_at, vision_calls
from torchmetrics.functional.image import structural_similarity_index_measure

from pinpoint.errors import PinpointError
from pinpoint.loading import CLIP, load_model
from pinpoint.metrics import (
    MetricsRequest,
    RankSettings,
    _masked_crops,
    _ssim_maps,
    measure_edits,
    rank_edits,
)
from pinpoint.preview import draw_ranked

HEIGHT, WIDTH = 48, 64
INSIDE = (slice(10, 30), slice(20, 44))


@pytest.fixture(scope="module")
def clip(tiny_models):
    return load_model(CLIP, tiny_models["clip"])


@pytest.fixture
def source() -> torch.Tensor:
    return torch.rand(1, HEIGHT, WIDTH, 3, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def mask() -> torch.Tensor:
    mask = torch.zeros(1, HEIGHT, WIDTH)
    mask[(0, *INSIDE)] = 1.0
    return mask


def candidates(source: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` edits of ``source``, each with its own random content inside the mask only."""
    edits = source.repeat(count, 1, 1, 1)
    noise = torch.rand(count, 20, 24, 3, generator=torch.Generator().manual_seed(1))
    edits[:, INSIDE[0], INSIDE[1]] = noise
    return edits


def test_an_untouched_image_measures_as_its_source(clip, source, mask):
    (same,) = measure_edits(MetricsRequest(clip, source, source.clone(), mask, "a fox", "a cat"))
    assert same.i2i == pytest.approx(1.0, abs=1e-5)
    assert same.ssim_inside == pytest.approx(1.0) and same.ssim_outside == pytest.approx(1.0)
    assert same.max_delta_outside == 0.0 and same.directional is not None
    assert same.mask_area == pytest.approx(20 * 24 / (HEIGHT * WIDTH))


def test_a_change_inside_moves_only_the_inside_measures(clip, source, mask):
    edits = candidates(source, 1)
    (changed,) = measure_edits(MetricsRequest(clip, source, edits, mask, "a fox"))
    assert changed.ssim_outside == pytest.approx(1.0) and changed.max_delta_outside == 0.0
    assert changed.ssim_inside < 0.5 and changed.i2i < 1.0
    assert changed.directional is None and changed.success is None  # no source text
    _, full = structural_similarity_index_measure(
        edits.permute(0, 3, 1, 2),
        source.permute(0, 3, 1, 2),
        data_range=1.0,
        return_full_image=True,
        reduction="none",
    )
    inside = full.mean(dim=1)[0][INSIDE]  # the library's map, averaged by hand
    assert changed.ssim_inside == pytest.approx(float(inside.mean()), abs=1e-6)


def test_ssim_is_computed_where_pixels_changed_and_equals_the_whole_image_map(source):
    edits = candidates(source, 3)
    edits[1, 40:44, 0:5] = 0.0  # a change far from the others, at the border
    full = structural_similarity_index_measure(
        edits.permute(0, 3, 1, 2),
        source.expand(3, -1, -1, -1).permute(0, 3, 1, 2),
        data_range=1.0,
        return_full_image=True,
        reduction="none",
    )[1].mean(dim=1)
    maps = _ssim_maps(edits, source.expand(3, -1, -1, -1))
    assert torch.allclose(maps, full, atol=1e-5)
    assert bool((maps[0, :, :5] == 1.0).all())  # untouched windows: exactly 1
    assert bool((_ssim_maps(source, source) == 1.0).all())


def test_one_pixel_changed_outside_is_caught_in_8_bit_levels(clip, source, mask):
    edit = source.clone()
    edit[0, 2, 3, 1] = (edit[0, 2, 3, 1] + 0.5) % 1.0
    (measured,) = measure_edits(MetricsRequest(clip, source, edit, mask, "a fox"))
    expected = abs(float(edit[0, 2, 3, 1] - source[0, 2, 3, 1])) * 255
    assert measured.max_delta_outside == pytest.approx(expected, abs=1e-3)
    assert measured.ssim_outside < 1.0


def test_ranking_picks_the_candidate_the_text_is_rigged_onto(clip, source, mask):
    edits = candidates(source, 5)
    crops = _masked_crops(clip, torch.cat([edits, source]), mask.expand(6, -1, -1), 0.1)
    for wanted in (3, 1):
        rigged = point_texts_at(clip, {"a small red fox": crops[wanted], "a cat": crops[5]})
        calls, hook = vision_calls(rigged)
        ranked = rank_edits(
            MetricsRequest(rigged, source, edits, mask, "a small red fox", "a cat"),
            RankSettings(alpha=1.0, beta=0.0, top_k=2),
        )
        hook.remove()
        assert len(calls) == 1  # 5 candidates and the source: one CLIP pass
        assert ranked.order[0] == wanted and len(ranked.order) == 2
        best = ranked.metrics[wanted]
        assert best.t2i == pytest.approx(1.0, abs=1e-4) and best.success is True
        assert best.directional > 0.5
        assert ranked.table.splitlines()[1].startswith(f"*    1  {wanted + 1:9d}")


def test_beta_prefers_the_candidate_closest_to_the_source(clip, source, mask):
    edits = torch.cat([candidates(source, 2), source])  # the third changed nothing
    ranked = rank_edits(MetricsRequest(clip, source, edits, mask, "a fox"), RankSettings(0.0, 1.0))
    assert ranked.order == (2,)


def test_the_contact_sheet_marks_the_kept_candidates(clip, source, mask):
    edits = candidates(source, 3)
    ranked = rank_edits(MetricsRequest(clip, source, edits, mask, "a fox"))
    sheet = draw_ranked(edits, mask.expand(3, -1, -1), ranked.scores, ranked.order)
    assert sheet.shape == edits.shape
    green = torch.tensor([40, 220, 90]) / 255
    greens = [int(((picture - green).abs().amax(-1) < 0.02).sum()) for picture in sheet]
    assert max(range(3), key=lambda i: greens[i]) == ranked.order[0]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (dict(masks=torch.zeros(1, HEIGHT, WIDTH)), "a mask is empty"),
        (dict(sources=torch.rand(1, 40, WIDTH, 3)), "the source is 64x40 but the edits are 64x48"),
        (dict(sources=torch.rand(2, HEIGHT, WIDTH, 3)), "2 sources for 3 edits"),
        (dict(text=" "), "the text is empty"),
        (dict(context_pad=-0.1), "context_pad is -0.1"),
    ],
)
def test_bad_input_is_refused(clip, source, mask, change, fragment):
    inputs = (
        dict(clip=clip, sources=source, edits=candidates(source, 3), masks=mask, text="a fox")
        | change
    )
    with pytest.raises(PinpointError, match=fragment):
        MetricsRequest(**inputs)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (dict(alpha=-1.0), "alpha is -1.0"),
        (dict(alpha=0.0, beta=0.0), "alpha and beta are both 0"),
        (dict(top_k=0), "top_k is 0"),
    ],
)
def test_bad_rank_settings_are_refused(change, fragment):
    with pytest.raises(PinpointError, match=fragment):
        RankSettings(**change)
