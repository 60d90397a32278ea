"""CLIP guidance (S2) with constructed answers: the tiny CLIP's text tower rigged so the edit
text IS a known picture's embedding, a pixel "latent" decoded by the identity. The region loss
pulls the guided image towards that picture, the background losses pull the outside towards
the source, scale 0 changes nothing, and bad settings are house errors."""

from __future__ import annotations

import pytest
import torch
from rigs import point_text_at, solid

from pinpoint.errors import PinpointError
from pinpoint.guidance import Guidance, GuidanceSettings, GuidanceTarget, embed_pixels
from pinpoint.loading import CLIP, PERCEPTUAL, load_model

SIZE = 32


@pytest.fixture(scope="module")
def clip(tiny_models):
    return load_model(CLIP, tiny_models["clip"])


@pytest.fixture(scope="module")
def rigged(clip):
    """ "a red fox" is the embedding of a solid red picture."""
    return point_text_at(clip, solid("red"), "a red fox")


def identity(latent: torch.Tensor) -> torch.Tensor:
    return latent.clamp(0, 1)


def scene() -> tuple[torch.Tensor, torch.Tensor]:
    source = torch.full((1, SIZE, SIZE, 3), 0.5)
    mask = torch.zeros(1, SIZE, SIZE)
    mask[0, 8:24, 8:24] = 1.0
    return source, mask


def closeness(clip, pixels: torch.Tensor, mask: torch.Tensor) -> float:
    """CLIP cosine of the masked area (outside grey) with "a red fox"'s embedding."""
    red = torch.tensor(solid("red")).permute(2, 0, 1)[None].float() / 255
    inside = pixels * mask[:, None] + 0.5 * (1 - mask[:, None])
    with torch.no_grad():
        return float(embed_pixels(clip, inside) @ embed_pixels(clip, red)[0])


def test_the_region_loss_pulls_the_area_towards_the_text(rigged):
    source, mask = scene()
    target = GuidanceTarget(rigged, "a red fox", source, mask)
    settings = GuidanceSettings(scale=0.05, region_weight=1.0, mse_weight=0.0, cutouts=4)
    guided = Guidance(target, settings)
    latent = source.permute(0, 3, 1, 2).clone()
    before = closeness(rigged, latent, mask)
    for _ in range(15):
        latent = guided.step(latent, identity)
    assert closeness(rigged, identity(latent), mask) > before + 0.05
    red = identity(latent)[0, 0, 8:24, 8:24].mean() - identity(latent)[0, 2, 8:24, 8:24].mean()
    assert red > 0.05  # it went red: the rigged text's picture, read through CLIP's gradient


def test_scale_zero_changes_nothing_and_the_schedule_picks_the_steps(rigged):
    source, mask = scene()
    latent = torch.rand(1, 3, SIZE, SIZE)
    off = Guidance(GuidanceTarget(rigged, "a red fox", source, mask), GuidanceSettings())
    assert off.step(latent, identity) is latent
    settings = GuidanceSettings(scale=1.0, start=0.2, end=0.8, every=2)
    assert [s for s in range(10) if settings.active(s, 10)] == [2, 4, 6]
    whole = GuidanceSettings(scale=1.0, end=1.0)
    assert [s for s in range(4) if whole.active(s, 4)] == [0, 1, 2, 3]
    assert not GuidanceSettings().active(0, 10)


def test_background_losses_pull_the_outside_to_the_source_and_leave_the_inside(rigged, tiny_models):
    source, mask = scene()
    noisy = (source.permute(0, 3, 1, 2) + 0.2 * torch.randn(1, 3, SIZE, SIZE)).clamp(0, 1)
    outside = (mask == 0)[:, None].expand(-1, 3, -1, -1)

    def error(latent):
        return float((identity(latent) - source.permute(0, 3, 1, 2))[outside].abs().mean())

    mse = Guidance(
        GuidanceTarget(rigged, "a red fox", source, mask),
        GuidanceSettings(scale=0.02, region_weight=0.0, mse_weight=1000.0),
    )
    latent = noisy
    for _ in range(10):
        latent = mse.step(latent, identity)
    assert error(latent) < 0.5 * error(noisy)
    assert torch.equal(latent[~outside], noisy[~outside])  # nothing asks the inside to move
    net = load_model(PERCEPTUAL, tiny_models["perceptual"])
    lpips = Guidance(
        GuidanceTarget(rigged, "a red fox", source, mask, lpips_net=net),
        GuidanceSettings(scale=1.0, region_weight=0.0, mse_weight=0.0, lpips_weight=1000.0),
    )
    losses = []
    latent = noisy
    for _ in range(5):
        losses.append(float(lpips.loss(identity(latent))))
        latent = lpips.step(latent, identity)
    assert losses[-1] < losses[0]


def test_bad_guidance_is_a_house_error(rigged):
    source, mask = scene()
    with pytest.raises(PinpointError, match="no LPIPS network is connected"):
        target = GuidanceTarget(rigged, "a fox", source, mask)
        Guidance(target, GuidanceSettings(lpips_weight=1000.0))
    with pytest.raises(PinpointError, match="the text is empty"):
        GuidanceTarget(rigged, "  ", source, mask)
    with pytest.raises(PinpointError, match="the mask is 16x16 but the image is 32x32"):
        GuidanceTarget(rigged, "a fox", source, torch.ones(1, 16, 16))
    with pytest.raises(PinpointError, match="a mask is empty"):
        GuidanceTarget(rigged, "a fox", source, torch.zeros(1, SIZE, SIZE))
    guidance = Guidance(GuidanceTarget(rigged, "a fox", source, mask), GuidanceSettings(scale=1))
    with pytest.raises(PinpointError, match="the sampler's images are 1 of 64x64"):
        guidance.step(torch.rand(1, 3, 64, 64), identity)
    for settings, problem in (
        (dict(scale=-1.0), "scale is -1.0"),
        (dict(start=0.6, end=0.4), "the guided part runs from 0.6 to 0.4"),
        (dict(every=0), "every is 0"),
        (dict(cutouts=0), "cutouts is 0"),
    ):
        with pytest.raises(PinpointError, match=problem):
            GuidanceSettings(**settings)
