"""Previews and the score table: what the user sees about candidates and choices."""

from __future__ import annotations

import pytest
import torch

from pinpoint.match import format_scores
from pinpoint.preview import CANDIDATE, CHOSEN, NOTE_BACKGROUND, draw_regions, overlay_mask
from pinpoint.regions import ImageRegions, Region, RegionBatch


def colour_present(image: torch.Tensor, rgb: tuple[int, int, int]) -> bool:
    pixels = (image * 255).round().to(torch.int64)
    return bool((pixels == torch.tensor(rgb)).all(dim=-1).any())


def twins() -> tuple[Region, Region]:
    """Two candidates with the same box: only identity tells them apart."""
    first = Region(
        (10.0, 10.0, 40.0, 30.0), "car", 0.9, "t", similarity=0.3, probability=0.6, score=0.6
    )
    second = Region(
        (10.0, 10.0, 40.0, 30.0), "car", 0.8, "t", similarity=0.2, probability=0.4, score=0.4
    )
    return first, second


def test_chosen_and_candidates_are_drawn_in_their_colours():
    first, second = twins()
    other = Region((50.0, 5.0, 90.0, 55.0), "dog", 0.7, "t", probability=0.1)
    scored = RegionBatch((ImageRegions(100, 60, (first, second, other)),))
    chosen = RegionBatch((ImageRegions(100, 60, (first,)),))
    image = torch.zeros(1, 60, 100, 3)
    preview = draw_regions(image, scored, chosen)
    assert preview.shape == image.shape and preview.dtype == torch.float32
    assert colour_present(preview[0], CHOSEN) and colour_present(preview[0], CANDIDATE)
    assert not colour_present(preview[0], NOTE_BACKGROUND)


def test_nothing_found_note_is_shown_as_a_banner():
    whole = Region((0.0, 0.0, 100.0, 60.0), "whole image", 0.0, "if_nothing_found")
    scored = RegionBatch((ImageRegions(100, 60, ()),))
    chosen = RegionBatch(
        (ImageRegions(100, 60, (whole,), note="nothing detected: whole image used"),)
    )
    preview = draw_regions(torch.zeros(1, 60, 100, 3), scored, chosen)
    assert colour_present(preview[0], NOTE_BACKGROUND)
    assert colour_present(preview[0], CHOSEN)  # the whole-image box itself
    assert "whole image" in format_scores(scored, chosen)


def test_score_table_marks_only_the_chosen_twin():
    first, second = twins()
    scored = RegionBatch((ImageRegions(100, 60, (first, second)),))
    chosen = RegionBatch((ImageRegions(100, 60, (first,)),))
    table = format_scores(scored, chosen).splitlines()
    assert table[0] == "image 1: 2 candidate(s), 1 chosen"
    assert table[1].startswith(" *#1 car") and "p=0.600" in table[1] and "det=0.90" in table[1]
    assert table[2].startswith("  #2 car")


def test_region_masks_are_tinted_and_overlay_keeps_range():
    mask = torch.zeros(40, 60)
    mask[10:30, 10:30] = 1
    region = Region((10.0, 10.0, 30.0, 30.0), "x", 0.5, "t", mask=mask)
    image = torch.full((1, 40, 60, 3), 0.5)
    preview = draw_regions(image, RegionBatch((ImageRegions(60, 40, (region,)),)))
    grey = round(0.5 * 255) / 255  # previews are 8-bit pictures
    assert preview[0, 26, 26, 0] > grey + 0.1  # tinted inside the mask only
    assert preview[0, 35, 50].tolist() == pytest.approx([grey] * 3)
    tinted = overlay_mask(image, mask[None])
    assert tinted.min() >= 0 and tinted.max() <= 1
    assert torch.equal(tinted[0, 35, 50], image[0, 35, 50])


def test_neighbouring_segments_get_different_tints():
    left, right = torch.zeros(40, 60), torch.zeros(40, 60)
    left[:, :30], right[:, 30:] = 1, 1
    regions = tuple(
        Region((x0, 0.0, x0 + 30.0, 40.0), "seg", 0.5, "t", mask=mask)
        for x0, mask in ((0.0, left), (30.0, right))
    )
    image = torch.full((1, 40, 60, 3), 0.5)
    preview = draw_regions(image, RegionBatch((ImageRegions(60, 40, regions),)))
    assert (preview[0, 35, 10] - preview[0, 35, 50]).abs().max() > 0.2


def test_crop_preview_frames_each_window_and_shows_empty_mask_notes():
    from pinpoint.crop import CropRequest, crop_for_inpaint
    from pinpoint.preview import draw_crops

    images = torch.zeros(2, 60, 100, 3)
    masks = torch.zeros(2, 60, 100)
    masks[0, 20:30, 40:60] = 1
    request = CropRequest(images, masks, context=0.5, resolution=64, feather_px=0)
    plan = crop_for_inpaint(request).plan
    preview = draw_crops(plan)
    assert preview.shape == images.shape
    (piece,) = plan.pieces
    # the window's frame is drawn in the chosen colour, the mask tinted, image 2 gets the note
    assert colour_present(preview[0], CHOSEN)
    assert preview[0, 25, 50].sum() > 0 and piece.image_index == 0
    assert colour_present(preview[1], NOTE_BACKGROUND)
    assert not colour_present(preview[1], CHOSEN)
