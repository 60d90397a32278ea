"""The crop → sample → stitch loop with a constructed sampler: each crop is painted a colour
named by its edit's prompt, so where every edit lands, in which calls, at which size and with
which seed is known exactly. The real samplers run through the same loop in test_inpaint,
test_edit_list (diffusers) and tests/comfy (ComfyUI)."""

from __future__ import annotations

import pytest
import torch
from rigs import COLOURS, point_texts_at, solid

from pinpoint.crop import Split, plan_crops
from pinpoint.errors import PinpointError
from pinpoint.loading import load_model
from pinpoint.loading.kinds import CLIP
from pinpoint.masks import feather_mask
from pinpoint.repaint import CropBatch, Layer, RepaintRequest, repaint, single_edit


class Painter:
    """A crop sampler that paints each crop's area the colour its prompt names, and records
    every call's crop sizes, prompts and seeds."""

    def __init__(self, native_size: int = 32, multiple: int = 16, crops_per_call: int = 4):
        self.native_size, self.multiple, self.crops_per_call = native_size, multiple, crops_per_call
        self.sizes: tuple[tuple[int, int], ...] = ()
        self.notes: tuple[str, ...] = ()
        self.calls: list[dict] = []

    def crop_sizes(self) -> tuple[tuple[int, int], ...]:
        return self.sizes

    def check(self, layer: Layer) -> Layer:
        if layer.prompt not in COLOURS:
            raise PinpointError(f"no colour is called {layer.prompt}", "name red, green or blue")
        return layer

    def sample(self, batch: CropBatch, on_step) -> list[torch.Tensor]:
        self.calls.append(
            dict(
                size=tuple(batch.crops.shape[1:3]),
                prompts=[layer.prompt for layer in batch.layers],
                seeds=list(batch.seeds),
            )
        )
        on_step(len(batch), len(batch))
        painted = batch.crops.clone()
        for index, layer in enumerate(batch.layers):
            painted[index][batch.areas[index] > 0] = torch.tensor(COLOURS[layer.prompt])
        return list(painted)


def colour_of(pixels: torch.Tensor) -> str | None:
    """The colour of :data:`COLOURS` every pixel of ``[..., 3]`` has (to 1e-3), else None."""
    for name, rgb in COLOURS.items():
        if torch.allclose(pixels, torch.tensor(rgb).expand_as(pixels), atol=1e-3):
            return name
    return None


