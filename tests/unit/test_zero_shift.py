"""No shift, no drift on the diffusers route, proven for every family of its table.

The test walks :data:`pinpoint.diffusers_families.FAMILIES` itself, so a family added there
fails here until it has a tiny pipeline (:data:`TINY`). Each family's pipeline is rigged
(``test_diffusers_families.rig``: its denoiser makes the final latent a known pattern, its
VAE decode shows that latent as pixels over its cells) and edits a picture whose crop is the
whole picture, asked at a resolution that is *not* a multiple of the family's step (the step
plus half a step): the pipeline is called at the picture's own size, a multiple of the step
(a crop rounded to a smaller step would be cut at the resolution instead), the pattern comes
back at the same pixel coordinates (0 px by phase correlation, values equal up to a constant)
and every pixel outside the feathered mask is the input's.
"""

from __future__ import annotations

import pytest
import torch
from rigs import pattern_shift
from test_diffusers_families import FAMILY_MODELS, HEIGHT, WIDTH, paint, scene, spied

from pinpoint.diffusers_families import FAMILIES
from pinpoint.loading import load_model
from pinpoint.loading.kinds import INPAINT
from pinpoint.masks import feather_mask

TINY = {family: key for key, (family, _, _) in FAMILY_MODELS.items()}
"""Family key → its tiny pipeline (``pinpoint.tiny``)."""
FEATHER = 8
"""The loop's default feather (``CropRequest.feather_px``)."""
INSIDE = (slice(32, 64), slice(40, WIDTH - 40))
"""The mask of :func:`scene` less a latent cell and the feather."""


def test_every_family_of_the_table_has_a_tiny_pipeline():
    assert sorted(TINY) == sorted(family.key for family in FAMILIES)


@pytest.mark.parametrize("family", [family.key for family in FAMILIES])
def test_a_painted_pattern_comes_back_in_place_on_every_family(family, tiny_models, monkeypatch):
    """SD 1.x/2.x samples with Euler here (its own PNDM is not read by the rig)."""
    pipe = load_model(INPAINT, tiny_models[TINY[family]])
    if family == "sd":
        from diffusers import EulerDiscreteScheduler

        euler = EulerDiscreteScheduler.from_config(pipe.pipe.scheduler.config)
        monkeypatch.setattr(pipe.pipe, "scheduler", euler)
    step = FAMILY_MODELS[TINY[family]][2]
    pipe, recorder = spied(pipe)
    got, expected = paint(
        pipe, monkeypatch, HEIGHT, WIDTH, resolution=WIDTH + step // 2, feather_px=FEATHER
    )
    (call,) = recorder.calls
    assert (call["height"], call["width"]) == (HEIGHT, WIDTH)  # the picture itself, no trim
    assert HEIGHT % step == 0 and WIDTH % step == 0
    assert pattern_shift(expected[INSIDE], got[INSIDE]) == (0, 0)
    # up to a constant: diffusers 0.42's SD 3 inpainting decodes without the VAE's shift
    difference = got[INSIDE] - expected[INSIDE]
    torch.testing.assert_close(difference, torch.full_like(difference, float(difference.mean())))
    image, mask = scene()
    outside = feather_mask(mask, FEATHER)[0] == 0
    assert torch.equal(got[outside], image[0][outside])
