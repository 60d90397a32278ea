"""CLIP guidance (S2) with constructed answers: the tiny CLIP's text tower rigged so the edit
text IS a known picture's embedding, a pixel "latent" decoded by the identity. The region loss
pulls the guided image towards that picture, the background losses pull the outside towards
the source, scale 0 changes nothing, and bad settings are house errors."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from rigs import point_text_at, point_texts_at, solid

from pinpoint.clip_embed import embed_pixels
from pinpoint.errors import PinpointError
from pinpoint.guidance import Guidance, GuidanceRecipe, GuidanceTarget
from pinpoint.guidance_settings import GuidanceSettings
from pinpoint.loading import PerceptualNet, load_model
from pinpoint.loading.kinds import CLIP, PERCEPTUAL

SIZE = 32


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
    for build in (
        lambda: GuidanceTarget(rigged, "  ", source, mask),
        lambda: GuidanceRecipe(rigged, "", GuidanceSettings()),
    ):
        with pytest.raises(PinpointError) as caught:
            build()
        assert caught.value.problem == "the text is empty"  # not "the the text is empty"
        assert caught.value.fix == "type what you mean, e.g. 'a blue pickup truck'"
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


# --- S3: style losses ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def styled(clip):
    """ "a blue photo" is a blue picture's embedding, "a photo" a grey one's: the text direction
    is grey → blue."""
    grey = np.full((SIZE, SIZE, 3), 128, dtype=np.uint8)
    return point_texts_at(clip, {"a blue photo": solid("blue"), "a photo": grey})


def blueness(latent: torch.Tensor) -> float:
    pixels = identity(latent)
    return float(pixels[:, 2].mean() - pixels[:, 0].mean())


def test_the_directional_losses_turn_the_image_along_the_text_direction(styled):
    source = torch.full((1, SIZE, SIZE, 3), 0.5)
    whole = torch.ones(1, SIZE, SIZE)
    target = GuidanceTarget(styled, "a blue photo", source, whole, source_text="a photo")
    start = source.permute(0, 3, 1, 2).clone() + 0.01 * torch.randn(1, 3, SIZE, SIZE)
    for weights in (dict(global_weight=1.0), dict(patch_weight=1.0, patch_threshold=0.0)):
        settings = GuidanceSettings(scale=0.05, region_weight=0.0, mse_weight=0.0, **weights)
        guidance, latent = Guidance(target, settings), start
        for _ in range(10):
            latent = guidance.step(latent, identity)
        assert blueness(latent) > blueness(start) + 0.05, weights
    everything_dropped = GuidanceSettings(
        scale=0.05, region_weight=0.0, mse_weight=0.0, patch_weight=1.0, patch_threshold=2.0
    )
    assert Guidance(target, everything_dropped).step(start, identity) is start


def test_content_and_total_variation_pull_towards_the_source_structure(clip):
    vgg = PerceptualNet("random-vgg16", Path("random-vgg16.pth"), "vgg16", vgg16_features())
    line = torch.linspace(0, 1, SIZE)
    rows, cols = torch.meshgrid(line, line, indexing="ij")
    source = torch.stack([rows, cols, 1 - rows], dim=-1)[None]
    whole = torch.ones(1, SIZE, SIZE)
    noisy = (source.permute(0, 3, 1, 2) + 0.3 * torch.randn(1, 3, SIZE, SIZE)).clamp(0, 1)
    target = GuidanceTarget(clip, "a photo", source, whole, vgg_net=vgg)
    only = dict(scale=0.02, region_weight=0.0, mse_weight=0.0)
    content = Guidance(target, GuidanceSettings(**only, content_weight=1.0))
    smooth = Guidance(target, GuidanceSettings(**only, tv_weight=1.0))
    for guidance in (content, smooth):
        latent, losses = noisy, []
        for _ in range(8):
            losses.append(float(guidance.loss(identity(latent))))
            latent = guidance.step(latent, identity)
        assert losses[-1] < 0.8 * losses[0]


def test_style_losses_say_what_they_need(clip, tiny_models):
    source, mask = scene()
    target = GuidanceTarget(clip, "a blue photo", source, mask)
    with pytest.raises(PinpointError, match="need the source text"):
        Guidance(target, GuidanceSettings(global_weight=1.0))
    with pytest.raises(PinpointError, match="no VGG16 is connected. Fix: connect"):
        Guidance(target, GuidanceSettings(content_weight=1.0))
    squeeze = load_model(PERCEPTUAL, tiny_models["perceptual"])
    with pytest.raises(PinpointError, match="the content loss needs VGG16, but"):
        GuidanceTarget(clip, "a blue photo", source, mask, vgg_net=squeeze)


def vgg16_features() -> torch.nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.vgg16(weights=None).features.eval().requires_grad_(False)


def test_guidance_works_inside_inference_mode_as_comfyui_runs_it(tiny_models):
    """ComfyUI runs every node under torch.inference_mode(): the models are loaded there and
    the sampler's latents are made there. A guided step inside it equals one outside it."""
    source, mask = scene()
    settings = GuidanceSettings(
        scale=0.05, cutouts=4, global_weight=1.0, tv_weight=1.0, lpips_weight=10.0,
        content_weight=1.0,
    )  # fmt: skip
    clip = load_model(CLIP, tiny_models["clip"])
    lpips = load_model(PERCEPTUAL, tiny_models["perceptual"])
    vgg = PerceptualNet("random-vgg16", Path("random-vgg16.pth"), "vgg16", vgg16_features())
    latent = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))

    def target(clip, lpips, vgg) -> GuidanceTarget:
        return GuidanceTarget(
            clip, "a fox", source, mask, lpips_net=lpips, source_text="a photo", vgg_net=vgg
        )

    outside = Guidance(target(clip, lpips, vgg), settings).step(latent, identity)
    with torch.inference_mode():  # as ComfyUI loads models and samples
        there = [
            dataclasses.replace(model, model=copy.deepcopy(model.model))
            for model in (clip, lpips, vgg)
        ]
        assert all(torch.is_inference(next(m.model.parameters())) for m in there)
        inside = Guidance(target(*there), settings).step(latent.clone(), identity)
    assert torch.allclose(inside, outside, atol=1e-5) and not torch.equal(inside, latent)
