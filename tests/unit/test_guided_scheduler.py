"""Guidance on the diffusers route, with constructed answers: a stand-in guidance that moves
the clean prediction by a known amount shows the scheduler then predicts exactly that; a rigged
CLIP (the edit text IS a red picture's embedding) turns the guided area red through the real
tiny inpainting pipeline; scale 0 is the plain route bit for bit; TAESD files load from
ComfyUI's layout; unsupported samplers are house errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from rigs import point_text_at, solid
from routes import diffusers_edit, diffusers_layers

from pinpoint.clip_embed import embed_pixels
from pinpoint.diffusers_sampler import Scheduler
from pinpoint.errors import PinpointError
from pinpoint.guidance import GuidanceRecipe
from pinpoint.guidance_settings import GuidanceSettings
from pinpoint.guided_scheduler import GuidedScheduler, decoder_shape
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP, INPAINT
from pinpoint.loading.taesd import load_taesd
from pinpoint.masks import feather_mask
from pinpoint.repaint import repaint
from pinpoint.tiny.taesd import build_tiny_taesd

SIZE = 64


@pytest.fixture(scope="module")
def pipe(tiny_models):
    return load_model(INPAINT, tiny_models["inpaint"])


@pytest.fixture(scope="module")
def rigged(tiny_models):
    """ "a red fox" is the embedding of a solid red picture."""
    return point_text_at(load_model(CLIP, tiny_models["clip"]), solid("red"), "a red fox")


def scene() -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.full((1, SIZE, SIZE, 3), 0.5)
    mask = torch.zeros(1, SIZE, SIZE)
    mask[0, 16:48, 16:48] = 1.0
    return image, mask


class Shift:
    """A stand-in guidance: moves the clean prediction by ``delta`` at every step."""

    def __init__(self, delta: float):
        self.delta, self.settings = delta, GuidanceSettings(scale=1.0, end=1.0)

    def step(self, latent, decode):
        return latent + self.delta


@pytest.mark.parametrize(
    "name, prediction",
    [
        ("DDIMScheduler", "epsilon"),
        ("DDIMScheduler", "v_prediction"),
        ("DDIMScheduler", "sample"),
        ("EulerDiscreteScheduler", "epsilon"),
        ("EulerDiscreteScheduler", "v_prediction"),
    ],
)
def test_the_scheduler_predicts_the_moved_clean_latent(pipe, name, prediction):
    import diffusers

    config = dict(pipe.pipe.scheduler.config) | {
        "prediction_type": prediction,
        "clip_sample": False,
    }
    plain, guided_inner = (getattr(diffusers, name).from_config(config) for _ in range(2))
    guided = GuidedScheduler(guided_inner, [None, Shift(0.25)], lambda x: x)
    for scheduler in (plain, guided):
        scheduler.set_timesteps(5)
    sample = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    for t in plain.timesteps[:3]:
        output = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(int(t)))
        want = plain.step(output, t, sample)
        got = guided.step(output, t, sample)
        clean_want, clean_got = want.pred_original_sample, got.pred_original_sample
        torch.testing.assert_close(clean_got[0], clean_want[0], rtol=0, atol=0)  # not guided
        torch.testing.assert_close(clean_got[1], clean_want[1] + 0.25, rtol=1e-4, atol=1e-4)
        sample = want.prev_sample
    assert guided.timesteps is guided_inner.timesteps  # the rest is the real scheduler


def recipe(clip, scale: float, **settings) -> GuidanceRecipe:
    chosen = GuidanceSettings(scale=scale, end=1.0, mse_weight=0.0, cutouts=4, **settings)
    return GuidanceRecipe(clip, "a red fox", chosen)


def redness(clip, images: torch.Tensor, mask: torch.Tensor) -> float:
    """CLIP cosine of the masked area (grey outside) with the red picture's embedding."""
    red = torch.tensor(solid("red")).permute(2, 0, 1)[None].float() / 255
    pixels = images.permute(0, 3, 1, 2)
    inside = pixels * mask[:, None] + 0.5 * (1 - mask[:, None])
    inside = torch.nn.functional.interpolate(inside, size=(32, 32), mode="area")
    with torch.no_grad():
        return float(embed_pixels(clip, inside) @ embed_pixels(clip, red)[0])


def run(pipe, guidance, scheduler=Scheduler.DDIM, **settings):
    image, mask = scene()
    request = diffusers_edit(
        pipe, image, mask, "a fox", steps=6, scheduler=scheduler, guidance=guidance, **settings
    )
    return repaint(request).images


@pytest.mark.parametrize("scheduler", Scheduler.values())
def test_scale_zero_is_the_plain_route_bit_for_bit(pipe, rigged, scheduler):
    assert torch.equal(run(pipe, recipe(rigged, 0.0), scheduler), run(pipe, None, scheduler))


@pytest.mark.parametrize("scheduler", [Scheduler.DDIM, Scheduler.OWN, Scheduler.EULER])
def test_guidance_turns_the_area_towards_the_text(pipe, rigged, scheduler):
    _, mask = scene()
    plain = run(pipe, None, scheduler)
    guided = run(pipe, recipe(rigged, 0.3), scheduler)
    assert redness(rigged, guided, mask) > redness(rigged, plain, mask)
    inside = (guided - plain)[0, 16:48, 16:48]
    assert float(inside[..., 0].mean() - inside[..., 2].mean()) > 0.015  # redder, not other
    outside = feather_mask(mask, 8)[0] == 0
    assert torch.equal(guided[0][outside], scene()[0][0][outside])  # the stitch's guarantee


