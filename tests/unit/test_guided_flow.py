"""Guidance on flow-matching families, with constructed answers: a stand-in guidance that moves
the clean prediction by a known amount makes FlowMatchEulerDiscreteScheduler predict exactly
that, on 2x2-packed latents, at the place the pipeline packs it; guided steps decode the
family's latents as the pipeline does (unpacked, unscaled, shifted); a rigged CLIP turns the
guided area of a FLUX Fill edit towards the text; a decoder of another family is refused
before sampling."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch
from rigs import Recorder, point_text_at, solid
from routes import diffusers_edit
from test_guided_scheduler import Shift, recipe, redness

from pinpoint.diffusers_families import grid, pack, unpack
from pinpoint.diffusers_sampler import DiffusersSampler
from pinpoint.errors import PinpointError
from pinpoint.guided_scheduler import GuidedScheduler
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP, INPAINT
from pinpoint.loading.taesd import load_taesd
from pinpoint.masks import feather_mask
from pinpoint.repaint import repaint
from pinpoint.tiny.diffusion_parts import flow_scheduler
from pinpoint.tiny.taesd import build_tiny_taesd

RED_FOX = "a red fox"
"""The edit text the rigged CLIP reads as a solid red picture."""
ROWS, COLUMNS = 4, 6
"""The latent grid of the constructed steps (packed: 2 x 3 tokens)."""


@pytest.fixture(scope="module")
def fill(tiny_models):
    return load_model(INPAINT, tiny_models["flux_fill"])


@pytest.fixture(scope="module")
def rigged(tiny_models):
    return point_text_at(load_model(CLIP, tiny_models["clip"]), solid("red"), RED_FOX)


def clean_of(scheduler, before: torch.Tensor, after: torch.Tensor, index: int) -> torch.Tensor:
    """The clean latent a flow step from ``before`` to ``after`` predicted: the velocity is
    ``(after - before) / (σ' - σ)`` and ``x̂0 = x - σ v``."""
    sigma, following = float(scheduler.sigmas[index]), float(scheduler.sigmas[index + 1])
    velocity = (after - before) / (following - sigma)
    return before - sigma * velocity


class Poke:
    """A stand-in guidance: adds ``delta`` to one cell ``(channel, row, column)`` of the
    (unpacked) clean prediction."""

    def __init__(self, delta: float, cell: tuple[int, int, int]):
        self.delta, self.cell, self.settings = delta, cell, Shift(0).settings

    def step(self, latent, decode):
        moved = latent.clone()
        moved[(0, *self.cell)] += self.delta
        return moved


def steps(guidance, packed: bool = True) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(plain, guided)`` clean predictions of three steps of two items, the second guided."""
    plain, inner = flow_scheduler(dynamic=False), flow_scheduler(dynamic=False)
    layout = ((lambda t: unpack(t, ROWS, COLUMNS)), pack) if packed else ()
    guided = GuidedScheduler(inner, [None, guidance], lambda x: x, *layout)
    for scheduler in (plain, guided):
        scheduler.set_timesteps(5)
    shape = (2, ROWS * COLUMNS // 4, 64) if packed else (2, 16, ROWS, COLUMNS)
    sample = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    found = []
    for index, t in enumerate(plain.timesteps[:3]):
        output = torch.randn(shape, generator=torch.Generator().manual_seed(index))
        want = plain.step(output, t, sample).prev_sample
        got = guided.step(output, t, sample).prev_sample
        assert torch.equal(got[0], want[0])  # the unguided item is untouched
        found.append((clean_of(plain, sample, want, index), clean_of(plain, sample, got, index)))
        sample = want
    assert guided.timesteps is inner.timesteps  # the rest is the real scheduler
    return found


@pytest.mark.parametrize("packed", [False, True])
def test_a_flow_scheduler_predicts_the_moved_clean_latent(packed):
    for plain, guided in steps(Shift(0.25), packed):
        torch.testing.assert_close(guided[1], plain[1] + 0.25, rtol=0, atol=1e-4)


def test_a_guided_cell_moves_where_the_pipeline_packs_it(fill):
    """The moved cell lands on the token and channel FLUX's own packing gives that cell."""
    cell = (5, 3, 2)
    wanted = torch.zeros(1, 16, ROWS, COLUMNS)
    wanted[(0, *cell)] = 0.5
    stock = type(fill.pipe)._pack_latents(wanted, 1, 16, ROWS, COLUMNS)[0]
    for plain, guided in steps(Poke(0.5, cell)):
        torch.testing.assert_close(guided[1] - plain[1], stock, rtol=0, atol=1e-4)


def stock_decode(pipe, tokens: torch.Tensor) -> torch.Tensor:
    """Packed latents decoded as the stock FLUX and Qwen-Image pipelines decode them."""
    latent = type(pipe)._unpack_latents(tokens, ROWS * 8, COLUMNS * 8, pipe.vae_scale_factor)
    config = pipe.vae.config
    if latent.ndim == 5:  # Qwen-Image: per-channel statistics, a frame axis
        shape = (1, -1, 1, 1, 1)
        mean, std = (torch.tensor(config[k]).view(shape) for k in ("latents_mean", "latents_std"))
        return pipe.vae.decode(latent * std + mean).sample[:, :, 0]
    return pipe.vae.decode(latent / config.scaling_factor + config.shift_factor).sample


@pytest.mark.parametrize("key", ["flux_fill", "qwen_image"])
def test_guided_steps_decode_as_the_pipeline_does(key, tiny_models):
    """The decoder of guided steps gives, from the unpacked latent, what the stock pipeline's
    decode gives from the packed one (unpacked, unscaled, shifted, decoded)."""
    loaded = load_model(INPAINT, tiny_models[key])
    tokens = torch.randn(1, ROWS * COLUMNS // 4, 64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        theirs = stock_decode(loaded.pipe, tokens)
        own_vae = SimpleNamespace(decoder=None)  # a recipe without a decoder of its own
        ours = DiffusersSampler(loaded).decode(own_vae)(unpack(tokens, ROWS, COLUMNS))
    torch.testing.assert_close(ours, (theirs / 2 + 0.5).clamp(0, 1), rtol=0, atol=1e-5)


def test_packed_tokens_unpack_to_the_crops_grid_or_the_nearest_resized_one():
    """FLUX samples the crop's own grid; Qwen-Image-Edit a resize of it (about 1 MP, sides
    multiples of 32): of the ways to lay the tokens out, the one nearest the crop's aspect."""
    for rows, columns, aspect in [(12, 16, 128 / 96), (112, 148, 128 / 96), (16, 16, 1.0)]:
        tokens = torch.zeros(1, rows * columns // 4, 64)
        assert grid(tokens, aspect) == (rows, columns)


def run(pipe, guidance):
    image = torch.full((1, 64, 64, 3), 0.5)
    mask = torch.zeros(1, 64, 64)
    mask[0, 16:48, 16:48] = 1.0
    request = diffusers_edit(
        pipe, image, mask, "a fox", steps=4, resolution=64, guidance=guidance, seed=1
    )
    return repaint(request).images, image, mask


def test_guidance_turns_a_flux_fill_edit_towards_the_text(fill, rigged):
    plain, image, mask = run(fill, None)
    off, _, _ = run(fill, recipe(rigged, 0.0))
    assert torch.equal(off, plain)  # scale 0 is the plain route bit for bit
    guided, _, _ = run(fill, recipe(rigged, 0.5))
    assert redness(rigged, guided, mask) > redness(rigged, plain, mask)
    outside = feather_mask(mask, 8)[0] == 0
    assert torch.equal(guided[0][outside], image[0][outside])


def test_a_decoder_of_another_family_is_refused_before_sampling(fill, rigged, tmp_path):
    _, sd_taesd = build_tiny_taesd(tmp_path)  # SD's 4-channel latents
    spied = dataclasses.replace(fill, pipe=Recorder(fill.pipe))
    guidance = dataclasses.replace(recipe(rigged, 0.5), decoder=load_taesd(sd_taesd))
    with pytest.raises(PinpointError, match="another model family.*taef1_decoder for FLUX.1"):
        run(spied, guidance)
    assert spied.pipe.calls == []
