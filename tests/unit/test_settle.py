"""Settling an edit before the stitch, with constructed answers: a textured crop moved by a
known shift and zoom is measured back to it; a sampler that moves its whole crop lands its
pattern shifted unless the motion is undone; a sampler that paints past the mask keeps its
stroke only where the blend follows the edit, and nothing beyond the ring moves."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from rigs import checkerboard, pattern_shift

from pinpoint.align import Motion, _warp, measure_motion, undo_motion
from pinpoint.errors import PinpointError
from pinpoint.masks import feather_mask, grow_mask
from pinpoint.repaint import CropBatch, Layer, repaint, single_edit
from pinpoint.settle import SettleSettings


def texture(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """``[h, w, 3]`` smooth random texture with some finer detail."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 8, width // 8, generator=generator)
    fine = torch.rand(1, 3, height // 2, width // 2, generator=generator)
    image = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
    image = image + 0.3 * F.interpolate(fine, size=(height, width), mode="bilinear")
    return image.clamp(0, 1)[0].permute(1, 2, 0)


def moved(image: torch.Tensor, dx: float, dy: float, scale: float) -> torch.Tensor:
    """``image`` as a model that shifts the picture by ``(dx, dy)`` and zooms it by ``scale``
    returns it (the inverse of what :func:`undo_motion` applies)."""
    inverse = torch.tensor([-dx / scale, -dy / scale, -math.log(scale)])
    return _warp(image.permute(2, 0, 1)[None], inverse)[0].permute(1, 2, 0)


@pytest.mark.parametrize(
    "dx, dy, scale", [(3.2, -2.1, 1.03), (12.0, 7.5, 0.96), (-15.0, 0.0, 1.0), (0.4, -0.3, 1.005)]
)
def test_a_known_shift_and_zoom_are_measured_on_the_context(dx, dy, scale):
    source = texture(256, 320, seed=3)
    edited = moved(source, dx, dy, scale)
    context = torch.ones(256, 320)
    context[70:190, 100:230] = 0
    edited[70:190, 100:230] = torch.rand(120, 130, 3)  # the edit itself says nothing
    motion = measure_motion(source, edited, context)
    assert motion.dx == pytest.approx(dx, abs=0.25) and motion.dy == pytest.approx(dy, abs=0.25)
    assert motion.scale == pytest.approx(scale, abs=0.002)
    back = undo_motion(edited, motion)
    inner = (back - source)[32:-32, 32:-32].abs().mean(dim=-1)[context[32:-32, 32:-32] > 0]
    assert float(inner.mean()) < 0.04  # the context is back where it was (up to resampling)
    before = (edited - source)[32:-32, 32:-32].abs().mean(dim=-1)[context[32:-32, 32:-32] > 0]
    assert float(inner.mean()) < float(before.mean()) / 2


def test_an_edit_that_did_not_move_comes_back_untouched():
    source = texture(128, 128)
    context = torch.ones(128, 128)
    context[40:90, 40:90] = 0
    edited = source.clone()
    edited[40:90, 40:90] = 0.3
    motion = measure_motion(source, edited, context)
    assert motion.still and str(motion) == "did not move the picture"
    assert undo_motion(edited, motion) is edited
    assert measure_motion(source, edited, torch.zeros(128, 128)).still  # no context: no motion


@pytest.mark.parametrize("change", ["relit", "another picture"])
def test_a_context_changed_by_more_than_a_motion_is_not_moved(change):
    """An edit that relit the whole crop, or a model that returned another picture, is not a
    shift: no motion is reported and the edit is left as it came."""
    source = texture(192, 192, seed=1)
    context = torch.ones(192, 192)
    context[60:130, 60:130] = 0
    if change == "relit":
        edited = (0.35 + 0.5 * (1 - source)).clamp(0, 1)  # every tone turned
    else:
        edited = texture(192, 192, seed=9)
    motion = measure_motion(source, edited, context)
    assert motion.still and undo_motion(edited, motion) is edited
    assert str(Motion(2.0, -1.0, 1.02, 512)) == (
        "shifted the picture 2.0 px right and 1.0 px up, zoomed it 1.020x"
    )


class Mover:
    """A crop sampler that paints a checkerboard in the area, and a stroke ``tail`` pixels
    long to the right of it, then shifts and zooms the whole crop (as instruction editors do).
    """

    native_size, multiple, crops_per_call = 96, 8, 4
    notes: tuple[str, ...] = ()

    def __init__(self, dx: float = 0.0, dy: float = 0.0, scale: float = 1.0, tail: int = 0):
        self.dx, self.dy, self.scale, self.tail = dx, dy, scale, tail

    def crop_sizes(self) -> tuple[tuple[int, int], ...]:
        return ()

    def check(self, layer: Layer) -> Layer:
        return layer

    def sample(self, batch: CropBatch, on_step) -> list[torch.Tensor]:
        out = []
        for crop, area in zip(batch.crops, batch.areas, strict=True):
            painted = crop.clone()
            inside = area > 0
            pattern = checkerboard(*area.shape)
            painted[inside] = pattern[inside]
            if self.tail:
                rows = inside.any(dim=1).nonzero().flatten()
                right = int(inside.any(dim=0).nonzero().max())
                middle = slice(int(rows[len(rows) // 2]) - 2, int(rows[len(rows) // 2]) + 2)
                painted[middle, right + 1 : right + 1 + self.tail] = torch.tensor([1.0, 0, 0])
            out.append(moved(painted, self.dx, self.dy, self.scale))
        on_step(len(batch), len(batch))
        return out


def scene() -> tuple[torch.Tensor, torch.Tensor]:
    image = texture(128, 160, seed=5)[None]
    mask = torch.zeros(1, 128, 160)
    mask[0, 40:88, 56:104] = 1.0
    return image, mask


def test_the_models_shift_is_undone_before_the_stitch_and_reported():
    image, mask = scene()
    settings = dict(context=0.6, resolution=96, feather_px=4)
    box = (slice(44, 84), slice(60, 100))  # inside the object, away from the feather

    def shift_of(result) -> tuple[int, int]:
        plain = repaint(single_edit(Mover(), image, mask, "p", **settings)).images[0]
        return pattern_shift(plain[box], result.images[0][box])

    sampler = Mover(dx=4.0, dy=-3.0, scale=1.02)
    loose = repaint(single_edit(sampler, image, mask, "p", **settings))
    assert shift_of(loose) != (0, 0)  # pasted as the model moved it
    aligned = repaint(
        single_edit(sampler, image, mask, "p", settle=SettleSettings(align=True), **settings)
    )
    assert shift_of(aligned) == (0, 0)
    (note,) = aligned.notes
    assert note.startswith("image 1: the model shifted the picture") and note.endswith("undone")
    outside = feather_mask(mask, 4)[0] == 0
    assert torch.equal(aligned.images[0][outside], image[0][outside])


def test_the_blend_follows_a_stroke_past_the_mask_and_nothing_beyond_the_ring_moves():
    image, mask = scene()
    settings = dict(context=0.6, resolution=160, feather_px=2)
    sampler = Mover(tail=12)  # crop pixels; the crop is the window's size here
    cut_off = repaint(single_edit(sampler, image, mask, "p", **settings)).images[0]
    kept = repaint(
        single_edit(sampler, image, mask, "p", settle=SettleSettings(follow_px=16), **settings)
    ).images[0]
    red = torch.tensor([1.0, 0.0, 0.0])
    stroke = kept[63:65, 107:114]  # past the mask and its 2-px feather, inside the ring
    assert torch.allclose(stroke, red.expand_as(stroke), atol=0.05)
    assert not torch.allclose(cut_off[63:65, 107:114], red.expand_as(stroke), atol=0.2)
    ring = grow_mask(feather_mask(mask, 2), 16)[0] > 0
    assert torch.equal(kept[~ring], image[0][~ring])  # beyond the ring: bit-identical
    far = repaint(
        single_edit(
            Mover(tail=60), image, mask, "p", settle=SettleSettings(follow_px=8), **settings
        )
    ).images[0]
    near = grow_mask(feather_mask(mask, 2), 8)[0] > 0
    assert torch.equal(far[~near], image[0][~near])  # a stroke past the ring is cut there


@pytest.mark.parametrize(
    "changes, message",
    [(dict(follow_px=-1), "follow_px is -1"), (dict(threshold=0.0), "threshold is 0.0")],
)
def test_bad_settle_settings_are_refused(changes, message):
    with pytest.raises(PinpointError, match=message):
        SettleSettings(**changes)
