"""Harmonised stitching (S0): a sampler's colour shift on a crop is corrected so the seam
disappears, the edit's own content stays, nothing outside the feathered mask moves, and 0 is
exactly the plain stitch."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from routes import diffusers_edit, inpaint

from pinpoint.crop import CropRequest, crop_for_inpaint
from pinpoint.errors import PinpointError
from pinpoint.harmonise import harmonise_seam
from pinpoint.loading import load_model
from pinpoint.loading.kinds import INPAINT
from pinpoint.masks import feather_mask
from pinpoint.stitch import stitch_crops

SHIFT = torch.tensor([0.15, -0.1, 0.05])
"""What the "sampler" does to the colours of everything it returns."""


def scene(height: int = 96, width: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth background and a mask over a rectangle in it."""
    rows, cols = torch.meshgrid(
        torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij"
    )
    image = torch.stack([0.3 + 0.4 * cols, 0.5 + 0.1 * rows, 0.6 - 0.3 * rows], dim=-1)
    mask = torch.zeros(1, height, width)
    mask[0, 30:66, 40:88] = 1.0
    return image[None], mask


def shifted_sampler(crops: torch.Tensor) -> torch.Tensor:
    """The crops with their colours shifted and a dark object painted in the middle."""
    out = (crops + SHIFT).clamp(0, 1)
    height, width = out.shape[1:3]
    out[:, height * 2 // 5 : height * 3 // 5, width * 2 // 5 : width * 3 // 5] = 0.1
    return out


def seam_gap(result: torch.Tensor, image: torch.Tensor, blend: torch.Tensor) -> float:
    """Mean change over the feathered edge, where new and old content meet."""
    edge = (blend > 0) & (blend < 1)
    return float((result - image).abs()[edge].mean())


def test_the_seam_matches_and_the_edit_stays():
    image, mask = scene()
    crops = crop_for_inpaint(CropRequest(image, mask, resolution=64, feather_px=8))
    sampled = shifted_sampler(crops.images)
    plain = stitch_crops(crops.plan, sampled)
    matched = stitch_crops(crops.plan, sampled, harmonise=1.0)
    blend = feather_mask(mask, 8)
    assert seam_gap(matched, image, blend) < 0.05 * seam_gap(plain, image, blend)
    outside = blend == 0
    assert torch.equal(matched[outside], image[outside])
    assert torch.equal(plain[outside], image[outside])
    middle = matched[0, 44:52, 58:70]  # the dark object is still there, as dark as painted
    assert (
        float(middle.mean()) < 0.15 and float((matched - image).abs()[0, 44:52, 58:70].mean()) > 0.3
    )
    half = stitch_crops(crops.plan, sampled, harmonise=0.5)
    assert (
        seam_gap(matched, image, blend)
        < seam_gap(half, image, blend)
        < seam_gap(plain, image, blend)
    )


@settings(max_examples=25, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**31 - 1),
    st.floats(min_value=0.0, max_value=1.0),
    st.integers(min_value=0, max_value=16),
)
def test_outside_the_feathered_mask_nothing_moves(seed, strength, feather):
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 40, 56, 3, generator=generator)
    mask = (torch.rand(1, 40, 56, generator=generator) > 0.97).to(torch.float32)
    mask[0, 10:20, 15:30] = 1.0
    crops = crop_for_inpaint(CropRequest(image, mask, resolution=32, feather_px=feather))
    sampled = torch.rand(crops.images.shape, generator=generator)
    result = stitch_crops(crops.plan, sampled, harmonise=strength)
    outside = feather_mask(mask, feather) == 0
    assert torch.equal(result[outside], image[outside])
    assert 0.0 <= float(result.min()) and float(result.max()) <= 1.0
    if strength == 0:
        assert torch.equal(result, stitch_crops(crops.plan, sampled))


def test_a_window_without_context_is_left_as_sampled():
    original, sampled = torch.zeros(8, 8, 3), torch.rand(8, 8, 3)
    assert harmonise_seam(original, sampled, torch.ones(8, 8), 1.0) is sampled
    assert harmonise_seam(original, sampled, torch.zeros(8, 8), 0.0) is sampled


def test_the_diffusers_route_harmonises_only_inside(tiny_models):
    pipe = load_model(INPAINT, tiny_models["inpaint"])
    image, mask = scene(64, 80)
    common = dict(prompt="a dog", steps=2, seed=1, feather_px=6)
    plain = inpaint(pipe, image, mask, **common).images
    off = inpaint(pipe, image, mask, harmonise=0.0, **common).images
    matched = inpaint(pipe, image, mask, harmonise=1.0, **common).images
    assert torch.equal(plain, off)
    outside = feather_mask(mask, 6) == 0
    assert torch.equal(matched[outside], image[outside])
    assert not torch.equal(matched, plain)
    blend = feather_mask(mask, 6)
    assert seam_gap(matched, image, blend) < seam_gap(plain, image, blend)


@pytest.mark.parametrize("strength", [-0.1, 1.5])
def test_a_strength_out_of_range_is_refused(tiny_models, strength):
    pipe = load_model(INPAINT, tiny_models["inpaint"])
    image, mask = scene(32, 32)
    with pytest.raises(PinpointError, match=f"harmonise is {strength}. Fix: use 0 \\(off\\) to 1"):
        diffusers_edit(pipe, image, mask, "a dog", harmonise=strength)
    crops = crop_for_inpaint(CropRequest(image, mask, resolution=32))
    with pytest.raises(PinpointError, match=f"harmonise is {strength}"):
        stitch_crops(crops.plan, crops.images, harmonise=strength)
