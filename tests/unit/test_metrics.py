"""Measuring and ranking edits with the tiny CLIP: constructed images (identical, changed only
inside, one pixel changed outside) and a CLIP whose text tower is rigged onto one candidate;
LPIPS outside the mask with the tiny random SqueezeNet, FID with a random Inception (checked
against torchmetrics' own FID built from the same file)."""

from __future__ import annotations

import pytest
import torch
from rigs import point_texts_at, vision_calls
from torchmetrics.functional.image import structural_similarity_index_measure

from pinpoint.errors import PinpointError
from pinpoint.loading import load_model
from pinpoint.loading.kinds import PERCEPTUAL
from pinpoint.loading.perceptual import NETWORKS
from pinpoint.metrics import (
    FID_CHUNK,
    MetricsRequest,
    _masked_crops,
    _ssim_maps,
    _uint8_batches,
    frechet_distance,
    measure_edits,
)
from pinpoint.preview import draw_ranked
from pinpoint.ranking import RankSettings, rank_edits

HEIGHT, WIDTH = 48, 64
INSIDE = (slice(10, 30), slice(20, 44))


@pytest.fixture(scope="module")
def lpips(tiny_models):
    return load_model(PERCEPTUAL, tiny_models["perceptual"])


@pytest.fixture(scope="module")
def inception(inception_file):
    return load_model(PERCEPTUAL, inception_file)


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
        (dict(text=" "), ": the text is empty"),  # not "the the text"
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


# LPIPS outside the mask and FID --------------------------------------------------------------


def test_lpips_outside_is_zero_unless_the_outside_changed(clip, lpips, source, mask):
    edits = torch.cat([source, candidates(source, 1), candidates(source, 1)])
    edits[2, 40:46, 2:12] = 0.9  # the third also changed outside
    ranked = rank_edits(MetricsRequest(clip, source, edits, mask, "a fox", lpips=lpips))
    untouched, inside_only, outside_too = ranked.metrics
    assert untouched.lpips_outside == 0.0 and inside_only.lpips_outside == 0.0
    assert outside_too.lpips_outside > 0 and outside_too.max_delta_outside > 0
    assert ranked.table.splitlines()[0].endswith("max_delta_out  lpips_out")
    row = next(line for line in ranked.table.splitlines()[1:] if line[7:18].strip() == "3")
    assert row.endswith(f"{outside_too.lpips_outside:9.4f}")
    (plain,) = measure_edits(MetricsRequest(clip, source, source.clone(), mask, "a fox"))
    assert plain.lpips_outside is None
    assert rank_edits(MetricsRequest(clip, source, edits, mask, "a fox")).table.endswith("-")


def test_the_wrong_network_is_refused_for_each_measure(clip, lpips, inception, source, mask):
    with pytest.raises(PinpointError) as caught:
        MetricsRequest(clip, source, source.clone(), mask, "a fox", lpips=inception)
    message = str(caught.value)
    assert "LPIPS outside the mask needs an LPIPS network, but 'random-inception.pth' is " in (
        message
    )
    assert NETWORKS["squeezenet1_1"].url in message
    with pytest.raises(PinpointError) as caught:
        frechet_distance(lpips, source.expand(2, -1, -1, -1), source.expand(2, -1, -1, -1))
    message = str(caught.value)
    assert f"FID needs the FID network, but '{lpips.name}' is squeezenet1_1" in message
    assert NETWORKS["inception_fid"].url in message and NETWORKS["alexnet"].url not in message


def test_fid_needs_two_images_a_set(inception, source):
    with pytest.raises(PinpointError, match="FID needs at least 2 sources but got 1"):
        frechet_distance(inception, source, source.expand(3, -1, -1, -1))
    with pytest.raises(PinpointError, match="FID needs at least 2 edits but got 0"):
        frechet_distance(inception, source.expand(2, -1, -1, -1), [])


def test_images_go_to_the_inception_in_runs_of_one_size():
    images = [torch.full((8, 6, 3), 0.5)] * (FID_CHUNK + 4) + [torch.ones(5, 7, 3)]
    batches = list(_uint8_batches(images, torch.device("cpu")))
    assert [tuple(b.shape) for b in batches] == [
        (FID_CHUNK, 3, 8, 6),
        (4, 3, 8, 6),
        (1, 3, 5, 7),
    ]
    assert batches[0].dtype == torch.uint8 and int(batches[0].max()) == 128  # 127.5 rounded
    assert int(batches[2].min()) == 255


def fid_sets() -> tuple[list[torch.Tensor], torch.Tensor]:
    """A source set of mixed sizes, and a darker set of four."""
    generator = torch.Generator().manual_seed(3)
    sources = [
        torch.rand(3, HEIGHT, WIDTH, 3, generator=generator),
        torch.rand(30, 40, 3, generator=generator),
    ]
    return sources, torch.rand(4, HEIGHT, WIDTH, 3, generator=generator) * 0.6


def test_fid_of_identical_sets_of_mixed_sizes_is_zero(inception):
    sources, _ = fid_sets()
    assert frechet_distance(inception, sources, [image.clone() for image in sources]) < 1e-3


def test_fid_equals_torchmetrics_fid_from_the_same_file_either_way_round(inception, inception_file):
    from torchmetrics.image.fid import FrechetInceptionDistance

    sources, edits = fid_sets()
    measured = frechet_distance(inception, edits, sources)
    assert measured > 1.0

    def uint8(images: torch.Tensor) -> torch.Tensor:
        return (images * 255).round().to(torch.uint8).permute(0, 3, 1, 2)

    reference = FrechetInceptionDistance(feature_extractor_weights_path=str(inception_file))
    reference.update(uint8(sources[0]), real=True)  # the other way round
    reference.update(uint8(sources[1][None]), real=True)
    reference.update(uint8(edits), real=False)
    assert measured == pytest.approx(float(reference.compute()), rel=1e-4)