def test_an_unguided_edit_sampled_beside_a_guided_one_is_unchanged(pipe, rigged):
    image, _ = scene()
    left, right = torch.zeros(1, SIZE, SIZE), torch.zeros(1, SIZE, SIZE)
    left[0, 8:40, 4:28], right[0, 8:40, 36:60] = 1.0, 1.0

    def layers(guidance):
        request = diffusers_layers(pipe, image, [left, right], ["a fox", "a hat"], steps=4)
        fox, hat = request.layers
        guided = (dataclasses.replace(fox, guidance=guidance), hat)
        return repaint(dataclasses.replace(request, layers=guided)).images

    guided, plain = layers(recipe(rigged, 0.5)), layers(None)
    # past the left area's 8-pixel feather, only the right edit's pixels
    torch.testing.assert_close(guided[0, :, 38:], plain[0, :, 38:], rtol=0, atol=1e-6)
    assert not torch.allclose(guided[0, :, :32], plain[0, :, :32], atol=1e-3)


def test_a_taesd_file_in_comfyuis_layout_loads_as_diffusers_tiny_decoder(tmp_path):
    _, decoder = build_tiny_taesd(tmp_path / "vae_approx")
    taesd = load_taesd(decoder)
    assert load_taesd(decoder) is taesd  # loaded once
    state = torch.load(decoder, weights_only=True)  # the file's layer 1 (after its clamp) ...
    assert torch.equal(taesd.decoder.layers[0].weight, state["1.weight"])  # ... is layer 0
    assert torch.equal(taesd.decoder.layers[-1].bias, state[f"{len(taesd.decoder.layers)}.bias"])
    assert decoder_shape(taesd) == (8, 4)  # SD's latents: 4 channels at 1/8


def test_a_tiny_autoencoder_decodes_the_guided_steps(pipe, rigged):
    """A diffusers ``AutoencoderTiny`` given as the decoder decodes every guided step (one
    shaped like the tiny pipeline's VAE: 4 channels, 2x)."""
    from diffusers import AutoencoderTiny

    small = AutoencoderTiny(
        encoder_block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8),
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
    ).eval()
    calls = []
    hook = small.decoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        guided = run(pipe, dataclasses.replace(recipe(rigged, 0.5), decoder=small))
    finally:
        hook.remove()
    assert len(calls) == 6  # every step guided, each decoded by it
    assert not torch.equal(guided, run(pipe, None))


def test_bad_decoders_and_samplers_are_house_errors(pipe, rigged, tmp_path):
    import diffusers

    _, taesd = build_tiny_taesd(tmp_path)
    image, mask = scene()
    with pytest.raises(PinpointError, match="another model family.*taesdxl_decoder for SDXL"):
        guidance = dataclasses.replace(recipe(rigged, 0.5), decoder=load_taesd(taesd))
        diffusers_edit(pipe, image, mask, "a fox", guidance=guidance)
    with pytest.raises(PinpointError, match="does not exist.*taesd_decoder"):
        load_taesd(tmp_path / "nothing.safetensors")
    encoder = tmp_path / "taesd_encoder.pth"
    with pytest.raises(PinpointError, match="no TAESD decoder"):
        load_taesd(encoder)
    heun = diffusers.HeunDiscreteScheduler.from_config(pipe.pipe.scheduler.config)
    other = dataclasses.replace(
        pipe,
        pipe=diffusers.StableDiffusionInpaintPipeline(**pipe.pipe.components | {"scheduler": heun}),
    )
    image, mask = scene()
    with pytest.raises(PinpointError, match="cannot steer the HeunDiscreteScheduler.*DDIM"):
        diffusers_edit(other, image, mask, "a fox", guidance=recipe(rigged, 0.5))
    diffusers_edit(other, image, mask, "a fox", guidance=recipe(rigged, 0.0))  # off: fine
    diffusers_edit(other, image, mask, "a fox", guidance=recipe(rigged, 0.5), scheduler="DDIM")


class Stop(Exception):
    """What a Cancel raises from the progress callback."""


def test_progress_moves_and_cancel_stops_between_guided_steps(pipe, rigged, monkeypatch):
    import pinpoint.guidance

    guided_steps, seen = [], []
    real = pinpoint.guidance.Guidance.step

    def counting(self, latent, decode):
        guided_steps.append(1)
        return real(self, latent, decode)

    monkeypatch.setattr(pinpoint.guidance.Guidance, "step", counting)
    image, mask = scene()
    request = diffusers_edit(
        pipe, image, mask, "a fox", steps=5, scheduler="DDIM", guidance=recipe(rigged, 0.3)
    )
    repaint(request, lambda done, total: seen.append((done, total)))
    assert seen == [(step, 5) for step in range(1, 6)] and len(guided_steps) == 5

    def cancel_at_two(done, total):
        if done == 2:
            raise Stop

    guided_steps.clear()
    with pytest.raises(Stop):
        repaint(request, cancel_at_two)
    assert len(guided_steps) == 2  # no guided step after the Cancel