def two_squares(batch: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    image = torch.rand(batch, 80, 120, 3, generator=torch.Generator().manual_seed(3))
    left, right = torch.zeros(batch, 80, 120), torch.zeros(batch, 80, 120)
    left[:, 10:30, 10:40] = 1.0
    right[:, 40:70, 70:110] = 1.0
    return image, left, right


def test_each_edit_lands_in_its_own_area_and_nothing_else_moves():
    image, left, right = two_squares()
    sampler = Painter()
    layers = (Layer(left, "red"), Layer(right, "blue"))
    result = repaint(RepaintRequest(sampler, image, layers, feather_px=0, context=0.25))
    assert colour_of(result.images[0, 12:28, 12:38]) == "red"  # inside, past resampled edges
    assert colour_of(result.images[0, 42:68, 72:108]) == "blue"
    outside = (left[0] == 0) & (right[0] == 0)
    assert torch.equal(result.images[0][outside], image[0][outside])
    # batched: the two crops share one size, a multiple of the sampler's step, in one call
    assert len(sampler.calls) == 1 and sampler.calls[0]["prompts"] == ["red", "blue"]
    height, width = sampler.calls[0]["size"]
    assert height % 16 == 0 and width % 16 == 0 and max(height, width) == 32  # native size


def test_a_later_edit_is_on_top_where_masks_overlap():
    image, left, _ = two_squares()
    both = repaint(
        RepaintRequest(Painter(), image, (Layer(left, "red"), Layer(left, "green")), feather_px=0)
    )
    assert colour_of(both.images[0, 12:28, 12:38]) == "green"


def test_calls_take_at_most_crops_per_call_and_a_single_edit_samples_each_crop_alone():
    image, left, right = two_squares(batch=3)
    sampler = Painter(crops_per_call=4)
    layers = (Layer(left, "red"), Layer(right, "blue"))
    repaint(RepaintRequest(sampler, image, layers, seed=10))
    assert [len(call["prompts"]) for call in sampler.calls] == [4, 2]
    seeds = [seed for call in sampler.calls for seed in call["seeds"]]
    assert seeds == [10, 11, 12, 10, 11, 12]  # image b's crops: seed + b, every edit
    wide, tall = torch.zeros(3, 80, 120), torch.zeros(3, 80, 120)
    wide[:, 10:30, 10:70], tall[:, 40:70, 90:110] = 1.0, 1.0
    alone = Painter()
    settings = dict(split=Split.ONE_PER_AREA, seed=10, context=0.0, resolution=64, feather_px=0)
    repaint(single_edit(alone, image, wide + tall, "red", **settings))
    assert [len(call["prompts"]) for call in alone.calls] == [1] * 6
    assert {call["size"] for call in alone.calls} == {(16, 64), (64, 48)}  # their own aspects


def test_progress_counts_every_crop_and_ends_full():
    image, left, right = two_squares(batch=3)
    seen = []
    layers = (Layer(left, "red"), Layer(right, "blue"))
    repaint(
        RepaintRequest(Painter(), image, layers), lambda done, total: seen.append((done, total))
    )
    assert seen == [(4, 6), (6, 6)]


def test_empty_masks_are_noted_and_left_unchanged():
    image, left, _ = two_squares(batch=2)
    left[1] = 0
    sampler = Painter()
    result = repaint(single_edit(sampler, image, left, "red"))
    assert torch.equal(result.images[1], image[1])
    assert result.notes == ("image 2: empty mask, left unchanged",)


@pytest.fixture(scope="module")
def clip(tiny_models):
    """A CLIP matcher for which 'a blue thing' is a blue picture's embedding."""
    return point_texts_at(load_model(CLIP, tiny_models["clip"]), {"a blue thing": solid("blue")})


class Alternating(Painter):
    """Paints a crop red or blue by its seed's parity: candidates differ in colour."""

    def sample(self, batch: CropBatch, on_step) -> list[torch.Tensor]:
        names = ["red" if seed % 2 == 0 else "blue" for seed in batch.seeds]
        batch = CropBatch(
            batch.crops,
            batch.areas,
            tuple(
                Layer(layer.masks, name) for layer, name in zip(batch.layers, names, strict=True)
            ),
            batch.seeds,
            batch.guides,
        )
        return super().sample(batch, on_step)


def test_candidates_are_sampled_together_and_the_one_the_text_names_is_kept(clip):
    image, left, _ = two_squares()
    sampler = Alternating()
    request = single_edit(
        sampler, image, left, "red", text="a blue thing", candidates=2, clip=clip, seed=4
    )
    result = repaint(request)
    assert [call["seeds"] for call in sampler.calls] == [[4], [5]]  # candidate j: seed + j
    assert colour_of(result.images[0, 12:28, 12:38]) == "blue"
    assert result.ranking.startswith("image 1: candidate 2 of 2 kept")
    assert result.images.shape == image.shape


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(candidates=0), "candidates is 0"),
        (dict(candidates=2), "no CLIP is connected to rank them"),
        (dict(prompt="purple"), "no colour is called purple"),
        (dict(resolution=8), "resolution is 8.*use at least 16"),
        (dict(harmonise=2.0), "harmonise is 2.0"),
        (dict(masks=torch.zeros(1, 10, 10)), "the mask is 10x10 but the image is 120x80"),
    ],
)
def test_bad_requests_are_refused_before_sampling(changes, message):
    image, left, _ = two_squares()
    sampler = Painter()
    arguments = dict(masks=left, prompt="red") | changes
    masks, prompt = arguments.pop("masks"), arguments.pop("prompt")
    with pytest.raises(PinpointError, match=message):
        single_edit(sampler, image, masks, prompt, **arguments)
    assert sampler.calls == []


def test_the_blend_keeps_pixels_past_the_feather_bit_identical():
    image, left, right = two_squares()
    result = repaint(RepaintRequest(Painter(), image, (Layer(left + right, "green"),)))
    outside = feather_mask(left + right, RepaintRequest.feather_px)[0] == 0
    assert torch.equal(result.images[0][outside], image[0][outside])


def test_a_crop_takes_the_preferred_size_closest_to_its_aspect_without_stretching():
    """A sampler that prefers a few sizes (as FLUX Kontext does) gets one of them: the crop
    whose window is wide takes the wide size, its window widened to that aspect, so the crop's
    content fills it (no padding, no stretch); a resolution given by the user wins."""
    image, _, _ = two_squares()
    wide = torch.zeros(1, 80, 120)
    wide[:, 30:44, 30:90] = 1.0
    sampler = Painter(native_size=64, multiple=16)
    sampler.sizes = ((64, 32), (48, 48), (32, 64))
    request = single_edit(sampler, image, wide, "red", feather_px=0, context=0.1)
    (piece,) = plan_crops(request.crops[0], same_size=False).pieces
    assert (piece.width, piece.height) == (64, 32)
    assert (piece.content_width, piece.content_height) == (64, 32)  # filled exactly
    assert (piece.x1 - piece.x0) == 2 * (piece.y1 - piece.y0)  # the window took its aspect
    repaint(request)
    assert sampler.calls[0]["size"] == (32, 64)
    free = single_edit(sampler, image, wide, "red", feather_px=0, context=0.1, resolution=96)
    assert free.crops[0].sizes == ()
    with pytest.raises(PinpointError, match="48x40 is not a multiple of 16"):
        sampler.sizes = ((48, 40),)
        single_edit(sampler, image, wide, "red")
